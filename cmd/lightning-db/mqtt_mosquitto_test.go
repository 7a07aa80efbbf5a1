package main

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
// loopback port, with persistence in the test's directory (not the
// system service).
type mosquitto struct {
	t    testing.TB
	bin  string
	conf string
	addr string
	cmd  *exec.Cmd
	log  *strings.Builder
}

func startMosquitto(t testing.TB) *mosquitto {
	t.Helper()
	bin := needMosquitto(t, "mosquitto")
	dir := t.TempDir()
	addr := freeAddr(t)
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
	m := &mosquitto{t: t, bin: bin, conf: conf, addr: addr}
	m.start()
	t.Cleanup(func() { m.stop() })
	return m
}

func (m *mosquitto) start() {
	m.t.Helper()
	m.log = &strings.Builder{}
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", m.addr); err == nil {
			c.Close()
			return
		}
	}
	m.t.Fatalf("mosquitto did not start; log:\n%s", m.log)
}

// stop ends mosquitto with SIGTERM (it saves its persistence file).
func (m *mosquitto) stop() {
	if m.cmd == nil || m.cmd.ProcessState != nil {
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

// subscriptionConfig writes a server config subscribing to m with the
// given topics YAML (indented list items) and returns its path.
func subscriptionConfig(t testing.TB, m *mosquitto, clientID, topics string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lightning-db.yaml")
	cfg := fmt.Sprintf(`mqtt:
  subscriptions:
    - name: plant
      brokers: ["tcp://%s"]
      client_id: %s
      max_reconnect_interval: 1s
      dead_letter_topic: dead
      topics:
%s`, m.addr, clientID, topics)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
