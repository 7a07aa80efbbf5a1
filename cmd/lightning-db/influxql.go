package main

import (
	"fmt"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// setupInfluxQL opens the measurement catalog of the data directory,
// forgets the entries whose series are gone (deleted or expired while the
// server was down or since the catalog was written), and returns the
// executor that answers InfluxQL on /query.
func (s *server) setupInfluxQL() (*influxql.Executor, *influxql.Catalog, error) {
	cat, err := influxql.OpenCatalog(s.cfg.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("influxql: %w", err)
	}
	qc := s.cfg.Query
	ex := influxql.New(s.db, influxql.Options{
		DBLabel:    s.cfg.Influx.DBLabel,
		Catalog:    cat,
		MaxSeries:  qc.MaxSeries,
		MaxSamples: qc.MaxSamples,
		MaxPoints:  qc.MaxPoints,
		Timeout:    qc.Timeout,
	})
	if n, err := cat.Prune(ex.Live); err != nil {
		s.log.Warn("influx catalog prune failed", "err", err)
	} else if n > 0 {
		s.log.Info("influx catalog: forgot measurements fields without series", "entries", n)
	}
	return ex, cat, nil
}
