package tagindex

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// LabelNames returns the sorted label names of the series in partitions
// overlapping [minT, maxT], restricted to the series that satisfy ms when
// any are given, and at most limit of them (0 means no limit). The slice is
// the caller's.
func (ix *Index) LabelNames(minT, maxT int64, limit int, ms ...*Matcher) ([]string, error) {
	cms, err := compileAll(ms)
	if err != nil {
		return nil, err
	}
	var lists [][]string
	for _, p := range ix.overlapping(minT, maxT) {
		lists = append(lists, p.labelNames(cms))
	}
	return mergeSorted(lists, limit), nil
}

// LabelValues returns the sorted values of label name in partitions
// overlapping [minT, maxT], restricted to the series that satisfy ms when
// any are given, and at most limit of them (0 means no limit). The slice is
// the caller's.
func (ix *Index) LabelValues(name string, minT, maxT int64, limit int, ms ...*Matcher) ([]string, error) {
	cms, err := compileAll(ms)
	if err != nil {
		return nil, err
	}
	var lists [][]string
	for _, p := range ix.overlapping(minT, maxT) {
		lists = append(lists, p.labelValues(name, cms, ix.opts.Labels))
	}
	return mergeSorted(lists, limit), nil
}

// labelNames returns the names in order; the slice may be shared and must
// not be modified.
func (p *Partition) labelNames(ms []compiledMatcher) []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil
	}
	if len(ms) == 0 {
		return slices.Clone(p.sortedNames)
	}
	sel := p.postingsRLocked(ms)
	var out []string
	for _, n := range p.sortedNames {
		if p.names[n].any.Intersects(sel) {
			out = append(out, n)
		}
	}
	return out
}

// labelValues returns the values of name in order; the slice may be shared
// and must not be modified.
func (p *Partition) labelValues(name string, ms []compiledMatcher, lookup func(series.ID) []byte) []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	ni := p.names[name]
	if p.closed || ni == nil {
		return nil
	}
	sorted, bms := ni.sortedValues()
	if len(ms) == 0 {
		return sorted
	}
	sel := p.postingsRLocked(ms)
	if !ni.any.Intersects(sel) {
		return nil
	}
	if lookup != nil && sel.GetCardinality()*16 < uint64(len(sorted)) {
		if out, ok := valuesOfSeries(sel, name, lookup); ok {
			return out
		}
	}
	var out []string
	for i, v := range sorted {
		if bms[i].Intersects(sel) {
			out = append(out, v)
		}
	}
	return out
}

// mergeSorted returns the sorted union of sorted, duplicate-free lists, cut
// to limit entries when limit > 0, in a new slice.
func mergeSorted(lists [][]string, limit int) []string {
	cut := func(s []string) []string {
		if limit > 0 && len(s) > limit {
			return s[:limit]
		}
		return s
	}
	out := []string{}
	for i, l := range lists {
		if i == 0 {
			out = slices.Clone(cut(l))
			continue
		}
		out = cut(merge2(out, cut(l)))
	}
	return out
}

func merge2(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// valuesOfSeries collects the values of label name over the series of sel
// by reading their labels. It reports false when a series is unknown to
// lookup, and the caller falls back to bitmaps.
func valuesOfSeries(sel *roaring.Bitmap, name string, lookup func(series.ID) []byte) ([]string, bool) {
	set := make(map[string]struct{})
	it := sel.Iterator()
	for it.HasNext() {
		can := lookup(it.Next())
		if can == nil {
			return nil, false
		}
		_ = series.ForEachCanonical(can, func(n, v []byte) error {
			if string(n) == name && len(v) > 0 {
				if _, ok := set[string(v)]; !ok {
					set[string(v)] = struct{}{}
				}
			}
			return nil
		})
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, true
}
