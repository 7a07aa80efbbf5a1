package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// Series lifecycle: a series with no sample left anywhere (retention
// dropped or rewrote its partitions, or a deletion and the compaction
// after it removed its samples, and no memtable holds any) is forgotten:
// it leaves the registry (and series.snap), the tag index (postings, label
// values and names left empty, the partitions' files) and the memtables'
// per-series state, so its memory is reclaimed. A later sample with the
// same labels creates a new series with a new ID: IDs are never reused
// (series.Registry.Remove), so an ID that an in-flight query holds never
// names another series, and no segment, tombstone or WAL record of the old
// ID can apply to the new one.
//
// Candidates are the series that left a segment (compaction outputs
// without them, retention drops) or that a deletion named, plus, at open,
// every registry series that no segment or memtable holds. forgetSeries
// checks each against the live segments and the memtables with Appends
// excluded (lifeMu), so a series is never forgotten while a write of it is
// between its registry lookup and its tag index entry. It also keeps every
// series the replayable WAL may define (one present in a memtable of the
// version, even without samples): replaying its definition after it was
// forgotten would bring it back. The manifest must be durable: the old
// one could bring back segments holding the series.
type lifecycleState struct {
	mu         sync.Mutex      // mu protects candidates
	candidates *roaring.Bitmap // series that may have no sample left
}

// noteCandidates adds ids to the series that may have no sample left.
func (db *DB) noteCandidates(ids *roaring.Bitmap) {
	if ids == nil || ids.IsEmpty() {
		return
	}
	db.life.mu.Lock()
	defer db.life.mu.Unlock()
	if db.life.candidates == nil {
		db.life.candidates = roaring.New()
	}
	// A deep copy: ids may be a view over a segment's or tag index file's
	// mapping (their bitmaps are read in place), and Or would share its
	// containers; the candidates outlive the pass, the mapping may not (a
	// partition dropped by retention is unmapped, and the next pass read
	// freed memory: SIGSEGV under churn, bench --churn-rss).
	db.life.candidates.Or(ids.Clone())
}

// takeCandidates returns the candidates and clears them.
func (db *DB) takeCandidates() *roaring.Bitmap {
	db.life.mu.Lock()
	defer db.life.mu.Unlock()
	c := db.life.candidates
	db.life.candidates = nil
	return c
}

// seedCandidates makes every series of the registry or the tag index that
// no segment holds a candidate (at open: what a crash before the last pass
// left, e.g. a tag index file written before the pass).
func (db *DB) seedCandidates() {
	all := roaring.New()
	db.reg.ForEach(func(id series.ID, _ []byte, _ series.ValueType, _ bool) bool {
		all.Add(uint32(id))
		return true
	})
	for _, p := range db.index.Partitions() {
		if ids, err := p.Postings(); err == nil {
			all.Or(ids)
		}
	}
	v := db.acquire()
	defer v.unref()
	for _, p := range v.parts {
		all.AndNot(unionBitmaps(p.segs))
	}
	db.noteCandidates(all)
}

// ForgetSeries forgets the candidate series that have no sample left
// anywhere and returns how many it forgot. The background jobs call it
// after flushes, compactions and retention runs.
func (db *DB) ForgetSeries() (int, error) {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return 0, ErrClosed
	}
	return db.forgetSeries()
}

func (db *DB) forgetSeries() (int, error) {
	cand := db.takeCandidates()
	if cand == nil || cand.IsEmpty() {
		return 0, nil
	}
	db.manifestMu.Lock()
	dirty := db.manifestDirty
	db.manifestMu.Unlock()
	if dirty {
		db.noteCandidates(cand)
		return 0, nil
	}
	db.lifeMu.Lock()
	gone, keep := db.unheld(cand)
	ids := gone.ToArray()
	for _, id := range ids {
		db.reg.Remove(id)
	}
	changed := db.index.Remove(gone)
	db.forgetInMemtables(ids)
	db.lifeMu.Unlock()
	if f, ok := db.opts.RetentionPolicy.(interface{ Forget([]series.ID) }); ok && len(ids) > 0 {
		f.Forget(ids)
	}
	db.noteCandidates(keep)
	if len(ids) == 0 {
		return 0, nil
	}
	db.m.seriesRemoved.Add(uint64(len(ids)))
	err := db.persistForgotten(changed)
	db.log.Info("forgot series without samples", "series", len(ids), "index_partitions", len(changed))
	return len(ids), err
}

// unheld splits cand into the series no live segment or memtable holds
// and those still held (kept as candidates when a memtable holds them: a
// flush may let them go). lifeMu is held.
func (db *DB) unheld(cand *roaring.Bitmap) (gone, keep *roaring.Bitmap) {
	v := db.acquire()
	defer v.unref()
	gone = cand.Clone()
	for _, p := range v.parts {
		gone.AndNot(unionBitmaps(p.segs))
	}
	keep = roaring.New()
	active := v.mems[len(v.mems)-1]
	it := gone.Iterator()
	for it.HasNext() {
		id := it.Next()
		for _, m := range v.mems {
			if ms := m.get(series.ID(id)); ms != nil && (m != active || ms.indexed.Load() != 0 || ms.hasSamples()) {
				keep.Add(id)
				break
			}
		}
	}
	gone.AndNot(keep)
	return gone, keep
}

// hasSamples reports whether s holds a sample.
func (s *memSeries) hasSamples() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ts) > 0 || len(s.chunks) > 0 || len(s.lts) > 0
}

// forgetInMemtables drops the per-series state of ids from every memtable
// (the active, frozen and spare ones); lifeMu is held, so no Append adds
// to them meanwhile.
func (db *DB) forgetInMemtables(ids []series.ID) {
	v := db.acquire()
	defer v.unref()
	for _, m := range v.mems {
		m.writeMu.Lock()
		m.forget(ids)
		m.writeMu.Unlock()
	}
	db.spareMu.Lock()
	if s := db.spare; s != nil {
		s.forget(ids)
	}
	db.spareMu.Unlock()
}

// persistForgotten rewrites the tag index files of the changed partitions
// (dropping those left without series and without segments) and the
// series snapshot.
func (db *DB) persistForgotten(changed []int64) error {
	live := map[int64]bool{}
	v := db.acquire()
	for _, p := range v.parts {
		live[p.start] = true
	}
	v.unref()
	var errs []error
	for _, start := range changed {
		p := db.index.Partition(start)
		if p == nil {
			continue
		}
		if p.NumSeries() == 0 && !live[start] {
			errs = append(errs, db.index.Drop(start))
			if err := db.fs.Remove(indexFileName(db.dir, start)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			db.indexMu.Lock()
			delete(db.indexWritten, start)
			db.indexMu.Unlock()
			continue
		}
		errs = append(errs, db.writeIndexPartition(start))
	}
	if err := db.writeSnapshot(); err != nil {
		errs = append(errs, fmt.Errorf("write series snapshot: %w", err))
	}
	return errors.Join(errs...)
}

// forgetLogged is forgetSeries for the background jobs: an error is logged
// (the next pass retries what is left).
func (db *DB) forgetLogged() {
	if _, err := db.forgetSeries(); err != nil {
		db.log.Error("forget series without samples", "err", err)
	}
}
