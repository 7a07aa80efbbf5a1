package main

import (
	"fmt"
	"net/http"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// setupInfluxQL opens the measurement catalog of the data directory,
// forgets the entries whose series are gone (deleted or expired while the
// server was down or since the catalog was written), and returns the
// executor that answers InfluxQL on /query.
func (s *server) setupInfluxQL(known func(db string) bool) (*influxql.Executor, *influxql.Catalog, error) {
	cat, err := influxql.OpenCatalog(s.cfg.DataDir, influxql.CatalogOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("influxql: %w", err)
	}
	qc := s.cfg.Query
	maxSamples := qc.MaxSamples // InfluxQL holds what it decodes: bounded by the in-memory limit too
	if maxSamples <= 0 || qc.MaxSamplesInMemory > 0 && int64(qc.MaxSamplesInMemory) < maxSamples {
		maxSamples = int64(qc.MaxSamplesInMemory)
	}
	ex := influxql.New(s.db, influxql.Options{
		DBLabel:    s.cfg.Influx.DBLabel,
		Catalog:    cat,
		MaxSeries:  qc.MaxSeries,
		MaxSamples: maxSamples,
		MaxPoints:  qc.MaxPoints,
		Timeout:    qc.Timeout,
		// "database not found" for a SELECT on a database without series
		// that was neither created nor written since start nor has
		// retention policies.
		DatabaseExists: known,
	})
	if n, err := cat.Prune(ex.Live); err != nil {
		s.log.Warn("influx catalog prune failed", "err", err)
	} else if n > 0 {
		s.log.Info("influx catalog: forgot measurements fields without series", "entries", n)
	}
	return ex, cat, nil
}

// limitInfluxQL makes /query hold one of the query API's slots while it
// runs. The API is made after the InfluxDB handler, so the gate is looked
// up per request; requests are served only once both exist.
func (s *server) limitInfluxQL(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.queryGate == nil {
			h.ServeHTTP(w, r)
			return
		}
		s.queryGate(h).ServeHTTP(w, r)
	})
}
