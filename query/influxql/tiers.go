package influxql

import (
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Series whose raw data expired entirely exist only in the tiers: the raw
// index and registry forget them. Their measurements, fields and tag keys
// are found in the tiers too (a tier series has the raw series' labels
// plus downsample.FieldLabel), as PromQL's tierRefs finds them, so that
// SHOW lists them and SELECT reads their records.

// metaMatcher selects the meta field series of a tier: one per raw series.
var metaMatcher, _ = tagindex.NewMatcher(tagindex.MatchEqual, downsample.FieldLabel, downsample.FieldMeta.String())

// tierRange returns the record timestamps (ns) of the samples in
// [minT, maxT] of tier t.
func tierRange(t *query.RollupTier, minT, maxT int64) (lo, hi int64) {
	lo = max(minT, minTime+1) - 1
	hi = maxT
	if iv := t.Interval.Nanoseconds(); hi < maxTime-iv {
		hi += iv
	} else {
		hi = maxTime
	}
	return lo, hi
}

// tierSeries appends to out the series of metric (matcher nm), field f of
// m, that tier t holds over [minT, maxT] and the raw postings of the range
// (raw) lack. seen holds the raw canonical labels already added from a
// tier.
func (e *Executor) tierSeries(out []seriesRef, t *query.RollupTier, sc *schema, m *measurement, nm *tagindex.Matcher, dnf [][]*tagindex.Matcher,
	raw *roaring.Bitmap, seen map[string]bool, f string, cond ql.Expr, minT, maxT int64) ([]seriesRef, error) {
	lo, hi := tierRange(t, minT, maxT)
	treg, rreg := t.Storage.Registry(), e.st.Registry()
	for _, conj := range dnf {
		ids, err := t.Storage.Index().Postings(lo, hi, append(append([]*tagindex.Matcher{nm, metaMatcher}, sc.match...), conj...)...)
		if err != nil {
			return nil, fmt.Errorf("select series of the %s tier: %w", downsample.TierName(t.Interval), err)
		}
		it := ids.Iterator()
		for it.HasNext() {
			canon := treg.Labels(series.ID(it.Next()))
			if canon == nil {
				continue
			}
			rawc, _, ok := downsample.RawSeries(nil, canon)
			if !ok || seen[string(rawc)] || !t.Covers(rawc) {
				continue
			}
			seen[string(rawc)] = true
			r := seriesRef{canon: rawc, field: f, typ: series.TypeFloat, tags: e.tagsOf(rawc)}
			if id, known := rreg.Lookup(rawc); known {
				if raw != nil && raw.Contains(uint32(id)) || rreg.Type(id) == series.TypeString {
					continue
				}
				r.id, r.typ = id, rreg.Type(id)
			}
			if out, err = e.addRef(out, r, cond, m); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// tierMetrics returns the metric names of the tiers' series that match.
func (e *Executor) tierMetrics(match []*tagindex.Matcher) ([]string, error) {
	var out []string
	for i := range e.opts.Rollups {
		t := &e.opts.Rollups[i]
		names, err := t.Storage.Index().LabelValues(series.MetricName, minTime, maxTime, 0, match...)
		if err != nil {
			return nil, fmt.Errorf("list metric names of the %s tier: %w", downsample.TierName(t.Interval), err)
		}
		out = append(out, names...)
	}
	return out, nil
}

// tiersHave reports whether a tier holds a series matching ms.
func (e *Executor) tiersHave(ms ...*tagindex.Matcher) (bool, error) {
	for i := range e.opts.Rollups {
		ids, err := e.opts.Rollups[i].Storage.Index().Postings(minTime, maxTime, ms...)
		if err != nil {
			return false, err
		}
		if !ids.IsEmpty() {
			return true, nil
		}
	}
	return false, nil
}

// tierTagKeys adds to dims the tag keys of the tiers' series matching ms.
func (e *Executor) tierTagKeys(dims map[string]struct{}, ms []*tagindex.Matcher) error {
	for i := range e.opts.Rollups {
		keys, err := e.opts.Rollups[i].Storage.Index().LabelNames(minTime, maxTime, 0, ms...)
		if err != nil {
			return fmt.Errorf("list tag keys of a tier: %w", err)
		}
		for _, k := range keys {
			if k != series.MetricName && k != e.opts.DBLabel && k != downsample.FieldLabel {
				dims[k] = struct{}{}
			}
		}
	}
	return nil
}
