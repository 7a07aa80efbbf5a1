package tagindex

import (
	"errors"
	"fmt"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrClosed marks a call on a partition that was closed or dropped.
	ErrClosed = errors.New("tag index partition closed")
	// ErrCorrupt marks an index file that fails a checksum or cannot be
	// decoded. Every CorruptionError matches it.
	ErrCorrupt = errors.New("corrupt tag index file")
)

// CorruptionError reports a damaged index file: which file, the byte offset
// of the damaged block or field, and what is wrong. Find it with errors.As;
// errors.Is(err, ErrCorrupt) also holds.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corrupt tag index %s at offset %d: %v", e.File, e.Offset, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true for every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
