package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// exportRecord and exportLineWhole are the export line as it was built
// before: the whole series as []any, then encoding/json. They are the
// reference the streamed line must equal byte for byte.
type exportRecord struct {
	Metric     map[string]string `json:"metric"`
	Type       string            `json:"type"`
	Values     []any             `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

func exportLineWhole(w io.Writer, ls series.Labels, it *engine.Iterator) error {
	rec := exportRecord{Metric: make(map[string]string, len(ls)), Type: it.Type().String()}
	for _, l := range ls {
		rec.Metric[l.Name] = l.Value
	}
	for it.Next() {
		var v any
		switch it.Type() {
		case series.TypeString:
			_, b := it.AtString()
			v = string(b)
		case series.TypeInt:
			_, raw := it.At()
			v = int64(raw)
		case series.TypeUint:
			_, raw := it.At()
			v = raw
		case series.TypeBool:
			_, raw := it.At()
			v = raw == 1
		default:
			_, f := it.AtFloat()
			v = jsonFloat(f)
		}
		t, _ := it.At()
		rec.Values = append(rec.Values, v)
		rec.Timestamps = append(rec.Timestamps, t)
	}
	return json.NewEncoder(w).Encode(rec)
}

// jsonFloat is the float of an export line as it was rendered before.
func jsonFloat(f float64) any {
	switch {
	case value.IsStaleNaN(f):
		return nil
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// exportDB returns an engine holding one series of each type with the
// awkward values, and "long", a float series of n random samples.
func exportDB(t *testing.T, n int) *engine.DB {
	t.Helper()
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var b series.Batch
	b.AddSeries(series.FromStrings("__name__", "f", "html", "<a&b>", "q", "\"\\\n"), series.TypeFloat)
	for i, f := range []float64{0, math.Copysign(0, -1), 1.5, -2, 1e-7, 1e-6, 1e20, 1e21, 123456789e300, 5e-324,
		math.MaxFloat64, math.NaN(), math.Float64frombits(value.StaleNaN), math.Inf(1), math.Inf(-1), 0.1, 1e-10} {
		b.AppendFloat(int64(i+1)*1000, f)
	}
	b.AddSeries(series.FromStrings("__name__", "i"), series.TypeInt)
	for i, v := range []int64{0, -1, math.MinInt64, math.MaxInt64} {
		b.AppendInt(int64(i+1)*1000, v)
	}
	b.AddSeries(series.FromStrings("__name__", "u"), series.TypeUint)
	b.AppendUint(1000, math.MaxUint64)
	b.AddSeries(series.FromStrings("__name__", "b"), series.TypeBool)
	b.AppendBool(1000, true)
	b.AppendBool(2000, false)
	b.AddSeries(series.FromStrings("__name__", "s"), series.TypeString)
	for i, v := range []string{"", "plain", "<script>&", "\xff\xfe invalid", "tab\tnl\n\u2028"} {
		b.AppendString(int64(i+1)*1000, []byte(v))
	}
	b.AddSeries(series.FromStrings("__name__", "long"), series.TypeFloat)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		b.AppendFloat(int64(i)*1e9, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(60)-30)))
	}
	_, err = db.Append(context.Background(), &b)
	require.NoError(t, err)
	return db
}

// TestExportLineStreamedLikeJSON: the line written value by value equals
// encoding/json's of the whole record, for every type and awkward value.
func TestExportLineStreamedLikeJSON(t *testing.T) {
	db := exportDB(t, 20_000)
	var it *engine.Iterator
	var buf []byte
	for id := series.ID(1); id <= 6; id++ {
		ls, err := series.UnmarshalLabels(nil, db.Registry().Labels(id))
		require.NoError(t, err)
		var want, got bytes.Buffer
		it = db.Select(id, series.MinTime, series.MaxTime, it)
		require.NoError(t, exportLineWhole(&want, ls, it))
		it = db.Select(id, series.MinTime, series.MaxTime, it)
		buf, err = writeExportLine(&got, buf, ls, it)
		require.NoError(t, err)
		require.Equal(t, want.String(), got.String(), "series %v", ls)
	}
}

// allocs returns the bytes fn allocates.
func allocs(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestExportLineBounded: writing a series of 1 M samples allocates a few
// KiB, whatever its length (before: the whole series as []any, each
// float boxed, then encoded into one buffer: about 70 bytes a sample).
func TestExportLineBounded(t *testing.T) {
	const n = 1_000_000
	db := exportDB(t, n)
	ls, err := series.UnmarshalLabels(nil, db.Registry().Labels(6))
	require.NoError(t, err)
	it := db.Select(6, series.MinTime, series.MaxTime, nil)
	require.Equal(t, n, it.Len())
	whole := allocs(func() { require.NoError(t, exportLineWhole(io.Discard, ls, it)) })
	it = db.Select(6, series.MinTime, series.MaxTime, it)
	buf := make([]byte, 0, 2*exportFlush)
	streamed := allocs(func() { _, err = writeExportLine(io.Discard, buf, ls, it) })
	require.NoError(t, err)
	t.Logf("one series of %d samples: whole %.1f bytes a sample, streamed %d bytes in all", n, float64(whole)/n, streamed)
	require.Less(t, streamed, uint64(64<<10))
}
