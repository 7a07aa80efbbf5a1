package mqtt

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

// mosquitto is a broker started by a test with its own configuration on a
// loopback port (not the system service).
type mosquitto struct {
	addr string
	cmd  *exec.Cmd
	log  *strings.Builder
}

// startMosquitto starts mosquitto on a free loopback port; it stops at the
// end of the test. Without the binary the test is skipped, except under
// CI=true, where it fails.
func startMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto" // Debian installs it outside a user's PATH
		if _, serr := os.Stat(bin); serr != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("mosquitto not installed (apt-get install -y mosquitto): %v", err)
			}
			t.Skipf("mosquitto not installed (apt-get install -y mosquitto): %v", err)
		}
	}
	dir := t.TempDir()
	addr := freePort(t)
	_, port, _ := strings.Cut(addr, ":")
	cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 100\nmax_queued_messages 100000\n", port)
	if os.Getuid() == 0 {
		cfg += "user root\n" // else mosquitto drops to a user that may not read the test's directory
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{addr: addr, log: &strings.Builder{}}
	m.cmd = exec.Command(bin, "-c", conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not start; log:\n%s", m.log)
		}
	}
}

// stop ends mosquitto with SIGTERM.
func (m *mosquitto) stop() {
	if m.cmd.ProcessState != nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
}
