package fanout

import "errors"

var (
	// ErrPartialResponse: a peer failed or part of the data has no live
	// owner, and partial responses are denied. The API answers 422
	// "execution", as Thanos does with partial_response=false.
	ErrPartialResponse = errors.New("partial response denied")
	// ErrPeerRejected: a peer refused the request itself (4xx): a bad
	// matcher or one of its limits. The query fails whatever the partial
	// response setting.
	ErrPeerRejected = errors.New("peer rejected the request")
	// ErrBadFrame: a streamed remote read answer that does not decode (a
	// bad length, checksum, protobuf or chunk).
	ErrBadFrame = errors.New("bad remote read frame")
	// ErrBadSelector: a match[] selector that does not parse.
	ErrBadSelector = errors.New("bad selector")
	// ErrTooManySamples: a select read more than Options.MaxSamples.
	ErrTooManySamples = errors.New("query reads too many samples")
)
