package query

import "github.com/prometheus/prometheus/storage"

// pushdown is the hook for answering *_over_time (and rate/increase over
// long ranges) from block-level aggregates instead of decoding samples.
//
// Not done: it needs the engine's segments with per-block min/max/sum/
// count, which another change is building. The plan, from the select
// hints: when hints.Func is one of max_over_time, min_over_time,
// sum_over_time, count_over_time, avg_over_time and hints.Range spans whole
// blocks, ask the storage (through an optional interface asserted on
// Storage, e.g. BlockAggregates(id, minT, maxT) with partial blocks decoded)
// for per-step results, and return a series set the PromQL engine consumes
// unchanged. Because Prometheus' engine evaluates the function itself, the
// pushed-down set must still yield samples whose evaluation gives the same
// result; the cleaner home is a logical-plan rewrite (see docs/query.md).
//
// It reports what it did for explain; today it always declines.
func (q *querier) pushdown(hints *storage.SelectHints) (string, bool) {
	if hints == nil {
		return "", false
	}
	switch hints.Func {
	case "max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time":
		return "not done: needs block aggregates from engine segments", true
	}
	return "", false
}
