package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/lightningdb/lightningdb/series"
)

// Errors returned by the engine; test with errors.Is.
var (
	// errMemtableFull is returned by Append when the memtable is over its
	// memory budget, at once, before anything is written. It matches
	// series.ErrOverloaded: the caller should retry later.
	errMemtableFull error = &overloadError{"engine overloaded: memtable over its memory budget"}
	// ErrDiskFull marks a write that failed because the disk is full
	// (ENOSPC, EDQUOT). It matches series.ErrOverloaded: nothing of the
	// write was stored and a retry succeeds once space is freed (the WAL
	// write is undone; flushes are retried with backoff). Its message
	// names no file: it reaches clients, the log keeps the path.
	ErrDiskFull error = &overloadError{"no space left on device"}
	// ErrLocked is returned by Open (as a *LockedError naming the
	// holder's PID) when another DB has the data directory open.
	ErrLocked = errors.New("data directory in use")
	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = errors.New("engine closed")
	// ErrWALFailed is returned once an fsync of the WAL has failed: after
	// that the durability of written data is unknown (the kernel may have
	// dropped dirty pages), so the engine refuses writes until reopened,
	// when recovery re-reads what is really on disk.
	ErrWALFailed = errors.New("WAL failed")
	// ErrNeedsRepair marks an Open stopped by damage that recovery does
	// not cut by itself (RepairNeededError, repair.go).
	ErrNeedsRepair = errors.New("data directory needs repair")
)

// overloadError is a "retry later" error of the engine: its text names
// the cause, and it matches series.ErrOverloaded, which front ends map to
// HTTP 503 with Retry-After and MQTT reason 0x97.
type overloadError struct{ msg string }

func (e *overloadError) Error() string { return e.msg }
func (e *overloadError) Unwrap() error { return series.ErrOverloaded }

// CorruptionError reports a damaged record at a position of a file.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corruption in %s at offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// isDiskFull reports whether err says the disk (or the quota) is full.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// clientError returns a write-path error as Append's caller sees it,
// without server paths (callers pass it on to HTTP clients): a full disk
// is ErrDiskFull, any other file error is its cause without the path
// (ErrWALFailed carries none). The writer logs the full error.
func clientError(err error) error {
	if isDiskFull(err) {
		return ErrDiskFull
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("write WAL: %s: %w", pe.Op, pe.Err)
	}
	return err
}

// withoutPath returns the cause of a *fs.PathError, or err.
func withoutPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
