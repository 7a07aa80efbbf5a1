package remote

import (
	"errors"

	"github.com/lightningdb/lightningdb/internal/reqbody"
	"github.com/lightningdb/lightningdb/series"
)

// Errors of the decoders and handlers; test with errors.Is. Each is wrapped
// with the details (which series, which label, which limit).
var (
	// ErrBadSnappy marks a body that is not a snappy block (the framed
	// format is not accepted either, per the spec).
	ErrBadSnappy = errors.New("invalid snappy block")
	// ErrBadProtobuf marks a body that does not decode as the protobuf
	// message its Content-Type names.
	ErrBadProtobuf = errors.New("malformed protobuf")
	// ErrUnsupportedMediaType marks a Content-Type or Content-Encoding the
	// handler does not speak (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrBodyTooLarge marks a body over the configured size (413).
	ErrBodyTooLarge = reqbody.ErrTooLarge
	// ErrEmptyLabelName marks a label with an empty name.
	ErrEmptyLabelName = errors.New("empty label name")
	// ErrDuplicateLabel marks a label name given twice in one series.
	ErrDuplicateLabel = errors.New("duplicate label name")
	// ErrUnsortedLabels marks labels not sorted by name, as the spec
	// requires.
	ErrUnsortedLabels = errors.New("labels not sorted by name")
	// ErrBadSymbolRef marks a remote write 2.0 reference outside the
	// symbols table, or an odd number of label references.
	ErrBadSymbolRef = errors.New("invalid symbol reference")
	// ErrTimestampRange marks a sample whose millisecond timestamp is
	// outside series.MinTimeMs..series.MaxTimeMs (years before 1677 or
	// after 2262). It is series.ErrTimestampRange.
	ErrTimestampRange = series.ErrTimestampRange
	// ErrHistogramUnsupported marks a native histogram sample: the engine
	// stores one scalar per sample (see docs/remote.md).
	ErrHistogramUnsupported = errors.New("native histograms are not supported")
	// ErrReadLimit marks a remote read over a series or bytes limit.
	ErrReadLimit = errors.New("remote read limit exceeded")
	// ErrInflightLimit marks a request refused because the request bodies
	// in progress on every connection already hold the server's budget
	// (Options.Budget); 503 with Retry-After.
	ErrInflightLimit = reqbody.ErrInflightLimit
	// ErrReadBusy marks a remote read that waited Options.ReadQueueTimeout
	// for one of the ReadConcurrency slots; 503 with Retry-After.
	ErrReadBusy = errors.New("remote read: every slot is busy")
	// ErrNoResponseType marks a read request that accepts no response type
	// the server supports.
	ErrNoResponseType = errors.New("server does not support any of the requested response types")
)
