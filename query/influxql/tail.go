package influxql

import (
	"math"

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
	if pl.disableSummaries || pl.aggregated || pl.condHasField || s.Limit <= 0 || s.Offset < 0 ||
		s.Limit > maxTail || s.Offset > maxTail || hasTransform(s.Fields) || len(nestedTransforms(s.Fields)) > 0 {
		return 0
	}
	return s.Limit + s.Offset
}

// maxTail bounds LIMIT and OFFSET for tailPoints: past it every point is
// read (and the sum cannot overflow).
const maxTail = 1 << 30

// tailTimes keeps the times of a series a raw SELECT with LIMIT can
// answer (tailPoints); check: rows are filtered per point, all are kept.
func (pl *plan) tailTimes(ts []int64, check bool) []int64 {
	n := pl.tailPoints()
	if n == 0 || check || len(ts) <= n {
		return ts
	}
	if pl.stmt.TimeAscending() {
		return ts[:n]
	}
	return ts[len(ts)-n:]
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

// tail narrows the range a raw SELECT with LIMIT reads of series id
// (tailRange); done: the newest point came from its block's summary
// (newestFromSummary) and nothing more is to be read.
func (e *Executor) tail(q *engine.Querier, id series.ID, minT, maxT int64, pl *plan, it *engine.Iterator, c *col, b *budget, buf *[]engine.BlockSummary) (lo, hi int64, _ *engine.Iterator, done bool, err error) {
	n, desc := pl.tailPoints(), !pl.stmt.TimeAscending()
	lo, hi, *buf = tailRange(q, id, minT, maxT, n, desc, *buf)
	if n == 1 && desc && len(*buf) > 0 {
		it, done, err = e.newestFromSummary(q, id, &(*buf)[len(*buf)-1], maxT, it, c, b)
	}
	return lo, hi, it, done, err
}

// newestFromSummary answers the newest point of series id (LIMIT 1 under
// ORDER BY time DESC) from the summary of its newest block, last, without
// decoding it: it reads only the samples after the block (memtables,
// newer segments), and takes the block's last value when there are none.
// It reports false when the summary cannot stand for the point (see
// wholeBlocks): the caller reads the block.
func (e *Executor) newestFromSummary(q *engine.Querier, id series.ID, last *engine.BlockSummary, maxT int64, it *engine.Iterator, c *col, b *budget) (*engine.Iterator, bool, error) {
	if last.Flags&engine.BlockStale != 0 || c.typ == series.TypeBool ||
		c.typ != series.TypeFloat && (last.Flags&engine.BlockSumExact == 0 || math.Abs(last.Last) > 1<<53) {
		return it, false, nil
	}
	n := c.len()
	it, err := e.readRange(q, id, last.MaxT+1, maxT, it, c, b)
	if err != nil || c.len() > n {
		return it, true, err
	}
	switch c.typ {
	case series.TypeInt:
		c.push(last.MaxT, int64(last.Last))
	case series.TypeUint:
		c.push(last.MaxT, uint64(last.Last))
	default:
		c.push(last.MaxT, last.Last)
	}
	return it, true, b.take(1)
}
