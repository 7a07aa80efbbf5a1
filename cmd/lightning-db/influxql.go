package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// setupInfluxQL opens the measurement catalog of the data directory,
// forgets the entries whose series are gone (deleted or expired while the
// server was down or since the catalog was written, and held by no rollup
// tier), and returns the
// executor that answers InfluxQL on /query.
func (s *server) setupInfluxQL(known func(db string) bool) (*influxql.Executor, *influxql.Catalog, error) {
	cat, err := influxql.OpenCatalog(s.cfg.DataDir, influxql.CatalogOptions{Keys: s.keys, OnNew: s.catShare.publish})
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
		// "retention policy not found" for an rp the database lacks (its
		// policies, the implicit autogen included); every policy reads the
		// same series.
		RetentionPolicyExists: s.retentionPolicyExists,
		// GROUP BY time() aggregates read the rollup tiers as PromQL
		// does; measurements only a tier holds stay in the catalog.
		Rollups: s.ds.rollups(),
	})
	if s.cfg.Cluster.enabled() {
		// A cluster node's catalog is the cluster's (shareCatalog): an
		// ingest or query node holds no series of its own, and the
		// bucket never forgets rows, so pruning would only lose the rows
		// the start-up reconcile puts.
		return ex, cat, nil
	}
	if n, err := cat.Prune(ex.Live); err != nil {
		s.log.Warn("influx catalog prune failed", "err", err)
	} else if n > 0 {
		s.log.Info("influx catalog: forgot measurements fields without series", "entries", n)
	}
	return ex, cat, nil
}

// limitInfluxQL makes /query hold one of the query API's slots while it
// runs. The API is made after the InfluxDB handler, so the gate is looked
// up per request; requests are served only once both exist. A refusal
// (503, all slots busy) is answered in InfluxDB's shape, {"error":"..."},
// with the gate's Retry-After.
func (s *server) limitInfluxQL(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.queryGate == nil {
			h.ServeHTTP(w, r)
			return
		}
		ran := false
		inner := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			ran = true
			h.ServeHTTP(w, r)
		})
		refusal := &gateRefusal{header: http.Header{}, Code: http.StatusServiceUnavailable}
		s.queryGate(inner).ServeHTTP(refusal, r)
		if ran {
			return
		}
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(refusal.Body.Bytes(), &body) != nil || body.Error == "" {
			body.Error = strings.TrimSpace(refusal.Body.String())
		}
		if ra := refusal.Header().Get("Retry-After"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(refusal.Code)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// gateRefusal keeps what the query gate answers when it refuses a
// request, to be answered again in InfluxDB's shape.
type gateRefusal struct {
	header http.Header
	Code   int
	Body   bytes.Buffer
}

func (g *gateRefusal) Header() http.Header         { return g.header }
func (g *gateRefusal) Write(b []byte) (int, error) { return g.Body.Write(b) }
func (g *gateRefusal) WriteHeader(code int)        { g.Code = code }

// retentionPolicyExists reports whether db has the retention policy rp,
// the implicit default (autogen) included.
func (s *server) retentionPolicyExists(db, rp string) bool {
	if s.ret == nil {
		return true
	}
	for _, p := range s.ret.store.List(db, s.ret.policy.DatabaseDefault(db)) {
		if p.Name == rp {
			return true
		}
	}
	return false
}
