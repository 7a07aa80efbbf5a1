package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/lightningdb/lightningdb/series"
)

// recover loads the series snapshot, then replays every WAL segment into
// the registry and the memtable. A damaged record ends its segment: the
// segment is cut at the last good record (logged with file, offset and the
// bytes dropped) and replay goes on with the next segment, so one bad
// sector never costs the segments written after it. It returns the
// sequence number for the new active segment.
func (db *DB) recover() (uint64, error) {
	snap, err := db.fs.ReadFile(filepath.Join(db.dir, snapshotFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read series snapshot: %w", err)
	default:
		if err := db.reg.LoadSnapshot(snap); err != nil {
			return 0, fmt.Errorf("load %s: %w", snapshotFile, err)
		}
	}
	dir := filepath.Join(db.dir, walDir)
	seqs, err := listWAL(db.fs, dir)
	if err != nil {
		return 0, fmt.Errorf("list WAL: %w", err)
	}
	r := &replayer{db: db}
	for _, seq := range seqs {
		if err := r.segment(walName(dir, seq)); err != nil {
			return 0, err
		}
	}
	if len(seqs) == 0 {
		return 1, nil
	}
	return seqs[len(seqs)-1] + 1, nil
}

type replayer struct {
	db  *DB
	dec recordDecoder
	buf []byte
}

func (r *replayer) segment(name string) error {
	data, err := r.db.fs.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read WAL segment: %w", err)
	}
	if len(data) < walHeaderSize || string(data[:len(walMagic)]) != walMagic || data[len(walMagic)] != walVersion {
		return r.cut(name, 0, int64(len(data)), errors.New("bad or torn segment header"))
	}
	r.db.mem.writeMu.Lock()
	defer r.db.mem.writeMu.Unlock()
	off := walHeaderSize
	for off < len(data) {
		payload, size, err := readRecord(data[off:], &r.buf)
		if err == nil {
			err = r.dec.decode(payload, r)
		}
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
	r.db.mem.addLocked(id, typ, ts, vals, strs)
	r.db.indexSamples(id, r.db.reg.Labels(id), ts)
	r.db.m.replaySamples.Add(uint64(len(ts)))
	return nil
}
