package engine

import (
	"context"
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
// and flush in the background (tiny flush threshold, fan-in 2).
func TestRandomAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
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
	db := mustOpen(t, dir, opts)
	defer func() { db.Close() }()
	const nSeries = 20
	type key struct {
		s  int
		ts int64
	}
	model := map[key]string{}
	typeOf := func(s int) series.ValueType { return series.ValueType(1 + s%5) }
	check := func() {
		it := &Iterator{}
		for s := range nSeries {
			minT, maxT := (rng.Int64N(200)-100)*scale, (rng.Int64N(200)-100)*scale
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
		if step%75 == 74 {
			check()
		}
		switch rng.IntN(40) {
		case 0:
			must(t, db.Close())
			db = mustOpen(t, dir, opts)
		case 1, 2, 3:
			must(t, db.Flush(context.Background()))
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
			for range 1 + rng.IntN(20) {
				ts := (rng.Int64N(200) - 100) * scale
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
		res, err := db.Append(context.Background(), &b)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("step %d: %v %+v", step, err, res.Rejected)
		}
		for _, a := range adds {
			model[a.k] = a.v
		}
	}
	check()
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
