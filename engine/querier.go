package engine

import (
	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// Querier reads many series over one time range from one consistent view
// of the database: the memtables and segments live when it was created.
// It holds references to them until Close, so a flush, compaction or
// retention drop meanwhile neither changes what it reads nor removes files
// under it. A Querier may be used by one goroutine at a time; the
// SeriesSets it returns share nothing and may be used concurrently.
type Querier struct {
	db         *DB
	v          *version
	minT, maxT int64
	parts      []partSegs
}

// SelectHints tell Select how the caller will read.
type SelectHints struct {
	// Pattern chooses the prefetch advice; zero means ScanAuto.
	Pattern ScanPattern
	// Iterator, when not nil, is reused by the set (its buffers keep their
	// capacity across queries); nil means a new one.
	Iterator *Iterator
}

// Querier returns a Querier over [minT, maxT] (inclusive, ns). The caller
// must Close it.
func (db *DB) Querier(minT, maxT int64) (*Querier, error) {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return nil, ErrClosed
	}
	q := &Querier{db: db, v: db.acquire(), minT: minT, maxT: maxT}
	q.parts = overlappingParts(q.v.parts, minT, maxT, db.opts.PartitionDuration)
	return q, nil
}

// overlappingParts returns the partitions of parts that may hold samples
// of [minT, maxT].
func overlappingParts(parts []partSegs, minT, maxT, dur int64) []partSegs {
	lo, hi := 0, len(parts)
	for lo < hi && partitionEnd(parts[lo].start, dur) < minT {
		lo++
	}
	for hi > lo && parts[hi-1].start > maxT {
		hi--
	}
	return parts[lo:hi]
}

// Select returns the series of ids that have samples in the range, in
// ascending ID order, each as a merged Iterator. ids is only read.
func (q *Querier) Select(ids *roaring.Bitmap, hints SelectHints) *SeriesSet {
	return q.SelectSorted(ids.ToArray(), hints)
}

// SelectSorted is Select over IDs given ascending; ids is only read and
// must stay unchanged while the set is used.
func (q *Querier) SelectSorted(ids []series.ID, hints SelectHints) *SeriesSet {
	set := &SeriesSet{q: q, ids: ids, i: -1, it: hints.Iterator}
	if set.it == nil {
		set.it = &Iterator{}
	}
	pattern := hints.Pattern
	if pattern == ScanAuto {
		pattern = q.choosePattern(len(ids))
	}
	set.pf = newPrefetcher(&q.db.opts, pattern)
	if set.pf != nil {
		set.pf.ids, set.pf.v, set.pf.minT, set.pf.maxT = ids, q.v, q.minT, q.maxT
	}
	return set
}

// choosePattern: one series is a point or range read; a selection of at
// least half the series of the largest overlapping segment is sequential;
// sparser is strided.
func (q *Querier) choosePattern(n int) ScanPattern {
	if n <= 1 {
		return ScanPoint
	}
	most := 0
	for _, p := range q.parts {
		for _, s := range p.segs {
			most = max(most, len(s.x.ids))
		}
	}
	if 2*n >= most {
		return ScanSequential
	}
	return ScanStrided
}

// Close releases the Querier's view. SeriesSets must not be used after.
func (q *Querier) Close() error {
	if q.v != nil {
		q.v.unref()
		q.v = nil
	}
	return nil
}

// SeriesSet iterates the selected series that have samples in range.
type SeriesSet struct {
	q   *Querier
	ids []series.ID
	i   int
	it  *Iterator
	pf  *prefetcher
	err error
}

// Next loads the next series with samples; it returns false at the end.
func (s *SeriesSet) Next() bool {
	for s.i+1 < len(s.ids) {
		s.i++
		if s.pf != nil {
			s.pf.stride(s.i)
		}
		q := s.q
		s.it.load(s.ids[s.i], q.minT, q.maxT, q.parts, q.v.mems, q.v.tombs, s.pf)
		if err := s.it.Err(); err != nil && s.err == nil {
			s.err = err
			q.db.reportDamage(err)
		}
		if s.it.Len() > 0 {
			return true
		}
	}
	s.pf.done()
	return false
}

// At returns the current series and its iterator, positioned before its
// first sample. The iterator is reused by the next call of Next.
func (s *SeriesSet) At() (series.ID, *Iterator) { return s.ids[s.i], s.it }

// Err returns the first error met: a *CorruptionError for a damaged block
// that was skipped (the other samples were returned).
func (s *SeriesSet) Err() error { return s.err }
