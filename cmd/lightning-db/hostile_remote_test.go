package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestHostileRemote attacks Prometheus remote read and write: clients
// that stop reading their answers, bodies that never come, and timestamps
// at and past the ends of int64.
func TestHostileRemote(t *testing.T) {
	t.Run("remote-read clients that stop reading", testStalledReaders)
	t.Run("remote-read bodies that never come", testSlowReadBodies)
	t.Run("timestamps past the stored range", testTimestampEdges)
	t.Run("concurrent SAMPLES answers", testConcurrentSamplesAnswers)
}

// remoteWrite posts a remote write 1.0 request and returns its answer.
func remoteWrite(t *testing.T, p *proc, ts ...prompb.TimeSeries) (int, string) {
	t.Helper()
	data, err := (&prompb.WriteRequest{Timeseries: ts}).Marshal()
	require.NoError(t, err)
	resp, err := http.Post(p.url("/api/v1/write"), "application/x-protobuf", bytes.NewReader(s2.EncodeSnappy(nil, data)))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// readRequestBody returns a snappy ReadRequest for metric over start..end ms.
func readRequestBody(t *testing.T, metric string, start, end int64, typ prompb.ReadRequest_ResponseType) []byte {
	t.Helper()
	req := &prompb.ReadRequest{
		Queries: []*prompb.Query{{StartTimestampMs: start, EndTimestampMs: end,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: metric}}}},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{typ},
	}
	data, err := req.Marshal()
	require.NoError(t, err)
	return s2.EncodeSnappy(nil, data)
}

// remoteRead sends body to /api/v1/read and returns the status and the
// number of bytes of the answer.
func remoteRead(c *http.Client, p *proc, body []byte) (int, int64, error) {
	resp, err := c.Post(p.url("/api/v1/read"), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, n, err
}

// dialSmallRcvBuf dials the server with a 4 KiB receive buffer, so that
// a client that stops reading blocks the server's writes soon.
func dialSmallRcvBuf(t *testing.T, p *proc) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", p.addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// testStalledReaders: 12 remote-read clients ask for a streamed answer of
// about 7 MB and read none of it. Before, the 10 read slots were held for
// ever and every later read queued behind them; now each frame has a
// write deadline, the stalled answers are cut and the next read served.
func testStalledReaders(t *testing.T) {
	p := startHostile(t, "remote:\n  read_write_timeout: 2s\n")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 8 {
		ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "rnd"}, {Name: "i", Value: fmt.Sprint(i)}}}
		for j := range 100_000 {
			ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: 1_700_000_000_000 + int64(j)*1000, Value: rng.Float64()})
		}
		status, msg := remoteWrite(t, p, ts)
		require.Equal(t, http.StatusNoContent, status, msg)
	}
	b := startBystander(t, p)
	body := readRequestBody(t, "rnd", 0, math.MaxInt64, prompb.ReadRequest_STREAMED_XOR_CHUNKS)
	for range 12 {
		c := dialSmallRcvBuf(t, p)
		fmt.Fprintf(c, "POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: %d\r\n\r\n", len(body))
		_, err := c.Write(body)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return p.metricValue("lightningdb_remote_read_requests_total") >= 12 },
		10*time.Second, 10*time.Millisecond)
	start := time.Now()
	status, n, err := remoteRead(&http.Client{Timeout: 30 * time.Second}, p, body)
	require.NoError(t, err, "a remote read behind 12 stalled ones was not served within 30 s")
	require.Equal(t, http.StatusOK, status)
	require.Greater(t, n, int64(4<<20))
	t.Logf("a remote read behind 12 stalled ones served in %v (%d bytes)", time.Since(start).Round(time.Millisecond), n)
	require.Positive(t, p.metricValue("lightningdb_remote_read_cut_answers_total"))
	p.requirePeakBelow(400 << 20)
	b.stop(t)
	p.requireAlive()
}

// testSlowReadBodies: 20 sockets announce 1 MiB remote-read bodies and
// send nothing. Before, a read took its slot before its body came, so the
// 10 slots were held for ever; now the body is read first.
func testSlowReadBodies(t *testing.T) {
	p := startHostile(t, "")
	status, msg := remoteWrite(t, p, prompb.TimeSeries{
		Labels:  []prompb.Label{{Name: "__name__", Value: "slowbody"}},
		Samples: []prompb.Sample{{Timestamp: 1_700_000_000_000, Value: 1}},
	})
	require.Equal(t, http.StatusNoContent, status, msg)
	b := startBystander(t, p)
	for range 20 {
		c := dialRaw(t, p)
		require.NoError(t, c.post("/api/v1/read", 1<<20, "Content-Type: application/x-protobuf", "Content-Encoding: snappy"))
	}
	require.Eventually(t, func() bool { return p.metricValue("lightningdb_remote_read_requests_total") >= 20 },
		10*time.Second, 10*time.Millisecond)
	status, _, err := remoteRead(&http.Client{Timeout: 10 * time.Second}, p,
		readRequestBody(t, "slowbody", 0, math.MaxInt64, prompb.ReadRequest_SAMPLES))
	require.NoError(t, err, "a remote read behind 20 unfinished bodies was not served within 10 s")
	require.Equal(t, http.StatusOK, status)
	p.requirePeakBelow(150 << 20)
	b.stop(t)
	p.requireAlive()
}

// testTimestampEdges: a remote write whose samples lie before 1677 or
// after 2262 (ms*1e6 past int64) beside valid ones: those are refused,
// each named with its timestamp and series, the valid ones kept; remote
// read and export over absurd ranges return the valid ones.
func testTimestampEdges(t *testing.T) {
	p := startHostile(t, "")
	b := startBystander(t, p)
	const t1 = 1_700_000_000_000
	bad := []int64{math.MinInt64/int64(1e6) - 1, 1 << 62, math.MaxInt64, math.MinInt64}
	mixed := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "edge"}, {Name: "s", Value: "mixed"}}}
	for i, ts := range append([]int64{t1}, append(bad, t1+1000)...) {
		mixed.Samples = append(mixed.Samples, prompb.Sample{Timestamp: ts, Value: float64(i)})
	}
	valid := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "edge"}, {Name: "s", Value: "valid"}},
		Samples: []prompb.Sample{{Timestamp: t1, Value: 7}}}
	status, msg := remoteWrite(t, p, mixed, valid)
	require.Equal(t, http.StatusBadRequest, status, msg)
	require.Contains(t, msg, "stored 3 samples; left out 4 samples")
	require.Contains(t, msg, fmt.Sprintf(`series {__name__="edge",s="mixed"}: timestamp out of range: %d ms`, bad[0]))

	got := p.export(`{__name__="edge"}`)
	require.Equal(t, []int64{t1 * 1e6, (t1 + 1000) * 1e6}, got[`edge{s=mixed}`].Timestamps)
	require.Equal(t, []int64{t1 * 1e6}, got[`edge{s=valid}`].Timestamps)

	c := &http.Client{Timeout: 10 * time.Second}
	for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {math.MaxInt64, math.MinInt64}, {1 << 62, math.MaxInt64}, {math.MinInt64, -(1 << 62)}} {
		for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS} {
			status, _, err := remoteRead(c, p, readRequestBody(t, "edge", r[0], r[1], typ))
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status, "range %d..%d ms", r[0], r[1])
		}
	}
	rs := remoteReadSamples(t, p, "edge", math.MinInt64, math.MaxInt64)
	require.Len(t, rs, 2)
	require.Len(t, rs[0].Values, 2, normalize(rs))
	b.stop(t)
	p.requireAlive()
}

// samplesSeries and samplesPerSeries size testConcurrentSamplesAnswers:
// 2 M samples, a SAMPLES answer of about 36 MB of protobuf.
const (
	samplesSeries    = 20
	samplesPerSeries = 100_000
)

// testConcurrentSamplesAnswers: read_concurrency (10) SAMPLES reads at
// once, each for 2 M samples. Before, each answer was built whole as
// prompb structs (48 B a sample), marshalled, then snappy-encoded: about
// 190 MB each, close to 2 GB for the ten. Now an answer is built as
// protobuf bytes charged to http.max_inflight_body_bytes (128 MiB) and
// sent in snappy blocks: the reads that do not fit beside the others get
// 503 with Retry-After, the others their whole answer, and every byte is
// given back. Before: 10 answers of 200 and a peak of 2.5 GB; now: 3 of
// 200, 7 of 503, about 360 MiB.
func testConcurrentSamplesAnswers(t *testing.T) {
	p := startHostile(t, "")
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < samplesSeries; i += 4 {
		var batch []prompb.TimeSeries
		for k := i; k < i+4; k++ {
			ts := prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "big"}, {Name: "i", Value: fmt.Sprintf("%02d", k)}}}
			for j := range samplesPerSeries {
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: 1_700_000_000_000 + int64(j)*1000, Value: rng.Float64()})
			}
			batch = append(batch, ts)
		}
		status, msg := remoteWrite(t, p, batch...)
		require.Equal(t, http.StatusNoContent, status, msg)
	}
	_, before := p.memStatus()
	t.Logf("server peak RSS after the writes: %.1f MiB", float64(before)/(1<<20))
	b := startBystander(t, p)
	body := readRequestBody(t, "big", 0, math.MaxInt64, prompb.ReadRequest_SAMPLES)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[int]int{}
		errs    []string
	)
	c := &http.Client{Timeout: 2 * time.Minute}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, msg, err := checkSamplesAnswer(c, p, body, &mu)
			mu.Lock()
			defer mu.Unlock()
			answers[status]++
			if err != nil {
				errs = append(errs, err.Error())
			} else if msg != "" {
				t.Logf("%d: %s", status, msg)
			}
		}()
	}
	wg.Wait()
	t.Logf("answers by status: %v", answers)
	require.Empty(t, errs)
	require.Positive(t, answers[http.StatusOK], "no SAMPLES read was served")
	require.Equal(t, 10, answers[http.StatusOK]+answers[http.StatusServiceUnavailable])
	// The answers hold at most the 128 MiB budget; Go's collector lets
	// the heap grow to about twice what is live, plus some slack.
	p.requirePeakBelow(before + 2*128<<20 + 64<<20)
	require.Eventually(t, func() bool { return p.metricValue("lightningdb_http_inflight_body_bytes") == 0 },
		10*time.Second, 10*time.Millisecond, "the answers' bytes were not given back to the budget")
	require.Zero(t, p.metricValue("lightningdb_remote_read_answer_bytes"))
	require.Equal(t, float64(answers[http.StatusServiceUnavailable]), p.metricValue("lightningdb_remote_read_overloaded_requests_total"))
	b.stop(t)
	p.requireAlive()
}

// checkSamplesAnswer sends a SAMPLES read for every "big" sample: 200
// must hold them all, 503 must carry Retry-After and say why; anything
// else is an error. mu serialises the decoding (it holds the answer as
// structs in the test process).
func checkSamplesAnswer(c *http.Client, p *proc, body []byte, mu *sync.Mutex) (int, string, error) {
	resp, err := c.Post(p.url("/api/v1/read"), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(data), "in flight") {
			return resp.StatusCode, "", fmt.Errorf("503 without Retry-After or reason: %q", data)
		}
		return resp.StatusCode, strings.TrimSpace(string(data)), nil
	case http.StatusOK:
	default:
		return resp.StatusCode, "", fmt.Errorf("status %d: %q", resp.StatusCode, data)
	}
	mu.Lock()
	defer mu.Unlock()
	raw, err := s2.Decode(nil, data)
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("snappy: %w", err)
	}
	var rr prompb.ReadResponse
	if err := rr.Unmarshal(raw); err != nil {
		return resp.StatusCode, "", fmt.Errorf("ReadResponse: %w", err)
	}
	n := 0
	for _, ts := range rr.Results[0].Timeseries {
		n += len(ts.Samples)
	}
	if len(rr.Results[0].Timeseries) != samplesSeries || n != samplesSeries*samplesPerSeries {
		return resp.StatusCode, "", fmt.Errorf("answer holds %d series, %d samples; want %d, %d",
			len(rr.Results[0].Timeseries), n, samplesSeries, samplesSeries*samplesPerSeries)
	}
	return resp.StatusCode, "", nil
}
