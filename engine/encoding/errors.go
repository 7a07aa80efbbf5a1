package encoding

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is returned, wrapped with context, when an encoded block
	// cannot be decoded: it is truncated, has trailing garbage inside a
	// length-delimited part, names an unknown codec, or is inconsistent.
	ErrCorrupt = errors.New("encoding: corrupt block")

	// ErrBlockTooLarge is returned by encoders given more than
	// MaxBlockSamples samples or a string block of more than
	// MaxStringBlockBytes bytes.
	ErrBlockTooLarge = errors.New("encoding: block too large")

	// ErrUnsupportedType is returned for a value type a codec does not handle.
	ErrUnsupportedType = errors.New("encoding: unsupported value type")
)

// corruptf returns an error wrapping ErrCorrupt.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}
