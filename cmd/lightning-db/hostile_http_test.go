package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"
)

// startHostile starts the server with limits, a YAML fragment of the
// http: and remote: keys the attack needs. Under LDB_TEST_BINARY (another
// build, the unfixed one for the "before" figures) the fragment is left
// out, as that build does not know the keys.
func startHostile(t *testing.T, limits string) *proc {
	t.Helper()
	if os.Getenv("LDB_TEST_BINARY") != "" {
		limits = ""
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(limits), 0o600))
	return startServer(t, t.TempDir(), "--config", cfg)
}

// rawConn is a client socket driven byte by byte.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, p *proc) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// post sends a POST header announcing n body bytes (and hdr lines).
func (c *rawConn) post(path string, n int64, hdr ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", path, n)
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	_, err := c.Write([]byte(b.String()))
	return err
}

// answer reads one response within d; it returns its status and
// Retry-After, or an error when none came.
func (c *rawConn) answer(d time.Duration) (int, string, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// closedWithin reports whether the server closes the connection within d
// (its reads end in EOF or a reset, not in the client's deadline).
func (c *rawConn) closedWithin(d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.br)
	ne, ok := err.(net.Error)
	return !(ok && ne.Timeout())
}

// tally counts answers by status ("none" when no answer came).
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(status int, retryAfter string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	switch {
	case err != nil:
		t.m["none"]++
	case status == http.StatusServiceUnavailable && retryAfter == "":
		t.m["503 without Retry-After"]++
	default:
		t.m[fmt.Sprint(status)]++
	}
}

func (t *tally) get(k string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k]
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return fmt.Sprint(t.m)
}

// metricValue reads one sample of the server's /metrics.
func (p *proc) metricValue(name string) float64 {
	p.t.Helper()
	resp, err := p.get("/metrics")
	require.NoError(p.t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(p.t, err)
			return f
		}
	}
	p.t.Fatalf("metric %s not in /metrics", name)
	return 0
}

// TestHostileHTTP attacks the HTTP server itself: bodies announced large
// and sent slowly or never finished, idle connections, huge headers,
// compression bombs. The limits answer: 503 with Retry-After over the
// in-flight body budget, 408 past the read timeout, 431 over the header
// limit, closed connections past the idle and header timeouts.
func TestHostileHTTP(t *testing.T) {
	for _, path := range []string{"/api/v1/write", "/write?db=slow"} {
		t.Run("slow 1 MiB announcers "+path, func(t *testing.T) { testSlowAnnouncers(t, path) })
	}
	t.Run("24 of 32 MiB sent", testUnfinishedBodies)
	t.Run("Content-Length 100, 10 bytes sent", testShortBody)
	t.Run("idle keep-alive connections", testIdleConns)
	t.Run("huge header lines", testHugeHeaders)
	t.Run("gzip bomb", testGzipBomb)
	t.Run("snappy bomb", testSnappyBomb)
}

// testSlowAnnouncers: 500 sockets announce 1 MiB bodies and send them a
// byte at a time. Before, each got a 1 MiB buffer at once (500 MiB of
// heap before any byte came); now buffers grow with what arrives, and
// those past the in-flight budget get 503 with Retry-After unread.
func testSlowAnnouncers(t *testing.T, path string) {
	p := startHostile(t, "")
	b := startBystander(t, p)
	const n = 500
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = dialRaw(t, p)
		_ = conns[i].post(path, 1<<20, "Content-Type: application/x-protobuf")
		_, _ = conns[i].Write([]byte{0})
	}
	var answers tally
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(2)
		answered := make(chan struct{})
		go func() {
			defer wg.Done()
			defer close(answered)
			answers.add(c.answer(4 * time.Second))
		}()
		go func() {
			defer wg.Done()
			// Slowly: a byte every 100 ms for 2 s, unless answered.
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for range 20 {
				select {
				case <-answered:
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte{0}); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	// Before, each announcer had a 1 MiB buffer (untouched, so mostly
	// not resident, but heap all the same).
	heap := p.metricValue("go_memstats_heap_inuse_bytes")
	t.Logf("heap in use with the announcers connected: %.1f MiB", heap/(1<<20))
	require.Less(t, heap, float64(64<<20), "heap sized from Content-Length")
	p.requirePeakBelow(80 << 20)
	b.stop(t)
	p.requireAlive()
	t.Logf("answers: %v", &answers)
	require.Greater(t, answers.get("503"), n/2, "announcers past the in-flight budget get 503 with Retry-After: %v", &answers)
	require.Equal(t, n, answers.get("503")+answers.get("none"), "every answer is 503 with Retry-After: %v", &answers)
	require.Positive(t, p.metricValue(`lightningdb_http_rejected_requests_total{reason="inflight_bytes"}`))
}

// testUnfinishedBodies: 40 sockets each send 24 MiB of a 32 MiB body and
// stop. Before: 1.14 GB of RSS and no answer ever. Now the bodies past the
// budget get 503 unread, the others 408 at the read timeout.
func testUnfinishedBodies(t *testing.T) {
	p := startHostile(t, "http:\n  read_timeout: 5s\n")
	b := startBystander(t, p)
	var answers tally
	var wg sync.WaitGroup
	chunk := make([]byte, 1<<20)
	for range 40 {
		c := dialRaw(t, p)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if c.post("/api/v1/write", 32<<20) != nil {
				return
			}
			for range 24 {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			answers.add(c.answer(30 * time.Second))
		}()
	}
	wg.Wait()
	p.requirePeakBelow(400 << 20)
	b.stop(t)
	p.requireAlive()
	t.Logf("answers: %v", &answers)
	require.Equal(t, 40, answers.get("503")+answers.get("408"), "every body is answered 503 (over the budget) or 408 (read timeout): %v", &answers)
	require.Positive(t, answers.get("503"), "%v", &answers)
	require.Positive(t, answers.get("408"), "%v", &answers)
}

// testShortBody: a body announced as 100 bytes of which 10 come is
// answered 408 at the read timeout and its connection closed; before, it
// hung for ever.
func testShortBody(t *testing.T) {
	p := startHostile(t, "http:\n  read_timeout: 1s\n")
	b := startBystander(t, p)
	for _, path := range []string{"/write?db=x", "/api/v2/write?bucket=x", "/api/v1/write", "/api/v1/read"} {
		c := dialRaw(t, p)
		require.NoError(t, c.post(path, 100))
		_, err := c.Write([]byte("0123456789"))
		require.NoError(t, err)
		status, _, err := c.answer(10 * time.Second)
		require.NoError(t, err, "%s: no answer within 10 s to a body that never came", path)
		require.Equal(t, http.StatusRequestTimeout, status, path)
		require.True(t, c.closedWithin(10*time.Second), "%s: connection left open", path)
	}
	b.stop(t)
	require.GreaterOrEqual(t, p.metricValue(`lightningdb_http_rejected_requests_total{reason="read_timeout"}`), 4.0)
}

// testIdleConns: 200 keep-alive connections that go idle after a request
// are closed at the idle timeout; before, never.
func testIdleConns(t *testing.T) {
	p := startHostile(t, "http:\n  idle_timeout: 1s\n")
	conns := make([]*rawConn, 200)
	for i := range conns {
		conns[i] = dialRaw(t, p)
		_, err := conns[i].Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
		require.NoError(t, err)
		status, _, err := conns[i].answer(10 * time.Second)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
	}
	var wg sync.WaitGroup
	var open tally
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !c.closedWithin(10 * time.Second) {
				open.add(0, "", io.EOF)
			}
		}()
	}
	wg.Wait()
	require.Zero(t, open.get("none"), "idle connections still open after 10 s")
	// net/http closes a connection, then reports StateClosed (which
	// counts it): the count may lag the close the client saw.
	require.Eventually(t, func() bool {
		return p.metricValue(`lightningdb_http_closed_connections_total{state="idle"}`) >= 200
	}, 10*time.Second, 10*time.Millisecond, "fewer than 200 idle closes counted in 10 s")
	p.requireAlive()
}

// testHugeHeaders: 300 sockets send a header line that never ends. Each
// is answered 431 once past max_header_bytes (64 KiB; before, 1 MiB each
// was buffered) or closed at the header timeout.
func testHugeHeaders(t *testing.T) {
	p := startHostile(t, "http:\n  read_header_timeout: 2s\n")
	b := startBystander(t, p)
	line := bytes.Repeat([]byte("a"), 1000<<10)
	var answers tally
	var wg sync.WaitGroup
	for range 300 {
		c := dialRaw(t, p)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _ = c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "))
			_, _ = c.Write(line)
		}()
		go func() {
			defer wg.Done()
			answers.add(c.answer(20 * time.Second))
		}()
	}
	wg.Wait()
	p.requirePeakBelow(150 << 20)
	b.stop(t)
	p.requireAlive()
	t.Logf("answers: %v", &answers)
	require.Equal(t, 300, answers.get("431"), "%v", &answers)
}

// testGzipBomb: 30 line protocol writes of 30 KB of gzip that inflate to
// 64 MiB each. Before, each held up to 32 MiB (max_body_bytes) at once;
// now the inflated bytes count in the in-flight budget.
func testGzipBomb(t *testing.T) {
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	line := []byte("bomb,host=a value=1\n")
	for range (64 << 20) / len(line) {
		_, _ = zw.Write(line)
	}
	require.NoError(t, zw.Close())
	bombs(t, "/write?db=bomb", zb.Bytes(), "Content-Encoding: gzip", "413")
}

// testSnappyBomb: 30 remote writes of a snappy body of 3 MB that decodes
// to 60 MiB. Before, each decoded into a 60 MiB buffer at once.
func testSnappyBomb(t *testing.T) {
	bombs(t, "/api/v1/write", s2.EncodeSnappy(nil, make([]byte, 60<<20)), "Content-Encoding: snappy", "400")
}

// bombs sends body 30 times at once and requires every answer to be 503
// with Retry-After or the status a lone bomb gets (other), a bounded
// peak and the bystander served.
func bombs(t *testing.T, path string, body []byte, enc, other string) {
	p := startHostile(t, "")
	b := startBystander(t, p)
	t.Logf("bomb: %d bytes sent", len(body))
	var answers tally
	var wg sync.WaitGroup
	for range 30 {
		c := dialRaw(t, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.post(path, int64(len(body)), enc, "Content-Type: application/x-protobuf")
			_, _ = c.Write(body)
			answers.add(c.answer(60 * time.Second))
		}()
	}
	wg.Wait()
	// The budget (128 MiB) bounds the live bytes; the garbage of buffers
	// that grew and GOGC=100 make the peak about three times that, more
	// when the collector lags on a loaded machine: 254 to 502 MiB in 82
	// gzip runs beside other tests on 2 cores (median about 360; the
	// former 450 MiB bound failed 4 of them). Before the budget: 1425 MiB
	// (gzip) and 1461 MiB (snappy), over twice this bound.
	p.requirePeakBelow(640 << 20)
	b.stop(t)
	p.requireAlive()
	t.Logf("answers: %v", &answers)
	require.Equal(t, 30, answers.get("503")+answers.get(other), "%v", &answers)
}
