// Package mosquittotest starts a real mosquitto broker for tests: its own
// configuration on a free loopback port, persistence in the test's
// directory, not the system service. Without the binaries a test is
// skipped, except under CI=true, where it fails (.ci/run installs
// mosquitto and mosquitto-clients).
package mosquittotest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of a mosquitto program (mosquitto, mosquitto_pub,
// ...); Debian installs the broker outside a user's PATH.
func Need(t testing.TB, prog string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/local/sbin/"} {
		if p, err := exec.LookPath(dir + prog); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; CI must install mosquitto and mosquitto-clients (see .ci/run)", prog)
	}
	t.Skipf("%s not found: install mosquitto and mosquitto-clients (apt-get install -y mosquitto mosquitto-clients) to run this test", prog)
	return ""
}

// Broker is a mosquitto process of one test.
type Broker struct {
	Addr string // host:port on 127.0.0.1

	t    testing.TB
	bin  string
	conf string
	cmd  *exec.Cmd
	log  *strings.Builder
}

// Start starts a broker; it stops at the end of the test.
func Start(t testing.TB) *Broker {
	t.Helper()
	bin := Need(t, "mosquitto")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := strings.Cut(addr, ":")
	conf := filepath.Join(dir, "mosquitto.conf")
	cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"max_queued_messages 100000\nmax_inflight_messages 100\nautosave_interval 1\n", port, dir)
	if os.Getuid() == 0 {
		// Started as root, mosquitto drops to the mosquitto user, which
		// cannot write its persistence file in the test's directory.
		cfg += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Broker{Addr: addr, t: t, bin: bin, conf: conf}
	b.Restart()
	t.Cleanup(b.Stop)
	return b
}

// Restart starts the broker process again after Stop (its persistent
// sessions and queued messages survive) and waits until it accepts
// connections.
func (b *Broker) Restart() {
	b.t.Helper()
	b.log = &strings.Builder{}
	b.cmd = exec.Command(b.bin, "-c", b.conf)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", b.Addr); err == nil {
			c.Close()
			return
		}
	}
	b.t.Fatalf("mosquitto did not start; log:\n%s", b.log)
}

// Stop ends the broker with SIGTERM (it saves its persistence file).
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.ProcessState != nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
}

// Log returns what the running (or last) process printed.
func (b *Broker) Log() string { return b.log.String() }
