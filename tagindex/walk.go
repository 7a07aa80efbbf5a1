package tagindex

import "github.com/RoaringBitmap/roaring/v2"

// ForEachLabel calls fn for each label pair of the partition with the
// series that carry it, names and then values in ascending order; it stops
// at fn's first error and returns it. Recovery uses it to rebuild the label
// sets of a lost series snapshot. fn must not modify or keep ids; it runs
// under the partition's read lock.
func (p *Partition) ForEachLabel(fn func(name, value string, ids *roaring.Bitmap) error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, n := range p.sortedNames {
		vals, bms := p.names[n].sortedValues()
		for i, v := range vals {
			if err := fn(n, v, bms[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
