package query

import "errors"

// Errors a query can end with besides PromQL's own. The API maps them to
// Prometheus error types in one place (apiErrorFor).
var (
	// ErrTooManySeries: a query selected more series than Options.MaxSeries.
	ErrTooManySeries = errors.New("query selects too many series")
	// ErrTooManySamples: a query decoded more samples than Options.MaxSamples.
	ErrTooManySamples = errors.New("query reads too many samples")
	// ErrQueryTooLong: a PromQL expression or match[] selector is longer
	// than Options.MaxQueryLength; it is refused before it is parsed.
	ErrQueryTooLong = errors.New("query expression too long")
	// ErrTooManyPoints: a query and its subqueries evaluate more steps
	// than Options.MaxPoints; it is refused before it is evaluated.
	ErrTooManyPoints = errors.New("query evaluates too many points")
	// ErrTooManyQueries: every query slot (Options.MaxConcurrentQueries)
	// stayed taken for Options.MaxQueueDuration; the request may be retried.
	ErrTooManyQueries = errors.New("too many concurrent queries")
	// ErrEmptyMatchers: a match[] selector whose matchers all match the
	// empty string, which would select every series.
	ErrEmptyMatchers = errors.New("match[] must contain at least one non-empty matcher")
)
