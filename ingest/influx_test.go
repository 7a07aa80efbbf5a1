package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/series"
)

const testNow = 1_700_000_000_000_000_000

func newTestHandler(t *testing.T, app Appender, mod func(*InfluxOptions)) *InfluxHandler {
	t.Helper()
	opts := DefaultInfluxOptions()
	opts.Now = func() int64 { return testNow }
	opts.MaxBodyBytes = 4 << 20
	if mod != nil {
		mod(&opts)
	}
	h, err := NewInfluxHandler(app, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return b.Bytes()
}

type writeCase struct {
	name       string
	target     string
	body       []byte
	header     map[string]string
	tokens     []string
	appendErr  error
	wantStatus int
	wantBody   string // exact JSON, or "" for an empty body
	wantStored []string
	wantHeader map[string]string
}

func runWriteCase(t *testing.T, c writeCase) {
	app := newFakeAppender()
	app.err = c.appendErr
	h := newTestHandler(t, app, func(o *InfluxOptions) { o.Tokens = c.tokens })
	req := httptest.NewRequest(http.MethodPost, c.target, bytes.NewReader(c.body))
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != c.wantStatus {
		t.Fatalf("status %d, want %d; body %s", rec.Code, c.wantStatus, rec.Body)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != c.wantBody {
		t.Errorf("body\n got %s\nwant %s", got, c.wantBody)
	}
	if c.wantBody != "" && rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	for k, v := range c.wantHeader {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if got := app.samples(); strings.Join(got, "\n") != strings.Join(c.wantStored, "\n") {
		t.Errorf("stored\n got %q\nwant %q", got, c.wantStored)
	}
}

func TestWrite(t *testing.T) {
	longLine := "m,t=" + strings.Repeat("x", 1<<20) + " f=1 1"
	bomb := gzipped(strings.Repeat("m f=1 1\n", (5<<20)/8))
	cases := []writeCase{
		{
			name:       "v1 success with gzip",
			target:     "/write?db=telegraf",
			body:       gzipped("cpu,host=a usage=1.5,n=2i 1700000000000000001\nmem free=3u\n"),
			header:     map[string]string{"Content-Encoding": "gzip"},
			wantStatus: http.StatusNoContent,
			wantStored: []string{
				`cpu_n{db="telegraf", host="a"} 2i@1700000000000000001`,
				`cpu_usage{db="telegraf", host="a"} 1.5@1700000000000000001`,
				`mem_free{db="telegraf"} 3u@1700000000000000000`,
			},
			wantHeader: map[string]string{"X-Influxdb-Version": "1.8.0", "X-Influxdb-Build": "OSS"},
		},
		{
			name:       "v2 success with precision",
			target:     "/api/v2/write?org=o&bucket=b/rp&precision=s",
			body:       []byte("m ok=true,s=\"x\" 2"),
			wantStatus: http.StatusNoContent,
			wantStored: []string{`m_ok{db="b"} true@2000000000`, `m_s{db="b"} "x"@2000000000`},
		},
		{
			name:       "bad escape swallows the field separator",
			target:     "/write?db=d",
			body:       []byte("m,t=a\\ f=1 1\nm f=2 2\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 1: unable to parse 'm,t=a\\ f=1 1': missing tag key dropped=1"}`,
			wantStored: []string{`m_f{db="d"} 2@2`},
		},
		{
			name:       "missing field and bad number",
			target:     "/write",
			body:       []byte("m f=1 1\nm\nm f=1.2.3 1\nm f=2 2"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 2: unable to parse 'm': missing fields\nline 3: unable to parse 'm f=1.2.3 1': invalid number dropped=2"}`,
			wantStored: []string{`m_f{} 1@1`, `m_f{} 2@2`},
		},
		{
			name:       "v2 parse errors name the first line",
			target:     "/api/v2/write?bucket=b",
			body:       []byte("m f=1 1\nm f=99999999999999999999i 1\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"code":"invalid","message":"partial write: line 2: unable to parse 'm f=99999999999999999999i 1': integer out of range dropped=1","line":2}`,
			wantStored: []string{`m_f{db="b"} 1@1`},
		},
		{
			name:       "type conflict within a body, v1",
			target:     "/write?db=d",
			body:       []byte("m f=1i 1\nm f=2.5 2\nm f=3i 3\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 2: series m_f: value type conflict: sample is float, series is integer dropped=1"}`,
			wantStored: []string{`m_f{db="d"} 1i@1`, `m_f{db="d"} 3i@3`},
		},
		{
			name:       "type conflict within a body, v2 answers 422",
			target:     "/api/v2/write?bucket=d",
			body:       []byte("m f=1i,g=1 1\nm f=\"s\",g=2 2\n"),
			wantStatus: http.StatusUnprocessableEntity,
			wantBody:   `{"code":"unprocessable entity","message":"failure writing points to database: partial write: line 2: series m_f: value type conflict: sample is string, series is integer dropped=1"}`,
			wantStored: []string{`m_f{db="d"} 1i@1`, `m_g{db="d"} 1@1`, `m_g{db="d"} 2@2`},
		},
		{
			name:       "timestamp overflow",
			target:     "/write?precision=s",
			body:       []byte("m f=1 9223372037\nm f=1 9223372036\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 1: unable to parse 'm f=1 9223372037': timestamp out of range: 9223372037 at precision s is outside 1677-09-21T00:12:43.145224194Z..2262-04-11T23:47:16.854775806Z dropped=1"}`,
			wantStored: []string{`m_f{} 1@9223372036000000000`},
		},
		{
			name:       "invalid UTF-8",
			target:     "/write",
			body:       []byte("m,t=\xff f=1 1\nm f=1 1\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 1: unable to parse 'm,t=� f=1 1': invalid UTF-8 dropped=1"}`,
			wantStored: []string{`m_f{} 1@1`},
		},
		{
			name:       "1 MiB line",
			target:     "/write",
			body:       []byte("m f=1 1\n" + longLine + "\nm f=2 2\n"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"partial write: line 2: unable to parse '` + longLine[:256] + `': line too long (` + fmt.Sprint(len(longLine)) + ` bytes, at most 262144 allowed) dropped=1"}`,
			wantStored: []string{`m_f{} 1@1`, `m_f{} 2@2`},
		},
		{
			name:       "empty body v1",
			target:     "/write?db=d",
			wantStatus: http.StatusNoContent,
		},
		{
			name:       "empty body v2",
			target:     "/api/v2/write?bucket=d",
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"code":"invalid","message":"writing requires points"}`,
		},
		{
			name:       "comments only",
			target:     "/api/v2/write?bucket=d",
			body:       []byte("# nothing\n\n"),
			wantStatus: http.StatusNoContent,
		},
		{
			name:       "bad gzip",
			target:     "/write",
			body:       []byte("m f=1 1\nm f=2 2\n"),
			header:     map[string]string{"Content-Encoding": "gzip"},
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"unable to read data: read body: gzip: invalid header"}`,
		},
		{
			name:       "truncated gzip",
			target:     "/api/v2/write",
			body:       gzipped("m f=1 1\n")[:20],
			header:     map[string]string{"Content-Encoding": "gzip"},
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"code":"invalid","message":"unable to read data: read body: unexpected EOF"}`,
		},
		{
			name:       "body over limit v1",
			target:     "/write",
			body:       bytes.Repeat([]byte("m f=1 1\n"), (5<<20)/8),
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"error":"Request Entity Too Large"}`,
		},
		{
			name:       "gzip bomb v2",
			target:     "/api/v2/write",
			body:       bomb,
			header:     map[string]string{"Content-Encoding": "gzip"},
			wantStatus: http.StatusRequestEntityTooLarge,
			wantBody:   `{"code":"request too large","message":"unable to read data: points batch is too large","maxLength":4194304}`,
		},
		{
			name:       "unknown encoding",
			target:     "/write",
			body:       []byte("m f=1"),
			header:     map[string]string{"Content-Encoding": "br"},
			wantStatus: http.StatusUnsupportedMediaType,
			wantBody:   `{"error":"unsupported content encoding \"br\""}`,
		},
		{
			name:       "bad precision",
			target:     "/write?precision=d",
			body:       []byte("m f=1"),
			wantStatus: http.StatusBadRequest,
			wantBody:   `{"error":"invalid precision \"d\" (use ns, us, ms, s, m or h)"}`,
		},
		{
			name:       "overload v1",
			target:     "/write",
			body:       []byte("m f=1 1"),
			appendErr:  fmt.Errorf("wal queue full: %w", series.ErrOverloaded),
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   `{"error":"server overloaded, retry later: wal queue full: overloaded"}`,
			wantHeader: map[string]string{"Retry-After": "1"},
		},
		{
			name:       "overload v2",
			target:     "/api/v2/write",
			body:       []byte("m f=1 1"),
			appendErr:  series.ErrOverloaded,
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   `{"code":"unavailable","message":"server overloaded, retry later: overloaded"}`,
			wantHeader: map[string]string{"Retry-After": "1"},
		},
		{
			name:       "append I/O error",
			target:     "/write",
			body:       []byte("m f=1 1"),
			appendErr:  io.ErrShortWrite,
			wantStatus: http.StatusInternalServerError,
			wantBody:   `{"error":"write failed: short write"}`,
		},
		{
			name:       "append deadline",
			target:     "/api/v2/write",
			body:       []byte("m f=1 1"),
			appendErr:  fmt.Errorf("commit: %w", context.DeadlineExceeded),
			wantStatus: http.StatusServiceUnavailable,
			wantBody:   `{"code":"unavailable","message":"write not committed: commit: context deadline exceeded"}`,
		},
		{
			name:       "v1 missing credentials",
			target:     "/write",
			body:       []byte("m f=1 1"),
			tokens:     []string{"secret"},
			wantStatus: http.StatusUnauthorized,
			wantBody:   `{"error":"authorization failed"}`,
			wantHeader: map[string]string{"Www-Authenticate": `Basic realm="InfluxDB"`},
		},
		{
			name:       "v1 u and p",
			target:     "/write?u=me&p=secret",
			body:       []byte("m f=1 1"),
			tokens:     []string{"other", "secret"},
			wantStatus: http.StatusNoContent,
			wantStored: []string{`m_f{} 1@1`},
		},
		{
			name:       "v1 basic auth",
			target:     "/write",
			body:       []byte("m f=1 1"),
			header:     map[string]string{"Authorization": "Basic bWU6c2VjcmV0"}, // me:secret
			tokens:     []string{"secret"},
			wantStatus: http.StatusNoContent,
			wantStored: []string{`m_f{} 1@1`},
		},
		{
			name:       "v2 token",
			target:     "/api/v2/write?bucket=b",
			body:       []byte("m f=1 1"),
			header:     map[string]string{"Authorization": "Token secret"},
			tokens:     []string{"secret"},
			wantStatus: http.StatusNoContent,
			wantStored: []string{`m_f{db="b"} 1@1`},
		},
		{
			name:       "v2 wrong token",
			target:     "/api/v2/write?bucket=b",
			body:       []byte("m f=1 1"),
			header:     map[string]string{"Authorization": "Token nope"},
			tokens:     []string{"secret"},
			wantStatus: http.StatusUnauthorized,
			wantBody:   `{"code":"unauthorized","message":"unauthorized access"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runWriteCase(t, c) })
	}
}

func TestWriteMethodNotAllowed(t *testing.T) {
	h := newTestHandler(t, newFakeAppender(), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/write", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Fatalf("got %d %q", rec.Code, rec.Body)
	}
}

// TestWriteOneAppendAfterParse checks that a request is one Append call
// and that the answer waits for it.
func TestWriteOneAppendAfterParse(t *testing.T) {
	app := &slowAppender{fakeAppender: newFakeAppender(), delay: 50 * time.Millisecond}
	h := newTestHandler(t, app, nil)
	start := time.Now()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/write", strings.NewReader("a f=1 1\nb f=1,g=2 1\n")))
	if rec.Code != http.StatusNoContent || time.Since(start) < app.delay {
		t.Fatalf("status %d after %v", rec.Code, time.Since(start))
	}
	if app.batches != 1 || len(app.samples()) != 3 {
		t.Fatalf("%d batches, %d samples", app.batches, len(app.samples()))
	}
}

type slowAppender struct {
	*fakeAppender
	delay time.Duration
}

func (s *slowAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	time.Sleep(s.delay) // a slow storage, on purpose: not synchronisation
	return s.fakeAppender.Append(ctx, b)
}

func TestStatsAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	app := newFakeAppender()
	h := newTestHandler(t, app, func(o *InfluxOptions) { o.Registerer = reg })
	post := func(body string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/write?db=d", strings.NewReader(body)))
	}
	post("m f=1i,g=1 1\nm f=2i 2\n")
	post("m f=1.5 3\nbad\nm g=4 4\n")
	got := h.Stats()
	want := Stats{Requests: 2, LinesAccepted: 3, LinesRejected: 2, SamplesAccepted: 4, SamplesRejected: 1,
		BytesReceived: int64(len("m f=1i,g=1 1\nm f=2i 2\n") + len("m f=1.5 3\nbad\nm g=4 4\n"))}
	if got != want {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	if v := counterValue(t, reg, "ingest_samples_received_total"); v != 4 {
		t.Fatalf("ingest_samples_received_total = %v", v)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if l := mf.Metric[0].Label; len(l) != 1 || l[0].GetValue() != "influx" {
				t.Fatalf("%s labels %v", name, l)
			}
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
