package ingest

import (
	"github.com/lightningdb/lightningdb/internal/reqbody"

	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// testBudget is a BodyBudget of a fixed number of bytes.
type testBudget struct {
	limit, used, peak int64
}

func (b *testBudget) TryAcquire(_, n int64) bool {
	if atomic.AddInt64(&b.used, n) > b.limit {
		atomic.AddInt64(&b.used, -n)
		return false
	}
	if u := atomic.LoadInt64(&b.used); u > atomic.LoadInt64(&b.peak) {
		atomic.StoreInt64(&b.peak, u)
	}
	return true
}

func (b *testBudget) Release(n int64) { atomic.AddInt64(&b.used, -n) }

var errStalled = errors.New("client stalled")

// stallingReader gives its data, then fails like a client that stopped
// sending; read counts the bytes taken from it.
type stallingReader struct {
	data []byte
	read int
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.read == len(s.data) {
		return 0, errStalled
	}
	n := copy(p, s.data[s.read:])
	s.read += n
	return n, nil
}

// TestInfluxBodyGrowsWithArrivedBytes: a write that announces 1 MiB and
// sends 10 bytes costs a small buffer, not the 1 MiB it announced.
func TestInfluxBodyGrowsWithArrivedBytes(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/write", &stallingReader{data: []byte("m v=1 1\nm ")})
	r.ContentLength = 1 << 20
	var st writeState
	body, err := st.readBody(r, 32<<20, &lease{})
	if !errors.Is(err, errStalled) {
		t.Fatalf("err %v, want the stall", err)
	}
	if string(body) != "m v=1 1\nm " || cap(body) > reqbody.FirstBuf {
		t.Fatalf("read %q into a buffer of %d bytes; want at most %d whatever Content-Length says", body, cap(body), reqbody.FirstBuf)
	}
}

// TestInfluxOverBudgetRefusedUnread: a write whose announced body does not
// fit in the budget gets 503 with Retry-After before a byte of it is read,
// on both APIs, and the budget is whole again afterwards.
func TestInfluxOverBudgetRefusedUnread(t *testing.T) {
	b := &testBudget{limit: 1 << 20}
	app := newFakeAppender()
	h := newTestHandler(t, app, func(o *InfluxOptions) { o.Budget = b })
	for _, target := range []string{"/write?db=x", "/api/v2/write?bucket=x"} {
		body := &stallingReader{data: bytes.Repeat([]byte("m v=1\n"), 400_000)}
		r := httptest.NewRequest(http.MethodPost, target, body)
		r.ContentLength = int64(len(body.data))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
			!strings.Contains(w.Body.String(), ErrInflightLimit.Error()) {
			t.Fatalf("%s: %d %q Retry-After %q; want 503 naming the in-flight limit", target, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
		if body.read != 0 {
			t.Fatalf("%s: %d body bytes read although the body could not fit", target, body.read)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/write?db=x", strings.NewReader("m v=1 1")))
	if w.Code != http.StatusNoContent {
		t.Fatalf("small write: %d %s", w.Code, w.Body)
	}
	if b.used != 0 || b.peak == 0 {
		t.Fatalf("budget used %d (want 0 after the requests), peak %d", b.used, b.peak)
	}
}

// TestInfluxGzipBombOverBudget: a small gzip body that inflates past the
// budget is refused with 503 once its inflated bytes do not fit, and
// holds at most the budget meanwhile.
func TestInfluxGzipBombOverBudget(t *testing.T) {
	b := &testBudget{limit: 1 << 20}
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.Budget = b })
	bomb := gzipped(strings.Repeat("m v=1\n", 1<<20)) // 6 MiB inflated, ~10 KB sent
	r := httptest.NewRequest(http.MethodPost, "/write?db=x", bytes.NewReader(bomb))
	r.Header.Set("Content-Encoding", "gzip")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("gzip bomb: %d %s; want 503 with Retry-After", w.Code, w.Body)
	}
	if b.used != 0 || b.peak > b.limit {
		t.Fatalf("budget used %d after, peak %d over %d", b.used, b.peak, b.limit)
	}
}

// FuzzInfluxReadBody checks the body reading loop: whatever the body, its
// announced length (known or not), gzip or not and the limit, it returns
// the body exactly or a clear error, and gives the budget back whole.
func FuzzInfluxReadBody(f *testing.F) {
	f.Add([]byte("m v=1 1\n"), true, false, uint32(1<<20), uint32(1<<20))
	f.Add(bytes.Repeat([]byte("abc"), 30_000), false, true, uint32(80_000), uint32(1<<20))
	f.Add([]byte{}, true, true, uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, known, gz bool, limit, budget uint32) {
		sent := data
		if gz {
			sent = gzipped(string(data))
		}
		r := httptest.NewRequest(http.MethodPost, "/write", bytes.NewReader(sent))
		if !known {
			r.ContentLength = -1
		}
		if gz {
			r.Header.Set("Content-Encoding", "gzip")
		}
		b := &testBudget{limit: int64(budget)}
		l := lease{Budget: b}
		var st writeState
		got, err := st.readBody(r, int64(limit), &l)
		l.Release()
		if b.used != 0 {
			t.Fatalf("budget holds %d bytes after release", b.used)
		}
		switch {
		case err == nil:
			if !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, sent %d", len(got), len(data))
			}
			if int64(len(sent)) > int64(limit) || int64(len(data)) > int64(limit) {
				t.Fatalf("%d bytes (%d sent) read under a limit of %d", len(data), len(sent), limit)
			}
		case errors.Is(err, errBodyTooLarge):
			if int64(len(sent)) <= int64(limit) && int64(len(data)) <= int64(limit) {
				t.Fatalf("%d bytes (%d sent) refused as over %d", len(data), len(sent), limit)
			}
		case errors.Is(err, ErrInflightLimit):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
