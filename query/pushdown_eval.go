package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/kahansum"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// selectPushdown answers a rewritten selector (pushdown.go): per series of
// the plan's matchers, fn at every evaluation time; for a union, the
// series of every branch, one branch after the other.
func (q *querier) selectPushdown(ctx context.Context, st *SelectTrace, sortSeries bool, p *pushdownPlan) (storage.SeriesSet, error) {
	branches := p.branches
	if branches == nil {
		branches = []*pushdownPlan{p}
	}
	st.Selector, st.Func, st.RangeMs, st.StepMs = p.text, p.fn, p.rangeMs, p.stepMs
	t0 := time.Now()
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	var refs []seriesRef
	had := false
	keep := p.projection()
	for bi, b := range branches {
		bMin, bMax := b.span()
		minT, maxT = min(minT, bMin), max(maxT, bMax)
		tms, err := ToIndexMatchers(b.ms)
		if err != nil {
			return nil, err
		}
		ids, err := q.a.postings(st, bMin, bMax, b.ms, tms)
		if err != nil {
			return nil, fmt.Errorf("select %s: %w", b.text, err)
		}
		var h bool
		n := len(refs)
		refs, h = q.a.appendPushdownRefs(refs, ids, int32(bi), b.setLabel, b.setValue, b.keepName, keep)
		st.Projected = keep != nil
		if keep != nil && !q.sharedProjection && !uniqueBranches(refs) {
			refs, h = q.a.appendPushdownRefs(refs[:n], ids, int32(bi), b.setLabel, b.setValue, b.keepName, nil)
			st.Projected = false
		}
		had = had || h
	}
	if had && !uniqueBranches(refs) {
		return nil, errUnionFallback
	}
	if q.needProjection && !st.Projected {
		return nil, errNotProjected // before any decoding (direct.go)
	}
	var tr tierRead
	if p.tier != nil {
		var err error
		if refs, tr, err = q.openTier(st, p, refs, minT, maxT); err != nil {
			return nil, err
		}
		defer tr.teq.Close()
	}
	st.Rollup = p.tierWhy
	st.StartMs, st.EndMs = nsToMs(minT), nsToMs(maxT)
	st.IndexSeconds = time.Since(t0).Seconds()
	st.Series = len(refs)
	if total := q.tr.series.Add(int64(len(refs))); q.a.opts.MaxSeries > 0 && total > int64(q.a.opts.MaxSeries) {
		return nil, fmt.Errorf("%w: %d series selected, the limit is %d", ErrTooManySeries, total, q.a.opts.MaxSeries)
	}
	if sortSeries {
		slices.SortFunc(refs, func(a, b seriesRef) int { return labels.Compare(a.lset, b.lset) })
	}
	t1 := time.Now()
	eq, err := q.a.st.Querier(minT, maxT)
	if err != nil {
		return nil, fmt.Errorf("open querier: %w", err)
	}
	defer eq.Close()
	var acct pushdownAccount
	workers := q.workersFor(len(refs))
	ars, ws := q.takeArenas(workers), make([]*pdWorker, workers)
	for g := range ws {
		ws[g] = q.a.getWorker()
		ws[g].eq, ws[g].acct, ws[g].wc = eq, &acct, q.a.wcache
		if p.tier != nil {
			ws[g].wc = nil // a window's result also depends on the tier
			ws[g].teq, ws[g].tierW, ws[g].rawMinMs = tr.teq, tr.w, nsToMs(tr.rawMin)
		}
	}
	defer func() {
		for _, w := range ws {
			q.a.putWorker(w)
		}
	}()
	workers, err = q.forEachBlock(ctx, len(refs), workers, func(g, lo, hi int) (int64, error) {
		ar, w := ars[g], ws[g]
		w.decoded = 0
		for i := lo; i < hi; i++ {
			w.p = branches[refs[i].branch]
			bMin, bMax := w.p.span()
			off := len(ar.ts)
			w.tiered = refs[i].tix >= 0 && w.p.tier != nil
			if w.tiered {
				nf := len(w.p.fields)
				w.tids = tr.tids[int(refs[i].tix)*nf : int(refs[i].tix+1)*nf]
			}
			if err := w.series(refs[i].id, bMin, bMax, ar); err != nil {
				return w.decoded, err
			}
			refs[i].ar, refs[i].off, refs[i].n = ar, off, len(ar.ts)-off
		}
		return w.decoded, nil
	})
	st.DecodeSeconds = time.Since(t1).Seconds()
	st.Workers = workers
	st.Samples = acct.decoded.Load()
	st.BlocksAggregated, st.SamplesSkipped = acct.blocks.Load(), acct.skipped.Load()
	st.WindowsCached = acct.cached.Load()
	what := p.fn
	if len(p.branches) > 0 {
		what = fmt.Sprintf("union of %d label_replace(%s) branches", len(p.branches), cmp.Or(p.fn, "..."))
	}
	st.Pushdown = fmt.Sprintf("%s evaluated in storage: %d blocks from aggregates (%d samples not decoded), %d samples decoded, %d windows from the window cache",
		what, acct.blocks.Load(), acct.skipped.Load(), st.Samples, st.WindowsCached)
	if err != nil {
		return nil, err
	}
	st.RollupRecords, st.RollupSamples = acct.records.Load(), acct.tierSamples.Load()
	if p.tier != nil {
		st.Pushdown += fmt.Sprintf(", %d records of the %s tier", st.RollupRecords, downsample.TierName(p.tier.Interval))
	}
	set := newSeriesSet(refs, false)
	if len(q.a.opts.Rollups) > 0 && len(p.branches) == 0 {
		set.warnings = q.tierWarnings(p, minT, acct.early.Load(), acct.approx.Load())
	}
	return set, nil
}

// pushdownAccount counts what a pushed-down select read.
type pushdownAccount struct {
	decoded, blocks, skipped, cached atomic.Int64
	// Rollup records read, those before the raw data's earliest time, and
	// those used without the raw samples an exact answer needed.
	records, early, approx atomic.Int64
	tierSamples            atomic.Int64 // field samples decoded for the records
}

// piece is a run of a series in time order: decoded samples (w.ts/w.vs
// [off, off+n)) or a block summary, expanded into samples on demand.
type piece struct {
	sum        *engine.BlockSummary // nil for decoded samples
	minMs      int64
	maxMs      int64
	off, n     int // samples, when decoded or expanded
	a, b       int // the last window's samples [a, b) of [0, n) (bounds)
	isExpanded bool
	rec        *downsample.Record // a rollup record's (rollup.go), with sum
}

// pdWorker evaluates a pushdown plan for one series at a time; it is owned
// by one goroutine and reuses its buffers.
type pdWorker struct {
	eq      *engine.Querier
	p       *pushdownPlan
	acct    *pushdownAccount
	it      *engine.Iterator
	sums    []engine.BlockSummary
	pieces  []piece
	ts      []int64
	vs      []float64
	decoded int64
	wc      *windowCache // nil: off
	fps     []windowFP   // per evaluation time of the current series
	his     []int64      // its windows' ends, ms
	fpv     []uint64     // their fingerprints
	oks     []bool       // whether each is final
	minNs   []int64      // its windows as ns ranges, for Fingerprints
	maxNs   []int64
	hits    []windowVal   // its cached results
	put     []windowEntry // its results to cache
	resets  []float64     // rateFold's
	// blocks and skipped count for acct what the current series took from
	// aggregates (added once per series: the workers share acct).
	blocks, skipped int64

	// A tiered series (rollup.go): the tier series of the plan's fields,
	// records through tierW (ms) from teq, raw samples after.
	tiered bool
	tids   []series.ID
	tierW  int64
	// rawMinMs is the raw data's earliest time: records before it are
	// counted (warnings).
	rawMinMs int64
	teq      *engine.Querier
	tit      *engine.Iterator
	recs     []downsample.Record
	rsums    []engine.BlockSummary
}

// getWorker returns a pdWorker with the buffers of an earlier select (its
// engine iterator's decode buffers above all: hundreds of KB a select
// otherwise), its per-select fields zero.
func (a *Adapter) getWorker() *pdWorker {
	if w, ok := a.workers.Get().(*pdWorker); ok {
		return w
	}
	return &pdWorker{}
}

// putWorker keeps w's buffers for another select, dropping what belongs
// to this one.
func (a *Adapter) putWorker(w *pdWorker) {
	*w = pdWorker{it: w.it, sums: w.sums[:0], pieces: w.pieces[:0], ts: w.ts[:0], vs: w.vs[:0],
		fps: w.fps[:0], his: w.his[:0], fpv: w.fpv[:0], oks: w.oks[:0], minNs: w.minNs[:0], maxNs: w.maxNs[:0], hits: w.hits[:0], put: w.put[:0], resets: w.resets[:0],
		tit: w.tit, recs: w.recs[:0], rsums: w.rsums[:0]}
	a.workers.Put(w)
}

// windowFP is the engine's fingerprint of one window's samples; ok is
// false when they are not final (in a memtable).
type windowFP struct {
	fp uint64
	ok bool
}

var staleNaN = math.Float64frombits(value.StaleNaN)

// series appends fn's result at each evaluation time of series id to ar:
// the value, or a staleness marker for an empty window. It appends nothing
// when every window is empty.
func (w *pdWorker) series(id series.ID, minT, maxT int64, ar *arena) error {
	if w.tiered {
		return w.seriesTiered(id, minT, maxT, ar)
	}
	if w.caching() && w.cached(id, ar) {
		return nil
	}
	if err := w.load(id, minT, maxT); err != nil {
		return err
	}
	return w.evaluate(id, ar)
}

// seriesTiered is series for a series the plan's tier covers: records for
// the intervals ending through w.tierW, raw samples after.
func (w *pdWorker) seriesTiered(id series.ID, minT, maxT int64, ar *arena) error {
	w.ts, w.vs, w.pieces = w.ts[:0], w.vs[:0], w.pieces[:0]
	if err := w.rollupPieces(nsToMs(minT)-1, min(nsToMs(maxT), w.tierW)); err != nil {
		return err
	}
	if w.tierW != math.MinInt64 {
		minT = max(minT, msToMinNs(w.tierW+1))
	}
	if id != 0 && minT <= maxT {
		if err := w.loadRaw(id, minT, maxT); err != nil {
			return err
		}
	}
	return w.evaluate(id, ar)
}

// evaluate appends fn's result at each evaluation time from the loaded
// pieces (series).
func (w *pdWorker) evaluate(id series.ID, ar *arena) error {
	p := w.p
	off := len(ar.ts)
	any := false
	first := 0 // first piece that may overlap the current window
	w.put = w.put[:0]
	caching := w.caching()
	for k := range p.evalTimes() {
		t := p.startMs + int64(k)*p.stepMs
		lo, hi := t-p.offsetMs-p.rangeMs, t-p.offsetMs
		for first < len(w.pieces) && w.pieces[first].maxMs <= lo {
			first++
		}
		v, ok, err := w.window(id, first, lo, hi)
		if err != nil {
			return err
		}
		if caching && w.fps[k].ok {
			w.put = append(w.put, windowEntry{hi: hi, fp: w.fps[k].fp, windowVal: windowVal{v: v, ok: ok}})
		}
		if !ok {
			v = staleNaN
		}
		any = any || ok
		ar.ts = append(ar.ts, t)
		ar.vs = append(ar.vs, v)
	}
	if !any {
		ar.ts, ar.vs = ar.ts[:off], ar.vs[:off]
	}
	if w.blocks > 0 {
		w.acct.blocks.Add(w.blocks)
		w.acct.skipped.Add(w.skipped)
		w.blocks, w.skipped = 0, 0
	}
	if len(w.put) > 0 {
		w.wc.putAll(windowSeries{id: id, fn: fnCode(p.fn), rangeMs: p.rangeMs}, w.put)
	}
	return nil
}

// load splits series id over [minT, maxT] into pieces: the blocks the
// engine can summarize whole (and whose aggregates PromQL's view keeps:
// no staleness marker, no two samples in one millisecond, none sharing a
// millisecond with a neighbour), and decoded samples between them.
func (w *pdWorker) load(id series.ID, minT, maxT int64) error {
	w.ts, w.vs, w.pieces = w.ts[:0], w.vs[:0], w.pieces[:0]
	return w.loadRaw(id, minT, maxT)
}

// loadRaw is load after the pieces already loaded (rollup records, which
// all end before minT).
func (w *pdWorker) loadRaw(id series.ID, minT, maxT int64) error {
	keep := len(w.pieces)
	w.sums = w.eq.Summaries(id, minT, maxT, w.sums[:0])
	usable := w.sums[:0]
	for _, s := range w.sums {
		if s.Flags&(engine.BlockStale|engine.BlockDupMs) == 0 {
			usable = append(usable, s)
		}
	}
	// Two blocks sharing a millisecond at their edges (samples of one
	// millisecond split across blocks) are one sample in PromQL's view:
	// decode both.
	kept := usable[:0]
	prevMaxMs := int64(math.MinInt64)
	for i, s := range usable {
		minMs, maxMs := nsToMs(s.MinT), nsToMs(s.MaxT)
		shared := i > 0 && prevMaxMs == minMs || i+1 < len(usable) && maxMs == nsToMs(usable[i+1].MinT)
		prevMaxMs = maxMs
		if !shared {
			kept = append(kept, s) // at an index <= i: usable[i+1] is intact
		}
	}
	w.sums = kept
	cursor := minT
	for i := range w.sums {
		s := &w.sums[i]
		if err := w.decodeRun(id, cursor, s.MinT-1); err != nil {
			return err
		}
		w.pieces = append(w.pieces, piece{sum: s, minMs: nsToMs(s.MinT), maxMs: nsToMs(s.MaxT)})
		cursor = s.MaxT + 1
	}
	if err := w.decodeRun(id, cursor, maxT); err != nil {
		return err
	}
	// A decoded neighbour in the same millisecond as a block's edge would
	// merge with it in PromQL's view: then decode the whole range instead.
	for i, pc := range w.pieces {
		if pc.sum == nil || i < keep {
			continue
		}
		if i > keep && w.pieces[i-1].sum == nil && w.ts[w.pieces[i-1].off+w.pieces[i-1].n-1] == pc.minMs ||
			i+1 < len(w.pieces) && w.pieces[i+1].sum == nil && w.ts[w.pieces[i+1].off] == pc.maxMs {
			w.ts, w.vs, w.pieces, w.sums = w.ts[:0], w.vs[:0], w.pieces[:keep], w.sums[:0]
			return w.decodeRun(id, minT, maxT)
		}
	}
	return nil
}

// decodeRun decodes series id over [minT, maxT] as PromQL sees it (one
// sample per millisecond, the last; staleness markers dropped) into a new
// piece, if it holds samples.
func (w *pdWorker) decodeRun(id series.ID, minT, maxT int64) error {
	if minT > maxT {
		return nil
	}
	off, n, err := w.decodeInto(id, minT, maxT)
	if err != nil || n == 0 {
		return err
	}
	w.pieces = append(w.pieces, piece{minMs: w.ts[off], maxMs: w.ts[off+n-1], off: off, n: n})
	return nil
}

func (w *pdWorker) decodeInto(id series.ID, minT, maxT int64) (off, n int, err error) {
	w.it = w.eq.Range(id, minT, maxT, w.it)
	w.decoded += int64(w.it.Len())
	w.acct.decoded.Add(int64(w.it.Len()))
	off = len(w.ts)
	typ := w.it.Type()
	src, raws := w.it.Timestamps(), w.it.RawValues()
	raws = raws[:len(src)]
	w.ts, w.vs = slices.Grow(w.ts, len(src)), slices.Grow(w.vs, len(src))
	ts, vs := w.ts[off:off+len(src)], w.vs[off:off+len(src)]
	stale, dup := false, false
	prev := int64(math.MinInt64)
	for i, t := range src {
		ms := nsToMs(t)
		if ms == prev {
			dup = true
		}
		prev = ms
		ts[i] = ms
	}
	// One loop per type; only floats can hold a staleness marker.
	switch typ {
	case series.TypeFloat:
		for i, r := range raws {
			if r == value.StaleNaN {
				stale = true
			}
			vs[i] = math.Float64frombits(r)
		}
	case series.TypeInt:
		for i, r := range raws {
			vs[i] = float64(int64(r))
		}
	case series.TypeString:
		for i := range raws {
			vs[i] = math.NaN()
		}
	default:
		for i, r := range raws {
			vs[i] = series.AsFloat64(typ, r)
		}
	}
	w.ts, w.vs = w.ts[:off+len(src)], w.vs[:off+len(src)]
	if dup {
		// Samples in one millisecond collapse to the last, as the adapter
		// hands them to PromQL.
		k := off
		for i := off; i < len(w.ts); i++ {
			if k > off && w.ts[k-1] == w.ts[i] {
				w.vs[k-1] = w.vs[i]
				continue
			}
			w.ts[k], w.vs[k] = w.ts[i], w.vs[i]
			k++
		}
		w.ts, w.vs = w.ts[:k], w.vs[:k]
	}
	if err := w.it.Err(); err != nil {
		return off, 0, fmt.Errorf("read series %d: %w", id, err)
	}
	if !stale {
		return off, len(w.ts) - off, nil
	}
	// PromQL drops staleness markers from ranges (after the collapse).
	k := off
	for i := off; i < len(w.ts); i++ {
		if !value.IsStaleNaN(w.vs[i]) {
			w.ts[k], w.vs[k] = w.ts[i], w.vs[i]
			k++
		}
	}
	w.ts, w.vs = w.ts[:k], w.vs[:k]
	return off, k - off, nil
}

// windowCacheMinRange is the shortest range whose windows go through the
// window cache. A shorter window holds few samples (a 1 m window of a
// 10 s series holds 6), which are decoded and folded in about the time
// its fingerprint takes, so caching it only costs: measured on TSBS's
// 1 m shapes (BenchmarkTSBSAPI), whose hosts and windows rarely repeat,
// the fingerprints and stores took 10-20 % of the query, and their
// entries pushed the 1 h windows of other queries out of the cache.
const windowCacheMinRange = 5 * 60 * 1000 // ms

// caching reports whether the current plan's windows go through the
// window cache.
func (w *pdWorker) caching() bool {
	return w.wc != nil && w.p.rangeMs >= windowCacheMinRange
}

// cached appends the results of every window of series id from the window
// cache and reports true when all are there; otherwise it appends nothing
// and leaves in w.fps the fingerprints for series to store its results.
func (w *pdWorker) cached(id series.ID, ar *arena) bool {
	p := w.p
	fn := fnCode(p.fn)
	n := p.evalTimes()
	w.fps, w.his, w.minNs, w.maxNs = w.fps[:0], w.his[:0], w.minNs[:0], w.maxNs[:0]
	for k := range n {
		t := p.startMs + int64(k)*p.stepMs
		lo, hi := t-p.offsetMs-p.rangeMs, t-p.offsetMs
		w.his, w.minNs, w.maxNs = append(w.his, hi), append(w.minNs, msToMinNs(lo+1)), append(w.maxNs, msToMaxNs(hi))
	}
	w.fpv, w.oks = slices.Grow(w.fpv[:0], n)[:n], slices.Grow(w.oks[:0], n)[:n]
	w.eq.Fingerprints(id, w.minNs, w.maxNs, w.fpv, w.oks)
	final := fn != 0
	for k, ok := range w.oks {
		w.fps = append(w.fps, windowFP{fp: w.fpv[k], ok: ok && fn != 0})
		final = final && ok
	}
	if !final {
		return false
	}
	var hit bool
	w.hits, hit = w.wc.getAll(windowSeries{id: id, fn: fn, rangeMs: p.rangeMs}, w.his, w.fpv, w.hits[:0])
	if !hit {
		return false
	}
	off := len(ar.ts)
	any := false
	for k, r := range w.hits {
		v := r.v
		if !r.ok {
			v = staleNaN
		}
		any = any || r.ok
		ar.ts = append(ar.ts, p.startMs+int64(k)*p.stepMs)
		ar.vs = append(ar.vs, v)
	}
	if !any {
		ar.ts, ar.vs = ar.ts[:off], ar.vs[:off]
	}
	w.acct.cached.Add(int64(len(w.hits)))
	return true
}

// expand decodes the block of a summary piece.
func (w *pdWorker) expand(id series.ID, pc *piece) error {
	if pc.isExpanded {
		return nil
	}
	if pc.rec != nil {
		_, err := w.expandRollup(id, pc)
		return err // not expanded: the caller takes the aggregates
	}
	off, n, err := w.decodeInto(id, pc.sum.MinT, pc.sum.MaxT)
	if err != nil {
		return err
	}
	pc.off, pc.n, pc.isExpanded = off, n, true
	return nil
}

// samplesIn returns the decoded samples of pc in (lo, hi].
func (w *pdWorker) samplesIn(pc *piece, lo, hi int64) []float64 {
	a, b := w.bounds(pc, lo, hi)
	return w.vs[pc.off+a : pc.off+b]
}

// samplesTsIn returns the decoded samples of pc in (lo, hi].
func (w *pdWorker) samplesTsIn(pc *piece, lo, hi int64) ([]int64, []float64) {
	a, b := w.bounds(pc, lo, hi)
	return w.ts[pc.off+a : pc.off+b], w.vs[pc.off+a : pc.off+b]
}

// bounds returns the samples [a, b) of pc in (lo, hi]. The windows of a
// series come in time order (lo and hi never decrease), so it moves the
// piece's cursors forward from where the last window left them: a few
// steps, then a binary search over the rest (a window far ahead).
func (w *pdWorker) bounds(pc *piece, lo, hi int64) (a, b int) {
	ts := w.ts[pc.off : pc.off+pc.n]
	pc.a = seekAfter(ts, pc.a, lo)
	pc.b = seekAfter(ts, max(pc.a, pc.b), hi)
	return pc.a, pc.b
}

// seekAfter returns the first index from i on whose timestamp is above x
// (len(ts) if none); ts is ascending.
func seekAfter(ts []int64, i int, x int64) int {
	for range 8 {
		if i == len(ts) || ts[i] > x {
			return i
		}
		i++
	}
	return i + sort.Search(len(ts)-i, func(j int) bool { return ts[i+j] > x })
}

// window evaluates fn over (lo, hi] ms from piece first on.
func (w *pdWorker) window(id series.ID, first int, lo, hi int64) (float64, bool, error) {
	switch w.p.fn {
	case "sum_over_time", "avg_over_time":
		if v, ok, exact := w.exactSum(first, lo, hi); exact {
			return v, ok, nil
		}
		return w.foldSamples(id, first, lo, hi)
	case "rate", "increase", "delta":
		return w.rateWindow(id, first, lo, hi)
	}
	var f fold
	f.fn = w.p.fn
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		pc := &w.pieces[i]
		if pc.sum != nil && pc.minMs > lo && pc.maxMs <= hi {
			f.block(pc.sum)
			w.blocks++
			w.skipped += int64(pc.sum.Count)
			continue
		}
		if pc.sum != nil {
			if err := w.expand(id, pc); err != nil {
				return 0, false, err
			}
			if pc.rec != nil && !pc.isExpanded {
				f.block(pc.sum) // no raw samples left: the whole interval
				continue
			}
		}
		f.addAll(w.samplesIn(pc, lo, hi))
	}
	return f.result()
}

// exactSum returns the sum (or mean) over (lo, hi] when it can be computed
// exactly from block sums: every value an integer and the magnitudes
// small enough that every partial sum is exact, so that Prometheus'
// Kahan summation in time order yields the same bits (its compensation
// stays 0). exact is false when that does not hold.
func (w *pdWorker) exactSum(first int, lo, hi int64) (v float64, ok, exact bool) {
	whole := false
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		pc := &w.pieces[i]
		whole = whole || pc.sum != nil && pc.minMs > lo && pc.maxMs <= hi
	}
	if !whole {
		return 0, false, false // no block to take whole: fold the samples
	}
	var sum, bound float64
	var n int
	blocks := 0
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		pc := &w.pieces[i]
		if pc.sum != nil {
			if pc.minMs <= lo || pc.maxMs > hi || pc.sum.Flags&engine.BlockSumExact == 0 {
				return 0, false, false
			}
			sum += pc.sum.Sum
			bound += engine.ExactSumBound
			n += pc.sum.Count
			blocks++
			continue
		}
		for _, x := range w.samplesIn(pc, lo, hi) {
			if x != math.Trunc(x) {
				return 0, false, false
			}
			sum += x
			bound += math.Abs(x)
			n++
		}
		if bound >= 1<<53 {
			return 0, false, false
		}
	}
	if blocks == 0 || bound >= 1<<53 {
		return 0, false, false // nothing gained: fold the samples as Prometheus does
	}
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		if pc := &w.pieces[i]; pc.sum != nil {
			w.blocks++
			w.skipped += int64(pc.sum.Count)
		}
	}
	if w.p.fn == "sum_over_time" {
		return sum + 0, true, true // Prometheus: sum + c, with c == +0
	}
	c := float64(n)
	return sum/c + 0/c, true, true // Prometheus: sum/count + kahanC/count
}

// foldSamples evaluates sum_over_time or avg_over_time over every sample
// of (lo, hi], decoding blocks, with Prometheus' arithmetic.
func (w *pdWorker) foldSamples(id series.ID, first int, lo, hi int64) (float64, bool, error) {
	var f fold
	f.fn = w.p.fn
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		pc := &w.pieces[i]
		if pc.sum != nil {
			if err := w.expand(id, pc); err != nil {
				return 0, false, err
			}
			if pc.rec != nil && !pc.isExpanded {
				f.approxBlock(pc.sum) // no raw samples left
				continue
			}
		}
		f.addAll(w.samplesIn(pc, lo, hi))
	}
	return f.result()
}

// approxBlock folds in a rollup record whose raw samples are gone: its sum
// as one addend of the Kahan sum (close to, but not always the bits of,
// adding its samples one by one).
func (f *fold) approxBlock(s *engine.BlockSummary) {
	switch f.fn {
	case "sum_over_time", "avg_over_time":
		f.sum, f.c = kahansum.Inc(s.Sum, f.sum, f.c)
		f.n += float64(s.Count)
	default:
		f.block(s)
	}
}

// fold accumulates one window the way Prometheus' functions.go does for
// float samples in time order (max/min: compareOverTime; sum:
// funcSumOverTime; avg: funcAvgOverTime; count: funcCountOverTime).
type fold struct {
	fn       string
	n        float64
	m        float64 // max or min
	sum, c   float64 // Kahan sum and compensation
	mean     float64
	incrMean bool
}

// addAll folds vs in, in order; the function is chosen once per slice.
func (f *fold) addAll(vs []float64) {
	switch f.fn {
	case "max_over_time":
		if len(vs) == 0 {
			return
		}
		if f.n == 0 {
			f.m = vs[0]
		}
		m := f.m
		for _, v := range vs {
			if v > m || m != m { // m != m: m is NaN
				m = v
			}
		}
		f.m, f.n = m, f.n+float64(len(vs))
	case "min_over_time":
		if len(vs) == 0 {
			return
		}
		if f.n == 0 {
			f.m = vs[0]
		}
		m := f.m
		for _, v := range vs {
			if v < m || m != m {
				m = v
			}
		}
		f.m, f.n = m, f.n+float64(len(vs))
	case "count_over_time":
		f.n += float64(len(vs))
	case "last_over_time":
		if len(vs) > 0 {
			f.m = vs[len(vs)-1]
		}
		f.n += float64(len(vs))
	case "sum_over_time":
		if f.addExact(vs) {
			return
		}
		for _, v := range vs {
			f.sum, f.c = kahansum.Inc(v, f.sum, f.c)
		}
		f.n += float64(len(vs))
	case "avg_over_time":
		if f.addExact(vs) {
			return
		}
		n, sum, c := f.n, f.sum, f.c
		for i, v := range vs {
			n++
			if n == 1 {
				sum = v
				continue
			}
			if f.incrMean {
				f.n, f.sum, f.c = n-1, sum, c
				for _, v := range vs[i:] {
					f.add(v)
				}
				return
			}
			newSum, newC := kahansum.Inc(v, sum, c)
			if math.IsInf(newSum, 0) {
				f.n, f.sum, f.c = n-1, sum, c
				for _, v := range vs[i:] {
					f.add(v) // switches to the incremental mean
				}
				return
			}
			sum, c = newSum, newC
		}
		f.n, f.sum, f.c = n, sum, c
	}
}

// addExact folds vs into the sum of sum_over_time or avg_over_time with
// plain additions when that gives Prometheus' Kahan sum bit for bit, and
// reports whether it did (f is unchanged otherwise). kahansum.Inc's sum is
// always the plain running sum; its compensation stays +0 as long as every
// partial sum is exact, which holds when the compensation is +0, the sum so
// far and every value are integers, and their magnitudes add up to less
// than 2^53. Then the result (sum + c, sum/n + c/n) is the same.
func (f *fold) addExact(vs []float64) bool {
	if len(vs) == 0 || f.incrMean || f.c != 0 || math.Signbit(f.c) || f.sum != math.Trunc(f.sum) {
		return false
	}
	sum, bound := f.sum, math.Abs(f.sum)
	rest := vs
	if f.n == 0 && f.fn == "avg_over_time" {
		// funcAvgOverTime starts from the first value, not from 0 + it
		// (-0 stays -0).
		sum, rest = vs[0], vs[1:]
		if sum != math.Trunc(sum) {
			return false
		}
		bound = math.Abs(sum)
	}
	for _, v := range rest {
		if v != math.Trunc(v) {
			return false // fractional or NaN
		}
		sum += v
		bound += math.Abs(v)
	}
	if !(bound < 1<<53) { // also false for ±Inf
		return false
	}
	f.sum = sum
	f.n += float64(len(vs))
	return true
}

func (f *fold) add(v float64) {
	f.n++
	switch f.fn {
	case "max_over_time":
		if f.n == 1 || v > f.m || math.IsNaN(f.m) {
			f.m = v
		}
	case "min_over_time":
		if f.n == 1 || v < f.m || math.IsNaN(f.m) {
			f.m = v
		}
	case "sum_over_time":
		f.sum, f.c = kahansum.Inc(v, f.sum, f.c)
	case "avg_over_time":
		if f.n == 1 {
			f.sum = v
			return
		}
		if !f.incrMean {
			newSum, newC := kahansum.Inc(v, f.sum, f.c)
			if !math.IsInf(newSum, 0) {
				f.sum, f.c = newSum, newC
				return
			}
			f.incrMean = true
			f.mean = f.sum / (f.n - 1)
			f.c /= (f.n - 1)
		}
		q := (f.n - 1) / f.n
		f.mean, f.c = kahansum.Inc(v/f.n, q*f.mean, q*f.c)
	}
}

// block folds a whole block in: exact for max, min (their fold is
// associative in time order, NaN and signed zeros included) and count.
func (f *fold) block(s *engine.BlockSummary) {
	switch f.fn {
	case "max_over_time":
		v := s.Max
		if f.n == 0 || v > f.m || math.IsNaN(f.m) {
			f.m = v
		}
	case "min_over_time":
		v := s.Min
		if f.n == 0 || v < f.m || math.IsNaN(f.m) {
			f.m = v
		}
	case "last_over_time":
		f.m = s.Last
	}
	f.n += float64(s.Count)
}

func (f *fold) result() (float64, bool, error) {
	if f.n == 0 {
		return 0, false, nil
	}
	switch f.fn {
	case "max_over_time", "min_over_time", "last_over_time":
		return f.m, true, nil
	case "count_over_time":
		return f.n, true, nil
	case "sum_over_time":
		if math.IsInf(f.sum, 0) {
			return f.sum, true, nil
		}
		return f.sum + f.c, true, nil
	case "avg_over_time":
		if f.incrMean {
			return f.mean + f.c, true, nil
		}
		return f.sum/f.n + f.c/f.n, true, nil
	}
	return 0, false, fmt.Errorf("pushdown: unknown function %q", f.fn)
}
