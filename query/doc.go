// Package query evaluates PromQL over Lightning DB and serves the
// Prometheus HTTP API that Grafana speaks.
//
// The layers, from the wire down:
//
//	API (api.go)          /api/v1/query, query_range, series, labels, ...
//	   |                  envelope, error types and status codes as Prometheus
//	promql.Engine         github.com/prometheus/prometheus/promql, unchanged;
//	   |                  bypassed by direct aggregation (direct.go)
//	   |  storage.Queryable
//	Adapter (adapter.go)  the optimizer: matcher plan, partition pruning,
//	   |                  postings cache, parallel decoding, limits, explain;
//	   |                  pushdown of *_over_time, rate and increase and of
//	   |                  unions of label_replace'd calls (pushdown*.go),
//	   |                  label projection (projection.go), window cache
//	   |                  (rcache.go); one memory budget for the caches
//	   |                  (budget.go)
//	Storage (storage.go)  Index() + Registry() + Querier(minT, maxT)
//
// Storage is the seam to the engine: *engine.DB satisfies it. A select
// opens one engine Querier (a consistent view of memtables and segments)
// and reads its series in blocks through SelectSorted with an
// access-pattern hint (decode.go choosePattern).
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
