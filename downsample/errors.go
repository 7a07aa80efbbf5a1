package downsample

import "errors"

// Sentinels returned (wrapped) by the package.
var (
	// ErrInvalidConfig is a downsample section that does not compile.
	ErrInvalidConfig = errors.New("invalid downsample configuration")
	// ErrCorruptRecord is tier data that does not decode into records.
	ErrCorruptRecord = errors.New("corrupt rollup record")
)
