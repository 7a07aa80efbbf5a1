package fanout

import (
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// merge joins the peers' answers (in peer order) into one list sorted by
// labels: series with the same labels become one, and of samples with the
// same timestamp the first peer's is kept.
func merge(perPeer [][]rawSeries) []rawSeries {
	n := 0
	for _, ss := range perPeer {
		n += len(ss)
	}
	all := make([]rawSeries, 0, n)
	for _, ss := range perPeer {
		all = append(all, ss...)
	}
	// Stable: equal label sets stay in peer order, so the first peer wins.
	slices.SortStableFunc(all, func(a, b rawSeries) int { return labels.Compare(a.lset, b.lset) })
	out := all[:0]
	for i := 0; i < len(all); {
		j := i + 1
		s := all[i]
		for ; j < len(all) && labels.Equal(all[j].lset, s.lset); j++ {
			s = mergeSamples(s, all[j])
		}
		out = append(out, s)
		i = j
	}
	return out
}

// mergeSamples merges b's samples into a's; a wins on equal timestamps.
func mergeSamples(a, b rawSeries) rawSeries {
	if len(b.ts) == 0 {
		return a
	}
	if len(a.ts) == 0 {
		return rawSeries{lset: a.lset, ts: b.ts, vs: b.vs}
	}
	out := rawSeries{lset: a.lset, ts: make([]int64, 0, len(a.ts)+len(b.ts)), vs: make([]float64, 0, len(a.ts)+len(b.ts))}
	i, j := 0, 0
	for i < len(a.ts) && j < len(b.ts) {
		switch {
		case a.ts[i] < b.ts[j]:
			out.ts, out.vs = append(out.ts, a.ts[i]), append(out.vs, a.vs[i])
			i++
		case a.ts[i] > b.ts[j]:
			out.ts, out.vs = append(out.ts, b.ts[j]), append(out.vs, b.vs[j])
			j++
		default:
			out.ts, out.vs = append(out.ts, a.ts[i]), append(out.vs, a.vs[i])
			i++
			j++
		}
	}
	out.ts, out.vs = append(out.ts, a.ts[i:]...), append(out.vs, a.vs[i:]...)
	out.ts, out.vs = append(out.ts, b.ts[j:]...), append(out.vs, b.vs[j:]...)
	return out
}
