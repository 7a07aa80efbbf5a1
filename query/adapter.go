package query

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Adapter is the optimizer between PromQL and storage. It hands the PromQL
// engine a storage.Queryable per query (Queryable), whose Select plans the
// matchers, prunes index partitions by time, reuses cached postings and
// decodes the selected series in parallel, in the order the engine expects.
// It is safe for concurrent use.
type Adapter struct {
	st     Storage
	opts   Options
	cache  *postingsCache // nil when disabled
	wcache *windowCache   // nil when disabled
	arenas sync.Pool      // *arena
	// workers keeps pushdown workers' buffers between selects (*pdWorker).
	workers sync.Pool
	// direct counts the queries answered by direct aggregation (direct.go).
	direct atomic.Int64
}

// NewAdapter returns an Adapter over st.
func NewAdapter(st Storage, opts Options) (*Adapter, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("query options: %w", err)
	}
	opts.Rollups = slices.Clone(opts.Rollups)
	slices.SortFunc(opts.Rollups, func(a, b RollupTier) int { return cmp.Compare(a.Interval, b.Interval) })
	a := &Adapter{st: st, opts: opts}
	wBytes, pBytes := opts.shares()
	if opts.WindowCacheEntries > 0 && wBytes > 0 && !opts.DisableOptimizer && !opts.DisablePushdown {
		a.wcache = newWindowCache(opts.WindowCacheEntries, wBytes)
	}
	if opts.CacheEntries > 0 && pBytes > 0 && !opts.DisableOptimizer {
		a.cache = newPostingsCache(opts.CacheEntries, pBytes)
	}
	return a, nil
}

// Options returns the options in effect, defaults filled in.
func (a *Adapter) Options() Options { return a.opts }

// Queryable returns the storage.Queryable for one query. tr counts the
// query's series and samples against the limits and records what each
// select did; a nil tr gets a fresh one (no explain detail).
func (a *Adapter) Queryable(tr *Trace) storage.Queryable {
	if tr == nil {
		tr = &Trace{}
	}
	tr.Optimizer = !a.opts.DisableOptimizer
	return queryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return &querier{a: a, tr: tr, mint: mint, maxt: maxt}, nil
	})
}

type queryableFunc func(mint, maxt int64) (storage.Querier, error)

func (f queryableFunc) Querier(mint, maxt int64) (storage.Querier, error) { return f(mint, maxt) }

// querier serves one query. The arenas it took hold the decoded samples
// until Close, after which the PromQL engine no longer reads them.
type querier struct {
	a          *Adapter
	tr         *Trace
	mint, maxt int64 // ms

	mu     sync.Mutex // mu protects arenas
	arenas []*arena

	plans []*pushdownPlan // of the rewritten query (pushdown.go)
	// needProjection: a pushed-down select whose series keep more labels
	// than their aggregation groups by fails with errNotProjected
	// (direct.go).
	needProjection bool
	// sharedProjection: the select's series are projected even when
	// several share a label set (direct.go folds them).
	sharedProjection bool
}

// Select implements storage.Querier.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	start, end := q.mint, q.maxt
	st := &SelectTrace{Selector: "{" + matchersKey(ms) + "}"}
	if hints != nil {
		start, end = hints.Start, hints.End
		st.Func, st.RangeMs, st.StepMs = hints.Func, hints.Range, hints.Step
	}
	st.StartMs, st.EndMs = start, end
	q.tr.addSelect(st)
	if p, ok := q.pushdownPlanOf(ms); ok {
		set, err := q.selectPushdown(ctx, st, sortSeries, p)
		if err != nil {
			return storage.ErrSeriesSet(err)
		}
		return set
	}
	if q.tr.Explain && len(q.a.opts.Rollups) > 0 {
		st.Rollup = rawWhy(hints)
	}
	set, err := q.selectSeries(ctx, st, sortSeries, hints, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return set
}

func (q *querier) selectSeries(ctx context.Context, st *SelectTrace, sortSeries bool, hints *storage.SelectHints, ms []*labels.Matcher) (storage.SeriesSet, error) {
	minT, maxT := msToMinNs(st.StartMs), msToMaxNs(st.EndMs)
	ms = auth.ScopeMatchers(ctx, ms) // callers other than PromQL (whose selectors api.go scoped)
	tms, err := ToIndexMatchers(ms)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	ids, err := q.a.postings(st, minT, maxT, ms, tms)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", st.Selector, err)
	}
	if q.tr.Explain {
		st.MatcherPlan = planMatchers(q.a.st.Index(), minT, maxT, ms, tms)
	}
	refs := q.a.seriesRefs(ids)
	st.IndexSeconds = time.Since(t0).Seconds()
	st.Series = len(refs)
	if total := q.tr.series.Add(int64(len(refs))); q.a.opts.MaxSeries > 0 && total > int64(q.a.opts.MaxSeries) {
		return nil, fmt.Errorf("%w: %d series selected, the limit is %d", ErrTooManySeries, total, q.a.opts.MaxSeries)
	}
	if hints != nil && hints.Func == "series" {
		// Labels only (the /api/v1/series contract): no samples needed.
		return newSeriesSet(refs, sortSeries), nil
	}
	if sortSeries {
		slices.SortFunc(refs, func(a, b seriesRef) int { return labels.Compare(a.lset, b.lset) })
	}
	t1 := time.Now()
	pattern := choosePattern(len(refs), partitionSeries(q.a.st.Index(), minT, maxT), maxT-minT)
	st.Pattern = pattern.String()
	workers, err := q.decode(ctx, refs, minT, maxT, pattern)
	st.DecodeSeconds = time.Since(t1).Seconds()
	st.Workers = workers
	for i := range refs {
		st.Samples += int64(refs[i].n)
	}
	if err != nil {
		return nil, err
	}
	return newSeriesSet(refs, false), nil
}

// postings resolves the matchers to series IDs over the partitions that
// overlap [minT, maxT] (all partitions with the optimizer off), reusing
// cached per-partition results.
func (a *Adapter) postings(st *SelectTrace, minT, maxT int64, ms []*labels.Matcher, tms []*tagindex.Matcher) (*roaring.Bitmap, error) {
	parts := a.st.Index().Partitions()
	st.PartitionsTotal = len(parts)
	key := matchersKey(ms)
	res := roaring.New()
	for _, p := range parts {
		if !a.opts.DisableOptimizer && (p.MinT() > maxT || p.MaxT() < minT) {
			continue
		}
		bm, cached, err := a.partitionPostings(p, key, tms)
		if err != nil {
			return nil, err
		}
		st.Partitions = append(st.Partitions, PartitionTrace{
			Start: nsTime(p.MinT()), End: nsTime(p.MaxT()), Series: bm.GetCardinality(), Cached: cached,
		})
		res.Or(bm)
	}
	return res, nil
}

// partitionPostings returns p's series for the matchers; the bitmap must
// not be modified. A cached result is valid while the partition's
// generation is unchanged (it changes with every series added or removed).
func (a *Adapter) partitionPostings(p *tagindex.Partition, key string, tms []*tagindex.Matcher) (*roaring.Bitmap, bool, error) {
	if a.cache == nil {
		bm, err := p.Postings(tms...)
		return bm, false, err
	}
	n := p.Generation() // read before resolving, so a racing Add only invalidates
	if bm, ok := a.cache.get(p, key, n); ok {
		return bm, true, nil
	}
	bm, err := p.Postings(tms...)
	if err != nil {
		return nil, false, err
	}
	a.cache.put(p, key, n, bm)
	return bm, false, nil
}

// partitionSeries returns the largest series count of the index
// partitions overlapping [minT, maxT]: what a selection's density is
// measured against.
func partitionSeries(ix *tagindex.Index, minT, maxT int64) uint64 {
	var most uint64
	for _, p := range ix.Partitions() {
		if p.MinT() <= maxT && p.MaxT() >= minT {
			most = max(most, uint64(p.NumSeries()))
		}
	}
	return most
}

// seriesRefs turns IDs into series with labels, skipping string series,
// which have no PromQL view.
func (a *Adapter) seriesRefs(ids *roaring.Bitmap) []seriesRef {
	reg := a.st.Registry()
	refs := make([]seriesRef, 0, ids.GetCardinality())
	var b labels.ScratchBuilder
	it := ids.Iterator()
	for it.HasNext() {
		id := it.Next()
		if reg.Type(id) == series.TypeString {
			continue
		}
		canon := reg.Labels(id)
		if canon == nil {
			continue
		}
		b.Reset()
		// The registry's canonical bytes are immutable, so the strings may
		// alias them; Labels() copies them into the label set.
		err := series.ForEachCanonical(canon, func(name, value []byte) error {
			b.Add(bytesString(name), bytesString(value))
			return nil
		})
		if err != nil {
			continue
		}
		refs = append(refs, seriesRef{id: id, lset: b.Labels()})
	}
	return refs
}

// appendPushdownRefs appends the series of ids to refs as pushdown
// returns them (string series skipped): labels without __name__ (with it
// when keepName), only those named in keep when keep is not nil
// (projection.go), with setLabel set to setValue when setLabel is not
// empty (pushdownLabels), tagged with branch. had reports whether a series
// had setLabel before.
func (a *Adapter) appendPushdownRefs(refs []seriesRef, ids *roaring.Bitmap, branch int32, setLabel, setValue string, keepName bool, keep []string) (_ []seriesRef, had bool) {
	reg := a.st.Registry()
	refs = slices.Grow(refs, int(ids.GetCardinality()))
	var b labels.ScratchBuilder
	it := ids.Iterator()
	for it.HasNext() {
		id := it.Next()
		if reg.Type(id) == series.TypeString {
			continue
		}
		canon := reg.Labels(id)
		if canon == nil {
			continue
		}
		ls, h, err := pushdownLabels(&b, canon, setLabel, setValue, keepName, keep)
		if err != nil {
			continue
		}
		had = had || h
		refs = append(refs, seriesRef{id: id, branch: branch, lset: ls})
	}
	return refs, had
}

// bytesString returns b as a string without copying; b must not change
// while the string is used.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// LabelValues implements storage.LabelQuerier from the index alone.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tms, err := ToIndexMatchers(auth.ScopeMatchers(ctx, ms))
	if err != nil {
		return nil, nil, err
	}
	vals, err := q.a.st.Index().LabelValues(name, msToMinNs(q.mint), msToMaxNs(q.maxt), labelLimit(hints), tms...)
	if err != nil {
		return nil, nil, fmt.Errorf("label values of %q: %w", name, err)
	}
	return vals, nil, nil
}

// LabelNames implements storage.LabelQuerier from the index alone.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	tms, err := ToIndexMatchers(auth.ScopeMatchers(ctx, ms))
	if err != nil {
		return nil, nil, err
	}
	names, err := q.a.st.Index().LabelNames(msToMinNs(q.mint), msToMaxNs(q.maxt), labelLimit(hints), tms...)
	if err != nil {
		return nil, nil, fmt.Errorf("label names: %w", err)
	}
	return names, nil, nil
}

func labelLimit(h *storage.LabelHints) int {
	if h == nil {
		return 0
	}
	return h.Limit
}

// Close returns the decoded samples' arenas for reuse.
func (q *querier) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ar := range q.arenas {
		ar.reset()
		q.a.arenas.Put(ar)
	}
	q.arenas = nil
	return nil
}

// msToMinNs converts a millisecond bound to the first nanosecond of it,
// saturating.
func msToMinNs(ms int64) int64 {
	if ms <= math.MinInt64/1_000_000 {
		return math.MinInt64
	}
	if ms >= math.MaxInt64/1_000_000 {
		return math.MaxInt64
	}
	return ms * 1e6
}

// msToMaxNs converts a millisecond bound to the last nanosecond of it,
// saturating.
func msToMaxNs(ms int64) int64 {
	if ms >= math.MaxInt64/1_000_000-1 {
		return math.MaxInt64
	}
	if ms <= math.MinInt64/1_000_000 {
		return math.MinInt64
	}
	return ms*1e6 + 999_999
}

// nsToMs floors a nanosecond timestamp to its millisecond.
func nsToMs(t int64) int64 {
	if t >= 0 {
		return int64(uint64(t) / 1e6) // one multiply, no sign fix-up
	}
	ms := t / 1e6
	if t%1e6 < 0 {
		ms--
	}
	return ms
}

func nsTime(t int64) string {
	if t == math.MinInt64 || t == math.MaxInt64 {
		return fmt.Sprint(t)
	}
	return time.Unix(0, t).UTC().Format(time.RFC3339)
}
