package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WAL segment file, format version 1:
//
//	+----------------------------------------------+----------------------+
//	| magic "LDBWAL" (6) | version (1) | zero (1)  | records (walrecord.go) |
//	+----------------------------------------------+----------------------+
//
// Segments are named %020d.wal by sequence number and rotate once they pass
// Options.WALSegmentSize (checked between groups, so a group never spans two
// segments).
const (
	walMagic      = "LDBWAL"
	walVersion    = 1
	walHeaderSize = 8
	walSuffix     = ".wal"
)

func walName(dir string, seq uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", seq, walSuffix))
}

// listWAL returns the sequence numbers of the segments in dir, ascending.
func listWAL(fs FS, dir string) ([]uint64, error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, n := range names {
		if !strings.HasSuffix(n, walSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(n, walSuffix), 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// wal is the active segment the commit pipeline writes to.
type wal struct {
	fs      FS
	dir     string
	maxSize int64
	log     *slog.Logger
	m       *metrics

	mu     sync.Mutex // mu protects everything below
	f      File
	seq    uint64
	size   int64
	dirty  bool   // written since the last fsync
	failed error  // sticky: set once an fsync or a repair failed
	stale  string // a segment this WAL failed to create and then to remove
}

// openWAL fsyncs the segments in dir (those recovery replayed) and creates
// segment seq for new records.
func openWAL(fs FS, dir string, seq uint64, maxSize int64, log *slog.Logger, m *metrics) (*wal, error) {
	if err := syncWALSegments(fs, dir); err != nil {
		return nil, err
	}
	w := &wal{fs: fs, dir: dir, maxSize: maxSize, log: log, m: m}
	if err := w.createLocked(seq); err != nil {
		return nil, err
	}
	return w, nil
}

// syncWALSegments fsyncs every segment in dir. Recovery may have replayed
// records that are not durable: written before a failed fsync, or in the
// page cache after a process crash in SyncInterval or SyncNone mode. New
// records rely on them (a series defined there is not defined again), so
// they must be durable before anything new is acknowledged, or a power cut
// would leave acknowledged records of series nothing defines.
func syncWALSegments(fs FS, dir string) error {
	seqs, err := listWAL(fs, dir)
	if err != nil {
		return fmt.Errorf("list WAL: %w", err)
	}
	for _, seq := range seqs {
		f, err := fs.OpenFile(walName(dir, seq), os.O_RDONLY, 0)
		if err != nil {
			return fmt.Errorf("sync replayed WAL segment: %w", err)
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("sync replayed WAL segment %s: %w", walName(dir, seq), err)
		}
	}
	return nil
}

func (w *wal) createLocked(seq uint64) error {
	name := walName(w.dir, seq)
	flags := os.O_CREATE | os.O_EXCL | os.O_WRONLY
	if name == w.stale {
		flags = os.O_CREATE | os.O_TRUNC | os.O_WRONLY // our own failed attempt, no record in it
	}
	f, err := w.fs.OpenFile(name, flags, 0o644)
	if err != nil {
		return fmt.Errorf("create WAL segment: %w", err)
	}
	// On failure the new file is removed (it holds no record yet), so the
	// next write can try again: a full disk that frees up is not fatal. If
	// the remove fails too, the next attempt truncates the file instead
	// (O_EXCL would refuse it until a restart).
	fail := func(err error) error {
		f.Close()
		w.stale = ""
		if rerr := w.fs.Remove(name); rerr != nil {
			w.stale = name
		}
		return err
	}
	hdr := append([]byte(walMagic), walVersion, 0)
	if _, err := f.Write(hdr); err != nil {
		return fail(fmt.Errorf("write WAL header %s: %w", name, err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync WAL segment %s: %w", name, err))
	}
	if err := w.fs.SyncDir(w.dir); err != nil {
		return fail(fmt.Errorf("sync WAL dir: %w", err))
	}
	w.f, w.seq, w.size, w.stale = f, seq, walHeaderSize, ""
	return nil
}

// write appends one group of records. A failed write is undone by truncating
// back to where the group started, so the segment stays a clean sequence of
// whole records; if even that fails, the WAL is marked failed.
func (w *wal) write(group []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return w.failed
	}
	if w.f == nil || w.size >= w.maxSize {
		if err := w.rotateLocked(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(group)
	if err != nil {
		// Cut the partial write and move the file offset back with it, or
		// the next write would leave a hole of zeros.
		terr := w.f.Truncate(w.size)
		if terr == nil {
			_, terr = w.f.Seek(w.size, io.SeekStart)
		}
		if terr != nil {
			w.log.Error("WAL write failed and could not be undone; refusing writes until reopened",
				"file", w.f.Name(), "err", err, "undo_err", terr)
			w.failed = fmt.Errorf("%w: write: %v; undoing it: %v", ErrWALFailed, withoutPath(err), withoutPath(terr))
			return w.failed
		}
		return fmt.Errorf("write WAL %s: %w", w.f.Name(), err)
	}
	w.size += int64(n)
	w.dirty = true
	w.m.walBytes.Add(float64(n))
	return nil
}

// sync fsyncs the active segment if it has unsynced writes. A failed fsync
// is sticky (see ErrWALFailed).
func (w *wal) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *wal) syncLocked() error {
	if w.failed != nil {
		return w.failed
	}
	if !w.dirty {
		return nil
	}
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		w.failed = fmt.Errorf("%w: fsync: %v", ErrWALFailed, withoutPath(err)) // it reaches clients
		w.log.Error("WAL fsync failed; refusing writes until reopened", "file", w.f.Name(), "err", err)
		return w.failed
	}
	w.m.fsyncs.Inc()
	w.m.fsyncDuration.Observe(time.Since(start).Seconds())
	w.dirty = false
	return nil
}

// rotateLocked closes the active segment, fsynced, and creates the next.
// If creating it fails, there is no active segment (f is nil) and the next
// write or rotate tries again: the WAL holds every record written so far,
// durable, so nothing is lost and writes fail only while the cause lasts.
func (w *wal) rotateLocked() error {
	if w.f != nil {
		if err := w.syncLocked(); err != nil {
			return err
		}
		if err := w.f.Close(); err != nil {
			// The segment is fsynced: a close error cannot undo that.
			w.log.Warn("close WAL segment", "file", w.f.Name(), "err", err)
		}
		w.f = nil
	}
	return w.createLocked(w.seq + 1)
}

func (w *wal) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.syncLocked()
	if errors.Is(err, ErrWALFailed) {
		err = nil // already reported to every writer; closing is still right
	}
	if w.f == nil {
		return err
	}
	return errors.Join(err, w.f.Close())
}

// rotate closes the active segment (fsynced) and starts the next one,
// whose sequence number it returns: every record written before is in a
// segment below it.
func (w *wal) rotate() (uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed != nil {
		return 0, w.failed
	}
	if err := w.rotateLocked(); err != nil {
		return 0, err
	}
	return w.seq, nil
}
