package engine

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestSummariesMatchSamples: on random data (NaNs, integers, out-of-order
// backfill compacted, overlapping L0 segments, unflushed memtable), every
// summary Summaries returns for random ranges lies within the range, does
// not overlap the others, and equals the aggregates recomputed from the
// samples Range reads over its span.
func TestSummariesMatchSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	db := mustOpen(t, t.TempDir(), Options{SyncMode: SyncNone, BlockSamples: 32, DisableCompaction: true,
		PartitionDuration: int64(1e12)})
	defer db.Close()
	ctx := context.Background()
	const nSeries = 6
	write := func(from, to, step int64) {
		var b series.Batch
		for s := range nSeries {
			typ := series.TypeFloat
			if s%3 == 2 {
				typ = series.TypeInt
			}
			b.AddSeries(labels("m", "s", string(rune('a'+s))), typ)
			for ts := from; ts < to; ts += step {
				switch {
				case typ == series.TypeInt:
					b.AppendRaw(ts, uint64(rng.Int64N(1000)))
				case rng.IntN(10) == 0:
					b.AppendFloat(ts, math.NaN())
				default:
					b.AppendFloat(ts, math.Round(rng.Float64()*1e4)/100-10)
				}
			}
		}
		if _, err := db.Append(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	sec := int64(1e9)
	write(0, 2000*sec, 10*sec)
	mustFlush(t, db)
	write(5*sec, 700*sec, 30*sec) // backfill overlapping the first segment
	mustFlush(t, db)
	write(2000*sec, 2600*sec, 10*sec)
	mustFlush(t, db)
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	write(2600*sec, 2900*sec, 10*sec)
	mustFlush(t, db)                 // an L0 segment beside the compacted one
	write(2850*sec, 3000*sec, 7*sec) // memtable overlapping it
	q, err := db.Querier(0, 3000*sec)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var sums []BlockSummary
	var it *Iterator
	used := 0
	for range 200 {
		id := series.ID(1 + rng.IntN(nSeries))
		lo := rng.Int64N(3000 * sec)
		hi := lo + rng.Int64N(3000*sec-lo)
		sums = q.Summaries(id, lo, hi, sums[:0])
		prev := int64(math.MinInt64)
		for _, s := range sums {
			if s.MinT < lo || s.MaxT > hi || s.MinT <= prev {
				t.Fatalf("summary %d..%d outside %d..%d or overlapping %d", s.MinT, s.MaxT, lo, hi, prev)
			}
			prev = s.MaxT
			it = q.Range(id, s.MinT, s.MaxT, it)
			if it.Len() != s.Count {
				t.Fatalf("series %d %d..%d: %d samples, summary says %d", id, s.MinT, s.MaxT, it.Len(), s.Count)
			}
			want := computeBlockAgg(it.Type(), it.Timestamps(), it.RawValues())
			if !sameAgg(want, s.BlockAgg) {
				t.Fatalf("series %d %d..%d: aggregates %+v, samples give %+v", id, s.MinT, s.MaxT, s.BlockAgg, want)
			}
			used++
		}
	}
	if used < 50 {
		t.Fatalf("only %d summaries checked", used)
	}
}

func sameAgg(a, b BlockAgg) bool {
	eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return a.Flags == b.Flags && eq(a.Min, b.Min) && eq(a.Max, b.Max) && eq(a.Sum, b.Sum) && eq(a.First, b.First) && eq(a.Last, b.Last)
}

func mustFlush(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestBlockAggFlags: the flags that tell a reader when aggregates may
// stand in for samples.
func TestBlockAggFlags(t *testing.T) {
	f := func(vs ...float64) []uint64 {
		out := make([]uint64, len(vs))
		for i, v := range vs {
			out[i] = math.Float64bits(v)
		}
		return out
	}
	ts := []int64{1e6, 2e6, 3e6}
	cases := []struct {
		name string
		ts   []int64
		vals []uint64
		want BlockFlags
		max  float64
	}{
		{"integral", ts, f(1, 2, 3), BlockSumExact, 3},
		{"reset", ts, f(3, 1, 2), BlockSumExact | BlockReset, 3},
		{"fraction", ts, f(1.5, 2, 3), 0, 3},
		{"nan ignored by max", ts, f(math.NaN(), 2, 1), BlockReset, 2},
		{"stale", ts, []uint64{math.Float64bits(1), staleNaNBits, math.Float64bits(2)}, BlockStale, 2},
		{"same ms", []int64{1e6, 1e6 + 5, 3e6}, f(1, 2, 3), BlockDupMs | BlockSumExact, 3},
		{"too large", ts, f(1<<42, 1<<42, 1), BlockReset, 1 << 42},
	}
	for _, c := range cases {
		a := computeBlockAgg(series.TypeFloat, c.ts, c.vals)
		if a.Flags != c.want || a.Max != c.max {
			t.Errorf("%s: flags %b max %v, want %b %v", c.name, a.Flags, a.Max, c.want, c.max)
		}
	}
}
