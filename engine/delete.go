package engine

import (
	"context"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// DeleteMatching deletes the samples in [minT, maxT] (inclusive, ns) of
// the series that match every matcher (resolved in the tag index
// partitions overlapping the range) and returns how many series matched.
// See Delete.
func (db *DB) DeleteMatching(ctx context.Context, minT, maxT int64, ms ...*tagindex.Matcher) (int, error) {
	ids, err := db.index.Postings(minT, maxT, ms...)
	if err != nil {
		return 0, fmt.Errorf("delete: %w", err)
	}
	return int(ids.GetCardinality()), db.Delete(ctx, ids, minT, maxT)
}

// Delete deletes the samples of series ids in [minT, maxT] (inclusive, ns)
// written before the call; samples written after it are kept (Prometheus'
// delete_series). When it returns nil, the deletion is durable (its WAL
// record is fsynced whatever the sync mode, and the tombstone file is
// written), the memtables no longer hold the samples and no read shows
// them. The segments' samples are hidden by a tombstone until compaction
// rewrites their partitions without them (Delete queues those rewrites;
// CleanTombstones runs them at once). Delete waits for a running flush or
// compaction to end. ids is only read.
func (db *DB) Delete(ctx context.Context, ids *roaring.Bitmap, minT, maxT int64) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	if ids.IsEmpty() || minT > maxT {
		return nil
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	db.tombMu.Lock()
	defer db.tombMu.Unlock()
	x := &tombstone{seq: db.tombSeq, before: db.nextFileNum.Load(), minT: minT, maxT: maxT, ids: ids.Clone()}
	db.tombSeq++
	db.editTombs(func(t *tombstones) *tombstones { return t.with(x) })
	if err := db.commitTombstone(ctx, x); err != nil {
		db.editTombs(func(t *tombstones) *tombstones { return t.without(map[uint64]bool{x.seq: true}) })
		return fmt.Errorf("delete: %w", err)
	}
	db.m.deletes.Inc()
	db.noteCandidates(x.ids)
	// The WAL holds the deletion; the file is what keeps it once the WAL
	// segment is checkpointed (a failure is retried by the next flush,
	// which does not checkpoint before it succeeds).
	v := db.acquire()
	err := db.writeTombstonesLocked(v.tombs)
	db.queueTombstoneRewrites(v, x)
	v.unref()
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	db.log.Info("deleted", "series", ids.GetCardinality(), "min", minT, "max", maxT, "tombstone", x.seq)
	return nil
}

// editTombs installs a version whose tombstones are edit's result.
func (db *DB) editTombs(edit func(*tombstones) *tombstones) {
	db.editMu.Lock()
	nv := db.cur.clone()
	nv.tombs = edit(nv.tombs)
	db.install(nv)
	db.editMu.Unlock()
}

// commitTombstone writes x's WAL record through the commit pipeline (the
// applier purges the memtables at its place in WAL order) and fsyncs it.
func (db *DB) commitTombstone(ctx context.Context, x *tombstone) error {
	c := &commit{tomb: x, rec: appendTombstoneRecord(nil, x), done: make(chan error, 1)}
	select {
	case db.queue <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := <-c.done; err != nil {
		return clientError(err)
	}
	if db.opts.SyncMode != SyncFsync {
		if err := db.wal.sync(); err != nil {
			return err
		}
	}
	return nil
}

// purgeMemtables removes the samples x deletes from every memtable of the
// current version; the applier calls it, holding the active memtable's
// writeMu (d collects the active one's counter changes). Delete holds
// flushMu, so the frozen memtables (left by a failed flush) are not being
// written out meanwhile.
func (db *DB) purgeMemtables(x *tombstone, d *memDelta) {
	active := db.active()
	v := db.acquire()
	defer v.unref()
	var buf sampleBuf
	for _, m := range v.mems {
		if m == active {
			m.purgeLocked(x, &buf, d)
			continue
		}
		var fd memDelta
		m.writeMu.Lock()
		m.purgeLocked(x, &buf, &fd)
		m.writeMu.Unlock()
		m.samples.Add(fd.samples)
		m.used.Add(fd.used)
	}
}

// purgeLocked removes the samples of x's series in x's range; writeMu is
// held. Counter changes go to d.
func (m *memtable) purgeLocked(x *tombstone, buf *sampleBuf, d *memDelta) {
	it := x.ids.Iterator()
	for it.HasNext() {
		s := m.get(series.ID(it.Next()))
		if s == nil {
			continue
		}
		if !m.exclusive {
			s.mu.Lock()
		}
		m.purgeSeries(s, x.minT, x.maxT, buf, d)
		if !m.exclusive {
			s.mu.Unlock()
		}
	}
}

// purgeSeries removes the samples of s in [minT, maxT]; the caller holds
// writeMu and s.mu. The kept ones become raw again and are resealed (the
// old chunks' bytes stay in the slabs until the memtable is reset).
func (m *memtable) purgeSeries(s *memSeries, minT, maxT int64, buf *sampleBuf, d *memDelta) {
	ts, vals := s.samples(buf)
	n := 0
	for _, t := range ts {
		if t >= minT && t <= maxT {
			n++
		}
	}
	if n == 0 {
		return
	}
	before, beforeUsed := s.sizeBytes(), s.usedBytes()
	kts, kvals := make([]int64, 0, len(ts)-n), make([]uint64, 0, len(ts)-n)
	for i, t := range ts {
		if t < minT || t > maxT {
			kts, kvals = append(kts, t), append(kvals, vals[i])
		}
	}
	clear(s.chunks)
	s.chunks, s.sealed, s.lts, s.lvals = s.chunks[:0], 0, nil, nil
	s.ts, s.vals = kts, kvals
	if s.typ != series.TypeString && len(s.ts) >= memSealAt {
		m.seal(s)
	}
	d.samples -= int64(n)
	d.bytes += s.sizeBytes() - before
	d.used += s.usedBytes() - beforeUsed
}

// queueTombstoneRewrites queues for the compactor the partitions of v with
// segments that x deletes samples of.
func (db *DB) queueTombstoneRewrites(v *version, x *tombstone) {
	queued := false
	for _, p := range v.parts {
		for _, s := range p.segs {
			if x.touches(s) {
				queued = db.queueRewrite(p.start) || queued
				break
			}
		}
	}
	if queued {
		select {
		case db.compactq <- struct{}{}:
		default:
		}
	}
}

// CleanTombstones rewrites every partition with segments that a tombstone
// deletes samples of, without them (dropping the segments left empty),
// then drops the tombstones applied everywhere: Prometheus'
// clean_tombstones. It waits for the rewrites.
func (db *DB) CleanTombstones(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	v := db.acquire()
	if !v.tombs.empty() {
		for _, x := range v.tombs.list {
			db.queueTombstoneRewrites(v, x)
		}
	}
	v.unref()
	for {
		db.compactMu.Lock()
		v := db.acquire()
		job := db.pickRewrite(v)
		if job != nil {
			job.tombs = v.tombs
		}
		v.unref()
		if job == nil {
			db.compactMu.Unlock()
			break
		}
		err := db.compact(ctx, job)
		db.compactMu.Unlock()
		if err != nil {
			return fmt.Errorf("clean tombstones: %w", err)
		}
	}
	if err := db.dropAppliedTombstones(); err != nil {
		return err
	}
	_, err := db.forgetSeries()
	return err
}

// dropAppliedTombstones drops the tombstones that no live segment needs
// any more (none below its bound holds one of its series in its range)
// and rewrites the tombstone file. It keeps them while the last manifest
// write is not durable: a power cut could bring back the old segment set.
func (db *DB) dropAppliedTombstones() error {
	db.tombMu.Lock()
	defer db.tombMu.Unlock()
	v := db.acquire()
	defer v.unref()
	if v.tombs.empty() && !db.tombDirty {
		return nil
	}
	db.manifestMu.Lock()
	dirty := db.manifestDirty
	db.manifestMu.Unlock()
	if dirty {
		return nil
	}
	gone := map[uint64]bool{}
	if !v.tombs.empty() {
	next:
		for _, x := range v.tombs.list {
			for _, p := range v.parts {
				for _, s := range p.segs {
					if x.touches(s) {
						continue next
					}
				}
			}
			gone[x.seq] = true
		}
	}
	if len(gone) == 0 && !db.tombDirty {
		return nil
	}
	db.editTombs(func(t *tombstones) *tombstones { return t.without(gone) })
	nv := db.acquire()
	defer nv.unref()
	if err := db.writeTombstonesLocked(nv.tombs); err != nil {
		return err
	}
	db.m.tombstonesCleaned.Add(uint64(len(gone)))
	return nil
}

// syncTombstonesForCheckpoint writes the tombstone file when a write of it
// failed: a flush must not checkpoint the WAL (deleting the records of the
// tombstones) before the file holds them.
func (db *DB) syncTombstonesForCheckpoint() error {
	db.tombMu.Lock()
	defer db.tombMu.Unlock()
	if !db.tombDirty {
		return nil
	}
	v := db.acquire()
	defer v.unref()
	return db.writeTombstonesLocked(v.tombs)
}

// Tombstones returns the number of tombstones in force.
func (db *DB) Tombstones() int {
	v := db.acquireOrNil()
	if v == nil {
		return 0
	}
	defer v.unref()
	if v.tombs.empty() {
		return 0
	}
	return len(v.tombs.list)
}

// loadTombstones reads the tombstone file into the current version during
// recovery; the next file number is raised past every tombstone's bound
// (new segments must not fall under one).
func (db *DB) loadTombstones() error {
	t, next, err := readTombstones(db.fs, db.dir)
	if err != nil {
		return err
	}
	db.tombSeq = max(next, 1)
	for _, x := range t.list {
		db.nextFileNum.Store(max(db.nextFileNum.Load(), x.before))
		db.tombSeq = max(db.tombSeq, x.seq+1)
	}
	db.cur.tombs = t
	return nil
}

// tombstone implements replay of a tombstone record: the samples replayed
// so far are purged; a tombstone not in the file yet (the crash came
// between its WAL record and the file) is added to the set.
func (r *replayer) tombstone(p []byte) error {
	x, err := decodeTombstoneRecord(p)
	if err != nil {
		return err
	}
	db := r.db
	var buf sampleBuf
	var d memDelta
	r.mem.purgeLocked(x, &buf, &d)
	r.mem.samples.Add(d.samples)
	r.mem.bytes.Add(d.bytes)
	r.mem.used.Add(d.used)
	if x.seq < db.tombSeq {
		return nil // in the file, or applied and dropped since
	}
	db.tombSeq = x.seq + 1
	db.nextFileNum.Store(max(db.nextFileNum.Load(), x.before))
	db.cur.tombs = db.cur.tombs.with(x)
	db.tombDirty = true
	return nil
}
