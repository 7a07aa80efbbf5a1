package remote

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// decodedV1 is what decoding a 1.0 body gives, in comparable form.
type decodedV1 struct {
	err     string
	series  []string
	res     decodeResult
	ids     []uint32
	samples [][2][]uint64
}

func decodeForTest(d *decoder, body []byte) (decodedV1, *series.Batch) {
	var b series.Batch
	d.reset(nil)
	var out decodedV1
	if err := d.decodeV1(body, &b); err != nil {
		out.err = err.Error()
	}
	for i := range b.Len() {
		canon, typ, ts, vals := b.Series(i)
		out.series = append(out.series, canonicalString(canon)+typ.String())
		raw := make([]uint64, len(ts))
		for j, t := range ts {
			raw[j] = uint64(t)
		}
		out.samples = append(out.samples, [2][]uint64{raw, append([]uint64(nil), vals...)})
		out.ids = append(out.ids, b.Ref(i))
	}
	out.res = d.res
	out.res.problems = append([]string(nil), d.res.problems...)
	return out, &b
}

// checkCachedDecode decodes body with and without the series cache, twice
// with it (the second time from the cache, with the IDs an appender gave
// the first batch), and requires identical batches and reports.
func checkCachedDecode(t *testing.T, body []byte) {
	var plain decoder
	want, _ := decodeForTest(&plain, body)
	cached := decoder{cache: newSeriesCache(64)}
	first, b := decodeForTest(&cached, body)
	require.Equal(t, want, first, "first decode through the cache")
	if first.err != "" {
		return
	}
	ids := map[string]uint32{} // as the engine does: one ID per label set
	for i := range b.Len() {
		canon, _, _, _ := b.Series(i)
		if ids[string(canon)] == 0 {
			ids[string(canon)] = uint32(1000 + len(ids))
		}
		b.SetRef(i, ids[string(canon)])
	}
	cached.learnRefs(b)
	again, b2 := decodeForTest(&cached, body)
	for i, id := range again.ids {
		canon, _, _, _ := b2.Series(i)
		if id != 0 {
			require.Equal(t, ids[string(canon)], id, "series %d: ID hint from the cache", i)
		}
		again.ids[i] = 0
	}
	require.Equal(t, want, again, "second decode, from the cache")
}

func TestSeriesCacheDecodesLikeDecoder(t *testing.T) {
	labelsAfterSamples := prompb.TimeSeries{Labels: lbls("__name__", "a"), Samples: samples(1, t0)}
	split, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{labelsAfterSamples}}).Marshal()
	require.NoError(t, err)
	// The same series with one more label after its sample: the cached
	// run of labels is then not the whole set.
	extra, err := (&prompb.Label{Name: "z", Value: "1"}).Marshal()
	require.NoError(t, err)
	msgLen := split[1]
	split = append(split, 0x0a, byte(len(extra)))
	split = append(split, extra...)
	split[1] = msgLen + byte(2+len(extra))
	cases := map[string][]prompb.TimeSeries{
		"node shape":  promSeriesSet(100, 3, t0),
		"bad time":    {{Labels: lbls("__name__", "a", "b", "c"), Samples: []prompb.Sample{{Timestamp: math.MaxInt64, Value: 1}, {Timestamp: t0, Value: 2}}}},
		"all bad":     {{Labels: lbls("__name__", "a"), Samples: []prompb.Sample{{Timestamp: math.MinInt64, Value: 1}}}},
		"histogram":   {{Labels: lbls("__name__", "h"), Samples: samples(1, t0), Histograms: []prompb.Histogram{{}}}},
		"exemplar":    {{Labels: lbls("__name__", "e"), Samples: samples(2, t0), Exemplars: []prompb.Exemplar{{Labels: lbls("trace", "x"), Value: 1, Timestamp: t0}}}},
		"unsorted":    {{Labels: lbls("b", "c", "__name__", "a"), Samples: samples(1, t0)}},
		"no name":     {{Labels: lbls("b", "c"), Samples: samples(1, t0)}},
		"no samples":  {{Labels: lbls("__name__", "a")}},
		"same labels": {{Labels: lbls("__name__", "a"), Samples: samples(1, t0)}, {Labels: lbls("__name__", "a"), Samples: samples(1, t0+1)}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			body, err := (&prompb.WriteRequest{Timeseries: in}).Marshal()
			require.NoError(t, err)
			checkCachedDecode(t, body)
		})
	}
	t.Run("label after samples", func(t *testing.T) {
		var plain decoder
		got, _ := decodeForTest(&plain, split)
		require.Empty(t, got.err)
		require.Equal(t, []string{`{__name__="a",z="1"}float`}, got.series)
		// Cache {__name__="a"} first, then decode the split body.
		body, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{labelsAfterSamples}}).Marshal()
		require.NoError(t, err)
		cached := decoder{cache: newSeriesCache(64)}
		decodeForTest(&cached, body)
		again, _ := decodeForTest(&cached, split)
		require.Equal(t, got, again)
	})
}

// FuzzSeriesCacheV1 checks on arbitrary bodies that the cached decode is
// the plain decode.
func FuzzSeriesCacheV1(f *testing.F) {
	for _, s := range fuzzSeeds() {
		data, err := (&prompb.WriteRequest{Timeseries: s}).Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(checkCachedDecode)
}

// TestDecodeCachedNoAllocs: decoding from the cache allocates nothing.
func TestDecodeCachedNoAllocs(t *testing.T) {
	body := rawBody(t, 1, 500, 10)
	d := decoder{cache: newSeriesCache(1 << 16)}
	var b series.Batch
	run := func() {
		b.Reset()
		d.reset(nil)
		if err := d.decodeV1(body, &b); err != nil || d.res.samples != 5000 {
			t.Fatalf("%v, %d samples", err, d.res.samples)
		}
	}
	run()
	for i := range b.Len() {
		b.SetRef(i, uint32(i+1))
	}
	d.learnRefs(&b)
	require.Zero(t, testing.AllocsPerRun(20, run), "cached remote write 1.0 decode allocates")
	hits := 0
	for _, e := range d.ents {
		if e != nil && e.id.Load() != 0 {
			hits++
		}
	}
	require.Equal(t, 500, hits)
}
