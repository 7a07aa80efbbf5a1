package fanout

import (
	"net/http"
	"time"

	"github.com/lightningdb/lightningdb/query"
)

// gate bounds the requests a query node serves at once with the local
// API's gate (query.Gate): each holds a slot while it runs; one that finds
// none waits up to the queue time, then gets 503 with Retry-After. Each
// request fans out to every peer, so without it a burst multiplies on the
// peers too.
type gate struct{ g *query.Gate }

func newGate(n int, wait time.Duration) gate { return gate{query.NewGate(n, wait)} }

// limit wraps h in the gate.
func (g gate) limit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := g.g.Acquire(r.Context())
		if err != nil {
			w.Header().Set("Retry-After", "1")
			respondError(w, errorType{"unavailable", http.StatusServiceUnavailable}, err)
			return
		}
		defer release()
		h.ServeHTTP(w, r)
	})
}
