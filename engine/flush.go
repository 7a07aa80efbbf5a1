package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// Flush pipeline (one flush at a time, flushMu):
//
//  1. freeze: the WAL writer rotates to segment S, then the applier swaps
//     the active memtable for a fresh one (the spare, whose slices keep
//     their capacity) at that group boundary. Everything in WAL segments
//     below S is in the frozen memtable or older ones; everything after is
//     in the new one. The frozen memtable stays readable in the version.
//  2. write one segment per time partition the memtable touches (temporary
//     name, fsync, rename), fsync the segments directory;
//  3. write the tag index file of each partition whose series set grew,
//     and the series registry snapshot (every series the segments name is
//     durable, so the snapshot holds them);
//  4. write the manifest: the live set plus the new segments, and the WAL
//     checkpoint S. This rename is the commit point of the flush;
//  5. install a version with the segments and without the memtable, and
//     delete the WAL segments below S.
//
// A crash before 4 leaves orphan segment files (removed on open) and a WAL
// that still holds everything; after 4, the segments are live and replay
// starts at S (older WAL segments still on disk are deleted on open).

// fastFlushBelow is the MemtableFlushBytes below which flushes use the fast
// encoder (encoding.Encoder.Fast).
const fastFlushBelow = 64 << 20

// swapReq asks the commit pipeline to freeze the active memtable.
type swapReq struct {
	reply chan swapResult
}

type swapResult struct {
	m   *memtable
	err error
}

// applyItem is what the WAL writer hands the applier: a committed group,
// or a memtable swap at WAL segment boundary seq.
type applyItem struct {
	group *[]*commit
	swap  *swapReq
	seq   uint64
}

// freeze swaps the active memtable at a WAL segment boundary and returns
// the frozen one. With the pipeline stopped (Close) it does so directly.
func (db *DB) freeze(ctx context.Context, direct bool) (*memtable, error) {
	if direct {
		seq, err := db.wal.rotate()
		if err != nil {
			return nil, err
		}
		return db.swapMemtable(seq), nil
	}
	req := &swapReq{reply: make(chan swapResult, 1)}
	select {
	case db.rotateq <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	r := <-req.reply
	return r.m, r.err
}

// swapMemtable freezes the active memtable at WAL boundary seq and
// installs a fresh one; only the applier (or Close) calls it.
func (db *DB) swapMemtable(seq uint64) *memtable {
	old := db.memp.Load()
	old.walSeq = seq
	db.spareMu.Lock()
	fresh := db.spare
	db.spare = nil
	db.spareMu.Unlock()
	if fresh == nil {
		fresh = newMemtableAt(db.opts.Now)
	}
	fresh.refs.Store(1)
	db.editMu.Lock()
	v := db.cur.clone()
	v.mems = append(v.mems, fresh)
	db.memp.Store(fresh)
	db.install(v)
	db.editMu.Unlock()
	old.immBytes = old.bytes.Load()
	db.immBytes.Add(old.immBytes)
	return old
}

// flush writes out every frozen memtable and then the active one.
func (db *DB) flush(ctx context.Context, direct bool) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	for {
		v := db.acquire()
		var m *memtable
		if len(v.mems) > 1 {
			m = v.mems[0] // left frozen by a failed flush
		}
		v.unref()
		if m == nil {
			break
		}
		if err := db.flushMemtable(m); err != nil {
			return err
		}
	}
	if m := db.memp.Load(); m.samples.Load() == 0 && m.firstAdd.Load() == 0 {
		return nil // nothing written since the last flush (a deletion's purge counts: its WAL must go)
	}
	m, err := db.freeze(ctx, direct)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return db.flushMemtable(m)
}

// flushMemtable writes frozen memtable m to segments and checkpoints.
func (db *DB) flushMemtable(m *memtable) error {
	start := time.Now()
	segs, samples, err := db.writeMemtable(m)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := db.checkpoint(segs, m); err != nil {
		for _, s := range segs {
			s.obsolete.Store(true)
			s.unref()
		}
		return fmt.Errorf("flush: %w", err)
	}
	var bytes int64
	for _, s := range segs {
		bytes += s.size
	}
	db.noteFlushed(segs)
	db.m.flushes.Inc()
	db.m.flushedSamples.Add(uint64(samples))
	db.m.flushedBytes.Add(uint64(bytes))
	db.log.Debug("flushed", "segments", len(segs), "samples", samples, "bytes", bytes, "duration", time.Since(start))
	select {
	case db.compactq <- struct{}{}:
	default:
	}
	return nil
}

// writeMemtable writes one segment per partition of m's samples (skipping
// partitions past retention) and returns them opened, fsynced and renamed.
func (db *DB) writeMemtable(m *memtable) (segs []*segment, samples int64, err error) {
	writers := map[int64]*segmentWriter{}
	defer func() {
		for _, w := range writers {
			w.abort()
		}
	}()
	dur, cutoffOf := db.opts.PartitionDuration, db.retentionCutoff()
	var buf sampleBuf
	err = m.forEach(func(id series.ID, s *memSeries) error {
		ts, vals := s.samples(&buf)
		cutoff := cutoffOf(id)
		for lo := 0; lo < len(ts); {
			p := db.partitionStart(ts[lo])
			end := partitionEnd(p, dur)
			hi := lo + sort.Search(len(ts)-lo, func(i int) bool { return ts[lo+i] > end })
			if end >= cutoff {
				w := writers[p]
				if w == nil {
					var err error
					if w, err = newSegmentWriter(db.fs, segName(db.dir, db.nextFileNum.Add(1)-1), &db.flushEnc, db.opts.BlockSamples); err != nil {
						return err
					}
					writers[p] = w
				}
				if err := w.writeSeries(id, s.typ, ts[lo:hi], vals[lo:hi], s.strs); err != nil {
					return err
				}
				// The appender indexes its series only after its commit, so a
				// flush can get here first; the partition's index file,
				// written before the manifest, must name every series of
				// the segment (Add of an indexed series is a lock-free no-op).
				if err := db.index.Add(p, id, db.reg.Labels(id)); err != nil {
					return fmt.Errorf("index series %d in partition %d: %w", id, p, err)
				}
				samples += int64(hi - lo)
			}
			lo = hi
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return db.finishWriters(writers, 0, 0)
}

// finishWriters finishes and opens the segments of writers (keyed by
// partition), all of one level; seq 0 means each segment's file number.
func (db *DB) finishWriters(writers map[int64]*segmentWriter, level int, seq uint64) ([]*segment, int64, error) {
	var segs []*segment
	var samples int64
	fail := func(err error) ([]*segment, int64, error) {
		for _, s := range segs {
			s.obsolete.Store(true)
			s.unref()
		}
		return nil, 0, err
	}
	for _, p := range slices.Sorted(mapKeys(writers)) {
		w := writers[p]
		delete(writers, p)
		if w.empty() {
			w.abort()
			continue
		}
		samples += int64(w.nSamples)
		if _, err := w.finish(); err != nil {
			return fail(err)
		}
		meta := segMeta{fileNum: fileNumOf(w.path), partition: p, level: level, seq: seq}
		if seq == 0 {
			meta.seq = meta.fileNum
		}
		s, err := openSegment(db.fs, db.dir, meta, db.mapAdvice())
		if err != nil {
			_ = db.fs.Remove(w.path)
			return fail(err)
		}
		segs = append(segs, s)
	}
	if err := db.fs.SyncDir(filepath.Join(db.dir, segDir)); err != nil {
		return fail(fmt.Errorf("sync segments dir: %w", err))
	}
	return segs, samples, nil
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func fileNumOf(path string) uint64 {
	base := filepath.Base(path)
	n, _ := strconv.ParseUint(base[:len(base)-len(segSuffix)], 10, 64)
	return n
}

// checkpoint publishes the segments of frozen memtable m: index files,
// snapshot, manifest (the commit point), version, then WAL truncation.
func (db *DB) checkpoint(segs []*segment, m *memtable) error {
	for _, s := range segs {
		if err := db.writeIndexPartition(s.partition); err != nil {
			return err
		}
	}
	if err := db.writeSnapshot(); err != nil {
		return fmt.Errorf("write series snapshot: %w", err)
	}
	if err := db.syncTombstonesForCheckpoint(); err != nil {
		return err
	}
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	v := db.acquire()
	metas := v.segments()
	v.unref()
	for _, s := range segs {
		metas = append(metas, s.segMeta)
	}
	err := db.writeManifestLocked(metas, m.walSeq)
	if err != nil && !errors.As(err, new(*renamedError)) {
		return err
	}
	durable := err == nil
	walSeq := m.walSeq // m is reset by its last unref
	db.editMu.Lock()
	nv := db.cur.clone()
	for _, s := range segs {
		nv.addSegment(s)
	}
	if i := slices.Index(nv.mems, m); i >= 0 {
		nv.mems = slices.Delete(nv.mems, i, i+1)
		db.unrefMemtable(m)
	}
	db.install(nv)
	db.editMu.Unlock()
	if durable {
		// Not before: until the manifest is durable, a power cut brings
		// the old one back, and replay needs the WAL from its checkpoint.
		db.truncateWAL(walSeq)
	}
	return nil
}

// writeManifestLocked writes the manifest with the live segments metas;
// manifestMu must be held. A *renamedError means the new manifest is in
// place and committed, but its directory fsync failed: a power cut may
// still bring the old one back, so the caller must not delete what the
// old one needs (the WAL from its checkpoint, the segments it lists) until
// a later manifest write, or syncManifestLocked, succeeds.
func (db *DB) writeManifestLocked(metas []segMeta, walCheckpoint uint64) error {
	m := &manifest{nextFileNum: db.nextFileNum.Load(), walCheckpoint: walCheckpoint, segs: metas}
	if err := writeManifest(db.fs, db.dir, m); err != nil {
		var renamed *renamedError
		if !errors.As(err, &renamed) {
			return err
		}
		// The new manifest is in place and is what the next open reads:
		// the change is committed. Undoing it in memory would delete the
		// segments it lists (and the next open would delete the WAL below
		// its checkpoint).
		db.log.Error("manifest written but the directory fsync failed; keeping what the old one needs until it is durable", "err", err)
		db.manifestDirty = true
		db.walCheckpoint = walCheckpoint
		return err
	}
	db.manifestDirty = false
	db.walCheckpoint = walCheckpoint
	return nil
}

// syncManifestLocked retries the directory fsync of a manifest written
// with a failed one; manifestMu must be held.
func (db *DB) syncManifestLocked() error {
	if !db.manifestDirty {
		return nil
	}
	if err := db.fs.SyncDir(db.dir); err != nil {
		return fmt.Errorf("sync manifest directory: %w", err)
	}
	db.manifestDirty = false
	return nil
}

// truncateWAL deletes the WAL segments below seq; a failure only delays it
// (open deletes them too).
func (db *DB) truncateWAL(seq uint64) {
	seq = db.walRetain(seq)
	dir := filepath.Join(db.dir, walDir)
	seqs, err := listWAL(db.fs, dir)
	if err != nil {
		db.log.Warn("list WAL for truncation", "err", err)
		return
	}
	removed := false
	for _, s := range seqs {
		if s >= seq {
			break
		}
		if err := db.fs.Remove(walName(dir, s)); err != nil {
			db.log.Warn("remove checkpointed WAL segment", "seq", s, "err", err)
			continue
		}
		removed = true
	}
	if removed {
		_ = db.fs.SyncDir(dir)
	}
}

func indexFileName(dir string, start int64) string {
	return filepath.Join(dir, indexDir, strconv.FormatInt(start, 10)+indexSuffix)
}

// writeIndexPartition writes the tag index file of a partition when its
// series set changed since it was last written.
func (db *DB) writeIndexPartition(start int64) error {
	p := db.index.Partition(start)
	if p == nil {
		return nil
	}
	n := p.Generation()
	db.indexMu.Lock()
	defer db.indexMu.Unlock()
	if w, ok := db.indexWritten[start]; ok && w == n {
		return nil
	}
	err := writeFileAtomic(db.fs, indexFileName(db.dir, start), func(w io.Writer) error {
		_, err := p.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("write tag index of partition %d: %w", start, err)
	}
	db.indexWritten[start] = n
	return nil
}

// runFlusher flushes when the active memtable passes its size or age
// limit or an Append was refused for the budget, and applies retention. A
// failed flush (a full disk) is retried after a backoff of FlushRetryMin,
// doubling up to FlushRetryMax, until one succeeds: the memtable must not
// wait for its size limit to come round again once space is back. While
// a retry is pending, kicks and ticks do not flush (an overloaded DB
// kicks at every refused Append).
func (db *DB) runFlusher(ctx context.Context) {
	defer db.bgWG.Done()
	t := time.NewTicker(db.opts.maintenanceInterval())
	defer t.Stop()
	var backoff time.Duration
	var retry <-chan time.Time // nil unless a retry is pending
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.flushq:
			if retry != nil || !db.flushDue() && !db.overBudget() && !db.flushWanted.Load() {
				continue // an overload kick that a finished flush answered
			}
		case <-retry:
			retry = nil
		case <-t.C:
			if err := db.applyRetention(ctx); err != nil && ctx.Err() == nil {
				db.log.Error("retention failed", "err", err)
			}
			if retry != nil || !db.flushDue() {
				continue
			}
		}
		db.flushWanted.Store(false)
		err := db.flush(ctx, false)
		switch {
		case err == nil:
			backoff = 0
			db.forgetLogged() // a flush lets go of the memtable's deleted series
		case errors.Is(err, context.Canceled):
		default:
			db.m.flushFailures.Inc()
			backoff = min(max(2*backoff, db.opts.FlushRetryMin), db.opts.FlushRetryMax)
			db.log.Error("flush failed; retrying", "err", err, "retry_in", backoff, "disk_full", isDiskFull(err))
			retry = time.After(backoff)
		}
	}
}

func (db *DB) flushDue() bool {
	m := db.memp.Load()
	if m.used.Load() >= db.opts.MemtableFlushBytes {
		return true
	}
	first := m.firstAdd.Load()
	return first != 0 && db.opts.Now().Sub(time.Unix(0, first)) >= db.opts.MemtableFlushInterval
}

// maybeTriggerFlush is called by the applier after each group.
func (db *DB) maybeTriggerFlush() {
	if db.memp.Load().used.Load() < db.opts.MemtableFlushBytes {
		return
	}
	db.kickFlusher()
}

// kickFlusher wakes the background flusher without waiting.
func (db *DB) kickFlusher() {
	select {
	case db.flushq <- struct{}{}:
	default:
	}
}

// overBudget reports whether the active and frozen memtables together hold
// more than MemtableBudget: Append refuses new batches, and a flush is due
// whatever MemtableFlushBytes says.
func (db *DB) overBudget() bool {
	return db.active().bytes.Load()+db.immBytes.Load() > db.opts.MemtableBudget
}
