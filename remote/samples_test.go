package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// encodeAnswer builds resp with a samplesAnswer and sends it, returning
// the snappy body, and checks that every byte it held is given back.
func encodeAnswer(t *testing.T, resp *prompb.ReadResponse) []byte {
	t.Helper()
	h := &Handler{opts: DefaultOptions()}
	budget := newTestBudget(math.MaxInt64)
	a := &samplesAnswer{l: &lease{Budget: answerBudget{inner: budget, held: &h.c.answerBytes}}, limit: math.MaxInt64}
	for _, q := range resp.Results {
		require.NoError(t, a.beginQuery())
		for _, ts := range q.Timeseries {
			require.NoError(t, a.beginSeries(canonical(ts.Labels)))
			for _, s := range ts.Samples {
				require.NoError(t, a.appendSample(msSample{t: s.Timestamp, v: s.Value}))
			}
			require.NoError(t, a.endSeries())
		}
		require.NoError(t, a.endQuery())
	}
	require.NoError(t, a.take(int64(a.blockSize()+s2.MaxEncodedLen(a.blockSize()))))
	w := httptest.NewRecorder()
	require.NoError(t, h.sendSamples(w, a))
	a.release()
	require.Zero(t, budget.used.Load(), "budget not given back whole")
	require.Zero(t, h.c.answerBytes.Load(), "answer bytes gauge not back to 0")
	return w.Body.Bytes()
}

// canonical returns ls in the canonical form, in their order, unchecked.
func canonical(ls []prompb.Label) []byte {
	var b []byte
	for _, l := range ls {
		b = append(binary.AppendUvarint(b, uint64(len(l.Name))), l.Name...)
		b = append(binary.AppendUvarint(b, uint64(len(l.Value))), l.Value...)
	}
	return b
}

// randomResponse returns queries of random series; values never -0
// (gogo's Marshal leaves -0 out, the answer keeps it).
func randomResponse(rng *rand.Rand, queries, maxSeries, maxSamples int) *prompb.ReadResponse {
	resp := &prompb.ReadResponse{}
	for range queries {
		q := &prompb.QueryResult{}
		for i := range rng.IntN(maxSeries + 1) {
			ts := &prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "i", Value: fmt.Sprint(i)}}}
			if rng.IntN(3) == 0 {
				ts.Labels = append(ts.Labels, prompb.Label{Name: "z", Value: string(bytes.Repeat([]byte("v"), rng.IntN(300)))})
			}
			t := rng.Int64N(1e6) - 5e5
			for range 1 + rng.IntN(maxSamples) {
				v := rng.NormFloat64()
				switch rng.IntN(10) {
				case 0:
					v = 0
				case 1:
					v = math.NaN()
				}
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: t, Value: v})
				t += rng.Int64N(1 << uint(rng.IntN(40)))
			}
			q.Timeseries = append(q.Timeseries, ts)
		}
		resp.Results = append(resp.Results, q)
	}
	return resp
}

// TestSamplesAnswerEncodesLikeMarshal: the answer built page by page and
// sent in snappy blocks decodes to the bytes gogo's Marshal gives, over
// answers smaller than a page and of many pages and blocks.
func TestSamplesAnswerEncodesLikeMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i, size := range [][3]int{{1, 0, 0}, {1, 1, 1}, {3, 5, 10}, {2, 40, 3000}, {1, 3, 60_000}, {4, 200, 500}} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			resp := randomResponse(rng, size[0], size[1], size[2])
			want, err := resp.Marshal()
			require.NoError(t, err)
			body := encodeAnswer(t, resp)
			n, k := binary.Uvarint(body)
			require.Positive(t, k)
			require.EqualValues(t, len(want), n, "snappy length")
			got, err := s2.Decode(nil, body)
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, got), "answer differs from Marshal (%d vs %d bytes)", len(got), len(want))
		})
	}
}

// TestSamplesAnswerKeepsNegativeZero: -0 keeps its sign (gogo's Marshal
// would turn it into 0).
func TestSamplesAnswerKeepsNegativeZero(t *testing.T) {
	resp := &prompb.ReadResponse{Results: []*prompb.QueryResult{{Timeseries: []*prompb.TimeSeries{{
		Labels: lbls("__name__", "z"), Samples: []prompb.Sample{{Timestamp: 1, Value: math.Copysign(0, -1)}}}}}}}
	raw, err := s2.Decode(nil, encodeAnswer(t, resp))
	require.NoError(t, err)
	var got prompb.ReadResponse
	require.NoError(t, got.Unmarshal(raw))
	require.True(t, math.Signbit(got.Results[0].Timeseries[0].Samples[0].Value))
}

// samplesRead sends a SAMPLES read for name to m.
func samplesRead(t *testing.T, m http.Handler, name string) *httptest.ResponseRecorder {
	t.Helper()
	return post(m, "/api/v1/read", "application/x-protobuf", readRequestBody(t, prompb.ReadRequest_SAMPLES, name))
}

// TestSamplesAnswerCharged: a SAMPLES answer is charged to the budget
// while it is built and sent (its peak is about its protobuf size, not a
// multiple of it), and every byte is given back; an answer that does not
// fit beside the requests in progress gets 503 with Retry-After.
func TestSamplesAnswerCharged(t *testing.T) {
	budget := newTestBudget(64 << 20)
	h, _ := newTestHandler(t, Options{Budget: budget})
	m := mux(h)
	writeRandomSeries(t, m, 4, 50_000)

	w := samplesRead(t, m, "rnd")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	raw, err := s2.Decode(nil, w.Body.Bytes())
	require.NoError(t, err)
	var resp prompb.ReadResponse
	require.NoError(t, resp.Unmarshal(raw))
	require.Len(t, resp.Results[0].Timeseries, 4)
	require.Len(t, resp.Results[0].Timeseries[3].Samples, 50_000)
	peak := budget.peak.Load()
	t.Logf("answer %d bytes of protobuf, budget peak %d", len(raw), peak)
	require.GreaterOrEqual(t, peak, int64(len(raw)))
	require.Less(t, peak, int64(len(raw))+answerPage+2*snappyBlock+64<<10)
	require.Zero(t, budget.used.Load())
	require.Zero(t, h.Stats().ReadAnswerBytes)

	// Others hold all but 1 MiB of the budget: the answer does not fit.
	budget.used.Store(63 << 20)
	w = samplesRead(t, m, "rnd")
	require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Contains(t, w.Body.String(), ErrInflightLimit.Error()+": a SAMPLES answer of ")
	require.EqualValues(t, 63<<20, budget.used.Load(), "the refused answer kept budget")
	require.EqualValues(t, 1, h.Stats().ReadOverloaded)
	require.Zero(t, h.Stats().ReadAnswerBytes)
}

// TestSamplesAnswerLimit: an answer over ReadSamplesMaxBytes gets 400
// naming the limit and the streamed type, and holds nothing after.
func TestSamplesAnswerLimit(t *testing.T) {
	budget := newTestBudget(64 << 20)
	h, _ := newTestHandler(t, Options{Budget: budget, ReadSamplesMaxBytes: 1 << 20})
	m := mux(h)
	writeRandomSeries(t, m, 2, 50_000) // about 1.8 MB of protobuf
	w := samplesRead(t, m, "rnd")
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	require.Contains(t, w.Body.String(), "SAMPLES answer over 1048576 bytes (read_max_bytes, read_samples_max_bytes; ask for STREAMED_XOR_CHUNKS")
	require.EqualValues(t, 1, h.Stats().ReadRejected)
	require.Zero(t, budget.used.Load())
	require.Zero(t, h.Stats().ReadAnswerBytes)
	// The streamed answer is not held, so it is served.
	require.Len(t, readChunksResp(t, m, &prompb.Query{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "rnd"}}}), 2)
}

// TestSamplesAnswerCutGivesBack: a client gone while its answer is sent
// leaves nothing charged.
func TestSamplesAnswerCutGivesBack(t *testing.T) {
	budget := newTestBudget(64 << 20)
	h, _ := newTestHandler(t, Options{Budget: budget})
	m := mux(h)
	writeRandomSeries(t, m, 2, 50_000)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/read", bytes.NewReader(readRequestBody(t, prompb.ReadRequest_SAMPLES, "rnd")))
	w := &failingWriter{ResponseRecorder: httptest.NewRecorder(), after: 100 << 10}
	m.ServeHTTP(w, r)
	require.EqualValues(t, 1, h.Stats().ReadCut)
	require.Zero(t, budget.used.Load())
	require.Zero(t, h.Stats().ReadAnswerBytes)

	// A request cancelled while its answer is built.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/read", bytes.NewReader(readRequestBody(t, prompb.ReadRequest_SAMPLES, "rnd")))
	m.ServeHTTP(httptest.NewRecorder(), r)
	require.Zero(t, budget.used.Load())
}

// failingWriter fails every write once after bytes were written.
type failingWriter struct {
	*httptest.ResponseRecorder
	after int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.Body.Len()+len(p) > f.after {
		return 0, fmt.Errorf("client gone")
	}
	return f.ResponseRecorder.Write(p)
}

// genStorage is one series, long{}, of n float samples made on the fly,
// so that a read's allocations are the handler's alone.
type genStorage struct{ n int }

func (g genStorage) Postings(context.Context, int64, int64, ...*tagindex.Matcher) (*roaring.Bitmap, error) {
	return roaring.BitmapOf(1), nil
}

func (g genStorage) Labels(series.ID) []byte {
	return series.FromStrings("__name__", "long").AppendCanonical(nil)
}

func (g genStorage) Select(_ series.ID, _, _ int64, reuse Iterator) Iterator {
	it, _ := reuse.(*genIter)
	if it == nil {
		it = &genIter{}
	}
	*it = genIter{n: g.n, i: -1}
	return it
}

type genIter struct{ n, i int }

func (it *genIter) Next() bool             { it.i++; return it.i < it.n }
func (it *genIter) Type() series.ValueType { return series.TypeFloat }
func (it *genIter) Len() int               { return it.n }
func (it *genIter) Err() error             { return nil }
func (it *genIter) AtString() (int64, []byte) {
	t, _ := it.At()
	return t, nil
}
func (it *genIter) At() (int64, uint64) {
	x := uint64(it.i) * 0x9e3779b97f4a7c15
	return t0*1e6 + int64(it.i)*1e9, math.Float64bits(float64(x>>11) / (1 << 53))
}

// allocPerSample returns the bytes allocated per sample by one read of
// the n samples of "long" as typ, leaving out the recorder's copy of the
// answer.
func allocPerSample(t *testing.T, m http.Handler, typ prompb.ReadRequest_ResponseType, n int) float64 {
	t.Helper()
	body := readRequestBody(t, typ, "long")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	w := httptest.NewRecorder()
	w.Body.Grow(32 << 20)
	r := httptest.NewRequest(http.MethodPost, "/api/v1/read", bytes.NewReader(body))
	runtime.ReadMemStats(&before)
	m.ServeHTTP(w, r)
	runtime.ReadMemStats(&after)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// TestReadAllocationsPerSample: a read of one series of 1 M samples
// allocates about the bytes of its answer, not a 48-byte prompb.Sample
// per sample on top (before: the series was read whole into
// []prompb.Sample for both answer types, and a SAMPLES answer was then
// marshalled and snappy-encoded whole: over 100 bytes a sample).
func TestReadAllocationsPerSample(t *testing.T) {
	const n = 1_000_000
	h, err := NewHandler(nil, genStorage{n: n}, Options{})
	require.NoError(t, err)
	m := mux(h)
	for _, c := range []struct {
		typ prompb.ReadRequest_ResponseType
		max float64
	}{
		// XOR chunks: about 9 bytes a sample, and their buffers' growth.
		{prompb.ReadRequest_STREAMED_XOR_CHUNKS, 30},
		// Protobuf: 18 bytes a sample.
		{prompb.ReadRequest_SAMPLES, 25},
	} {
		per := allocPerSample(t, m, c.typ, n)
		t.Logf("%v: %.1f bytes allocated per sample", c.typ, per)
		require.Less(t, per, c.max, c.typ.String())
	}
}

// FuzzSamplesAnswer: any ReadResponse (the input, as protobuf, reduced to
// the fields a SAMPLES answer has) built as an answer and sent in snappy
// blocks decodes to the bytes Marshal gives, and gives its budget back.
func FuzzSamplesAnswer(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, size := range [][3]int{{1, 0, 0}, {1, 1, 1}, {2, 3, 5}, {1, 2, 2000}} {
		data, err := randomResponse(rng, size[0], size[1], size[2]).Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in prompb.ReadResponse
		if in.Unmarshal(data) != nil {
			return
		}
		resp := &prompb.ReadResponse{}
		for _, q := range in.Results {
			out := &prompb.QueryResult{}
			if q != nil {
				for _, ts := range q.Timeseries {
					s := &prompb.TimeSeries{Labels: ts.Labels, Samples: ts.Samples}
					for i := range s.Labels {
						s.Labels[i].XXX_unrecognized = nil
					}
					for i := range s.Samples {
						s.Samples[i].XXX_unrecognized = nil
						if s.Samples[i].Value == 0 {
							s.Samples[i].Value = 0 // -0: Marshal leaves it out
						}
					}
					out.Timeseries = append(out.Timeseries, s)
				}
			}
			resp.Results = append(resp.Results, out)
		}
		want, err := resp.Marshal()
		require.NoError(t, err)
		got, err := s2.Decode(nil, encodeAnswer(t, resp))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "answer differs from Marshal")
	})
}

// TestSamplesAnswerSmallChargesLittle: a SAMPLES answer of one sample
// holds a few KiB of the budget (its first page and send buffers are
// sized to it), so small reads are not refused beside large ones.
func TestSamplesAnswerSmallChargesLittle(t *testing.T) {
	budget := newTestBudget(64 << 20)
	h, _ := newTestHandler(t, Options{Budget: budget})
	m := mux(h)
	w := post(m, "/api/v1/write", "", v1Body(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: lbls("__name__", "one"), Samples: []prompb.Sample{{Timestamp: t0, Value: 1}}}}}))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	budget.peak.Store(0)
	w = samplesRead(t, m, "one")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	t.Logf("budget peak of a one-sample answer: %d bytes", budget.peak.Load())
	require.Less(t, budget.peak.Load(), int64(8<<10))
	require.Zero(t, budget.used.Load())
}

// TestCompareCanonicalLikePrometheus: series are sorted on their
// canonical bytes as labels.Compare sorts the label sets.
func TestCompareCanonicalLikePrometheus(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	words := []string{"", "a", "aa", "ab", "b", "__name__", "job", "z\xff", "a\x00"}
	set := func() []prompb.Label {
		var ls []prompb.Label
		name := ""
		for range rng.IntN(4) {
			name += words[1+rng.IntN(len(words)-1)]
			ls = append(ls, prompb.Label{Name: name, Value: words[rng.IntN(len(words))]})
		}
		return ls
	}
	sign := func(c int) int { return max(-1, min(1, c)) }
	for range 20_000 {
		a, b := set(), set()
		want := sign(labels.Compare(prompbLabels(a), prompbLabels(b)))
		require.Equal(t, want, sign(compareCanonical(canonical(a), canonical(b))), "%v vs %v", a, b)
	}
}

// TestResolveHoldsNoLabelCopies: resolving a read of 20,000 series of 10
// labels keeps their IDs and the registry's bytes, not a copy of every
// label (before: about 1 KB a series, for up to ReadMaxSeries series a
// read, held until its answer was sent).
func TestResolveHoldsNoLabelCopies(t *testing.T) {
	h, _ := newTestHandler(t, Options{})
	m := mux(h)
	const n = 20_000
	req := &prompb.WriteRequest{}
	for i := range n {
		ls := lbls("__name__", "wide")
		for k := range 9 {
			ls = append(ls, prompb.Label{Name: fmt.Sprintf("label_%d", k), Value: fmt.Sprintf("value_%d_%d", k, i)})
		}
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: ls, Samples: []prompb.Sample{{Timestamp: t0, Value: 1}}})
	}
	w := post(m, "/api/v1/write", "", v1Body(t, req))
	require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
	q := []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: math.MaxInt64,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "wide"}}}}
	var qs []readQuery
	var err error
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	qs, err = h.resolve(context.Background(), q)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Len(t, qs[0].series, n)
	per := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("resolve: %.1f bytes allocated a series", per)
	require.Less(t, per, 100.0)
}
