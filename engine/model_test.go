package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// TestRandomAgainstModel drives the engine with random batches (out of
// order, duplicates, every type), flushes, compacts and reopens it at
// random, checking every read against a map that keeps the last write per
// (series, timestamp). Odd seeds spread timestamps over several partitions
// and flush in the background (tiny flush threshold, fan-in 2). Seeds 5 and
// 6 write few series, mostly in time order with late samples and rare
// flushes, so the memtable seals chunks and holds late samples over them.
func TestRandomAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed) })
	}
}

func runModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	dir := t.TempDir()
	opts := Options{SyncMode: SyncNone, WALSegmentSize: 1 << 16, PartitionDuration: int64(time.Minute)}
	scale := int64(1)
	if seed%2 == 1 {
		scale = int64(17 * time.Second)
		opts.MemtableFlushBytes = 2 << 10
		opts.CompactionFanIn = 2
		opts.BlockSamples = 16
	}
	sealing := seed >= 5
	if sealing {
		opts.MemtableFlushBytes = 0 // default: flushes only when asked
		if scale > 1 {
			scale = int64(time.Second) // 100 partitions, not 1,700
		}
	}
	db := mustOpen(t, dir, opts)
	defer func() { db.Close() }()
	nSeries, span, perSeries, flushOdds := 20, int64(200), 20, 3
	if sealing {
		nSeries, span, perSeries, flushOdds = 3, 6000, 80, 1
	}
	type key struct {
		s  int
		ts int64
	}
	model := map[key]string{}
	typeOf := func(s int) series.ValueType { return series.ValueType(1 + s%5) }
	sealedSeen, lateSeen := false, false
	check := func() {
		must(t, db.active().forEach(func(_ series.ID, s *memSeries) error {
			sealedSeen = sealedSeen || len(s.chunks) > 0
			lateSeen = lateSeen || len(s.lts) > 0
			return nil
		}))
		it := &Iterator{}
		for s := range nSeries {
			minT, maxT := (rng.Int64N(span)-span/2)*scale, (rng.Int64N(span)-span/2)*scale
			switch rng.IntN(8) {
			case 0, 1:
				minT, maxT = -span*scale, span*scale
			case 2:
				minT, maxT = math.MinInt64, math.MaxInt64
			case 3:
				minT, maxT = extremeTime(rng, opts.PartitionDuration), extremeTime(rng, opts.PartitionDuration)
			}
			if minT > maxT {
				minT, maxT = maxT, minT
			}
			var keys []int64
			for k := range model {
				if k.s == s && k.ts >= minT && k.ts <= maxT {
					keys = append(keys, k.ts)
				}
			}
			slices.Sort(keys)
			var want []string
			for _, ts := range keys {
				want = append(want, model[key{s, ts}])
			}
			var got []string
			if id, ok := db.Lookup(labels("model", "s", fmt.Sprint(s))); ok {
				it = db.Select(id, minT, maxT, it)
				for it.Next() {
					got = append(got, fmtSample(it))
				}
				must(t, it.Err())
			}
			if !slices.Equal(got, want) {
				t.Fatalf("series %d [%d,%d]:\n got  %v\n want %v", s, minT, maxT, got, want)
			}
		}
	}
	var b series.Batch
	for step := range 300 {
		if step%75 == 74 || sealing && step%10 == 9 {
			check()
		}
		switch rng.IntN(40) {
		case 0:
			must(t, db.Close())
			db = mustOpen(t, dir, opts)
		case 1, 2, 3:
			if rng.IntN(3) < flushOdds {
				must(t, db.Flush(context.Background()))
			}
		case 4:
			must(t, db.Compact(context.Background()))
		}
		b.Reset()
		type pending struct {
			k key
			v string
		}
		var adds []pending
		for range 1 + rng.IntN(5) {
			s := rng.IntN(nSeries)
			typ := typeOf(s)
			b.AddSeries(labels("model", "s", fmt.Sprint(s)), typ)
			for range 1 + rng.IntN(perSeries) {
				ts := (rng.Int64N(span) - span/2) * scale
				if sealing && rng.IntN(10) > 0 {
					// Mostly in order: around a cursor moving with the steps.
					ts = (int64(step)*span/300 - span/2 + rng.Int64N(8)) * scale
				}
				if rng.IntN(8) == 0 {
					ts = extremeTime(rng, opts.PartitionDuration)
				}
				var v string
				switch typ {
				case series.TypeString:
					str := fmt.Sprintf("s%d", rng.IntN(1000))
					if rng.IntN(10) == 0 {
						str = ""
					}
					b.AppendString(ts, []byte(str))
					v = fmt.Sprintf("%d=%q", ts, str)
				case series.TypeFloat:
					f := []float64{math.Inf(1), math.NaN(), -0.0, rng.NormFloat64()}[rng.IntN(4)]
					b.AppendFloat(ts, f)
					v = fmt.Sprintf("%d=%s:%d", ts, typ, math.Float64bits(f))
				default:
					raw := rng.Uint64()
					if typ == series.TypeBool {
						raw &= 1
					}
					b.AppendRaw(ts, raw)
					v = fmt.Sprintf("%d=%s:%d", ts, typ, raw)
				}
				adds = append(adds, pending{key{s, ts}, v})
			}
		}
		poison := -1
		if rng.IntN(20) == 0 { // a series the engine must refuse, beside the rest
			poison = b.AddSeries(labels("model", "s", "poison"), series.TypeFloat)
			b.AppendFloat([]int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64}[rng.IntN(3)], 1)
		}
		res, err := db.Append(context.Background(), &b)
		if err != nil || poison < 0 && len(res.Rejected) > 0 ||
			poison >= 0 && (len(res.Rejected) != 1 || res.Rejected[0].Index != poison || !errors.Is(res.Rejected[0].Err, series.ErrTimestampRange)) {
			t.Fatalf("step %d: %v %+v", step, err, res.Rejected)
		}
		if n := db.m.flushFailures.Load(); n > 0 {
			t.Fatalf("step %d: %d background flushes failed", step, n)
		}
		for _, a := range adds {
			model[a.k] = a.v
		}
	}
	check()
	if sealing && (!sealedSeen || !lateSeen) {
		t.Fatalf("memtable sealed chunks: %v, held late samples over them: %v; want both", sealedSeen, lateSeen)
	}
	must(t, db.Close())
	db = mustOpen(t, dir, opts)
	check()
	must(t, db.Compact(context.Background()))
	check()
	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) > 0 {
		t.Fatalf("verify: %v", rep.Damage[0])
	}
}

// extremeTime returns a timestamp where arithmetic on times breaks first:
// the ends of the stored range, around 0, or around a partition boundary
// (of duration d) anywhere in the range.
func extremeTime(rng *rand.Rand, d int64) int64 {
	near := rng.Int64N(5) - 2
	switch rng.IntN(4) {
	case 0:
		return series.MinTime + rng.Int64N(3)
	case 1:
		return series.MaxTime - rng.Int64N(3)
	case 2:
		return near
	}
	b := rng.Int64N(2*(series.MaxTime/d)) - series.MaxTime/d // a boundary index
	return b*d + near
}
