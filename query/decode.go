package query

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// arena holds decoded samples of many series, column by column, and the
// engine iterator its decoder reuses. Slices keep their capacity across
// queries (the Adapter pools arenas), so steady-state decoding allocates
// nothing per sample or per series.
type arena struct {
	ts []int64   // ms
	vs []float64 // PromQL's view of the raw values
	it *engine.Iterator

	ids []series.ID // scratch: one block's IDs, ascending
	pos []int       // scratch: pos[i] is the index in refs of ids[i]
}

func (ar *arena) reset() { ar.ts, ar.vs = ar.ts[:0], ar.vs[:0] }

// appendSamples appends the samples of it to the arena and returns where
// they lie. Samples in the same millisecond collapse to the last one.
func (ar *arena) appendSamples(it *engine.Iterator) (off, n int) {
	off = len(ar.ts)
	for it.Next() {
		t, v := it.AtFloat()
		ms := nsToMs(t)
		if last := len(ar.ts) - 1; last >= off && ar.ts[last] == ms {
			ar.vs[last] = v
			continue
		}
		ar.ts = append(ar.ts, ms)
		ar.vs = append(ar.vs, v)
	}
	return off, len(ar.ts) - off
}

// decodeRefs reads refs (any order) from eq into the arena: their IDs are
// sorted into one SelectSorted call with the given pattern. It returns the
// samples read. Series without samples keep n == 0.
func (ar *arena) decodeRefs(eq *querierView, refs []seriesRef, pattern engine.ScanPattern) (int64, error) {
	ar.ids, ar.pos = ar.ids[:0], ar.pos[:0]
	for i := range refs {
		ar.pos = append(ar.pos, i)
	}
	slices.SortFunc(ar.pos, func(a, b int) int { return int(refs[a].id) - int(refs[b].id) })
	for _, p := range ar.pos {
		ar.ids = append(ar.ids, refs[p].id)
	}
	if ar.it == nil {
		ar.it = &engine.Iterator{}
	}
	for i := range refs {
		refs[i].ar, refs[i].n = ar, 0 // decoded, even if empty (not label-only)
	}
	set := eq.selectSorted(ar.ids, engine.SelectHints{Pattern: pattern, Iterator: ar.it})
	var got int64
	k := 0
	for set.Next() {
		id, it := set.At()
		for ar.ids[k] != id {
			k++
		}
		r := &refs[ar.pos[k]]
		r.off, r.n = ar.appendSamples(it)
		got += int64(r.n)
	}
	if err := set.Err(); err != nil {
		return got, fmt.Errorf("read series: %w", err)
	}
	return got, nil
}

// querierView serializes SelectSorted calls on one engine Querier, which
// is for one goroutine at a time; the sets it returns are independent.
type querierView struct {
	mu sync.Mutex
	q  *engine.Querier
}

func (v *querierView) selectSorted(ids []series.ID, h engine.SelectHints) *engine.SeriesSet {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.q.SelectSorted(ids, h)
}

// seriesRef is one selected series: its labels and, once decoded, where its
// samples lie. It is the storage.Series the PromQL engine sees.
type seriesRef struct {
	id     series.ID
	branch int32 // a union pushdown's branch (pushdown_union.go)
	tix    int32 // its field series in a rollup tier (rollup.go); -1: none
	lset   labels.Labels
	ar     *arena
	off, n int
}

// decodeBlock is how many series a worker takes at a time (one engine
// SeriesSet, whose strided prefetch looks ahead within it).
const decodeBlock = 16

// longRangeNs is the range from which a one-series read is sequential (it
// spans several blocks) rather than a point read.
const longRangeNs = int64(2 * 3600 * 1e9)

// choosePattern picks the engine's access-pattern hint: one series is a
// point read, or a sequential one over a long range; a selection of at
// least half of the series of the partitions read is sequential; a sparser
// one (one field of many hosts) strided.
func choosePattern(n int, partitionSeries uint64, rangeNs int64) engine.ScanPattern {
	switch {
	case n <= 1 && rangeNs >= longRangeNs:
		return engine.ScanSequential
	case n <= 1:
		return engine.ScanPoint
	case uint64(2*n) >= partitionSeries:
		return engine.ScanSequential
	}
	return engine.ScanStrided
}

// decode reads every series of refs into arenas through one engine
// Querier over [minT, maxT], on up to Options.Parallelism goroutines (one
// with the optimizer off or below ParallelMinSeries). Each worker owns an
// arena and an engine iterator; refs keep their order. It stops at the
// sample limit or when ctx ends.
func (q *querier) decode(ctx context.Context, refs []seriesRef, minT, maxT int64, pattern engine.ScanPattern) (int, error) {
	eq, err := q.a.st.Querier(minT, maxT)
	if err != nil {
		return 0, fmt.Errorf("open querier: %w", err)
	}
	defer eq.Close()
	view := &querierView{q: eq}
	workers := 1
	if !q.a.opts.DisableOptimizer {
		workers = q.workersFor(len(refs))
	}
	ars := q.takeArenas(workers)
	return q.forEachBlock(ctx, len(refs), workers, func(g, lo, hi int) (int64, error) {
		return ars[g].decodeRefs(view, refs[lo:hi], pattern)
	})
}

// workersFor returns how many goroutines share n series: one below
// ParallelMinSeries, else up to Parallelism, one per block of series.
func (q *querier) workersFor(n int) int {
	o := q.a.opts
	if n < o.ParallelMinSeries {
		return 1
	}
	return max(1, min(o.Parallelism, (n+decodeBlock-1)/decodeBlock))
}

// forEachBlock runs fn over the blocks [lo, hi) of decodeBlock items of
// [0, n) on workers goroutines (the caller's alone when workers is 1); g
// is the goroutine's index in [0, workers), so fn may keep per-goroutine
// state in a slice. fn returns the samples it decoded, counted against
// the query's sample limit. The first error stops every goroutine; it
// also stops when ctx ends. It returns workers and that error.
func (q *querier) forEachBlock(ctx context.Context, n, workers int, fn func(g, lo, hi int) (int64, error)) (int, error) {
	maxSamples := q.a.opts.MaxSamples
	var (
		next    atomic.Int64
		errOnce sync.Once
		firstE  error
		stop    atomic.Bool
	)
	fail := func(err error) {
		errOnce.Do(func() { firstE = err })
		stop.Store(true)
	}
	work := func(g int) {
		for !stop.Load() {
			i := int(next.Add(decodeBlock)) - decodeBlock
			if i >= n {
				return
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			got, err := fn(g, i, min(i+decodeBlock, n))
			if total := q.tr.samples.Add(got); err == nil && maxSamples > 0 && total > maxSamples {
				err = fmt.Errorf("%w: %d samples decoded so far, the limit is %d", ErrTooManySamples, total, maxSamples)
			}
			if err != nil {
				fail(err)
				return
			}
		}
	}
	if workers <= 1 {
		work(0)
		return 1, firstE
	}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() { work(g) })
	}
	wg.Wait()
	return workers, firstE
}

// takeArenas gets n arenas from the pool and keeps them until Close.
func (q *querier) takeArenas(n int) []*arena {
	out := make([]*arena, n)
	for i := range out {
		ar, _ := q.a.arenas.Get().(*arena)
		if ar == nil {
			ar = &arena{}
		}
		out[i] = ar
	}
	q.mu.Lock()
	q.arenas = append(q.arenas, out...)
	q.mu.Unlock()
	return out
}
