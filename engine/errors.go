package engine

import (
	"errors"
	"fmt"
)

// Errors returned by the engine; test with errors.Is.
var (
	// ErrOverloaded is returned by Append when the memtable is over its
	// memory budget. It is returned at once, before anything is written;
	// the caller should retry later (HTTP 503 with Retry-After).
	ErrOverloaded = errors.New("engine overloaded: memtable over its memory budget")
	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = errors.New("engine closed")
	// ErrWALFailed is returned once an fsync of the WAL has failed: after
	// that the durability of written data is unknown (the kernel may have
	// dropped dirty pages), so the engine refuses writes until reopened,
	// when recovery re-reads what is really on disk.
	ErrWALFailed = errors.New("WAL failed")
)

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
