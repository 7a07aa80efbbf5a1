package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the lightning-db executable built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ldb-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "lightning-db")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	// LDB_TEST_BINARY runs the process tests against another build (an
	// unfixed one, for the "before" figures of the hostile suite).
	if b := os.Getenv("LDB_TEST_BINARY"); b != "" {
		binary = b
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running server.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	addr string
	log  *lockedLog
	dir  string
	// token, when set, goes with the helpers' GET requests (p.get) as
	// `Authorization: Bearer`.
	token string
}

func freeAddr(t testing.TB) string {
	t.Helper()
	return freeAddrs(t, 1)[0]
}

// freeAddrs returns n distinct free loopback addresses: the listeners are
// held until all n are picked (picked one after the other, the kernel can
// hand out the same port twice, and a server then fails to bind its
// second listener).
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

// startServer starts the real binary on a free loopback port and waits
// until /ready answers 200.
func startServer(t testing.TB, dataDir string, args ...string) *proc {
	t.Helper()
	return startServerReady(t, dataDir, func(p *proc) bool { return readyAt(p.url("/ready")) }, args...)
}

// startServerReady is startServer with its own readiness check (an HTTPS
// server's, say).
func startServerReady(t testing.TB, dataDir string, ready func(*proc) bool, args ...string) *proc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p, busy := startServerOnce(t, dataDir, ready, args...)
		if !busy {
			return p
		}
		// A port picked free was taken before the server bound it (by
		// another test's client or server): the server exits; pick again.
		p.cmd.Wait()
		if attempt == 3 {
			t.Fatalf("server could not bind a free port in 3 attempts; log:\n%s", p.log)
		}
	}
}

// startServerOnce starts the server on ports picked free and waits until
// it is ready; busy reports that it could not bind them.
func startServerOnce(t testing.TB, dataDir string, ready func(*proc) bool, args ...string) (p *proc, busy bool) {
	t.Helper()
	addrs := freeAddrs(t, 2)
	// A free port for the embedded MQTT broker too (on by default), so
	// servers of parallel tests do not collide on 1883; args may override.
	return launch(t, dataDir, addrs[0], ready, append([]string{"--mqtt-addr", addrs[1]}, args...)...)
}

// launch starts the server on HTTP address addr with args and waits until
// ready reports it ready; busy reports that it could not bind its
// addresses (it exits then).
func launch(t testing.TB, dataDir, addr string, ready func(*proc) bool, args ...string) (p *proc, busy bool) {
	t.Helper()
	p = &proc{t: t, addr: addr, log: &lockedLog{}, dir: dataDir}
	p.cmd = exec.Command(binary, append([]string{"--data-dir", dataDir, "--http-addr", addr}, args...)...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	poll(t, 20*time.Second, 20*time.Millisecond, func() string {
		if ready(p) {
			return ""
		}
		if strings.Contains(p.log.String(), "bind: address already in use") {
			busy = true
			return ""
		}
		return fmt.Sprintf("server at %s did not become ready; log:\n%s", addr, p.log)
	})
	return p, busy
}

// readyAt reports whether url answers 200.
func readyAt(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// poll calls check every interval until it returns "" and fails the test
// with check's last message once timeout has passed. It is for the state
// of real processes (a server's /ready, its metrics or export, a peer),
// which offer no event to wait on; every test of this package polls
// through it.
func poll(t testing.TB, timeout, interval time.Duration, check func() string) {
	t.Helper()
	tick := time.NewTicker(interval)
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

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			p.t.Fatalf("server exited with %v; log:\n%s", err, p.log)
		}
	case <-time.After(30 * time.Second):
		p.t.Fatalf("server did not stop on SIGTERM; log:\n%s", p.log)
	}
}

// kill sends SIGKILL and reaps the process.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

type exported struct {
	Metric     map[string]string `json:"metric"`
	Type       string            `json:"type"`
	Values     []any             `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// export reads every series matching selector through /api/v1/export,
// keyed by the series' Prometheus-style name.
func (p *proc) export(selector string) map[string]exported {
	p.t.Helper()
	resp, err := http.Get(p.url("/api/v1/export?match[]=" + url.QueryEscape(selector)))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		p.t.Fatalf("export: %d %s", resp.StatusCode, b)
	}
	out := map[string]exported{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var e exported
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			p.t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out[seriesKey(e.Metric)] = e
	}
	return out
}

func seriesKey(m map[string]string) string {
	var parts []string
	for k, v := range m {
		if k != "__name__" {
			parts = append(parts, k+"="+v)
		}
	}
	sortStrings(parts)
	return m["__name__"] + "{" + strings.Join(parts, ",") + "}"
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j-1] > s[j]; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
}

// lockedLog holds a server process's output. exec.Cmd copies the output in
// its own goroutine while a test reads the log, so both go through a mutex.
type lockedLog struct {
	mu sync.Mutex // protects b
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// get sends a GET for path with p.token, if set.
func (p *proc) get(path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, p.url(path), nil)
	if err != nil {
		return nil, err
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	return http.DefaultClient.Do(req)
}
