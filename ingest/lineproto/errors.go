package lineproto

import (
	"errors"
	"fmt"
)

// ErrInvalidLine marks a line that cannot be parsed or mapped to series.
// Every LineError wraps it.
var ErrInvalidLine = errors.New("invalid line")

// maxQuoted is how many bytes of a bad line a LineError quotes.
const maxQuoted = 256

// LineError reports one rejected line: its 1-based number in the body, the
// start of its text, and the reason.
type LineError struct {
	Line   int
	Text   string // the line, cut to maxQuoted bytes
	Reason string
}

// Error renders the error in the shape InfluxDB 1.x uses, with the line
// number first: line 3: unable to parse 'cpu x': missing fields.
func (e *LineError) Error() string {
	return fmt.Sprintf("line %d: unable to parse '%s': %s", e.Line, e.Text, e.Reason)
}

// Unwrap returns ErrInvalidLine.
func (e *LineError) Unwrap() error { return ErrInvalidLine }

// reason is a parse failure before the line text is known. It is a plain
// string so that the common reasons cost no allocation.
type reason string

func (r reason) Error() string { return string(r) }

// The fixed reasons, named after the InfluxDB 1.x parser where one exists.
const (
	errMissingMeasurement reason = "missing measurement"
	errCommentChars       reason = "invalid character in comment line"
	errTagAfterComma      reason = "missing tag key after comma"
	errMissingTagKey      reason = "missing tag key"
	errMissingTagValue    reason = "missing tag value"
	errMissingFields      reason = "missing fields"
	errMissingFieldKey    reason = "missing field key"
	errMissingFieldValue  reason = "missing field value"
	errUnbalancedQuotes   reason = "unbalanced quotes"
	errInvalidField       reason = "invalid field format"
	errAfterField         reason = "unexpected character after field value"
	errInvalidNumber      reason = "invalid number"
	errInvalidInteger     reason = "invalid integer"
	errIntegerRange       reason = "integer out of range"
	errInvalidUnsigned    reason = "invalid unsigned integer"
	errUnsignedRange      reason = "unsigned integer out of range"
	errFloatRange         reason = "float out of range"
	errNonNumber          reason = "invalid number: NaN and infinities are not allowed"
	errInvalidBool        reason = "invalid boolean"
	errBadTimestamp       reason = "bad timestamp"
	errTimestampRange     reason = "timestamp out of range"
	errTextAfterTime      reason = "unexpected text after timestamp"
	errInvalidUTF8        reason = "invalid UTF-8"
	errLineTooLong        reason = "line too long"
	errNameTooLong        reason = "metric name too long"
)
