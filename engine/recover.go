package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// recover loads the manifest and opens the live segments (removing orphan
// files and quarantining damaged segments), loads the series snapshot and
// the tag index files (rebuilding a missing or damaged one from the
// segments), then replays the WAL segments from the manifest's checkpoint
// on into the registry and the memtable (older ones are deleted: their
// data is in segments). Only a torn tail of the last WAL segment is cut;
// other damage stops the open (repair.go). It returns the sequence number
// for the new active segment.
func (db *DB) recover() (uint64, error) {
	m, err := readManifest(db.fs, db.dir)
	var ce *CorruptionError
	if errors.As(err, &ce) {
		return 0, fmt.Errorf("%w; the database was not opened. Only the manifest records which segment files are live "+
			"and their precedence (rebuilding it from the files could bring back compacted or deleted data), "+
			"so lightning-admin repair does not rebuild it: restore %s from a backup", err, ce.File)
	}
	if err != nil {
		return 0, err
	}
	if err := db.checkLostManifest(m); err != nil {
		return 0, err
	}
	db.walCheckpoint = m.walCheckpoint
	db.nextFileNum.Store(max(m.nextFileNum, 1))
	if err := db.removeOrphans(m); err != nil {
		return 0, err
	}
	if err := db.openSegments(m); err != nil {
		return 0, err
	}
	if err := db.loadTombstones(); err != nil {
		return 0, err
	}
	if err := db.loadSnapshot(m); err != nil {
		return 0, err
	}
	db.loadIndex()
	next, err := db.replayWAL(max(m.walCheckpoint, 1))
	if err != nil {
		return 0, err
	}
	if db.tombDirty { // replay found deletions the file lacks
		if err := db.writeTombstonesLocked(db.cur.tombs); err != nil {
			return 0, err
		}
	}
	return next, nil
}

// replayWAL deletes the WAL segments before checkpoint and replays the
// others, in order. It returns the sequence number for the new active
// segment.
func (db *DB) replayWAL(checkpoint uint64) (uint64, error) {
	dir := filepath.Join(db.dir, walDir)
	seqs, err := listWAL(db.fs, dir)
	if err != nil {
		return 0, fmt.Errorf("list WAL: %w", err)
	}
	keep := db.walRetain(checkpoint)
	for len(seqs) > 0 && seqs[0] < checkpoint {
		if seqs[0] >= keep { // held for a WAL reader, not replayed
			seqs = seqs[1:]
			continue
		}
		if err := db.fs.Remove(walName(dir, seqs[0])); err != nil {
			return 0, fmt.Errorf("remove checkpointed WAL segment: %w", err)
		}
		seqs = seqs[1:]
	}
	r := &replayer{db: db}
	next := checkpoint
	for i, seq := range seqs {
		name := walName(dir, seq)
		d, err := r.segment(name, i+1, len(seqs))
		if err != nil {
			return 0, err
		}
		next = max(next, seq+1)
		if d != nil {
			if err := db.handleWALDamage(r, d, seqs[i+1:]); err != nil {
				return 0, err
			}
			break // a repair dropped the later segments
		}
	}
	if r.dropped > 0 {
		db.log.Warn("WAL replay dropped samples out of the stored timestamp range", "samples", r.dropped,
			"min", series.MinTime, "max", series.MaxTime)
	}
	return next, nil
}

// checkLostManifest refuses a missing manifest when the directory has
// had a checkpoint: segment files next to a WAL that no longer starts at
// segment 1. A missing manifest is normal for a new directory and after a
// crash in the first flush (the WAL from segment 1 on then holds every
// sample, and the segment files are orphans); otherwise removeOrphans
// would delete every segment.
func (db *DB) checkLostManifest(m *manifest) error {
	if len(m.segs) > 0 || m.walCheckpoint > 0 || m.nextFileNum > 1 {
		return nil // read from a file
	}
	segs, err := db.fs.ReadDir(filepath.Join(db.dir, segDir))
	if err != nil {
		return fmt.Errorf("list segments: %w", err)
	}
	n := 0
	for _, name := range segs {
		if strings.HasSuffix(name, segSuffix) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	seqs, err := listWAL(db.fs, filepath.Join(db.dir, walDir))
	if err != nil {
		return fmt.Errorf("list WAL: %w", err)
	}
	if len(seqs) > 0 && seqs[0] == 1 {
		return nil
	}
	name := filepath.Join(db.dir, manifestFile)
	return &CorruptionError{File: name, Err: fmt.Errorf(
		"manifest is missing, but %s holds %d segment files and the WAL was checkpointed; "+
			"the database was not opened (it would delete them as orphans): restore %s from a backup",
		segDir, n, name)}
}

// removeOrphans deletes the files of the segments and index directories
// that the manifest does not account for: temporary files and the outputs
// of a flush or compaction that crashed before its manifest write, or the
// inputs of one that crashed after it.
func (db *DB) removeOrphans(m *manifest) error {
	live := map[string]bool{}
	parts := map[string]bool{}
	for _, s := range m.segs {
		live[filepath.Base(segName(db.dir, s.fileNum))] = true
		parts[filepath.Base(indexFileName(db.dir, s.partition))] = true
	}
	for _, d := range []struct {
		dir  string
		keep map[string]bool
	}{{segDir, live}, {indexDir, parts}} {
		dir := filepath.Join(db.dir, d.dir)
		names, err := db.fs.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		removed := false
		for _, n := range names {
			if d.keep[n] {
				continue
			}
			if d.dir == segDir && strings.HasSuffix(n, segSuffix) {
				db.nextFileNum.Store(max(db.nextFileNum.Load(), fileNumOf(n)+1))
			}
			if err := db.fs.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("remove orphan: %w", err)
			}
			db.log.Info("removed orphan file", "file", filepath.Join(dir, n))
			removed = true
		}
		if removed {
			if err := db.fs.SyncDir(dir); err != nil {
				return fmt.Errorf("sync %s: %w", dir, err)
			}
		}
	}
	// A crash inside writeFileAtomic leaves the temporary file of the
	// manifest or the series snapshot; the real file is the old or the new
	// one, whole.
	for _, n := range []string{manifestFile, snapshotFile, tombstoneFile} {
		tmp := filepath.Join(db.dir, n+".tmp")
		switch err := db.fs.Remove(tmp); {
		case err == nil:
			db.log.Info("removed orphan file", "file", tmp)
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("remove orphan: %w", err)
		}
	}
	return nil
}

// loadIndex attaches the tag index file of each partition with segments,
// rebuilding the partition from the segments' series when its file is
// missing or damaged, and writing the rebuilt file (WAL replay then adds
// the memtable's series).
func (db *DB) loadIndex() {
	for _, p := range db.cur.parts {
		path := indexFileName(db.dir, p.start)
		var ip *tagindex.Partition
		err := fs.ErrNotExist // rebuild-index: rebuilt, as if missing
		if db.opts.rebuild == nil {
			ip, err = tagindex.OpenPartition(db.fs, path)
		}
		if err == nil {
			if err = db.index.Attach(ip); err == nil {
				db.indexWritten[p.start] = ip.Generation()
				continue
			}
			ip.Close()
		}
		if !errors.Is(err, fs.ErrNotExist) {
			db.log.Warn("tag index file unusable; rebuilding from segments", "file", path, "err", err)
		}
		for _, s := range p.segs {
			for _, id := range s.x.ids {
				if ls := db.reg.Labels(id); ls != nil {
					if err := db.index.Add(p.start, id, ls); err != nil {
						db.log.Error("tag index rebuild", "series", id, "err", err)
					}
				}
			}
		}
		// Written now, not at the partition's next flush, which an old
		// partition never has: the damage would stay, rebuilt at every
		// open and reported by every Verify.
		if err := db.writeIndexPartition(p.start); err != nil {
			db.log.Warn("write rebuilt tag index file; rebuilt again at the next open", "file", path, "err", err)
			if db.opts.rebuild != nil {
				db.opts.rebuild.Failed = append(db.opts.rebuild.Failed, fmt.Errorf("write %s: %w", path, err))
			}
		} else if db.opts.rebuild != nil {
			db.opts.rebuild.IndexFiles++
		}
	}
}

type replayer struct {
	db      *DB
	dec     recordDecoder
	buf     []byte
	mem     *memtable // the memtable being replayed into; its writeMu is held
	delta   memDelta  // counter changes of the current record
	ts      []int64   // scratch of inRange
	vals    []uint64
	dropped int // samples dropped by inRange
}

// segment replays one WAL segment, the i-th of n. It returns the first
// damaged record, or nil when the whole segment replayed.
func (r *replayer) segment(name string, i, n int) (*walDamage, error) {
	data, err := r.db.fs.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read WAL segment: %w", err)
	}
	if err := encrypt.NotEncryptedCheck(name, data); err != nil {
		return nil, err
	}
	if p := r.db.opts.progress; p != nil {
		p(RepairProgress{Segment: i, Segments: n, File: name, Bytes: int64(len(data))})
	}
	r.db.log.Info("replaying WAL segment", "segment", i, "segments", n, "file", name, "bytes", len(data))
	// A record that passes its checksum but does not decode is damage
	// even at the end: a crash tears records, it does not forge them.
	damage := func(off int, cause error, whole bool) *walDamage {
		return &walDamage{CorruptionError: CorruptionError{File: name, Offset: int64(off), Err: cause},
			size: int64(len(data)), torn: !whole && !validRecordAfter(data, off)}
	}
	if len(data) < walHeaderSize || string(data[:len(walMagic)]) != walMagic || data[len(walMagic)] != walVersion {
		return damage(0, errors.New("bad or torn segment header"), false), nil
	}
	mem := r.db.active()
	mem.writeMu.Lock()
	mem.exclusive = true
	defer func() {
		mem.exclusive = false
		mem.writeMu.Unlock()
	}()
	r.mem = mem
	off := walHeaderSize
	for off < len(data) {
		payload, size, err := readRecord(data[off:], &r.buf)
		whole := err == nil
		switch {
		case whole && data[off+9]&^flagS2 == recordTombstone:
			err = r.tombstone(payload)
		case whole:
			err = r.dec.decode(payload, r)
		}
		// Counters are added once per record, not per series: atomics per
		// series were a quarter of replay's CPU.
		r.db.m.replaySamples.Add(uint64(r.delta.samples))
		mem.commit(&r.delta) // resets r.delta
		if err != nil {
			return damage(off, err, whole), nil
		}
		off += size
	}
	return nil, nil
}

// cut truncates a WAL segment at off, the offset of its first damaged
// record; a segment whose header is damaged is removed.
func (r *replayer) cut(name string, off int64) error {
	if off == 0 {
		if err := r.db.fs.Remove(name); err != nil {
			return fmt.Errorf("remove damaged WAL segment: %w", err)
		}
		return r.db.fs.SyncDir(filepath.Dir(name))
	}
	f, err := r.db.fs.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cut damaged WAL segment: %w", err)
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return fmt.Errorf("cut damaged WAL segment %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("cut damaged WAL segment %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return r.db.fs.SyncDir(filepath.Dir(name)) // for the later segments a repair removed
}

// def implements recordVisitor.
func (r *replayer) def(id series.ID, typ series.ValueType, canonical []byte) error {
	return r.db.reg.Insert(id, canonical, typ)
}

// samples implements recordVisitor.
func (r *replayer) samples(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte) error {
	if have := r.db.reg.Type(id); have != typ {
		return fmt.Errorf("samples of series %d typed %s, registry says %s", id, typ, have)
	}
	ts, vals = r.inRange(id, ts, vals)
	if len(ts) == 0 {
		return nil
	}
	r.mem.addDeltaLocked(id, typ, ts, vals, strs, &r.delta)
	r.db.indexSamples(id, r.db.reg.Labels(id), ts)
	return nil
}

// inRange returns ts and vals without the samples whose timestamp is
// outside series.MinTime..MaxTime, which an older version acknowledged
// and no segment can hold: replaying them into the memtable made every
// flush fail, for ever. They are dropped, logged and counted
// (engine_wal_dropped_samples_total). Without any, ts and vals are
// returned as they are.
func (r *replayer) inRange(id series.ID, ts []int64, vals []uint64) ([]int64, []uint64) {
	if checkTimes(ts) == nil {
		return ts, vals
	}
	r.ts, r.vals = r.ts[:0], r.vals[:0]
	for i, t := range ts {
		if series.InRange(t) {
			r.ts, r.vals = append(r.ts, t), append(r.vals, vals[i])
			continue
		}
		if r.dropped == 0 { // the total is logged at the end of recovery
			r.db.log.Warn("WAL holds a sample out of the stored timestamp range; dropping it and any other",
				"series", r.db.seriesName(id), "timestamp", t, "err", series.ErrTimestampRange)
		}
		r.dropped++
		r.db.m.replayDropped.Inc()
	}
	return r.ts, r.vals
}
