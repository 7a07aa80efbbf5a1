package downsample

import "errors"

// Sentinels returned (wrapped) by the package.
var (
	// ErrInvalidConfig is a downsample section that does not compile.
	ErrInvalidConfig = errors.New("invalid downsample configuration")
	// ErrCorruptRecord is tier data that does not decode into records.
	ErrCorruptRecord = errors.New("corrupt rollup record")
	// ErrNotSealed is raw data of a range still in a memtable (not yet
	// flushed to segments): its intervals are built after the flush.
	ErrNotSealed = errors.New("raw data not sealed yet")
)
