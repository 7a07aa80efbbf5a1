package query

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// TestPushdownIdentical: on random data in flushed, compacted and
// overlapping segments plus the memtable — floats with NaNs, integer
// values (exact block sums), an integer-typed counter with resets,
// staleness markers, two samples in one millisecond, out-of-order
// backfill — random *_over_time queries (ranges cutting blocks, shorter
// and longer than the step, offsets, wrapped in aggregations, instant and
// range) give bit-identical results with pushdown on and off, and
// pushdown does take blocks from their aggregates.
func TestPushdownIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 5))
	db, t0 := pushdownTestDB(t, rng)
	on, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2})
	require.NoError(t, err)
	off, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2, DisablePushdown: true})
	require.NoError(t, err)
	ng := newTestEngine()
	funcs := []string{"max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time", "rate", "increase"}
	ranges := []string{"45s", "7m", "1h", "90m", "3h", "10h"}
	var blocks, skipped int64
	rateBlocks := map[string]int64{}
	for i := range 420 {
		fn := funcs[i%len(funcs)]
		metric := []string{"g", "c_total", "fc_total"}[rng.IntN(3)]
		sel := fmt.Sprintf("%s{host=~\"h[0-%d]\"}[%s]", metric, rng.IntN(4), ranges[rng.IntN(len(ranges))])
		if rng.IntN(4) == 0 {
			sel += fmt.Sprintf(" offset %dm", rng.IntN(90)-30)
		}
		q := fmt.Sprintf("%s(%s)", fn, sel)
		if rng.IntN(3) == 0 {
			q = fmt.Sprintf("sum by (host) (%s) or max(%s(%s))", q, fn, sel)
		}
		start, end, step := randomEvalTimes(rng, t0)
		got, tr, gotAnnos := evalQuery(t, ng, on.Prepare, q, start, end, step)
		want, _, wantAnnos := evalQuery(t, ng, off.Prepare, q, start, end, step)
		requireIdenticalMatrix(t, want, got, "%s start=%s end=%s step=%s", q, start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano), step)
		require.Equal(t, wantAnnos, gotAnnos, q)
		for _, st := range tr.Selects {
			blocks += st.BlocksAggregated
			skipped += st.SamplesSkipped
			rateBlocks[st.Func+" "+metric] += st.BlocksAggregated
		}
	}
	t.Logf("pushdown: %d blocks from aggregates, %d samples not decoded; rate and increase: %v", blocks, skipped, rateBlocks)
	require.Greater(t, blocks, int64(100))
	for _, k := range []string{"rate c_total", "increase c_total", "rate fc_total", "increase fc_total"} {
		require.Greater(t, rateBlocks[k], int64(100), k)
	}
}

// pushdownTestDB returns an engine with random data of 4 hosts in a
// compacted segment, an overlapping out-of-order backfill, an L0 segment
// and the memtable, in blocks of 40 samples, and the data's first
// timestamp (ns): float gauges g (NaNs, staleness markers on h1, integral
// values on h2, two samples in one millisecond on h3), integer counters
// c_total with resets and float counters fc_total with resets, NaNs and
// staleness markers.
func pushdownTestDB(t *testing.T, rng *rand.Rand) (*engine.DB, int64) {
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone, BlockSamples: 40,
		DisableCompaction: true, PartitionDuration: 24 * hour})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	t0 := int64(1_700_006_400) * 1e9
	sec := int64(time.Second)
	ctx := context.Background()
	write := func(from, to, step int64) {
		var b series.Batch
		for h := range 4 {
			host := fmt.Sprintf("h%d", h)
			b.AddSeries(series.FromStrings("__name__", "g", "host", host), series.TypeFloat)
			for ts := from; ts < to; ts += step {
				v := math.Round(rng.Float64()*1e4)/100 - 20
				switch r := rng.IntN(40); {
				case r == 0:
					v = math.NaN()
				case r == 1 && h == 1:
					v = math.Float64frombits(value.StaleNaN)
				case h == 2:
					v = math.Round(v) // integral: exact block sums
				}
				b.AppendFloat(t0+ts, v)
				if h == 3 && rng.IntN(50) == 0 {
					b.AppendFloat(t0+ts+1000, v+1) // same millisecond
				}
			}
			b.AddSeries(series.FromStrings("__name__", "c_total", "host", host), series.TypeInt)
			for ts := from; ts < to; ts += step {
				b.AppendRaw(t0+ts, uint64(ts/sec%700+int64(h)))
			}
			// A float counter: fractional increments, resets, NaNs,
			// staleness markers on h1.
			b.AddSeries(series.FromStrings("__name__", "fc_total", "host", host), series.TypeFloat)
			for ts := from; ts < to; ts += step {
				v := float64(ts/sec%5000)*0.1 + float64(h)
				switch r := rng.IntN(300); {
				case r == 0:
					v = math.NaN()
				case r == 1 && h == 1:
					v = math.Float64frombits(value.StaleNaN)
				case r < 4:
					v = rng.Float64() // a reset
				}
				b.AppendFloat(t0+ts, v)
			}
		}
		_, err := db.Append(ctx, &b)
		require.NoError(t, err)
	}
	write(0, 6*hour, 15*sec)
	require.NoError(t, db.Flush(ctx))
	write(7*sec, 2*hour, 61*sec) // out of order, overlapping
	require.NoError(t, db.Flush(ctx))
	require.NoError(t, db.Compact(ctx))
	write(6*hour, 8*hour, 15*sec)
	require.NoError(t, db.Flush(ctx)) // an L0 segment
	write(7*hour+5*sec, 9*hour, 20*sec)
	return db, t0
}

func newTestEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, EnableNegativeOffset: true})
}

// randomEvalTimes returns an instant (step 0) or range query's times
// inside the data of pushdownTestDB.
func randomEvalTimes(rng *rand.Rand, t0 int64) (start, end time.Time, step time.Duration) {
	start = time.Unix(0, t0+rng.Int64N(9*hour)).Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
	end = start.Add(time.Duration(rng.Int64N(4 * hour)))
	step = []time.Duration{0, 17 * time.Second, time.Minute, 7 * time.Minute, time.Hour}[rng.IntN(5)]
	if step == 0 {
		end = start
	}
	return start, end, step
}

type prepareFunc func(tr *Trace, qs string, start, end time.Time, step time.Duration) (storage.Queryable, string)

// evalQuery runs q through prepare and the engine, as the API does, and
// returns its result as a matrix (an instant vector: one point per
// series, in its order), its trace and its annotations as strings.
func evalQuery(t *testing.T, ng *promql.Engine, prepare prepareFunc, q string, start, end time.Time, step time.Duration) (promql.Matrix, *Trace, []string) {
	t.Helper()
	m, tr, annos, err := evalQueryAnnos(t, ng, prepare, q, start, end, step)
	require.NoError(t, err, q)
	return m, tr, annos
}

// evalQueryAnnos is evalQuery that returns the evaluation's error instead
// of failing on it.
func evalQueryAnnos(t *testing.T, ng *promql.Engine, prepare prepareFunc, q string, start, end time.Time, step time.Duration) (promql.Matrix, *Trace, []string, error) {
	t.Helper()
	ctx := context.Background()
	tr := &Trace{}
	qa, qs := prepare(tr, q, start, end, step)
	var qry promql.Query
	var err error
	if step == 0 {
		qry, err = ng.NewInstantQuery(ctx, qa, nil, qs, start)
	} else {
		qry, err = ng.NewRangeQuery(ctx, qa, nil, qs, start, end, step)
	}
	require.NoError(t, err, qs)
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, tr, nil, res.Err
	}
	warns, infos := res.Warnings.AsStrings(q, 0, 0)
	annos := append(warns, infos...)
	slices.Sort(annos)
	if vec, err := res.Vector(); err == nil {
		return vectorAsMatrix(vec, start), tr, annos, nil
	}
	m, err := res.Matrix()
	require.NoError(t, err)
	return copyMatrix(m), tr, annos, nil // Close recycles the engine's slices
}

func copyMatrix(m promql.Matrix) promql.Matrix {
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		out[i] = promql.Series{Metric: s.Metric, Floats: append([]promql.FPoint(nil), s.Floats...)}
	}
	return out
}

func vectorAsMatrix(v promql.Vector, ts time.Time) promql.Matrix {
	m := make(promql.Matrix, 0, len(v))
	for _, s := range v {
		m = append(m, promql.Series{Metric: s.Metric, Floats: []promql.FPoint{{T: s.T, F: s.F}}})
	}
	return m
}

// requireIdenticalMatrix requires equal labels, timestamps and value bits (NaN
// included) in the same order.
func requireIdenticalMatrix(t *testing.T, want, got promql.Matrix, msg string, args ...any) {
	t.Helper()
	desc := fmt.Sprintf(msg, args...)
	require.Equal(t, len(want), len(got), "%s\nwant %v\ngot  %v", desc, want, got)
	for i := range want {
		require.Equal(t, want[i].Metric.String(), got[i].Metric.String(), desc)
		require.Equal(t, len(want[i].Floats), len(got[i].Floats), "%s %s", desc, want[i].Metric)
		for j, w := range want[i].Floats {
			g := got[i].Floats[j]
			if w.T != g.T || math.Float64bits(w.F) != math.Float64bits(g.F) {
				t.Fatalf("%s\n%s at %d: want %v (%x) got %v at %d (%x)", desc, want[i].Metric, w.T, w.F, math.Float64bits(w.F), g.F, g.T, math.Float64bits(g.F))
			}
		}
	}
}
