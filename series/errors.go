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
	// ErrOverloaded marks a write refused for now, with nothing of it
	// stored: the caller should retry later. It is the one overload error:
	// the engine wraps it for a memtable over its memory budget and for a
	// full disk (whose message says "no space left on device"), and an
	// Appender with limits of its own may wrap it too. Each front end maps
	// it in one place: HTTP 503 with Retry-After (503 rather than 507 for a
	// full disk, since Telegraf and Prometheus retry a 503 and honour its
	// Retry-After), MQTT 5 PUBACK reason 0x97 (quota exceeded). Its
	// wrapping error's text reaches clients, so it names the cause and no
	// server path.
	ErrOverloaded = errors.New("overloaded")
	// ErrForbidden marks a write of a series outside the caller's scope
	// (a token limited to some databases or label matchers): nothing of
	// the batch is stored. HTTP front ends answer 403.
	ErrForbidden = errors.New("forbidden")
	// ErrCorruptSnapshot marks a registry snapshot that fails its checksum
	// or cannot be decoded.
	ErrCorruptSnapshot = errors.New("corrupt series snapshot")
)

// TypeConflictError is the ErrTypeConflict of one series: it holds Have
// values, a sample of type Got was written. errors.Is(err,
// ErrTypeConflict) holds for it.
type TypeConflictError struct {
	Series    string // the series' labels, as Labels.String
	Have, Got ValueType
}

func (e *TypeConflictError) Error() string {
	return ErrTypeConflict.Error() + ": series " + e.Series + " holds " + e.Have.String() + " values, got " + e.Got.String()
}

func (e *TypeConflictError) Unwrap() error { return ErrTypeConflict }
