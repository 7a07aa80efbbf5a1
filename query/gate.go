package query

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Gate bounds the requests that read data at once (query, query_range,
// series, labels, label values, exemplars, export). Each holds a slot
// while it runs; a request that finds none waits up to the queue time,
// then is refused with 503 and Retry-After, as VictoriaMetrics does past
// -search.maxConcurrentRequests and -search.maxQueueDuration. Without it,
// a burst of expensive queries on a small machine runs all at once: each
// slows the others until every one times out, and their memory adds up.
type Gate struct {
	slots chan struct{}
	wait  time.Duration
}

// NewGate returns a gate of n slots and a queue time of wait; nil (admit
// everything) when n <= 0. The query node's API (query/fanout) uses one too.
func NewGate(n int, wait time.Duration) *Gate {
	if n <= 0 {
		return nil
	}
	return &Gate{slots: make(chan struct{}, n), wait: wait}
}

// Acquire takes a slot, waiting at most g.wait or until ctx ends. The
// returned release must be called once the request is done. A nil gate
// admits everything.
func (g *Gate) Acquire(ctx context.Context) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	select {
	case g.slots <- struct{}{}:
		return g.release, nil
	default:
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return g.release, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d requests are running and none finished within %s (query.max_concurrent_queries, query.max_queue_duration)",
			ErrTooManyQueries, cap(g.slots), g.wait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gate) release() { <-g.slots }

// Limit wraps h so that it holds one of the API's query slots while it
// runs (the export endpoint, served outside the API, uses it).
func (api *API) Limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := api.gate.Acquire(r.Context())
		if err != nil {
			api.respondError(w, apiErrorFor(err), nil)
			return
		}
		defer release()
		h.ServeHTTP(w, r)
	})
}
