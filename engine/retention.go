package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
)

// retentionCutoff returns the oldest timestamp retention keeps; partitions
// that end before it are dropped.
func (db *DB) retentionCutoff() int64 {
	if db.opts.Retention == 0 {
		return math.MinInt64
	}
	return subSat(db.opts.Now().UnixNano(), int64(db.opts.Retention))
}

// ApplyRetention drops every partition whose last nanosecond is older than
// now - Options.Retention: its segments leave the manifest and the version
// in one atomic manifest write, and its tag index partition is dropped.
// Queries in flight keep the dropped segments mapped until they close
// their Querier; the files are deleted by the last reference. The
// background job calls it every MaintenanceInterval.
func (db *DB) ApplyRetention(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	return db.applyRetention(ctx)
}

func (db *DB) applyRetention(ctx context.Context) error {
	if db.opts.Retention == 0 {
		return nil
	}
	cutoff, dur := db.retentionCutoff(), db.opts.PartitionDuration
	if err := db.dropSegmentsBefore(cutoff); err != nil {
		return err
	}
	var errs []error
	for _, p := range db.index.Partitions() {
		if partitionEnd(p.MinT(), dur) >= cutoff {
			break
		}
		if err := db.index.Drop(p.MinT()); err != nil {
			errs = append(errs, err)
		}
		err := db.fs.Remove(indexFileName(db.dir, p.MinT()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		db.indexMu.Lock()
		delete(db.indexWritten, p.MinT())
		db.indexMu.Unlock()
	}
	return errors.Join(errs...)
}

func (db *DB) dropSegmentsBefore(cutoff int64) error {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	v := db.acquire()
	var drop []*segment
	var keep []segMeta
	for _, p := range v.parts {
		expired := partitionEnd(p.start, db.opts.PartitionDuration) < cutoff
		for _, s := range p.segs {
			if expired {
				drop = append(drop, s)
			} else {
				keep = append(keep, s.segMeta)
			}
		}
	}
	v.unref()
	if len(drop) == 0 {
		// An earlier drop is durable only once its manifest is.
		return db.syncManifestLocked()
	}
	err := db.writeManifestLocked(keep, db.walCheckpoint)
	if err != nil && !errors.As(err, new(*renamedError)) {
		return err
	}
	if err != nil {
		// Committed, not durable: drop in memory, keep the files the old
		// manifest lists, and report it.
		db.editMu.Lock()
		nv := db.cur.clone()
		for _, s := range drop {
			nv.removeSegment(s)
		}
		db.install(nv)
		db.editMu.Unlock()
		return fmt.Errorf("retention: %w", err)
	}
	db.editMu.Lock()
	nv := db.cur.clone()
	for _, s := range drop {
		s.obsolete.Store(true)
		nv.removeSegment(s)
	}
	db.install(nv)
	db.editMu.Unlock()
	db.m.droppedSegments.Add(uint64(len(drop)))
	db.log.Info("retention dropped segments", "segments", len(drop), "cutoff", cutoff)
	return nil
}
