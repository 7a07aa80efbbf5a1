// Package fanout answers PromQL and the Prometheus HTTP API for a set of
// storage nodes (peers) that each hold part of the data.
//
// The model:
//
//	API (api.go)            /api/v1/query, query_range, series, labels,
//	   |                    label/<name>/values, read (readapi.go),
//	   |                    status/buildinfo
//	   |-- distributed      max(max_over_time) and min(min_over_time)
//	   |   (distribute.go)  sent whole to every peer, merged by max/min
//	promql.Engine           unchanged, for every other query
//	   |  storage.Queryable
//	Queryable (queryable.go) one Select = one streamed remote read
//	   |                    (STREAMED_XOR_CHUNKS, read.go, decode.go) per
//	   |                    peer, in parallel, each within
//	   |                    Options.PeerTimeout; label names and values,
//	   |                    and /api/v1/series, through each peer's HTTP
//	   |                    API (meta.go)
//	Topology (topology.go)  which peers to ask, and which partitions have
//	                        no live owner
//
// SelectTyped (typed.go) reads the same way but asks the peers for our
// typed remote read answers (remote.ReadTypedSeries: value types, raw
// values, strings, nanosecond timestamps), for InfluxQL on a query node
// (cmd/lightning-db/influxfan.go); the PromQL path never uses it.
//
// Pushdown: the matchers and the select's time range (the hints' range,
// the lookback or the range selector included) go to every peer; our
// remote read takes no step or function hints, so aggregation happens
// here, except for the shapes distribute.go sends whole (exact for any
// placement of the series; sum, count and avg are not).
//
// Merge (merge.go): series with the same label set from different peers
// are one series; samples with the same timestamp are kept once, the
// first peer's in Topology order (a partition that is moving is held by
// two nodes for a while, with the same samples).
//
// Completeness: a peer that is refused, times out, answers 5xx or cuts its
// stream, and every partition Topology reports missing, becomes a warning
// that names it (the Prometheus answer's "warnings"); with partial
// responses denied (Options.PartialResponse false, or partial_response=false
// on the request) the query fails instead (ErrPartialResponse, 422
// "execution" as Thanos answers). A peer's 4xx (a bad matcher, a limit) fails
// the query whatever the setting: it is no outage, and the other peers'
// answers would be as wrong. No answer is ever short without saying so.
//
// Concurrency: a Queryable and an API are safe for concurrent use.
package fanout
