package main

// The hostile-input suite: TestHostile* in hostile_*_test.go, one file per
// protocol (HTTP, PromQL, remote, line protocol, MQTT). Each test starts
// the real server, sends what an attacker or a broken client would, and
// asserts three things: the server answers (with a clear error), its
// memory stays within the bound the test sets (read from /proc), and a
// well-behaved client beside the attack keeps being served.
//
//	go test -run TestHostile ./cmd/lightning-db
//
// LDB_TEST_BINARY=/path/to/lightning-db runs the same suite against
// another build, e.g. one without the fixes, for before/after figures.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memStatus returns the server's resident set now (VmRSS) and its peak
// so far (VmHWM), in bytes, from /proc/<pid>/status.
func (p *proc) memStatus() (rss, peak int64) {
	p.t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		p.t.Fatalf("read server memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			p.t.Fatalf("parse %s %q: %v", k, v, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	return rss, peak
}

// requirePeakBelow fails the test if the server's peak resident set has
// passed limit bytes; it logs the peak either way (the figures in the
// closing notes come from these lines).
func (p *proc) requirePeakBelow(limit int64) {
	p.t.Helper()
	_, peak := p.memStatus()
	p.t.Logf("server peak RSS %.1f MiB (limit %.0f MiB)", float64(peak)/(1<<20), float64(limit)/(1<<20))
	if peak > limit {
		p.t.Fatalf("server peak RSS %d bytes, over the %d the test allows", peak, limit)
	}
}

// requireAlive fails unless the process is still running and answers
// /health.
func (p *proc) requireAlive() {
	p.t.Helper()
	if p.cmd.ProcessState != nil {
		p.t.Fatalf("server exited: %v; log:\n%s", p.cmd.ProcessState, p.log)
	}
	if err := syscallAlive(p.cmd.Process.Pid); err != nil {
		p.t.Fatalf("server is gone: %v; log:\n%s", err, p.log)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(p.url("/health"))
	if err != nil {
		p.t.Fatalf("server does not answer /health: %v; log:\n%s", err, p.log)
	}
	resp.Body.Close()
}

func syscallAlive(pid int) error {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err
}

// bystander is a well-behaved client that writes a point and reads it
// back through PromQL in a loop while an attack runs beside it. Every
// round must succeed: a server that serves the attacker at the expense of
// everyone else fails the test.
type bystander struct {
	p      *proc
	name   string
	stopc  chan struct{}
	done   chan struct{}
	rounds atomic.Int64
	mu     sync.Mutex
	errs   []string
}

// startBystander starts the loop; stop ends it and checks it. Each round
// waits at most 10 s for an answer, so a server that stopped serving
// others fails the test rather than hanging it.
func startBystander(t *testing.T, p *proc) *bystander {
	t.Helper()
	b := &bystander{p: p, name: "bystander_" + strconv.FormatInt(time.Now().UnixNano(), 36),
		stopc: make(chan struct{}), done: make(chan struct{})}
	go b.run()
	return b
}

func (b *bystander) run() {
	defer close(b.done)
	c := &http.Client{Timeout: 10 * time.Second}
	for i := int64(1); i <= 100_000; i++ {
		select {
		case <-b.stopc:
			return
		default:
		}
		if err := b.round(c, i); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, fmt.Sprintf("round %d: %v", i, err))
			b.mu.Unlock()
		}
		b.rounds.Add(1)
	}
}

// round writes value i and reads it back.
func (b *bystander) round(c *http.Client, i int64) error {
	line := fmt.Sprintf("%s,who=bystander v=%d", b.name, i)
	resp, err := c.Post(b.p.url("/write?db=bystander"), "text/plain", strings.NewReader(line))
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("write: %d %s", resp.StatusCode, body)
	}
	q := url.Values{"query": {b.name + "_v"}}
	resp, err = c.Get(b.p.url("/api/v1/query?" + q.Encode()))
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("query: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), `"`+strconv.FormatInt(i, 10)+`"`) {
		return fmt.Errorf("query: wrote %d, read %s", i, body)
	}
	return nil
}

// stop ends the loop and fails the test if any round failed or none ran.
func (b *bystander) stop(t *testing.T) {
	t.Helper()
	close(b.stopc)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		t.Fatalf("a well-behaved client was not served beside the attack (%d of %d rounds failed): %s",
			len(b.errs), b.rounds.Load(), strings.Join(b.errs[:min(len(b.errs), 5)], "; "))
	}
	if b.rounds.Load() == 0 {
		t.Fatal("the well-behaved client ran no round")
	}
	t.Logf("well-behaved client: %d rounds served beside the attack", b.rounds.Load())
}
