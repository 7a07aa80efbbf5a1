package query

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// arena holds decoded samples of many series, column by column, and the
// engine iterator its decoder reuses. Slices keep their capacity across
// queries (the Adapter pools arenas), so steady-state decoding allocates
// nothing per sample.
type arena struct {
	ts []int64   // ms
	vs []float64 // PromQL's view of the raw values
	it *engine.Iterator
}

func (ar *arena) reset() { ar.ts, ar.vs = ar.ts[:0], ar.vs[:0] }

// decodeSeries appends series id over [minT, maxT] (ns) to the arena and
// returns where it lies. Samples in the same millisecond collapse to the
// last one.
func (ar *arena) decodeSeries(st Storage, id series.ID, minT, maxT int64) (off, n int, err error) {
	ar.it = st.Select(id, minT, maxT, ar.it)
	off = len(ar.ts)
	for ar.it.Next() {
		t, v := ar.it.AtFloat()
		ms := nsToMs(t)
		if last := len(ar.ts) - 1; last >= off && ar.ts[last] == ms {
			ar.vs[last] = v
			continue
		}
		ar.ts = append(ar.ts, ms)
		ar.vs = append(ar.vs, v)
	}
	if err := ar.it.Err(); err != nil {
		return off, len(ar.ts) - off, fmt.Errorf("read series %d: %w", id, err)
	}
	return off, len(ar.ts) - off, nil
}

// seriesRef is one selected series: its labels and, once decoded, where its
// samples lie. It is the storage.Series the PromQL engine sees.
type seriesRef struct {
	id     series.ID
	lset   labels.Labels
	ar     *arena
	off, n int
}

// decodeBlock is how many series a worker takes at a time.
const decodeBlock = 8

// decode reads every series of refs into arenas, on up to
// Options.Parallelism goroutines (one with the optimizer off or below
// ParallelMinSeries). Each worker owns an arena and an engine iterator;
// refs keep their order. It stops at the sample limit or when ctx ends.
func (q *querier) decode(ctx context.Context, refs []seriesRef, minT, maxT int64) (int, error) {
	workers := 1
	o := q.a.opts
	if !o.DisableOptimizer && len(refs) >= o.ParallelMinSeries {
		workers = min(o.Parallelism, (len(refs)+decodeBlock-1)/decodeBlock)
	}
	ars := q.takeArenas(workers)
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
	work := func(ar *arena) {
		for !stop.Load() {
			i := int(next.Add(decodeBlock)) - decodeBlock
			if i >= len(refs) {
				return
			}
			if err := ctx.Err(); err != nil {
				fail(err)
				return
			}
			var got int64
			for j := i; j < min(i+decodeBlock, len(refs)); j++ {
				off, n, err := ar.decodeSeries(q.a.st, refs[j].id, minT, maxT)
				if err != nil {
					fail(err)
					return
				}
				refs[j].ar, refs[j].off, refs[j].n = ar, off, n
				got += int64(n)
			}
			if total := q.tr.samples.Add(got); o.MaxSamples > 0 && total > o.MaxSamples {
				fail(fmt.Errorf("%w: %d samples decoded so far, the limit is %d", ErrTooManySamples, total, o.MaxSamples))
				return
			}
		}
	}
	if workers == 1 {
		work(ars[0])
		return 1, firstE
	}
	var wg sync.WaitGroup
	for _, ar := range ars {
		wg.Go(func() { work(ar) })
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
