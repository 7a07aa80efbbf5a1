package tagindex

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// compiledMatcher is a matcher ready for resolution.
type compiledMatcher struct {
	name string
	vm   *valueMatcher
}

// selectsMissing reports whether the matcher accepts series without the
// label, which PromQL treats as having the value "".
func (c compiledMatcher) selectsMissing() bool { return c.vm.matchesEmpty != c.vm.negate }

func compileAll(ms []*Matcher) ([]compiledMatcher, error) {
	out := make([]compiledMatcher, len(ms))
	for i, m := range ms {
		vm, err := m.compiled()
		if err != nil {
			return nil, err
		}
		out[i] = compiledMatcher{name: m.Name, vm: vm}
	}
	return out, nil
}

// clause is a positive matcher resolved to the bitmaps whose union it
// selects, with an upper bound of that union's cardinality.
type clause struct {
	bms  []*roaring.Bitmap
	card uint64
}

// postings returns the series of the partition that satisfy every matcher,
// as a bitmap the caller owns. It never returns nil.
func (p *Partition) postings(ms []compiledMatcher) *roaring.Bitmap {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return roaring.New()
	}
	return p.postingsRLocked(ms)
}

// postingsRLocked plans and runs the matchers: the positive ones (those that
// reject series without the label) are resolved to bitmap unions and
// intersected smallest first; those that accept missing labels (!=, !~,
// foo="", regexes matching "") subtract the series whose value they reject,
// last, from the smaller result. With no positive matcher the start is every
// series of the partition.
func (p *Partition) postingsRLocked(ms []compiledMatcher) *roaring.Bitmap {
	pos := make([]clause, 0, len(ms))
	var neg [][]*roaring.Bitmap
	for _, m := range ms {
		ni := p.names[m.name]
		if m.selectsMissing() {
			if bms := ni.valuesWhere(m.vm, m.vm.negate); len(bms) > 0 {
				neg = append(neg, bms)
			}
			continue
		}
		bms := ni.valuesWhere(m.vm, !m.vm.negate)
		if len(bms) == 0 {
			return roaring.New()
		}
		c := clause{bms: bms}
		for _, b := range bms {
			c.card += b.GetCardinality()
		}
		pos = append(pos, c)
	}
	slices.SortFunc(pos, func(a, b clause) int { return compareUint64(a.card, b.card) })
	var res *roaring.Bitmap
	if len(pos) == 0 {
		res = p.all.Clone()
	} else {
		rest := pos[1:]
		if len(pos[0].bms) == 1 && len(rest) > 0 && len(rest[0].bms) == 1 {
			// Two plain look-ups, the common case: intersect without a copy.
			res = roaring.And(pos[0].bms[0], rest[0].bms[0])
			rest = rest[1:]
		} else {
			res = union(pos[0].bms)
		}
		for _, c := range rest {
			if res.IsEmpty() {
				break
			}
			if len(c.bms) == 1 {
				res.And(c.bms[0])
			} else {
				res.And(roaring.FastOr(c.bms...))
			}
		}
	}
	for _, bms := range neg {
		for _, b := range bms {
			if res.IsEmpty() {
				break
			}
			res.AndNot(b)
		}
	}
	if p.mapped != nil {
		// Results may share containers with the mapped file; own them, so
		// they outlive Close.
		res.CloneCopyOnWriteContainers()
	}
	return res
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// union returns a new bitmap holding the union of bms.
func union(bms []*roaring.Bitmap) *roaring.Bitmap {
	if len(bms) == 1 {
		return bms[0].Clone()
	}
	return roaring.FastOr(bms...)
}

// valuesWhere returns the bitmaps of the values v of ni (never "") for which
// vm.matches(v) == want. A nil ni (label absent in the partition) has none.
// Fast paths: literal sets become look-ups, a literal prefix narrows the
// sorted range, and "every value" is the name's any bitmap.
func (ni *nameIndex) valuesWhere(vm *valueMatcher, want bool) []*roaring.Bitmap {
	if ni == nil {
		return nil
	}
	switch {
	case want && vm.kind == kindSet:
		var out []*roaring.Bitmap
		for _, s := range vm.set {
			if b := ni.values[s]; b != nil {
				out = append(out, b)
			}
		}
		return out
	case want && (vm.kind == kindAny || vm.kind == kindNonEmpty):
		return []*roaring.Bitmap{ni.any}
	case !want && (vm.kind == kindAny || vm.kind == kindNonEmpty):
		return nil
	case !want && vm.kind == kindSet && len(vm.set) == 1 && vm.set[0] == "":
		return []*roaring.Bitmap{ni.any}
	}
	sorted, bms := ni.sortedValues()
	lo, hi := 0, len(sorted)
	if vm.kind == kindPrefix {
		lo, hi = vm.prefixRange(sorted)
	}
	var out []*roaring.Bitmap
	if !want {
		// Values outside the prefix range are rejected without a test.
		out = append(out, bms[:lo]...)
		out = append(out, bms[hi:]...)
	}
	for i, v := range sorted[lo:hi] {
		if vm.matches(v) == want {
			out = append(out, bms[lo+i])
		}
	}
	return out
}
