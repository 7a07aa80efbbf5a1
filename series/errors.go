package series

import "errors"

// Errors a caller can test for with errors.Is. Each is wrapped with the
// details (which label, which limit) before it is returned.
var (
	// ErrInvalidLabels marks a label set that breaks a rule of Validate.
	ErrInvalidLabels = errors.New("invalid labels")
	// ErrTypeConflict marks a sample whose value type differs from the
	// type its series was created with.
	ErrTypeConflict = errors.New("value type conflict")
	// ErrSeriesLimit marks a new series beyond the configured limit.
	ErrSeriesLimit = errors.New("series limit reached")
	// ErrTimestampRange marks a sample whose timestamp is outside
	// MinTime..MaxTime (see time.go).
	ErrTimestampRange = errors.New("timestamp out of range")
	// ErrBatchTooLarge marks a batch that alone would take more memory
	// than the appender's budget: retrying cannot help, the client must
	// send smaller requests (HTTP 413).
	ErrBatchTooLarge = errors.New("request too large")
	// ErrCorruptSnapshot marks a registry snapshot that fails its checksum
	// or cannot be decoded.
	ErrCorruptSnapshot = errors.New("corrupt series snapshot")
)
