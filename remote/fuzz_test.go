package remote

import (
	"errors"
	"math"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

func fuzzSeeds() [][]prompb.TimeSeries {
	return [][]prompb.TimeSeries{
		{{Labels: lbls("__name__", "a", "b", "c"), Samples: samples(3, t0)}},
		{{Labels: lbls("b", "c", "__name__", "a"), Samples: samples(1, t0)}},
		{{Labels: lbls("__name__", "a", "", "c"), Samples: samples(1, t0)}, {Labels: lbls("__name__", "x"), Samples: samples(2, -t0)}},
	}
}

// FuzzDecodeV1 checks that any body decodes without panicking, that a
// body it accepts yields a valid batch, and that it accounts for every
// sample the reference decoder (gogo protobuf) sees.
func FuzzDecodeV1(f *testing.F) {
	for _, s := range fuzzSeeds() {
		data, err := (&prompb.WriteRequest{Timeseries: s}).Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte{0x0a, 0x05, 0x12, 0x03, 0x09, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		var d decoder
		var b series.Batch
		d.reset(NewMetadata(10))
		err := d.decodeV1(body, &b)
		var ref prompb.WriteRequest
		refErr := ref.Unmarshal(body)
		if err != nil {
			require.ErrorIs(t, err, ErrBadProtobuf)
			return
		}
		require.NoError(t, b.Validate())
		if refErr == nil {
			n := 0
			for _, ts := range ref.Timeseries {
				n += len(ts.Samples)
			}
			require.Equal(t, n, d.res.samples+d.res.rejectedSamples)
		}
	})
}

// FuzzDecodeV2 is FuzzDecodeV1 for remote write 2.0.
func FuzzDecodeV2(f *testing.F) {
	for _, s := range fuzzSeeds() {
		data, err := v2Request(s).Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte{0x22, 0x00, 0x2a, 0x04, 0x0a, 0x02, 0x00, 0x07})
	f.Fuzz(func(t *testing.T, body []byte) {
		var d decoder
		var b series.Batch
		d.reset(NewMetadata(10))
		err := d.decodeV2(body, &b)
		var ref writev2.Request
		refErr := ref.Unmarshal(body)
		if err != nil {
			require.ErrorIs(t, err, ErrBadProtobuf)
			return
		}
		require.NoError(t, b.Validate())
		if refErr == nil {
			n := 0
			for _, ts := range ref.Timeseries {
				n += len(ts.Samples)
			}
			require.Equal(t, n, d.res.samples+d.res.rejectedSamples)
		}
	})
}

// TestDecodeNoAllocs guards the zero-allocation decode: refilling a batch
// from a 500-series request allocates nothing once the buffers have grown.
func TestDecodeNoAllocs(t *testing.T) {
	for _, v := range []int{1, 2} {
		body := rawBody(t, v, 500, 10)
		var d decoder
		var b series.Batch
		meta := NewMetadata(0)
		run := func() {
			b.Reset()
			d.reset(meta)
			var err error
			if v == 1 {
				err = d.decodeV1(body, &b)
			} else {
				err = d.decodeV2(body, &b)
			}
			if err != nil || d.res.samples != 5000 {
				t.Fatalf("v%d: %v, %d samples", v, err, d.res.samples)
			}
		}
		run()
		require.Zero(t, testing.AllocsPerRun(20, run), "remote write %d.0 decode allocates", v)
	}
}

// FuzzDecodeReadRequest checks the remote read request path up to the
// index: snappy, the ReadRequest protobuf, response type negotiation,
// matchers and the time range with its hints. Any input gives a clear
// error or a request whose ranges stay inside series.MinTime..MaxTime,
// and the budget is whole again afterwards. The input is the protobuf;
// it is also tried as a snappy block as sent.
func FuzzDecodeReadRequest(f *testing.F) {
	for _, req := range []*prompb.ReadRequest{
		{Queries: []*prompb.Query{{StartTimestampMs: t0, EndTimestampMs: t0 + 1000,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "up"}}}}},
		{Queries: []*prompb.Query{{StartTimestampMs: math.MinInt64, EndTimestampMs: math.MaxInt64,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_RE, Name: "job", Value: "a|b.*"},
				{Type: prompb.LabelMatcher_NRE, Name: "x", Value: "("}, {Type: prompb.LabelMatcher_NEQ, Name: "", Value: ""}},
			Hints: &prompb.ReadHints{StartMs: math.MaxInt64, EndMs: math.MinInt64, StepMs: 15000, Func: "rate", By: true, Grouping: []string{"a"}}}},
			AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS, 7}},
		{Queries: []*prompb.Query{{Matchers: []*prompb.LabelMatcher{{Type: 9, Name: "a", Value: "b"}}}}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{5}},
	} {
		data, err := req.Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte{0x0a, 0x02, 0x08, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, raw := range [][]byte{s2.EncodeSnappy(nil, data), data} {
			b := newTestBudget(1 << 20)
			l := lease{Budget: b}
			req, err := decodeReadRequest(raw, 1<<20, &l)
			l.Release()
			require.Zero(t, b.used.Load())
			if err != nil {
				if !errors.Is(err, ErrBadSnappy) && !errors.Is(err, ErrBadProtobuf) && !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, ErrInflightLimit) {
					t.Fatalf("unexpected error class: %v", err)
				}
				continue
			}
			_, _ = negotiate(req.AcceptedResponseTypes)
			for _, q := range req.Queries {
				minT, maxT := queryRange(q)
				require.True(t, series.InRange(minT) && series.InRange(maxT), "%d..%d ns", minT, maxT)
				if _, err := indexMatchers(q.Matchers); err != nil {
					require.ErrorIs(t, err, errBadMatcher)
				}
			}
		}
	})
}
