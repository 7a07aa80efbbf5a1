package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The binaries TestMain builds: the shell and the server it talks to.
var cliBinary, serverBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lcli-bin")
	if err != nil {
		panic(err)
	}
	cliBinary = filepath.Join(dir, "lightning-cli")
	serverBinary = filepath.Join(dir, "lightning-db")
	for bin, pkg := range map[string]string{cliBinary: ".", serverBinary: "../lightning-db"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	http.DefaultClient.CloseIdleConnections() // the seed writes' and the proxy's keep-alives
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running: %v\n", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// testToken is the full-access token the test servers require.
const testToken = "cli-test-token-7f3a"

// lockedBuf is a bytes.Buffer safe for a process's output and a reader.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer runs lightning-db on free loopback ports with testToken
// required, waits for /ready and writes the seed points into db demo. It
// returns the server's base URL.
func startServer(t *testing.T) string {
	t.Helper()
	// Two distinct free ports (HTTP and the embedded MQTT broker), held
	// together so the kernel cannot hand out one twice, then freed.
	var lns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return startServerAt(t, lns[0].Addr().String(), lns[1].Addr().String())
}

func startServerAt(t *testing.T, httpAddr, mqttAddr string) string {
	t.Helper()
	log := &lockedBuf{}
	cmd := exec.Command(serverBinary, "--data-dir", t.TempDir(), "--http-addr", httpAddr, "--mqtt-addr", mqttAddr, "--auth-tokens", testToken)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	base := "http://" + httpAddr
	poll(t, 20*time.Second, func() string {
		resp, err := http.Get(base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return ""
			}
		}
		return "server did not become ready; log:\n" + log.String()
	})
	seed := "cpu_usage,host=alpha,region=eu value=42.5\ncpu_usage,host=beta,region=us value=7\nmem_free,host=alpha value=1024\n"
	req, _ := http.NewRequest("POST", base+"/write?db=demo", strings.NewReader(seed))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("seed write: %v %v; log:\n%s", resp, err, log.String())
	}
	resp.Body.Close()
	return base
}

// poll calls check until it returns "" and fails the test with its last
// message after timeout. Processes offer no event to wait on but their
// output, so tests poll it.
func poll(t *testing.T, timeout time.Duration, check func() string) {
	t.Helper()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		msg := check()
		if msg == "" {
			return
		}
		select {
		case <-deadline.C:
			t.Fatal(msg)
		case <-tick.C:
		}
	}
}
