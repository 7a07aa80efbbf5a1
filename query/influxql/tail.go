package influxql

import (
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// tailPoints is how many points per series and field a raw SELECT with
// LIMIT needs from the newest end (ORDER BY time DESC) or the oldest end:
// LIMIT + OFFSET, or 0 when it needs every point (no LIMIT, a condition on
// fields, transformations, or a subquery's rows). Each series' rows among
// the first n of its group are among its own first n times, and each of
// those times is among the first n of every field holding a point there.
func (pl *plan) tailPoints() int {
	s := pl.stmt
	if pl.disableSummaries || pl.aggregated || s.Limit <= 0 || pl.condHasField || hasTransform(s.Fields) {
		return 0
	}
	return s.Limit + s.Offset
}

// tailRange narrows [minT, maxT] for series id to a range holding its n
// newest points (desc) or n oldest, found from the block summaries: the
// range from the edge through enough whole blocks to count n points. It
// decodes nothing; without summaries (data only in memtables, overlapped
// or deleted blocks) the range stays whole.
func tailRange(q *engine.Querier, id series.ID, minT, maxT int64, n int, desc bool, buf []engine.BlockSummary) (lo, hi int64, _ []engine.BlockSummary) {
	sums := q.Summaries(id, minT, maxT, buf[:0])
	count := 0
	if desc {
		for i := len(sums) - 1; i >= 0; i-- {
			if count += sums[i].Count; count >= n {
				return sums[i].MinT, maxT, sums
			}
		}
		return minT, maxT, sums
	}
	for i := range sums {
		if count += sums[i].Count; count >= n {
			return minT, sums[i].MaxT, sums
		}
	}
	return minT, maxT, sums
}
