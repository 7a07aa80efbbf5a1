package tagindex

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// Generation returns a number that changes whenever the partition's series
// set does (a series added or removed): a cache of the partition's query
// results is valid while it is unchanged.
func (p *Partition) Generation() uint64 { return p.gen.Load() }

// Remove drops the series of ids from the partition: from every posting
// list, and the label names and values left without a series. It returns
// how many it removed. Bitmaps and sorted slices handed out before are not
// modified (they are replaced).
func (p *Partition) Remove(ids *roaring.Bitmap) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0
	}
	gone := roaring.And(p.all, ids)
	n := int(gone.GetCardinality())
	if n == 0 {
		return 0
	}
	p.all = roaring.AndNot(p.all, gone)
	for name, ni := range p.names {
		if !ni.any.Intersects(gone) {
			continue
		}
		ni.removeLocked(gone)
		if ni.any.IsEmpty() {
			delete(p.names, name)
			i, _ := slices.BinarySearch(p.sortedNames, name)
			p.sortedNames = slices.Delete(slices.Clone(p.sortedNames), i, i+1)
		}
	}
	it := gone.Iterator()
	for it.HasNext() {
		p.seen.removeLocked(series.ID(it.Next()))
	}
	p.numSeries.Add(int64(-n))
	p.gen.Add(1)
	return n
}

// removeLocked drops gone from the name's bitmaps; the partition's write
// lock is held.
func (ni *nameIndex) removeLocked(gone *roaring.Bitmap) {
	ni.any = roaring.AndNot(ni.any, gone)
	for v, bm := range ni.values {
		if !bm.Intersects(gone) {
			continue
		}
		if nb := roaring.AndNot(bm, gone); nb.IsEmpty() {
			delete(ni.values, v)
		} else {
			ni.values[v] = nb
		}
	}
	// Rebuild the sorted view from the map (new slices: readers may hold
	// the old ones).
	ni.sortMu.Lock()
	defer ni.sortMu.Unlock()
	vals := make([]string, 0, len(ni.values))
	for v := range ni.values {
		vals = append(vals, v)
	}
	slices.Sort(vals)
	bms := make([]*roaring.Bitmap, len(vals))
	for i, v := range vals {
		bms[i] = ni.values[v]
	}
	ni.sorted, ni.sortedBms, ni.pending = vals, bms, nil
}

// Remove drops the series of ids from every partition and returns the
// starts of the partitions that held any.
func (ix *Index) Remove(ids *roaring.Bitmap) []int64 {
	var changed []int64
	for _, p := range *ix.parts.Load() {
		if p.Remove(ids) > 0 {
			changed = append(changed, p.minT)
		}
	}
	return changed
}
