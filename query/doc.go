// Package query evaluates PromQL over Lightning DB and serves the
// Prometheus HTTP API that Grafana speaks.
//
// The layers, from the wire down:
//
//	API (api.go)          /api/v1/query, query_range, series, labels, ...
//	   |                  envelope, error types and status codes as Prometheus
//	promql.Engine         github.com/prometheus/prometheus/promql, unchanged
//	   |  storage.Queryable
//	Adapter (adapter.go)  the optimizer: matcher plan, partition pruning,
//	   |                  postings cache, parallel decoding, limits, explain
//	Storage (storage.go)  Index() + Registry() + Select(id, minT, maxT, it)
//
// Storage is the seam to the engine: today *engine.DB satisfies it with one
// Select per series; the engine's multi-series Querier (segments, access
// pattern hints, block aggregates) plugs in behind the same interface, and
// pushdown of *_over_time hooks into Adapter.Select (see pushdown.go).
//
// Time: the engine and the tag index count int64 nanoseconds; PromQL counts
// milliseconds. Samples whose timestamps fall in the same millisecond are
// read as one, the last one winning, so PromQL always sees strictly
// increasing timestamps.
//
// Concurrency: an Adapter is safe for concurrent use; a querier, the series
// sets and iterators it returns are used by one query at a time, as the
// PromQL engine does.
package query
