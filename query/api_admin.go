package query

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/tagindex"
)

// Deleter deletes samples and compacts deletions away; *engine.DB
// satisfies it.
type Deleter interface {
	// Delete deletes the samples of series ids in [minT, maxT] (ns,
	// inclusive) written before the call, durably.
	Delete(ctx context.Context, ids *roaring.Bitmap, minT, maxT int64) error
	// CleanTombstones rewrites the data that deletions hide without it.
	CleanTombstones(ctx context.Context) error
}

// SelectorDeleter is a Deleter that deletes by the selectors of a
// delete_series call as well as by the series IDs they name in the raw
// index: where a Deleter implements it, delete_series calls DeleteSelected
// instead of Delete. The server's rollup tiers hold series of their own,
// which the selectors reach and the raw IDs do not.
type SelectorDeleter interface {
	DeleteSelected(ctx context.Context, ids *roaring.Bitmap, sets [][]*tagindex.Matcher, minT, maxT int64) error
}

// RegisterAdmin serves Prometheus' TSDB admin endpoints that change data,
// POST or PUT /api/v1/admin/tsdb/delete_series?match[]=&start=&end= and
// /api/v1/admin/tsdb/clean_tombstones (204 on success), through guard
// (the server's write authentication; nil for none).
func (api *API) RegisterAdmin(mux Mux, d Deleter, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	methods := []string{http.MethodPost, http.MethodPut}
	mux.Handle("/api/v1/admin/tsdb/delete_series", guard(api.handler(methods, func(w http.ResponseWriter, r *http.Request) {
		api.serveDeleteSeries(w, r, d)
	})))
	mux.Handle("/api/v1/admin/tsdb/clean_tombstones", guard(api.handler(methods, func(w http.ResponseWriter, r *http.Request) {
		if err := d.CleanTombstones(r.Context()); err != nil {
			api.respondError(w, &apiError{errorInternal, err}, nil)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
}

// serveDeleteSeries deletes the samples of the series matching any
// match[] selector between start and end (default: all time), as
// Prometheus' delete_series does: samples written later are kept.
func (api *API) serveDeleteSeries(w http.ResponseWriter, r *http.Request, d Deleter) {
	if len(r.Form["match[]"]) == 0 {
		api.respondError(w, badData(errors.New("no match[] parameter provided")), nil)
		return
	}
	minT, maxT, e := timeRange(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	if maxT < minT {
		api.respondError(w, badData(errors.New("end timestamp must not be before start time")), nil)
		return
	}
	sets, e := api.matcherSets(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	ids := roaring.New()
	for _, tms := range sets {
		bm, err := api.a.st.Index().Postings(minT, maxT, tms...)
		if err != nil {
			api.respondError(w, badData(err), nil)
			return
		}
		ids.Or(bm)
	}
	del := func() error { return d.Delete(r.Context(), ids, minT, maxT) }
	if sd, ok := d.(SelectorDeleter); ok {
		del = func() error { return sd.DeleteSelected(r.Context(), ids, sets, minT, maxT) }
	}
	if err := del(); err != nil {
		api.respondError(w, &apiError{errorInternal, fmt.Errorf("delete series: %w", err)}, nil)
		return
	}
	api.log.Info("delete_series", "match", r.Form["match[]"], "series", ids.GetCardinality(), "min", minT, "max", maxT)
	w.WriteHeader(http.StatusNoContent)
}
