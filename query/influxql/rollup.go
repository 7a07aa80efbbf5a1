package influxql

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
)

// Rollups (docs/influxql.md "Rollups"). A GROUP BY time() statement whose
// aggregates all take block summaries (summary.go), and whose windows are
// made of whole intervals of a tier (GROUP BY interval and window starts
// multiples of the tier's interval), reads the tier's records as block
// summaries: a record (end-I, end] becomes the summary of its samples,
// [FirstT, LastT] ms. A record lies inside one left-closed InfluxQL
// window unless its last sample is on the window's end; such a record is
// split in two: its last sample (the next window's first) and the rest,
// which answers count, sum, mean and first exactly, min and max when the
// last value is not the extreme, and last never.
//
// A record is PromQL's view of its samples (one per millisecond, floats,
// no staleness marker), so where raw data remains the records of a series
// are used only when the raw samples they span number as many as the
// records count: then each record stands for exactly the raw samples of
// its interval. Where raw data is gone (before the raw data's earliest
// time, or a series without raw samples left) records are used as they
// are, and the statement gets a warning message.

// rollPlan is the tier a statement reads and what it read.
type rollPlan struct {
	t      *query.RollupTier
	why    string // EXPLAIN: why this tier, or why none
	w      int64  // ms: the tier is built through
	rawMin int64  // ns: raw data's earliest time (MaxInt64: none)
	lo, hi int64  // ns: the record timestamps read
	teq    *engine.Querier
	// What the statement read: records (or parts) used, those used where
	// raw data is gone, those used although not exact, series whose
	// raw count did not match their records, raw samples decoded to count.
	records, early, approx, mismatched, checked int
}

// span is a time range [lo, hi] (ns).
type span struct{ lo, hi int64 }

// rollBuf is what one load reuses across series.
type rollBuf struct {
	recs   []downsample.Record
	buf    []byte
	it     *engine.Iterator
	sums   []engine.BlockSummary
	pieces []engine.BlockSummary
}

// chooseTier sets pl.roll.t to the coarsest tier that answers pl, and
// pl.roll.why to the reason (or to why none does).
func (e *Executor) chooseTier(pl *plan) {
	if len(e.opts.Rollups) == 0 {
		return
	}
	r := &pl.roll
	r.rawMin = e.rawMinTime()
	switch {
	case e.opts.DisableRollups:
		r.why = "raw: rollups are disabled"
		return
	case !pl.aggregated || pl.interval <= 0:
		r.why = "raw: rollups answer GROUP BY time() aggregates only"
		return
	case pl.disableSummaries || pl.condHasField || pl.auxFields:
		r.why = "raw: block summaries are not used (a WHERE on fields, fields outside functions, or summaries disabled)"
		return
	}
	for _, a := range pl.aggs {
		if !summarizable[a.name] {
			r.why = fmt.Sprintf("raw: %s() is not answered from rollups (count, sum, mean, min, max, first and last are)", a.name)
			return
		}
	}
	var why []error
	off := pl.offset - pl.zone
	for i := len(e.opts.Rollups) - 1; i >= 0; i-- {
		t := &e.opts.Rollups[i]
		iv, name := t.Interval.Nanoseconds(), downsample.TierName(t.Interval)
		switch {
		case pl.interval%iv != 0:
			why = append(why, fmt.Errorf("%s: GROUP BY time(%s) is not a multiple of %s", name, time.Duration(pl.interval), name))
		case (off%iv+iv)%iv != 0:
			why = append(why, fmt.Errorf("%s: the windows do not start on multiples of %s (offset %s, tz)", name, name, time.Duration(pl.offset)))
		default:
			w := t.BuiltThrough()
			if w == math.MinInt64 || w*1e6 <= pl.minT {
				why = append(why, fmt.Errorf("%s: built through %s, before the time range", name, fmtMs(w)))
				continue
			}
			r.t, r.w = t, w
			r.why = fmt.Sprintf("tier %s: GROUP BY time(%s) and the window starts are multiples of %s; records through %s where raw samples are gone or number as many as the records count, raw samples elsewhere",
				name, time.Duration(pl.interval), name, fmtMs(w))
			return
		}
	}
	r.why = "raw: " + errors.Join(why...).Error()
}

func fmtMs(ms int64) string {
	if ms == math.MinInt64 {
		return "nothing yet"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

// rawMinTime returns the earliest time (ns) raw data may have, or
// MaxInt64 when there is none.
func (e *Executor) rawMinTime() int64 {
	parts := e.st.Index().Partitions()
	if len(parts) == 0 {
		return math.MaxInt64
	}
	return parts[0].MinT()
}

// openTier opens the Querier of the plan's tier over the records of the
// plan's range built so far.
func (e *Executor) openTier(pl *plan) error {
	r := &pl.roll
	if r.t == nil || r.teq != nil {
		return nil
	}
	loMs := series.FloorDiv(max(pl.minT, math.MinInt64/2), 1e6) - 1
	hiMs := min(series.FloorDiv(pl.maxT, 1e6)+1, r.w)
	r.lo, r.hi = downsample.RecordRange(loMs, max(loMs, hiMs))
	var err error
	if r.teq, err = r.t.Storage.Querier(r.lo, r.hi); err != nil {
		return fmt.Errorf("open the %s tier: %w", downsample.TierName(r.t.Interval), err)
	}
	return nil
}

// tiers returns the plan's tier as a list, for seriesOf.
func (pl *plan) tiers() []query.RollupTier {
	if pl.roll.t == nil {
		return nil
	}
	return []query.RollupTier{*pl.roll.t}
}

// asks reports whether an aggregate of the plan is fn(field).
func (pl *plan) asks(field, fn string) bool {
	for _, a := range pl.aggs {
		if a.field == field && a.name == fn {
			return true
		}
	}
	return false
}

// rollFields returns the record fields the aggregates of field need:
// meta (count, sumExact) and times always, then their values.
func (pl *plan) rollFields(field string) []downsample.Field {
	fs := []downsample.Field{downsample.FieldMeta, downsample.FieldTimes}
	for _, a := range pl.aggs {
		if a.field != field {
			continue
		}
		var f downsample.Field
		switch a.name {
		case "sum", "mean":
			f = downsample.FieldSum
		case "min":
			f = downsample.FieldMin
		case "max":
			f = downsample.FieldMax
		case "first":
			f = downsample.FieldFirst
		case "last":
			f = downsample.FieldLast
		default:
			continue
		}
		if !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// anySplit reports whether a record's last sample opens a window.
func (pl *plan) anySplit(recs []downsample.Record) bool {
	for i := range recs {
		if pl.windowStart(recs[i].FirstT*1e6) != pl.windowStart(recs[i].LastT*1e6) {
			return true
		}
	}
	return false
}

// readRecords reads the records of series r's field from the plan's tier.
func (e *Executor) readRecords(pl *plan, r *seriesRef, rb *rollBuf) ([]downsample.Record, error) {
	t := pl.roll.t
	treg := t.Storage.Registry()
	iv := t.Interval.Milliseconds()
	recs := rb.recs[:0]
	fields := pl.rollFields(r.field)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		rb.buf = downsample.FieldSeries(rb.buf[:0], r.canon, f)
		id, ok := treg.Lookup(rb.buf)
		if !ok {
			if i == 0 {
				return recs, nil // no records
			}
			return recs, fmt.Errorf("read rollups: %w: no %s series beside the meta series", downsample.ErrCorruptRecord, f)
		}
		rb.it = pl.roll.teq.Range(id, pl.roll.lo, pl.roll.hi, rb.it)
		var err error
		recs, err = downsample.DecodeField(recs, f, rb.it.Timestamps(), rb.it.RawValues(), iv)
		if err == nil {
			err = rb.it.Err()
		}
		if err != nil {
			return recs, fmt.Errorf("read rollups of tier series %d: %w", id, err)
		}
		if len(recs) == 0 {
			break
		}
		if f == downsample.FieldTimes && !slices.Contains(fields, downsample.FieldLast) && pl.anySplit(recs) {
			fields = append(fields, downsample.FieldLast) // to split a record's last sample off
		}
	}
	rb.recs = recs
	return recs, nil
}

// rollupRead returns the record summaries of series r to fold, and the
// ranges of [pl.minT, pl.maxT] left to read from raw data.
func (e *Executor) rollupRead(q *engine.Querier, r *seriesRef, pl *plan, rb *rollBuf) ([]engine.BlockSummary, []span, error) {
	full := []span{{pl.minT, pl.maxT}}
	t := pl.roll.t
	if t == nil || r.canon == nil || !t.Covers(r.canon) {
		return nil, full, nil
	}
	recs, err := e.readRecords(pl, r, rb)
	if err != nil {
		return nil, full, err
	}
	for len(recs) > 0 && recs[0].LastT*1e6+999_999 < pl.minT {
		recs = recs[1:] // the interval ending at the range's start
	}
	for len(recs) > 0 && recs[len(recs)-1].FirstT*1e6 > pl.maxT {
		recs = recs[:len(recs)-1]
	}
	k := 0
	for k < len(recs) && (r.id == 0 || recs[k].FirstT*1e6 < pl.roll.rawMin) {
		k++
	}
	gone, present := e.checkPresent(q, r, pl, rb, recs, k)
	pieces := make([]engine.BlockSummary, 0, len(recs)+len(recs)/8+1)
	var covered []span
	for ri, run := range [][]downsample.Record{gone, present} {
		if len(run) == 0 {
			continue
		}
		isGone := ri == 0
		lo := run[0].FirstT * 1e6
		for i := range run {
			rec := &run[i]
			n := len(pieces)
			var exact, usable bool
			pieces, exact, usable = pl.recordPieces(pieces, rec, r.field, r.typ, isGone)
			if usable && (exact || isGone) {
				pl.roll.records++
				if isGone {
					pl.roll.early++
				}
				if !exact {
					pl.roll.approx++
				}
				continue
			}
			pieces = pieces[:n]
			if isGone {
				pl.roll.approx++ // its samples are missing from the answer
			}
			// Read this record's interval from raw data.
			if s := (span{rec.FirstT * 1e6, rec.LastT*1e6 + 999_999}); s.lo > lo {
				covered = append(covered, span{lo, s.lo - 1})
			}
			lo = rec.LastT*1e6 + 1e6
		}
		if hi := run[len(run)-1].LastT*1e6 + 999_999; hi >= lo {
			covered = append(covered, span{lo, hi})
		}
	}
	return pieces, complement(pl.minT, pl.maxT, covered), nil
}

// checkPresent returns the records of r to use (recs[:k] where raw data
// is gone, recs[k:] where it remains): where raw data remains, those
// wholly inside the range, if the raw samples they span number as many
// as they count; none if not; all as gone if raw data has no samples
// there (this series' went early).
func (e *Executor) checkPresent(q *engine.Querier, r *seriesRef, pl *plan, rb *rollBuf, recs []downsample.Record, k int) (gone, present []downsample.Record) {
	gone, present = recs[:k], recs[k:]
	// The records cut by the range's edges are read raw: the raw count
	// covers the range only.
	if len(present) > 0 && present[0].FirstT*1e6 < pl.minT {
		present = present[1:]
	}
	if n := len(present); n > 0 && present[n-1].LastT*1e6+999_999 > pl.maxT {
		present = present[:n-1]
	}
	if len(present) > 0 {
		lo, hi := present[0].FirstT*1e6, present[len(present)-1].LastT*1e6+999_999
		n, decoded := e.rawCount(q, r.id, lo, hi, rb)
		pl.roll.checked += decoded
		want := 0
		for i := range present {
			want += present[i].Count
		}
		switch {
		case n == 0: // this series' raw samples went early
			gone, present = recs, nil
		case n != want: // samples sharing a millisecond, staleness markers, a backfill
			pl.roll.mismatched++
			present = nil
		}
	}
	return gone, present
}

// complement returns the parts of [lo, hi] outside the sorted, disjoint
// spans.
func complement(lo, hi int64, spans []span) []span {
	var out []span
	for _, s := range spans {
		if s.lo > lo {
			out = append(out, span{lo, min(s.lo-1, hi)})
		}
		lo = max(lo, s.hi+1)
		if lo > hi || s.hi == math.MaxInt64 {
			return out
		}
	}
	if lo <= hi {
		out = append(out, span{lo, hi})
	}
	return out
}

// rawCount returns the number of raw samples of series id in [lo, hi]:
// whole blocks from their summaries, the rest decoded (how many).
func (e *Executor) rawCount(q *engine.Querier, id series.ID, lo, hi int64, rb *rollBuf) (n, decoded int) {
	if id == 0 {
		return 0, 0
	}
	rb.sums = q.Summaries(id, lo, hi, rb.sums[:0])
	cur := lo
	for _, bs := range rb.sums {
		if bs.MinT > cur {
			rb.it = q.Range(id, cur, bs.MinT-1, rb.it)
			decoded += rb.it.Len()
		}
		n += bs.Count
		cur = bs.MaxT + 1
	}
	if cur <= hi {
		rb.it = q.Range(id, cur, hi, rb.it)
		decoded += rb.it.Len()
	}
	return n + decoded, decoded
}

// recordSummary returns a record as the summary of its samples: those of
// its first millisecond through its last (but a record's samples may lie
// anywhere in those milliseconds).
func recordSummary(r *downsample.Record) engine.BlockSummary {
	var f engine.BlockFlags
	if r.SumExact {
		f |= engine.BlockSumExact
	}
	return engine.BlockSummary{MinT: r.FirstT * 1e6, MaxT: r.LastT*1e6 + 999_999, Count: r.Count,
		BlockAgg: engine.BlockAgg{Flags: f, Min: r.Min, Max: r.Max, Sum: r.Sum, First: r.First, Last: r.Last}}
}

// recordPieces appends record r of field (of type typ) as one summary, or
// as two when its last sample opens the next window or lies past the
// range. usable: the pieces lie in [pl.minT, pl.maxT], each inside one
// window; exact: they stand exactly for their samples as the aggregates
// of field read them. Where raw data is gone (ms), the samples are taken
// to be on whole milliseconds, as the record has them.
func (pl *plan) recordPieces(dst []engine.BlockSummary, r *downsample.Record, field string, typ series.ValueType, ms bool) (out []engine.BlockSummary, exact, usable bool) {
	exact = typ == series.TypeFloat || r.SumExact // integers: every value held exactly by a float
	bs := recordSummary(r)
	var margin int64 = 999_999 // the rest of a sample's millisecond
	if ms {
		margin = 0
	}
	outside := func(s *engine.BlockSummary) bool { return s.MaxT < pl.minT || s.MinT > pl.maxT }
	inside := func(s *engine.BlockSummary) bool {
		return s.MinT >= pl.minT && s.MaxT+margin <= pl.maxT && pl.windowStart(s.MinT) == pl.windowStart(s.MaxT)
	}
	bs.MaxT = r.LastT * 1e6 // last()'s time, as at millisecond precision
	if inside(&bs) {
		return append(dst, bs), exact, true
	}
	if r.Count < 2 {
		return dst, false, false
	}
	// The last sample is on the next window's start, or the range ends
	// before it: split it off.
	last := bs
	last.MinT, last.Count = r.LastT*1e6, 1
	last.Min, last.Max, last.Sum, last.First = r.Last, r.Last, r.Last, r.Last
	rest := bs
	rest.MaxT, rest.Count, rest.Sum = (r.LastT-1)*1e6, r.Count-1, r.Sum-r.Last
	if !(inside(&last) || outside(&last)) || !(inside(&rest) || outside(&rest)) {
		return dst, false, false
	}
	if inside(&rest) {
		// rest's last value is unknown; its min and max are the
		// record's unless the last value is the extreme.
		if pl.asks(field, "last") || pl.asks(field, "min") && !(r.Last > r.Min) || pl.asks(field, "max") && !(r.Last < r.Max) {
			exact = false
		}
		dst = append(dst, rest)
	}
	if inside(&last) {
		dst = append(dst, last)
	}
	return dst, exact, true
}

// tierWarnings adds the statement's messages about rollups: records used
// where raw data is gone, records that could not stand exactly for their
// samples, or a statement that could not read the tiers over expired raw
// data.
func (e *Executor) tierWarnings(pl *plan, msgs *messages) {
	r := &pl.roll
	gone := fmtMs(series.FloorDiv(r.rawMin, 1e6))
	if r.rawMin == math.MaxInt64 {
		gone = "now"
	}
	switch {
	case r.t != nil && r.early+r.approx > 0:
		name := downsample.TierName(r.t.Interval)
		msgs.warn(fmt.Sprintf("raw samples before %s have expired; %s answered there from the %s rollups only", gone, pl.aggNames(), name))
		if r.approx > 0 {
			msgs.warn(fmt.Sprintf("%d %s rollup records have no raw samples left to answer exactly (a sample on a window's end under last(), min() or max(), a window cut by the time range, or integers beyond a float's precision): those windows may differ from the raw answer",
				r.approx, name))
		}
	case r.t == nil && r.why != "" && pl.minT < r.rawMin && e.tiersHold(pl.minT):
		msgs.warn(fmt.Sprintf("raw samples before %s have expired and this statement cannot read the rollups (%s)", gone, r.why))
	}
}

// aggNames lists the plan's aggregates, as fn(field).
func (pl *plan) aggNames() string {
	var s []string
	for _, a := range pl.aggs {
		s = append(s, a.name+"("+a.field+")")
	}
	return strings.Join(s, ", ")
}

// tiersHold reports whether a tier has records after minT (ns).
func (e *Executor) tiersHold(minT int64) bool {
	for i := range e.opts.Rollups {
		if w := e.opts.Rollups[i].BuiltThrough(); w != math.MinInt64 && w > series.FloorDiv(minT, 1e6) {
			return true
		}
	}
	return false
}

// messages collects a statement's messages, without repeats.
type messages struct{ list []Message }

func (m *messages) warn(text string) {
	for _, x := range m.list {
		if x.Text == text {
			return
		}
	}
	m.list = append(m.list, Message{Level: "warning", Text: text})
}
