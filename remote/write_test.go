package remote

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

func lbls(nv ...string) []prompb.Label {
	var out []prompb.Label
	for i := 0; i < len(nv); i += 2 {
		out = append(out, prompb.Label{Name: nv[i], Value: nv[i+1]})
	}
	return out
}

func samples(n int, t0 int64) []prompb.Sample {
	out := make([]prompb.Sample, n)
	for i := range out {
		out[i] = prompb.Sample{Timestamp: t0 + int64(i)*1000, Value: float64(i) + 0.5}
	}
	return out
}

const t0 = int64(1_700_000_000_000) // ms

func TestWriteV1ThenReadBack(t *testing.T) {
	h, _ := newTestHandler(t, Options{})
	m := mux(h)
	in := []prompb.TimeSeries{
		{Labels: lbls("__name__", "up", "job", "a"), Samples: samples(3, t0)},
		{Labels: lbls("__name__", "up", "job", "b"), Samples: samples(300, t0)},
		{Labels: lbls("__name__", "stale", "job", "a"), Samples: []prompb.Sample{{Timestamp: t0, Value: math.Float64frombits(0x7ff0000000000002)}}},
	}
	w := post(m, "/api/v1/write", "application/x-protobuf", v1Body(t, &prompb.WriteRequest{Timeseries: in}))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Equal(t, "304", w.Header().Get(hdrSamplesWritten))

	q := &prompb.Query{StartTimestampMs: t0, EndTimestampMs: t0 + 1_000_000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "__name__", Value: "up|stale"}}}
	want := []prompb.TimeSeries{in[2], in[0], in[1]} // sorted by labels
	resp := readSamplesResp(t, m, q)
	require.Len(t, resp.Results, 1)
	got := resp.Results[0].Timeseries
	require.Len(t, got, 3)
	for i := range want {
		require.Equal(t, want[i].Labels, got[i].Labels)
		requireSamplesEqual(t, want[i].Samples, got[i].Samples)
	}
	chunked := readChunksResp(t, m, q)
	require.Len(t, chunked, 3)
	for i := range want {
		require.Equal(t, want[i].Labels, chunked[i].Labels)
		requireSamplesEqual(t, want[i].Samples, chunked[i].Samples)
	}
	// The range and hints narrow the answer.
	q.Hints = &prompb.ReadHints{StartMs: t0 + 1000, EndMs: t0 + 2000}
	got = readSamplesResp(t, m, q).Results[0].Timeseries
	require.Len(t, got, 2)
	requireSamplesEqual(t, in[0].Samples[1:3], got[0].Samples)
}

// requireSamplesEqual compares samples bit for bit (NaN stale markers too).
func requireSamplesEqual(t *testing.T, want, got []prompb.Sample) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Timestamp, got[i].Timestamp)
		require.Equal(t, math.Float64bits(want[i].Value), math.Float64bits(got[i].Value), "sample %d", i)
	}
}

func TestWriteV2HeadersAndMetadata(t *testing.T) {
	h, _ := newTestHandler(t, Options{})
	m := mux(h)
	req := v2Request([]prompb.TimeSeries{
		{Labels: lbls("__name__", "http_requests_total", "code", "200"), Samples: samples(2, t0)},
		{Labels: lbls("__name__", "temp", "room", "1"), Samples: samples(1, t0)},
	})
	help := uint32(len(req.Symbols))
	req.Symbols = append(req.Symbols, "Requests served.", "seconds", "trace_id", "abc")
	req.Timeseries[0].Metadata = writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_COUNTER, HelpRef: help}
	req.Timeseries[1].Metadata = writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, UnitRef: help + 1}
	req.Timeseries[1].Exemplars = []writev2.Exemplar{{LabelsRefs: []uint32{help + 2, help + 3}, Value: 1, Timestamp: t0}}
	w := post(m, "/api/v1/write", ctV2, v2Body(t, req))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	require.Equal(t, "3", w.Header().Get(hdrSamplesWritten))
	require.Equal(t, "0", w.Header().Get(hdrHistogramsWritten))
	require.Equal(t, "1", w.Header().Get(hdrExemplarsWritten))
	md, ok := h.Metadata().Get("http_requests_total")
	require.True(t, ok)
	require.Equal(t, MetricMetadata{Type: "counter", Help: "Requests served."}, md)
	require.Equal(t, map[string][]MetricMetadata{"temp": {{Type: "gauge", Unit: "seconds"}}}, h.Metadata().List("temp", 0))
	require.Len(t, h.Metadata().List("", 1), 1)

	// Histograms are refused with a reason; the float samples are stored.
	req.Timeseries = append(req.Timeseries, writev2.TimeSeries{
		LabelsRefs: req.Timeseries[0].LabelsRefs,
		Histograms: []writev2.Histogram{{Timestamp: t0 + 5000, Count: &writev2.Histogram_CountInt{CountInt: 1}}},
	})
	w = post(m, "/api/v1/write", ctV2, v2Body(t, req))
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), ErrHistogramUnsupported.Error())
	require.Equal(t, "3", w.Header().Get(hdrSamplesWritten))
	require.Equal(t, "0", w.Header().Get(hdrHistogramsWritten))
	st := h.Stats()
	require.EqualValues(t, 6, st.SamplesAccepted)
	require.EqualValues(t, 1, st.HistogramsRejected)
}

func TestWriteV1Metadata(t *testing.T) {
	h, _ := newTestHandler(t, Options{})
	w := post(mux(h), "/api/v1/write", "", v1Body(t, &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{
		{Type: prompb.MetricMetadata_SUMMARY, MetricFamilyName: "rpc_seconds", Help: "RPC latency.", Unit: "seconds"},
	}}))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	md, ok := h.Metadata().Get("rpc_seconds")
	require.True(t, ok)
	require.Equal(t, MetricMetadata{Type: "summary", Help: "RPC latency.", Unit: "seconds"}, md)
}

// TestWriteErrors checks each documented error: what is refused, with which
// status and message, and that the valid rest of the request is stored.
func TestWriteErrors(t *testing.T) {
	good := prompb.TimeSeries{Labels: lbls("__name__", "ok", "i", "1"), Samples: samples(2, t0)}
	cases := []struct {
		name    string
		ct, enc string
		body    func(v int) []byte // v: 1 or 2
		status  int
		msg     string
		written string
	}{
		{name: "bad snappy", body: func(int) []byte { return []byte("\xff\xff\xff\xff\xff not snappy") }, status: 400, msg: ErrBadSnappy.Error(), written: "0"},
		{name: "malformed protobuf", body: func(int) []byte { return s2.EncodeSnappy(nil, []byte{0x0a, 0x10, 0x01}) }, status: 400, msg: ErrBadProtobuf.Error(), written: "0"},
		{name: "empty label name", body: withBad(good, lbls("", "x", "__name__", "m")), status: 400, msg: ErrEmptyLabelName.Error(), written: "2"},
		{name: "duplicate labels", body: withBad(good, lbls("__name__", "m", "a", "1", "a", "2")), status: 400, msg: ErrDuplicateLabel.Error(), written: "2"},
		{name: "unsorted labels", body: withBad(good, lbls("z", "1", "__name__", "m")), status: 400, msg: ErrUnsortedLabels.Error(), written: "2"},
		{name: "no metric name", body: withBad(good, lbls("a", "1")), status: 400, msg: "missing metric name", written: "2"},
		{name: "timestamp out of range", body: withSamples(good, []prompb.Sample{{Timestamp: math.MaxInt64 / 1000, Value: 1}, {Timestamp: t0, Value: 2}}), status: 400, msg: ErrTimestampRange.Error(), written: "3"},
		{name: "content type", ct: "application/json", body: func(v int) []byte { return nil }, status: 415, msg: ErrUnsupportedMediaType.Error(), written: "0"},
		{name: "proto", ct: "application/x-protobuf;proto=foo.Bar", body: func(v int) []byte { return nil }, status: 415, msg: "proto=", written: "0"},
		{name: "encoding", enc: "gzip", body: func(v int) []byte { return nil }, status: 415, msg: "Content-Encoding", written: "0"},
	}
	for _, c := range cases {
		for _, v := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/v%d", c.name, v), func(t *testing.T) {
				h, _ := newTestHandler(t, Options{})
				ct := c.ct
				if ct == "" && v == 2 {
					ct = ctV2
				}
				r := post(mux(h), "/api/v1/write", ct, c.body(v))
				if c.enc != "" {
					r = postEnc(mux(h), ct, c.enc, c.body(v))
				}
				require.Equal(t, c.status, r.Code, r.Body.String())
				require.Contains(t, r.Body.String(), c.msg)
				require.Equal(t, c.written, r.Header().Get(hdrSamplesWritten))
				require.Equal(t, "0", r.Header().Get(hdrHistogramsWritten))
				require.NotEmpty(t, r.Header().Get(hdrExemplarsWritten))
				if c.written != "0" && c.status == 400 {
					require.True(t, strings.HasPrefix(r.Body.String(), "partial write: stored "+c.written+" samples"), r.Body.String())
				}
			})
		}
	}
}

// withBad returns a body holding good and a series with bad labels.
func withBad(good prompb.TimeSeries, bad []prompb.Label) func(int) []byte {
	return func(v int) []byte {
		in := []prompb.TimeSeries{good, {Labels: bad, Samples: samples(1, t0)}}
		return encodeBody(v, in)
	}
}

func withSamples(good prompb.TimeSeries, ss []prompb.Sample) func(int) []byte {
	return func(v int) []byte {
		return encodeBody(v, []prompb.TimeSeries{good, {Labels: lbls("__name__", "ts"), Samples: ss}})
	}
}

func encodeBody(v int, in []prompb.TimeSeries) []byte {
	var data []byte
	var err error
	if v == 1 {
		data, err = (&prompb.WriteRequest{Timeseries: in}).Marshal()
	} else {
		data, err = v2Request(in).Marshal()
	}
	if err != nil {
		panic(err)
	}
	return s2.EncodeSnappy(nil, data)
}

func postEnc(h http.Handler, ct, enc string, body []byte) *httptestRecorder {
	r := newReq(body, ct)
	r.Header.Set("Content-Encoding", enc)
	return serve(h, r)
}
