package remote

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/lightningdb/lightningdb/series"
)

// Appender stores batches durably; the engine satisfies it and cmd wires
// it. Append returns after the batch is durable; it stores every series of
// the batch except those listed in AppendResult.Rejected. An error means
// nothing was stored. Append must not retain b.
type Appender interface {
	Append(ctx context.Context, b *series.Batch) (series.AppendResult, error)
}

// Handler serves POST /api/v1/write (remote write 1.0 and 2.0) and
// POST /api/v1/read (remote read). It is safe for concurrent use.
type Handler struct {
	app     Appender
	store   Storage
	opts    Options
	c       counters
	state   sync.Pool     // *writeState
	cache   *seriesCache  // label fields -> canonical labels and ID; nil when off
	readSem chan struct{} // bounds concurrent remote reads
}

// NewHandler returns a handler that appends to app and reads from store
// (nil: remote read answers 501). It fails on invalid options or when
// the metrics cannot be registered.
func NewHandler(app Appender, store Storage, opts Options) (*Handler, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("remote handler options: %w", err)
	}
	h := &Handler{app: app, store: store, opts: opts, readSem: make(chan struct{}, opts.ReadConcurrency)}
	if err := h.c.register(opts.Registerer); err != nil {
		return nil, fmt.Errorf("register remote metrics: %w", err)
	}
	h.state.New = func() any { return &writeState{} }
	h.cache = newSeriesCache(opts.SeriesCacheSize)
	return h, nil
}

// Register adds /api/v1/write and /api/v1/read to mux.
func (h *Handler) Register(mux Mux) {
	mux.HandleFunc("/api/v1/write", h.recovered(h.ServeWrite))
	mux.HandleFunc("/api/v1/read", h.recovered(h.ServeRead))
}

// Metadata returns the store that remote write fills; the query layer
// serves /api/v1/metadata from it.
func (h *Handler) Metadata() *Metadata { return h.opts.Metadata }

// Stats returns the handler's counters.
func (h *Handler) Stats() Stats { return h.c.stats() }

// recovered turns a panic of a request into a logged 500. http's own
// ErrAbortHandler (used to cut a streamed answer) passes through.
func (h *Handler) recovered(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				h.opts.Logger.Error("panic in remote handler", "path", r.URL.Path, "panic", p)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		fn(w, r)
	}
}

// Mux is where Register adds the endpoints: an *http.ServeMux, or a
// wrapper that guards each route (cmd's routeMux).
type Mux interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}
