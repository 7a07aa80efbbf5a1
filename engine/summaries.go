package engine

import (
	"slices"

	"github.com/lightningdb/lightningdb/series"
)

// BlockSummary is a segment block that a reader may take whole instead of
// decoding it: its samples are exactly the series' samples over [MinT,
// MaxT] (no other segment or memtable of the view has samples of the
// series there).
type BlockSummary struct {
	MinT, MaxT int64 // ns, the first and last sample
	Count      int
	BlockAgg
}

// Summaries appends to dst, in time order, the summaries of the blocks of
// series id that lie entirely within [minT, maxT] (clipped to the
// Querier's range) and that no other source of the view overlaps. Blocks
// cut by the range edges, blocks overlapped by other segments (not yet
// compacted) or by memtables, blocks with deleted samples (tombstones not
// yet compacted away), and string series yield none: read those
// samples with Range. It decodes nothing.
func (q *Querier) Summaries(id series.ID, minT, maxT int64, dst []BlockSummary) []BlockSummary {
	minT, maxT = max(minT, q.minT), min(maxT, q.maxT)
	start := len(dst)
	for _, p := range q.parts {
		for si, seg := range p.segs {
			if seg.minT > maxT || seg.maxT < minT {
				continue
			}
			i, ok := seg.x.find(id)
			if !ok || seg.x.types[i] == series.TypeString {
				continue
			}
			for j := seg.x.first[i]; j < seg.x.first[i+1]; j++ {
				b := seg.x.blocks[j]
				if b.minT < minT || b.maxT > maxT || q.overlapped(id, p.segs, si, b.minT, b.maxT) ||
					q.v.tombs.hides(seg, id, b.minT, b.maxT) {
					continue
				}
				dst = append(dst, BlockSummary{MinT: b.minT, MaxT: b.maxT, Count: int(b.count), BlockAgg: seg.x.aggs[j]})
			}
		}
	}
	slices.SortFunc(dst[start:], func(a, b BlockSummary) int {
		switch {
		case a.MinT < b.MinT:
			return -1
		case a.MinT > b.MinT:
			return 1
		}
		return 0
	})
	return dst
}

// overlapped reports whether a source other than segs[self] has samples of
// id in [minT, maxT]: another segment of the partition or a memtable.
func (q *Querier) overlapped(id series.ID, segs []*segment, self int, minT, maxT int64) bool {
	for j, seg := range segs {
		if j == self || seg.minT > maxT || seg.maxT < minT {
			continue
		}
		if i, ok := seg.x.find(id); ok && len(seg.x.seriesBlocks(i, minT, maxT)) > 0 {
			return true
		}
	}
	for _, m := range q.v.mems {
		if ms := m.get(id); ms != nil && ms.overlaps(minT, maxT) {
			return true
		}
	}
	return false
}

// Range loads series id over [minT, maxT] (clipped to the Querier's range)
// into it, merged from every source as Select does, and returns it (a new
// one when it is nil). It is how a reader of Summaries decodes the samples
// between the blocks it takes whole.
func (q *Querier) Range(id series.ID, minT, maxT int64, it *Iterator) *Iterator {
	if it == nil {
		it = &Iterator{}
	}
	it.load(id, max(minT, q.minT), min(maxT, q.maxT), q.parts, q.v.mems, q.v.tombs, nil)
	return it
}
