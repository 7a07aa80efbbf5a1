package engine

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// trueBytes recomputes what m.bytes should be: slab capacity plus each series' sizeBytes + overhead.
func trueBytes(m *memtable) int64 {
	var n int64
	for _, b := range m.slabs {
		n += int64(cap(b))
	}
	for _, page := range *m.pages.Load() {
		if page == nil {
			continue
		}
		for i := range page {
			if s := page[i].Load(); s != nil {
				n += s.sizeBytes() + memSeriesOverhead
			}
		}
	}
	return n
}

// TestMemtableResetStoppedSeries: a series that sealed and then stopped
// gives all its buffers back at reset, once: the memtable's byte count
// stays what it holds across many resets (it drifted below zero).
func TestMemtableResetStoppedSeries(t *testing.T) {
	m := newMemtable()
	ts := make([]int64, 300)
	vals := make([]uint64, 300)
	for i := range ts {
		ts[i], vals[i] = int64(i)*1000, uint64(i)
	}
	m.writeMu.Lock()
	m.addLocked(1, series.TypeInt, ts, vals, nil)
	m.writeMu.Unlock()
	for cycle := range 5 {
		m.reset()
		if got, want := m.bytes.Load(), trueBytes(m); got != want {
			t.Fatalf("reset %d: bytes %d, holding %d", cycle, got, want)
		}
	}
}

// TestMemtableBackfill: a device sending live data with, in every batch,
// a sample older than all it holds (a backfill from the oldest buffered
// reading). Late samples cost their 16 raw bytes, counted in used (the
// flush trigger), and nothing else: no chunk is re-encoded (the first
// design unsealed them, leaving dead slab space quadratic in the series'
// length: 167 MB for 3 MB of samples).
func TestMemtableBackfill(t *testing.T) {
	m := newMemtable()
	const step = int64(10e9)
	next := int64(1e15)
	for b := range 20000 {
		var ts []int64
		var vals []uint64
		for range 10 {
			ts, vals = append(ts, next), append(vals, uint64(next/step))
			next += step
		}
		ts, vals = append(ts, int64(b)), append(vals, 7) // older than everything
		m.writeMu.Lock()
		m.addLocked(1, series.TypeInt, ts, vals, nil)
		m.writeMu.Unlock()
	}
	s := m.get(1)
	if len(s.lts) < 19900 { // the first few came before any chunk: raw, then sealed
		t.Fatalf("%d late samples held, want nearly 20000", len(s.lts))
	}
	used, bytes := m.used.Load(), m.bytes.Load()
	if bytes != trueBytes(m) {
		t.Fatalf("bytes %d, holding %d", bytes, trueBytes(m))
	}
	if bytes > 3*used {
		t.Fatalf("bytes %d for %d used: space the flush trigger does not see", bytes, used)
	}
	var buf sampleBuf
	all, _ := s.samples(&buf)
	if len(all) != 220000 || !sort.SliceIsSorted(all, func(i, j int) bool { return all[i] < all[j] }) {
		t.Fatalf("%d samples (want 220000), sorted %v", len(all), sort.SliceIsSorted(all, func(i, j int) bool { return all[i] < all[j] }))
	}
}

// TestBackfillNotOverloaded: the same through the DB with a budget below
// the flush threshold; appends were refused with ErrOverloaded at 134,000
// samples while the flush trigger saw 2 MB.
func TestBackfillNotOverloaded(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{SyncMode: SyncNone, MemtableBudget: 64 << 20})
	defer db.Close()
	var b series.Batch
	next := int64(1e15)
	for i := range 20000 {
		b.Reset()
		b.AddSeries(labels("dev", "s", "x"), series.TypeInt)
		for range 10 {
			b.AppendInt(next, 1)
			next += 1e10
		}
		b.AddSeries(labels("dev", "s", "x"), series.TypeInt)
		b.AppendInt(int64(i), 7)
		if _, err := db.Append(context.Background(), &b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if got := len(readAll(db, labels("dev", "s", "x"))); got != 220000 {
		t.Fatalf("%d samples read back, want 220000", got)
	}
}

// TestMemtableModel drives one series with in-order, slightly late and
// very late samples and resets, checking samples (the flush's view), read
// of random ranges into a buffer holding data, overlaps, and the byte
// counters (bytes must equal what is held: the budget relies on it)
// against a map after every batch.
func TestMemtableModel(t *testing.T) {
	seeds := uint64(200)
	if raceEnabled {
		seeds = 30 // the race detector makes each seed ~10x slower
	}
	for seed := uint64(0); seed < seeds; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		m := newMemtable()
		typ := series.TypeInt
		if seed%2 == 1 {
			typ = series.TypeFloat
		}
		model := map[int64]uint64{}
		cur := int64(0)
		for b := 0; b < 200; b++ {
			var ts []int64
			var vals []uint64
			for range 1 + rng.IntN(30) {
				var t0 int64
				switch rng.IntN(10) {
				case 0:
					t0 = rng.Int64N(cur + 1)
				case 1:
					t0 = cur - rng.Int64N(5)
				default:
					cur += 1 + rng.Int64N(3)
					t0 = cur
				}
				v := rng.Uint64()
				if rng.IntN(3) == 0 {
					v = uint64(rng.IntN(4))
				}
				ts = append(ts, t0)
				vals = append(vals, v)
				model[t0] = v
			}
			m.writeMu.Lock()
			m.addLocked(1, typ, ts, vals, nil)
			m.writeMu.Unlock()
			if rng.IntN(20) == 0 {
				if rng.IntN(2) == 0 {
					m.reset()
					model = map[int64]uint64{}
				}
			}
			// check
			s := m.get(1)
			keys := make([]int64, 0, len(model))
			for k := range model {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			var buf sampleBuf
			ats, avals := s.samples(&buf)
			if len(ats) != len(keys) {
				t.Fatalf("seed %d b %d: samples %d want %d", seed, b, len(ats), len(keys))
			}
			for i, k := range keys {
				if ats[i] != k || avals[i] != model[k] {
					t.Fatalf("seed %d: samples mismatch at %d", seed, i)
				}
			}
			for range 5 {
				lo, hi := rng.Int64N(cur+10)-5, rng.Int64N(cur+10)-5
				if lo > hi {
					lo, hi = hi, lo
				}
				var r sampleBuf
				r.ts = append(r.ts, 42) // pre-existing content
				r.vals = append(r.vals, 42)
				n := s.read(lo, hi, &r)
				var want []int64
				for _, k := range keys {
					if k >= lo && k <= hi {
						want = append(want, k)
					}
				}
				if n != len(want) || len(r.ts) != 1+n {
					t.Fatalf("seed %d: read [%d,%d] n=%d want %d", seed, lo, hi, n, len(want))
				}
				for i, k := range want {
					if r.ts[1+i] != k || r.vals[1+i] != model[k] {
						t.Fatalf("seed %d: read mismatch", seed)
					}
				}
				if s.overlaps(lo, hi) == false && len(want) > 0 {
					t.Fatalf("overlaps false negative")
				}
			}
			if d := m.used.Load() - s.usedBytes(); d != 0 && d != memSeriesOverhead {
				t.Fatalf("seed %d: used %d vs series %d", seed, m.used.Load(), s.usedBytes())
			}
			if m.bytes.Load() != trueBytes(m) {
				t.Fatalf("seed %d b %d: bytes %d want %d", seed, b, m.bytes.Load(), trueBytes(m))
			}
		}
	}
}
