package remote

import (
	"github.com/lightningdb/lightningdb/internal/reqbody"

	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// testBudget is a BodyBudget of a fixed number of bytes.
type testBudget struct {
	limit, used, peak atomic.Int64
	refused           atomic.Int64
}

func newTestBudget(limit int64) *testBudget {
	b := &testBudget{}
	b.limit.Store(limit)
	return b
}

func (b *testBudget) TryAcquire(_, n int64) bool {
	if b.used.Add(n) > b.limit.Load() {
		b.used.Add(-n)
		b.refused.Add(1)
		return false
	}
	if u := b.used.Load(); u > b.peak.Load() {
		b.peak.Store(u)
	}
	return true
}

func (b *testBudget) Release(n int64) { b.used.Add(-n) }

// countingReader counts the bytes read from it; after the first n bytes
// of data it fails with errStalled, like a client that stopped sending.
type countingReader struct {
	data []byte
	read int
}

var errStalled = errors.New("client stalled")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read == len(c.data) {
		return 0, errStalled
	}
	n := copy(p, c.data[c.read:])
	c.read += n
	return n, nil
}

// TestReadBodyGrowsWithArrivedBytes: a request that announces 1 MiB and
// sends 10 bytes costs a small buffer, not the 1 MiB it announced.
func TestReadBodyGrowsWithArrivedBytes(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/api/v1/write", &countingReader{data: []byte("0123456789")})
	r.ContentLength = 1 << 20
	buf, err := readBody(nil, r, 32<<20, &lease{}, make([]byte, 1))
	require.ErrorIs(t, err, errStalled)
	require.Equal(t, "0123456789", string(buf))
	require.LessOrEqual(t, cap(buf), reqbody.FirstBuf, "buffer sized from Content-Length, not from the bytes that came")
}

// TestReadBodyExactLengthNoDoubling: a body of exactly its announced
// length is read into one buffer of that length.
func TestReadBodyExactLengthNoDoubling(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 300_000)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(data))
	buf, err := readBody(nil, r, 32<<20, &lease{}, make([]byte, 1))
	require.NoError(t, err)
	require.Equal(t, data, buf)
	require.Equal(t, len(data), cap(buf))
}

// TestWriteOverBudgetRefusedUnread: a write whose announced body does not
// fit in the budget gets 503 with Retry-After before a byte of its body is
// read, and the budget is whole again afterwards.
func TestWriteOverBudgetRefusedUnread(t *testing.T) {
	b := newTestBudget(1 << 20)
	h, _ := newTestHandler(t, Options{Budget: b})
	body := &countingReader{data: bytes.Repeat([]byte{0}, 2<<20)}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/write", body)
	r.ContentLength = 2 << 20
	w := httptest.NewRecorder()
	h.ServeWrite(w, r)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Contains(t, w.Body.String(), ErrInflightLimit.Error())
	require.Zero(t, body.read, "body read although it could not fit")
	require.Zero(t, b.used.Load())

	// A body that fits is stored, and its bytes are given back.
	in := []prompb.TimeSeries{{Labels: lbls("__name__", "up"), Samples: samples(3, t0)}}
	w = post(mux(h), "/api/v1/write", "", v1Body(t, &prompb.WriteRequest{Timeseries: in}))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Zero(t, b.used.Load())
	require.Positive(t, b.peak.Load())
}

// TestWriteSnappyBombOverBudget: a small body that decodes to far more
// than the budget holds is refused with 503 before it is decoded.
func TestWriteSnappyBombOverBudget(t *testing.T) {
	b := newTestBudget(1 << 20)
	h, _ := newTestHandler(t, Options{Budget: b})
	bomb := s2.EncodeSnappy(nil, make([]byte, 8<<20)) // 8 MiB of zeros, ~400 KB sent
	require.Less(t, len(bomb), 1<<20)
	w := post(mux(h), "/api/v1/write", "", bomb)
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Zero(t, b.used.Load())
	require.LessOrEqual(t, b.peak.Load(), int64(1<<20))
}

// TestWriteTimestampEdges: samples outside series.MinTimeMs..MaxTimeMs are
// left out, each named with its series; the valid ones of the same
// request, the range's two ends included, are stored.
func TestWriteTimestampEdges(t *testing.T) {
	bad := []int64{math.MinInt64, math.MinInt64/int64(1e6) - 1, series.MinTimeMs - 1, series.MaxTimeMs + 1, 1 << 62, math.MaxInt64}
	good := []int64{t0, t0 + 1}
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			h, db := newTestHandler(t, Options{})
			var ss []prompb.Sample
			for i, tMs := range append(append([]int64{}, bad...), good...) {
				ss = append(ss, prompb.Sample{Timestamp: tMs, Value: float64(i)})
			}
			in := []prompb.TimeSeries{{Labels: lbls("__name__", "edge", "job", "x"), Samples: ss}}
			w := post(mux(h), "/api/v1/write", map[int]string{1: "", 2: ctV2}[v], encodeBody(v, in))
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			require.Equal(t, fmt.Sprint(len(good)), w.Header().Get(hdrSamplesWritten))
			msg := w.Body.String()
			require.Contains(t, msg, fmt.Sprintf("left out %d samples", len(bad)))
			require.Contains(t, msg, `series {__name__="edge",job="x"}: timestamp out of range: `+fmt.Sprint(bad[0])+" ms")
			require.ErrorIs(t, ErrTimestampRange, series.ErrTimestampRange)

			q := &prompb.Query{StartTimestampMs: math.MinInt64, EndTimestampMs: math.MaxInt64,
				Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "edge"}}}
			got := readSamplesResp(t, mux(h), q).Results[0].Timeseries
			require.Len(t, got, 1)
			var ts []int64
			for _, s := range got[0].Samples {
				ts = append(ts, s.Timestamp)
			}
			require.Equal(t, good, ts)
			_ = db
		})
	}
}

// TestDecodeTimestampRangeEnds: the two ends of series.MinTimeMs..MaxTimeMs
// go in the batch, one millisecond past either does not.
func TestDecodeTimestampRangeEnds(t *testing.T) {
	for _, c := range []struct {
		tMs int64
		ok  bool
	}{{series.MinTimeMs, true}, {series.MaxTimeMs, true}, {series.MinTimeMs - 1, false}, {series.MaxTimeMs + 1, false}} {
		var d decoder
		var b series.Batch
		d.reset(nil)
		body := rawBodyOf(t, []prompb.TimeSeries{{Labels: lbls("__name__", "m"), Samples: []prompb.Sample{{Timestamp: c.tMs}}}})
		require.NoError(t, d.decodeV1(body, &b))
		require.Equal(t, c.ok, d.res.samples == 1, "%d ms", c.tMs)
		if c.ok {
			_, _, ts, _ := b.Series(0)
			require.True(t, series.InRange(ts[0]))
		}
	}
}

func rawBodyOf(t *testing.T, in []prompb.TimeSeries) []byte {
	data, err := (&prompb.WriteRequest{Timeseries: in}).Marshal()
	require.NoError(t, err)
	return data
}

// TestQueryRangeAbsurd: remote read ranges at and past the int64 ends
// stay inside the stored range instead of overflowing.
func TestQueryRangeAbsurd(t *testing.T) {
	for _, c := range []struct{ start, end int64 }{
		{math.MinInt64, math.MaxInt64}, {math.MaxInt64, math.MinInt64}, {math.MaxInt64 - 1, math.MaxInt64},
		{math.MinInt64, math.MinInt64 + 1}, {series.MaxTimeMs, series.MaxTimeMs}, {series.MinTimeMs, series.MinTimeMs},
	} {
		q := &prompb.Query{StartTimestampMs: c.start, EndTimestampMs: c.end,
			Hints: &prompb.ReadHints{StartMs: c.start + 1, EndMs: c.end - 1}}
		minT, maxT := queryRange(q)
		require.True(t, series.InRange(minT) && series.InRange(maxT), "%d..%d ms gave %d..%d ns", c.start, c.end, minT, maxT)
	}
}

// TestReadQueueTimeout: a read that finds every slot busy for
// ReadQueueTimeout is answered 503 with Retry-After.
func TestReadQueueTimeout(t *testing.T) {
	h, _ := newTestHandler(t, Options{ReadConcurrency: 1, ReadQueueTimeout: 50 * time.Millisecond})
	h.readSem <- struct{}{} // a read in progress that does not end
	defer func() { <-h.readSem }()
	req := &prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: 1,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "x"}}}}}
	data, err := req.Marshal()
	require.NoError(t, err)
	w := post(mux(h), "/api/v1/read", "application/x-protobuf", s2.EncodeSnappy(nil, data))
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Contains(t, w.Body.String(), ErrReadBusy.Error())
	require.EqualValues(t, 1, h.Stats().ReadBusy)
}

// TestReadStalledClientFreesSlot: a remote read client that stops reading
// its streamed answer has it cut after ReadWriteTimeout, and the next
// read is served (before, it held its slot for ever and every later read
// queued behind it).
func TestReadStalledClientFreesSlot(t *testing.T) {
	for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, prompb.ReadRequest_SAMPLES} {
		t.Run(typ.String(), func(t *testing.T) {
			h, _ := newTestHandler(t, Options{ReadConcurrency: 1, ReadWriteTimeout: 200 * time.Millisecond, ReadQueueTimeout: -1})
			m := mux(h)
			writeRandomSeries(t, m, 8, 100_000) // ~7 MB of XOR chunks, more than socket buffers hold
			srv := httptest.NewServer(m)
			defer srv.Close()
			body := readRequestBody(t, typ, "rnd")

			// The stalled client: a socket with a small receive buffer
			// that sends the request and reads nothing.
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			conn, err := d.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			fmt.Fprintf(conn, "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: %d\r\n\r\n", len(body))
			_, err = conn.Write(body)
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(h.readSem) == 1 }, 10*time.Second, 5*time.Millisecond)

			// The next read is served once the stalled one is cut.
			c := &http.Client{Timeout: 20 * time.Second}
			resp, err := c.Post(srv.URL+"/api/v1/read", "application/x-protobuf", bytes.NewReader(body))
			require.NoError(t, err)
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Greater(t, n, int64(1<<20))
			require.Eventually(t, func() bool { return h.Stats().ReadCut == 1 }, 5*time.Second, 5*time.Millisecond)
		})
	}
}

// writeRandomSeries stores n series rnd{i=...} of k samples of random
// values (which XOR-encode to about 8 bytes each).
func writeRandomSeries(t *testing.T, m http.Handler, n, k int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		ts := prompb.TimeSeries{Labels: lbls("__name__", "rnd", "i", fmt.Sprint(i))}
		for j := range k {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t0 + int64(j)*1000, Value: rng.Float64()})
		}
		w := post(m, "/api/v1/write", "", v1Body(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ts}}))
		require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	}
}

func readRequestBody(t *testing.T, typ prompb.ReadRequest_ResponseType, name string) []byte {
	t.Helper()
	req := &prompb.ReadRequest{
		Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: name}}}},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ},
	}
	data, err := req.Marshal()
	require.NoError(t, err)
	return s2.EncodeSnappy(nil, data)
}
