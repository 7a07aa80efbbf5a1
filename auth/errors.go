package auth

import "errors"

// Errors a caller can test for with errors.Is.
var (
	// ErrBadTokenFile marks a token file that cannot be parsed or holds an
	// invalid entry.
	ErrBadTokenFile = errors.New("invalid token file")
	// ErrUnknownToken marks a revoke of a token ID the file does not hold.
	ErrUnknownToken = errors.New("unknown token id")
)
