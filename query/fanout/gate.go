package fanout

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/lightningdb/lightningdb/query"
)

// gate bounds the requests a query node serves at once, as the local
// API's does (query/gate.go): each holds a slot while it runs; one that
// finds none waits up to the queue time, then gets 503 with Retry-After.
// Each request fans out to every peer, so without it a burst multiplies
// on the peers too.
type gate struct {
	slots chan struct{}
	wait  time.Duration
}

func newGate(n int, wait time.Duration) *gate {
	if n <= 0 {
		return nil
	}
	return &gate{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most g.wait or until ctx ends; a nil
// gate admits everything.
func (g *gate) acquire(ctx context.Context) (release func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return func() { <-g.slots }, nil
	case <-t.C:
		return nil, fmt.Errorf("%w: %d requests are running and none finished within %s (query.max_concurrent_queries, query.max_queue_duration)",
			query.ErrTooManyQueries, cap(g.slots), g.wait)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// limit wraps h in the gate.
func (g *gate) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := g.acquire(r.Context())
		if err != nil {
			w.Header().Set("Retry-After", "1")
			respondError(w, errorType{"unavailable", http.StatusServiceUnavailable}, err)
			return
		}
		defer release()
		h.ServeHTTP(w, r)
	})
}
