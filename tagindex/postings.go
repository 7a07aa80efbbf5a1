package tagindex

import (
	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// Postings iterates series IDs in ascending order, as the engine and query
// layers consume them (the shape of Prometheus's index.Postings). A fresh
// Postings is positioned before its first ID.
type Postings interface {
	// Next advances to the next ID and reports whether there is one.
	Next() bool
	// Seek advances to the first ID >= v and reports whether there is one;
	// it never moves backwards.
	Seek(v series.ID) bool
	// At returns the current ID; valid after Next or Seek returned true.
	At() series.ID
	// Err returns the error that stopped the iteration, if any.
	Err() error
}

// NewBitmapPostings iterates the IDs of bm, which must not change while the
// Postings is in use.
func NewBitmapPostings(bm *roaring.Bitmap) Postings {
	return &bitmapPostings{it: bm.Iterator()}
}

// EmptyPostings returns a Postings with no IDs.
func EmptyPostings() Postings { return &bitmapPostings{it: roaring.New().Iterator()} }

type bitmapPostings struct {
	it   roaring.IntPeekable
	cur  series.ID
	done bool
}

func (p *bitmapPostings) Next() bool {
	if p.done || !p.it.HasNext() {
		p.done = true
		return false
	}
	p.cur = p.it.Next()
	return true
}

func (p *bitmapPostings) Seek(v series.ID) bool {
	if p.done {
		return false
	}
	if p.cur >= v && p.cur != 0 {
		return true
	}
	p.it.AdvanceIfNeeded(v)
	return p.Next()
}

func (p *bitmapPostings) At() series.ID { return p.cur }
func (p *bitmapPostings) Err() error    { return nil }

// ToBitmap drains p into a new bitmap.
func ToBitmap(p Postings) (*roaring.Bitmap, error) {
	bm := roaring.New()
	for p.Next() {
		bm.Add(p.At())
	}
	return bm, p.Err()
}

// Intersect returns the IDs present in every input. Inputs that are bitmaps
// are best intersected with roaring.And; Intersect serves mixed sources.
func Intersect(its ...Postings) Postings {
	if len(its) == 0 {
		return EmptyPostings()
	}
	if len(its) == 1 {
		return its[0]
	}
	return &intersectPostings{its: its}
}

type intersectPostings struct {
	its []Postings
	cur series.ID
	err error
}

func (p *intersectPostings) At() series.ID { return p.cur }
func (p *intersectPostings) Err() error    { return p.err }

func (p *intersectPostings) Next() bool { return p.Seek(p.cur + 1) }

// Seek moves every input to the largest current candidate until all agree.
func (p *intersectPostings) Seek(v series.ID) bool {
	if v == 0 {
		v = 1
	}
	for {
		agree := true
		for _, it := range p.its {
			if !it.Seek(v) {
				p.err = it.Err()
				return false
			}
			if at := it.At(); at > v {
				v, agree = at, false
			}
		}
		if agree {
			p.cur = v
			return true
		}
	}
}

// Merge returns the IDs present in any input, each once.
func Merge(its ...Postings) Postings {
	m := &mergePostings{}
	for _, it := range its {
		if it.Next() {
			m.its = append(m.its, it)
		} else if err := it.Err(); err != nil {
			m.err = err
		}
	}
	return m
}

// mergePostings keeps the inputs that still have IDs, each positioned on
// its smallest ID not yet returned. A linear scan picks the minimum: merges
// in queries have few inputs.
type mergePostings struct {
	its     []Postings
	cur     series.ID
	started bool
	err     error
}

func (m *mergePostings) At() series.ID { return m.cur }
func (m *mergePostings) Err() error    { return m.err }

func (m *mergePostings) Next() bool {
	if m.started {
		return m.Seek(m.cur + 1)
	}
	return m.Seek(0)
}

func (m *mergePostings) Seek(v series.ID) bool {
	if m.err != nil {
		return false
	}
	if m.started && (len(m.its) == 0 || m.cur >= v) {
		return len(m.its) > 0
	}
	m.started = true
	live := m.its[:0]
	minID, found := series.ID(0), false
	for _, it := range m.its {
		if it.At() < v && !it.Seek(v) {
			if err := it.Err(); err != nil {
				m.err = err
				return false
			}
			continue
		}
		live = append(live, it)
		if !found || it.At() < minID {
			minID, found = it.At(), true
		}
	}
	m.its = live
	m.cur = minID
	return found
}

// Without returns the IDs of full that are not in drop.
func Without(full, drop Postings) Postings {
	return &withoutPostings{full: full, drop: drop, dropOK: drop.Next()}
}

type withoutPostings struct {
	full, drop Postings
	dropOK     bool
	err        error
}

func (w *withoutPostings) At() series.ID { return w.full.At() }
func (w *withoutPostings) Err() error {
	if w.err != nil {
		return w.err
	}
	if err := w.full.Err(); err != nil {
		return err
	}
	return w.drop.Err()
}

func (w *withoutPostings) Next() bool { return w.full.Next() && w.skip() }

func (w *withoutPostings) Seek(v series.ID) bool { return w.full.Seek(v) && w.skip() }

// skip advances full past the IDs drop holds.
func (w *withoutPostings) skip() bool {
	for {
		cur := w.full.At()
		if w.dropOK && w.drop.At() < cur {
			w.dropOK = w.drop.Seek(cur)
		}
		if !w.dropOK || w.drop.At() != cur {
			return true
		}
		if !w.full.Next() {
			return false
		}
	}
}
