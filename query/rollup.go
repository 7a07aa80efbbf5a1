package query

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// Rollups (docs/downsampling.md). A pushed-down call whose windows are
// made of whole intervals of a tier (range, step and start - offset
// multiples of its interval) reads, per series the tier covers, the
// tier's records for the intervals built so far and the raw data after
// them: each record becomes a piece like a segment block's summary
// (pushdown_eval.go), so the same folds answer the same bits, and what a
// record cannot answer exactly (a sum of non-integers, two counter resets
// in one interval) is read from the raw samples while they exist.

// RollupTier is one downsampling tier the optimizer may read.
type RollupTier struct {
	// Interval is the tier's interval.
	Interval time.Duration
	// Storage is the tier's engine: series with their raw labels, records
	// as downsample stores them.
	Storage Storage
	// BuiltThrough returns the time (ms) through which the tier is built
	// for every series it covers (downsample.Builder.BuiltThrough).
	BuiltThrough func() int64
	// Covers reports whether the series of these canonical labels has
	// rollups in this tier.
	Covers func(canonical []byte) bool
}

// rollupFuncs are the pushed-down functions a tier can answer.
var rollupFuncs = map[string]bool{
	"max_over_time": true, "min_over_time": true, "sum_over_time": true,
	"count_over_time": true, "avg_over_time": true, "last_over_time": true,
	"rate": true, "increase": true, "delta": true,
}

// chooseTier sets p.tier to the coarsest tier that answers p exactly and
// holds some of its windows, and p.tierWhy to the reason (or to why none
// does).
func (r *rewriter) chooseTier(p *pushdownPlan) {
	if len(r.tiers) == 0 {
		return
	}
	if !rollupFuncs[p.fn] {
		p.tierWhy = fmt.Sprintf("raw: %s is not answered from rollups", p.fn)
		return
	}
	var why []error
	for i := len(r.tiers) - 1; i >= 0; i-- {
		t := &r.tiers[i]
		iv, name := t.Interval.Milliseconds(), downsample.TierName(t.Interval)
		firstLo := p.startMs - p.offsetMs - p.rangeMs
		switch {
		case p.rangeMs%iv != 0:
			why = append(why, fmt.Errorf("%s: range %s is not a multiple of %s", name, p.rng, name))
		case p.stepMs%iv != 0:
			why = append(why, fmt.Errorf("%s: step %dms is not a multiple of %s", name, p.stepMs, name))
		case (p.startMs-p.offsetMs)%iv != 0:
			why = append(why, fmt.Errorf("%s: start - offset (%dms) is not a multiple of %s", name, p.startMs-p.offsetMs, name))
		default:
			w := t.BuiltThrough()
			if w <= firstLo {
				why = append(why, fmt.Errorf("%s: built through %s, before the first window", name, fmtMs(w)))
				continue
			}
			p.tier, p.fields = t, rollupFields(p.fn)
			p.tierWhy = fmt.Sprintf("tier %s: range, step and start - offset are multiples of %s; %s is rollup-safe; records through %s, raw samples after",
				name, name, p.fn, fmtMs(w))
			return
		}
	}
	p.tierWhy = "raw: " + errors.Join(why...).Error()
}

// rawWhy says, for explain, why a select PromQL evaluates itself reads
// raw samples although tiers exist.
func rawWhy(hints *storage.SelectHints) string {
	switch {
	case hints == nil || hints.Func == "series":
		return ""
	case hints.Func == "" || hints.Range == 0:
		return "raw: a plain selector reads raw samples"
	}
	return fmt.Sprintf("raw: %s is not pushed down here (an unsupported function, a subquery, @, or no metric name), so no tier answers it", hints.Func)
}

func fmtMs(ms int64) string {
	if ms == math.MinInt64 {
		return "nothing yet"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// tierRead is what a select reads from its plan's tier: the tier's
// Querier, the tier series of each linked ref (seriesRef.tix), the time
// through which the tier is built (ms) and the raw data's earliest (ns).
type tierRead struct {
	teq    *engine.Querier
	tids   []series.ID
	w      int64
	rawMin int64
}

// openTier links refs to plan p's tier (tierRefs) and opens the tier's
// Querier over the records of [minT, maxT] built so far.
func (q *querier) openTier(st *SelectTrace, p *pushdownPlan, refs []seriesRef, minT, maxT int64) ([]seriesRef, tierRead, error) {
	tr := tierRead{w: p.tier.BuiltThrough(), rawMin: q.a.rawMinTime()}
	for i := range refs {
		refs[i].tix = -1
	}
	var err error
	if refs, tr.tids, err = q.tierRefs(st, p, refs, minT, maxT); err != nil {
		return nil, tr, err
	}
	lo, hi := downsample.RecordRange(nsToMs(minT)-1, min(nsToMs(maxT), tr.w))
	if tr.teq, err = p.tier.Storage.Querier(lo, max(lo, hi)); err != nil {
		return nil, tr, fmt.Errorf("open the %s tier: %w", downsample.TierName(p.tier.Interval), err)
	}
	return refs, tr, nil
}

// rollupFields returns the fields a tier's records need for fn. The fold
// of max, min and last needs no count (a record holds at least one
// sample), and their windows never cut a record (raw samples are read
// only for a cut record, or for an inexact sum or rate, which read meta).
func rollupFields(fn string) []downsample.Field {
	switch fn {
	case "max_over_time":
		return []downsample.Field{downsample.FieldMax}
	case "min_over_time":
		return []downsample.Field{downsample.FieldMin}
	case "count_over_time":
		return []downsample.Field{downsample.FieldMeta}
	case "last_over_time":
		return []downsample.Field{downsample.FieldLast}
	case "sum_over_time", "avg_over_time":
		return []downsample.Field{downsample.FieldMeta, downsample.FieldSum}
	case "rate", "increase":
		return []downsample.Field{downsample.FieldMeta, downsample.FieldTimes, downsample.FieldFirst, downsample.FieldLast, downsample.FieldResetSum}
	case "delta":
		return []downsample.Field{downsample.FieldMeta, downsample.FieldTimes, downsample.FieldFirst, downsample.FieldLast}
	}
	return nil
}

// tierRefs links refs (the raw series of plan p) that the tier covers to
// the tier's series of p's fields, and adds the tier's series that raw
// data no longer has. It returns the refs and, per linked ref (tix), the
// tier IDs of p's fields (0: none).
func (q *querier) tierRefs(st *SelectTrace, p *pushdownPlan, refs []seriesRef, minT, maxT int64) ([]seriesRef, []series.ID, error) {
	t := p.tier
	nf := len(p.fields)
	treg, rreg := t.Storage.Registry(), q.a.st.Registry()
	var tids []series.ID
	var buf []byte
	link := func(canon []byte) int32 {
		for _, f := range p.fields {
			buf = downsample.FieldSeries(buf[:0], canon, f)
			id, _ := treg.Lookup(buf)
			tids = append(tids, id)
		}
		return int32(len(tids)/nf - 1)
	}
	linked := map[series.ID]bool{}
	for i := range refs {
		canon := rreg.Labels(refs[i].id)
		if canon == nil || !t.Covers(canon) {
			continue
		}
		refs[i].tix = link(canon)
		linked[tids[int(refs[i].tix)*nf]] = true
	}
	tms, err := ToIndexMatchers(append(slices.Clip(p.ms), labels.MustNewMatcher(labels.MatchEqual, downsample.FieldLabel, p.fields[0].String())))
	if err != nil {
		return nil, nil, err
	}
	lo, hi := downsample.RecordRange(nsToMs(minT)-1, nsToMs(maxT))
	ids, err := t.Storage.Index().Postings(lo, hi, tms...)
	if err != nil {
		return nil, nil, fmt.Errorf("select %s from the %s tier: %w", p.text, downsample.TierName(t.Interval), err)
	}
	var b labels.ScratchBuilder
	it := ids.Iterator()
	for it.HasNext() {
		tid := it.Next()
		canon := treg.Labels(tid)
		if linked[tid] || canon == nil {
			continue
		}
		raw, _, ok := downsample.RawSeries(nil, canon)
		if !ok || !t.Covers(raw) {
			continue
		}
		ls, _, err := pushdownLabels(&b, raw, "", "", p.keepName, nil)
		if err != nil {
			continue
		}
		refs = append(refs, seriesRef{tix: link(raw), lset: ls})
		st.TierOnlySeries++
	}
	return refs, tids, nil
}

// rawMinTime returns the earliest time (ns) raw data may have, or
// MaxInt64 when there is none.
func (a *Adapter) rawMinTime() int64 {
	parts := a.st.Index().Partitions()
	if len(parts) == 0 {
		return math.MaxInt64
	}
	return parts[0].MinT()
}

// tierWarnings returns the warnings of a select of p from minT (ns) on
// that read early records (before the raw data's earliest time, rawMin)
// and approx records without the raw samples an exact answer needed.
func (q *querier) tierWarnings(p *pushdownPlan, minT int64, early, approx int64) annotations.Annotations {
	var w annotations.Annotations
	rawMin := q.a.rawMinTime()
	gone := fmtMs(nsToMs(rawMin))
	if rawMin == math.MaxInt64 {
		gone = "now"
	}
	switch {
	case p.tier != nil && early+approx > 0:
		name := downsample.TierName(p.tier.Interval)
		w.Add(fmt.Errorf("%w: raw samples before %s have expired; %s answered there from the %s rollups only", annotations.PromQLWarning, gone, p.text, name))
		if approx > 0 {
			w.Add(fmt.Errorf("%w: %d %s rollup intervals of %s have no raw samples left to answer exactly (a sum of non-integers or several counter resets): their result may differ from raw data in the last bits",
				annotations.PromQLWarning, approx, name, p.text))
		}
	case p.tier == nil && p.tierWhy != "" && minT < rawMin && q.tiersHold(minT):
		w.Add(fmt.Errorf("%w: raw samples before %s have expired and %s cannot read the rollups (%s)", annotations.PromQLWarning, gone, p.text, p.tierWhy))
	}
	return w
}

// tiersHold reports whether a tier has records after minT (ns).
func (q *querier) tiersHold(minT int64) bool {
	for i := range q.a.opts.Rollups {
		if q.a.opts.Rollups[i].BuiltThrough() > nsToMs(minT) {
			return true
		}
	}
	return false
}

// rollupPieces loads the records of the current tiered series (w.tids,
// the plan's fields) ending in (lo, hi] ms as pieces.
func (w *pdWorker) rollupPieces(lo, hi int64) error {
	w.recs, w.rsums = w.recs[:0], w.rsums[:0]
	if w.tids[0] == 0 || lo >= hi {
		return nil // no first field series: no record
	}
	minT, maxT := downsample.RecordRange(lo, hi)
	iv := w.p.tier.Interval.Milliseconds()
	for i, f := range w.p.fields {
		if w.tids[i] == 0 {
			return fmt.Errorf("read rollups: %w: no %s series beside the %s series %d", downsample.ErrCorruptRecord, f, w.p.fields[0], w.tids[0])
		}
		if f == downsample.FieldResetSum && w.p.fields[0] == downsample.FieldMeta && !anyResets(w.recs) {
			continue // every resetSum is 0: rate and increase of counters without resets skip it
		}
		w.tit = w.teq.Range(w.tids[i], minT, maxT, w.tit)
		w.acct.tierSamples.Add(int64(w.tit.Len()))
		var err error
		w.recs, err = downsample.DecodeField(w.recs, f, w.tit.Timestamps(), w.tit.RawValues(), iv)
		if err == nil {
			err = w.tit.Err()
		}
		if err != nil {
			return fmt.Errorf("read rollups of tier series %d: %w", w.tids[i], err)
		}
	}
	w.rsums = slices.Grow(w.rsums, len(w.recs))
	w.pieces = slices.Grow(w.pieces, len(w.recs))
	for i := range w.recs {
		r := &w.recs[i]
		var f engine.BlockFlags
		if r.SumExact {
			f |= engine.BlockSumExact
		}
		if r.Resets > 0 {
			f |= engine.BlockReset
		}
		w.rsums = append(w.rsums, engine.BlockSummary{MinT: r.FirstT * 1e6, MaxT: r.LastT*1e6 + 999_999, Count: r.Count,
			BlockAgg: engine.BlockAgg{Flags: f, Min: r.Min, Max: r.Max, Sum: r.Sum, First: r.First, Last: r.Last}})
	}
	early := 0
	for i := range w.recs {
		if w.recs[i].LastT < w.rawMinMs {
			early++
		}
		w.pieces = append(w.pieces, piece{sum: &w.rsums[i], rec: &w.recs[i], minMs: w.recs[i].FirstT, maxMs: w.recs[i].LastT})
	}
	w.acct.records.Add(int64(len(w.recs)))
	w.acct.early.Add(int64(early))
	return nil
}

// anyResets reports whether a record has a counter reset (meta read).
func anyResets(recs []downsample.Record) bool {
	for i := range recs {
		if recs[i].Resets > 0 {
			return true
		}
	}
	return false
}

// expandRollup decodes the raw samples of a record's interval, if they
// are all still there; otherwise it reports false and the caller uses
// the record's aggregates (counted as approximate).
func (w *pdWorker) expandRollup(id series.ID, pc *piece) (bool, error) {
	if pc.isExpanded {
		return true, nil
	}
	if id != 0 {
		ts := len(w.ts)
		off, n, err := w.decodeInto(id, pc.sum.MinT, pc.sum.MaxT)
		if err != nil {
			return false, err
		}
		if n == pc.sum.Count {
			pc.off, pc.n, pc.isExpanded = off, n, true
			return true, nil
		}
		w.ts, w.vs = w.ts[:ts], w.vs[:ts]
	}
	w.acct.approx.Add(1)
	return false, nil
}
