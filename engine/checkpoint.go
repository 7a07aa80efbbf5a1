package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckpointStats describes what Checkpoint wrote.
type CheckpointStats struct {
	// Files is the number of files in the checkpoint, Bytes their size.
	Files int
	Bytes int64
	// Linked is the number of files hard-linked rather than copied.
	Linked int
	// WALBytes is the size of the WAL the checkpoint holds (replayed when
	// it is opened).
	WALBytes int64
}

// Checkpoint writes a consistent point-in-time copy of the database to
// dest, a directory that must not exist, without stopping writes (Pebble's
// Checkpoint). The copy is what a crash at one instant would leave: the
// manifest, the segments it lists (hard-linked when dest is on the same
// file system: they are immutable), the tombstone file, the series
// snapshot, the tag index files, and the WAL from the manifest's
// checkpoint on, rotated first so that every write acknowledged before
// the call is in a segment no longer written (hard-linked too). Opening dest with Open recovers it as after a crash:
// every acknowledged sample is there, and deletions acknowledged before
// the call stay deleted.
//
// Flushes, deletions and the commits of compactions and retention drops
// wait while it copies (appends do not, unless the memtable budget fills
// meanwhile); the WAL writer waits only for the rotation. The destination
// is managed with the os package (the FS seam has no Stat or RemoveAll);
// the files in it go through the DB's FS.
func (db *DB) Checkpoint(dest string) (CheckpointStats, error) {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return CheckpointStats{}, ErrClosed
	}
	if _, err := os.Lstat(dest); err == nil {
		return CheckpointStats{}, fmt.Errorf("checkpoint %s: %w", dest, fs.ErrExist)
	}
	tmp := dest + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return CheckpointStats{}, fmt.Errorf("checkpoint: remove stale %s: %w", tmp, err)
	}
	st, err := db.checkpointTo(tmp)
	if err == nil {
		err = db.fs.Rename(tmp, dest)
	}
	if err == nil {
		err = db.fs.SyncDir(filepath.Dir(dest))
	}
	if err != nil {
		return CheckpointStats{}, errors.Join(fmt.Errorf("checkpoint %s: %w", dest, err), os.RemoveAll(tmp))
	}
	return st, nil
}

// checkpointTo copies the database into dir with the segment set, the
// tombstones and the WAL checkpoint held still: flushMu (flushes and
// deletions wait), tombMu (the tombstone file), manifestMu (the segment
// set: a compaction or retention drop running meanwhile waits to commit,
// and the segments the manifest lists stay on disk). Not compactMu: a
// long compaction would hold the checkpoint up.
func (db *DB) checkpointTo(dir string) (CheckpointStats, error) {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	db.tombMu.Lock()
	defer db.tombMu.Unlock()
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()

	c := &checkpointer{db: db, dir: dir}
	for _, d := range []string{segDir, walDir, indexDir} {
		if err := db.fs.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return c.st, err
		}
	}
	m, err := c.copyManifest()
	if err != nil {
		return c.st, err
	}
	// The series snapshot before the WAL position: a series defined after
	// it is defined in the WAL copied below.
	for _, name := range []string{tombstoneFile, snapshotFile} {
		if err := c.copyIfExists(name, -1); err != nil {
			return c.st, err
		}
	}
	if err := c.copyIndex(); err != nil {
		return c.st, err
	}
	for _, s := range m.segs {
		rel, _ := filepath.Rel(db.dir, segName(db.dir, s.fileNum))
		if err := c.link(rel); err != nil {
			return c.st, err
		}
	}
	if err := c.copyWAL(max(m.walCheckpoint, 1)); err != nil {
		return c.st, err
	}
	return c.st, c.syncDirs()
}

// checkpointer copies files of db into dir, counting them.
type checkpointer struct {
	db       *DB
	dir      string
	st       CheckpointStats
	lastSize int64 // bytes of the last file copied or linked
}

// copyManifest copies the manifest (manifestMu is held) and returns it;
// a database that has never flushed has none.
func (c *checkpointer) copyManifest() (*manifest, error) {
	name := filepath.Join(c.db.dir, manifestFile)
	b, err := c.db.fs.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &manifest{nextFileNum: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := unmarshalManifest(name, b)
	if err != nil {
		return nil, err
	}
	return m, c.write(manifestFile, b)
}

// copyIndex copies the tag index files.
func (c *checkpointer) copyIndex() error {
	names, err := c.db.fs.ReadDir(filepath.Join(c.db.dir, indexDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list tag index files: %w", err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, indexSuffix) {
			if err := c.copyIfExists(filepath.Join(indexDir, n), -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyWAL rotates the WAL (the writer's lock is held for the rotation
// only: an fsync of the active segment and the creation of the next), so
// that every acknowledged write is in a segment no longer written, then
// hard-links the segments from checkpoint up to the new one.
func (c *checkpointer) copyWAL(checkpoint uint64) error {
	w := c.db.wal
	w.mu.Lock()
	err := w.rotateLocked()
	active := w.seq
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("rotate WAL: %w", err)
	}
	seqs, err := listWAL(c.db.fs, filepath.Join(c.db.dir, walDir))
	if err != nil {
		return fmt.Errorf("list WAL: %w", err)
	}
	for _, seq := range seqs {
		if seq < checkpoint || seq >= active {
			continue
		}
		if err := c.link(filepath.Join(walDir, filepath.Base(walName("", seq)))); err != nil {
			return err
		}
		c.st.WALBytes += c.lastSize
	}
	return nil
}
