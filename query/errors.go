package query

import "errors"

// Errors a query can end with besides PromQL's own. The API maps them to
// Prometheus error types in one place (apiErrorFor).
var (
	// ErrTooManySeries: a query selected more series than Options.MaxSeries.
	ErrTooManySeries = errors.New("query selects too many series")
	// ErrTooManySamples: a query decoded more samples than Options.MaxSamples.
	ErrTooManySamples = errors.New("query reads too many samples")
)
