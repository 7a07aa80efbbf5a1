package main

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/query"
)

// QueryConfig configures PromQL and the Prometheus HTTP API (/api/v1/query,
// query_range, series, labels, ...). Zero values mean the defaults.
type QueryConfig struct {
	// LookbackDelta is the default staleness lookback; requests override it
	// with lookback_delta. Default 5m.
	LookbackDelta time.Duration `yaml:"lookback_delta"`
	// Timeout bounds every query's evaluation (a request's timeout can only
	// lower it). Default 30s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxSeries is the most series one query may select; 0 = no limit.
	MaxSeries int `yaml:"max_series"`
	// MaxSamples is the most samples one query may decode; 0 = no limit.
	MaxSamples int64 `yaml:"max_samples"`
	// MaxSamplesInMemory is the PromQL engine's in-memory sample limit,
	// subquery results included. Default 10,000,000.
	MaxSamplesInMemory int `yaml:"max_samples_in_memory"`
	// MaxPoints is the most evaluation steps of one query, its subqueries'
	// included, checked before evaluation. Default 1,000,000; -1 = none.
	MaxPoints int64 `yaml:"max_points"`
	// MaxQueryLength is the most bytes of a PromQL expression or match[]
	// selector (query, query_range, format_query, series, labels, export).
	// Default 16384; -1 = none.
	MaxQueryLength int `yaml:"max_query_length"`
	// MaxConcurrentQueries is the most data-reading requests served at once;
	// the rest wait MaxQueueDuration for a slot, then get 503. Default
	// 2 x GOMAXPROCS; -1 = none.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
	// MaxQueueDuration is how long a request waits for a slot. Default 10s.
	MaxQueueDuration time.Duration `yaml:"max_queue_duration"`
	// Parallelism is the number of goroutines decoding one select.
	// Default GOMAXPROCS.
	Parallelism int `yaml:"parallelism"`
	// DisableOptimizer turns off partition pruning, the postings cache and
	// parallel decoding (for comparisons).
	DisableOptimizer bool `yaml:"disable_optimizer"`
	// CacheBytes is the memory budget of the query caches (window cache
	// and postings cache; query/budget.go), reported as
	// lightningdb_query_cache_*. Default 16 MiB; -1 disables them.
	CacheBytes int64 `yaml:"cache_bytes"`
	// MetricsQLNames keeps the metric name where VictoriaMetrics keeps it
	// (avg/min/max/quantile_over_time) with Prometheus' delayed name
	// removal, so the queries TSBS writes for VictoriaMetrics run
	// unchanged. Default off: it changes some plain PromQL answers
	// (docs/query.md, "MetricsQL metric names").
	MetricsQLNames bool `yaml:"metricsql_names"`
}

// registerQuery serves PromQL and the Prometheus HTTP API on the mux.
func (s *server) registerQuery(reg prometheus.Registerer) error {
	qc := s.cfg.Query
	a, err := query.NewAdapter(s.db, query.Options{
		MaxSeries:            qc.MaxSeries,
		MaxSamples:           qc.MaxSamples,
		MaxSamplesInMemory:   qc.MaxSamplesInMemory,
		MaxPoints:            qc.MaxPoints,
		MaxQueryLength:       qc.MaxQueryLength,
		MaxConcurrentQueries: qc.MaxConcurrentQueries,
		MaxQueueDuration:     qc.MaxQueueDuration,
		Timeout:              qc.Timeout,
		LookbackDelta:        qc.LookbackDelta,
		Parallelism:          qc.Parallelism,
		DisableOptimizer:     qc.DisableOptimizer,
		MetricsQLNames:       qc.MetricsQLNames,
		CacheBytes:           qc.CacheBytes,
		Rollups:              s.ds.rollups(),
	})
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	opts := query.APIOptions{
		Logger:     s.log.With("component", "query"),
		Registerer: reg,
		BuildInfo:  buildInfo(),
	}
	if s.meta != nil { // remote write's metadata store (registerRemote runs first)
		opts.Metadata = func(metric string, limit int) any { return s.meta.List(metric, limit) }
	}
	api := query.NewAPI(a, opts)
	s.queryGate = api.Limit // InfluxQL's /query shares the slots (influxql.go)
	api.Register(s.rm)
	api.RegisterAdmin(s.rm, tieredDeleter{s.db, s.ds}, nil) // delete_series, clean_tombstones; the route guard checks admin
	s.rm.Handle("/api/v1/export", api.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveExport(w, r, api) })))
	return nil
}

// buildInfo reports the module version and VCS revision from the binary.
func buildInfo() query.BuildInfo {
	bi := query.BuildInfo{Version: "dev", Branch: "main"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return bi
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		bi.Version = v
	}
	bi.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			bi.Revision = s.Value
		case "vcs.time":
			bi.BuildDate = s.Value
		}
	}
	return bi
}
