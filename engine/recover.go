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
)

// recover loads the manifest and opens the live segments (removing orphan
// files), loads the series snapshot and the tag index files (rebuilding a
// missing or damaged one from the segments), then replays the WAL segments
// from the manifest's checkpoint on into the registry and the memtable
// (older ones are deleted: their data is in segments). A damaged record ends its segment: the
// segment is cut at the last good record (logged with file, offset and the
// bytes dropped) and replay goes on with the next segment, so one bad
// sector never costs the segments written after it. It returns the
// sequence number for the new active segment.
func (db *DB) recover() (uint64, error) {
	m, err := readManifest(db.fs, db.dir)
	if err != nil {
		return 0, err
	}
	db.walCheckpoint = m.walCheckpoint
	db.nextFileNum.Store(max(m.nextFileNum, 1))
	if err := db.removeOrphans(m); err != nil {
		return 0, err
	}
	for _, meta := range m.segs {
		s, err := openSegment(db.fs, db.dir, meta, db.mapAdvice())
		if err != nil {
			// Keep it listed (and on disk) for Verify and repair; serve the rest.
			db.log.Error("segment unreadable; left out of reads", "file", segName(db.dir, meta.fileNum), "err", err)
			db.broken = append(db.broken, meta)
			continue
		}
		db.cur.addSegment(s)
	}
	if err := db.loadSnapshot(m); err != nil {
		return 0, err
	}
	db.loadIndex()
	dir := filepath.Join(db.dir, walDir)
	seqs, err := listWAL(db.fs, dir)
	if err != nil {
		return 0, fmt.Errorf("list WAL: %w", err)
	}
	r := &replayer{db: db}
	next := max(m.walCheckpoint, 1)
	for _, seq := range seqs {
		if seq < m.walCheckpoint {
			if err := db.fs.Remove(walName(dir, seq)); err != nil {
				return 0, fmt.Errorf("remove checkpointed WAL segment: %w", err)
			}
			continue
		}
		if err := r.segment(walName(dir, seq)); err != nil {
			return 0, err
		}
		next = max(next, seq+1)
	}
	if r.dropped > 0 {
		db.log.Warn("WAL replay dropped samples out of the stored timestamp range", "samples", r.dropped,
			"min", series.MinTime, "max", series.MaxTime)
	}
	return next, nil
}

// loadSnapshot loads series.snap into the registry. Once a checkpoint
// has happened (the manifest has a WAL checkpoint or segments), the WAL
// that defined the segments' series may be gone and the snapshot is the
// only record of their labels: then a missing snapshot, or one that lacks
// a series a segment holds, fails the open before anything is changed.
// Going on would give the segments' IDs to new series (wrong data for
// label queries) and cut the WAL at the first record of an unknown series.
func (db *DB) loadSnapshot(m *manifest) error {
	name := filepath.Join(db.dir, snapshotFile)
	snap, err := db.fs.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if m.walCheckpoint > 0 || len(m.segs) > 0 {
			return fmt.Errorf("%w: %s is missing but %s records a checkpoint; restore it from a backup",
				series.ErrCorruptSnapshot, name, manifestFile)
		}
	case err != nil:
		return fmt.Errorf("read series snapshot: %w", err)
	default:
		if err := db.reg.LoadSnapshot(snap); err != nil {
			return fmt.Errorf("load %s: %w", name, err)
		}
	}
	maxID := db.reg.MaxID()
	for _, p := range db.cur.parts {
		for _, s := range p.segs {
			if ids := s.x.ids; len(ids) > 0 && ids[len(ids)-1] > maxID {
				return fmt.Errorf("%w: %s holds series up to %d, segment %s holds series %d; restore it from a backup",
					series.ErrCorruptSnapshot, name, maxID, s.path, ids[len(ids)-1])
			}
		}
	}
	return nil
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
	for _, n := range []string{manifestFile, snapshotFile} {
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
// missing or damaged (WAL replay then adds the memtable's series).
func (db *DB) loadIndex() {
	for _, p := range db.cur.parts {
		path := indexFileName(db.dir, p.start)
		ip, err := tagindex.OpenPartition(db.fs, path)
		if err == nil {
			if err = db.index.Attach(ip); err == nil {
				db.indexWritten[p.start] = ip.NumSeries()
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

func (r *replayer) segment(name string) error {
	data, err := r.db.fs.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read WAL segment: %w", err)
	}
	if len(data) < walHeaderSize || string(data[:len(walMagic)]) != walMagic || data[len(walMagic)] != walVersion {
		return r.cut(name, 0, int64(len(data)), errors.New("bad or torn segment header"))
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
		if err == nil {
			err = r.dec.decode(payload, r)
		}
		// Counters are added once per record, not per series: atomics per
		// series were a quarter of replay's CPU.
		r.db.m.replaySamples.Add(uint64(r.delta.samples))
		mem.commit(&r.delta) // resets r.delta
		if err != nil {
			return r.cut(name, int64(off), int64(len(data)-off), err)
		}
		off += size
	}
	return nil
}

// cut truncates a segment at off after a damaged record and logs what was
// lost. A header-less segment is removed.
func (r *replayer) cut(name string, off, lost int64, cause error) error {
	cerr := &CorruptionError{File: name, Offset: off, Err: cause}
	r.db.log.Warn("WAL damaged: cutting segment at the last good record",
		"file", name, "offset", off, "lost_bytes", lost, "err", cause)
	if off == 0 {
		if err := r.db.fs.Remove(name); err != nil {
			return fmt.Errorf("remove damaged WAL segment: %w (after %v)", err, cerr)
		}
		return r.db.fs.SyncDir(filepath.Dir(name))
	}
	f, err := r.db.fs.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("repair %w: %w", cerr, err)
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return fmt.Errorf("repair %w: %w", cerr, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("repair %w: %w", cerr, err)
	}
	return f.Close()
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
