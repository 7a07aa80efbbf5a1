package query

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Options configure an Adapter and the API. The zero value of each field
// means its default.
type Options struct {
	// MaxSeries is the most series one query may select, over all its
	// selectors, after pruning. 0 means no limit.
	MaxSeries int
	// MaxSamples is the most samples one query may decode. 0 means no limit.
	// (The PromQL engine's own limit on samples held in memory at once is
	// MaxSamplesInMemory.)
	MaxSamples int64
	// MaxSamplesInMemory is promql.EngineOpts.MaxSamples: the most samples
	// one query holds in memory at once, subquery results included.
	// Default 10,000,000 (Prometheus' is 50,000,000, 800 MB of points
	// before overhead; a fifth of it suits a small machine).
	MaxSamplesInMemory int
	// MaxPoints is the most evaluation steps one query may take: its own
	// steps plus every subquery's (limits.go queryPoints), checked on the
	// parsed query before the engine allocates anything for it. Default
	// 1,000,000; negative means no limit.
	MaxPoints int64
	// MaxQueryLength is the most bytes of a PromQL expression or of one
	// match[] selector, checked before parsing (parsing and evaluating a
	// deep expression grow faster than its length). Default 16384,
	// VictoriaMetrics' -search.maxQueryLen; negative means no limit.
	MaxQueryLength int
	// Timeout bounds every query's evaluation (the engine checks it between
	// steps); a request's timeout parameter can only lower it. Default 30s
	// (Prometheus' is 2m; Grafana gives up on a data source after 30s).
	Timeout time.Duration
	// MaxConcurrentQueries is the most requests that read data (query,
	// query_range, series, labels, label values, exemplars, export) served
	// at once; the rest wait up to MaxQueueDuration, then get 503 with
	// Retry-After. Default 2 x GOMAXPROCS (VictoriaMetrics'
	// -search.maxConcurrentRequests); negative means no limit.
	MaxConcurrentQueries int
	// MaxQueueDuration is how long a request waits for a query slot.
	// Default 10s (VictoriaMetrics' -search.maxQueueDuration).
	MaxQueueDuration time.Duration
	// LookbackDelta is the default staleness lookback; a request's
	// lookback_delta parameter overrides it. Default 5m.
	LookbackDelta time.Duration
	// Parallelism is the number of goroutines decoding series of one
	// select. Default GOMAXPROCS; 1 decodes in the caller's goroutine.
	Parallelism int
	// ParallelMinSeries is the smallest selection decoded in parallel.
	// Default 16.
	ParallelMinSeries int
	// CacheBytes is the memory budget of the query caches (budget.go): the
	// window cache gets seven eighths, the postings cache one eighth, and
	// each drops entries past its share. Default 16 MiB; negative disables
	// both.
	CacheBytes int64
	// CacheEntries bounds the postings cache (matchers and partition ->
	// series bitmap) in entries, within its share of CacheBytes. Default
	// 4096; negative disables it.
	CacheEntries int
	// WindowCacheEntries bounds the cache of pushed-down window results
	// over final data (rcache.go) in windows, within its share of
	// CacheBytes. Default 1<<20 (CacheBytes bounds it first: 16 MiB hold
	// about 420,000 windows); negative disables it.
	WindowCacheEntries int
	// DisableOptimizer turns off partition pruning, the postings cache,
	// parallel decoding and pushdown: the baseline the tests compare the
	// optimizer with.
	DisableOptimizer bool
	// DisablePushdown turns off aggregation pushdown alone (pushdown.go).
	DisablePushdown bool
	// Rollups are the downsampling tiers pushdown may read, shortest
	// interval first (rollup.go); none by default.
	Rollups []RollupTier
	// MetricsQLNames keeps the metric name where VictoriaMetrics' MetricsQL
	// keeps it: avg_over_time, min_over_time, max_over_time and
	// quantile_over_time keep it, and the PromQL engine removes the others'
	// names only at the end of the evaluation (Prometheus' delayed name
	// removal), so `max(max_over_time({__name__=~"a|b"}[1m])) by (__name__)`,
	// as TSBS writes it for VictoriaMetrics, answers one series per name
	// instead of failing (names.go). It changes some answers of plain
	// PromQL, so it is off by default (docs/query.md).
	MetricsQLNames bool
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	o := Options{}
	o.ensureDefaults()
	return o
}

func (o *Options) ensureDefaults() {
	if o.MaxSamplesInMemory == 0 {
		o.MaxSamplesInMemory = 10_000_000
	}
	if o.MaxPoints == 0 {
		o.MaxPoints = 1_000_000
	}
	if o.MaxQueryLength == 0 {
		o.MaxQueryLength = 16 << 10
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxConcurrentQueries == 0 {
		o.MaxConcurrentQueries = 2 * runtime.GOMAXPROCS(0)
	}
	if o.MaxQueueDuration == 0 {
		o.MaxQueueDuration = 10 * time.Second
	}
	if o.LookbackDelta == 0 {
		o.LookbackDelta = 5 * time.Minute
	}
	if o.Parallelism == 0 {
		o.Parallelism = runtime.GOMAXPROCS(0)
	}
	if o.ParallelMinSeries == 0 {
		o.ParallelMinSeries = 16
	}
	if o.CacheEntries == 0 {
		o.CacheEntries = 4096
	}
	if o.WindowCacheEntries == 0 {
		o.WindowCacheEntries = 1 << 20
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = 16 << 20
	}
}

func (o *Options) validate() error {
	var errs []error
	if o.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf("max series %d is negative", o.MaxSeries))
	}
	if o.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("max samples %d is negative", o.MaxSamples))
	}
	if o.MaxQueryLength > 0 && o.MaxQueryLength < 64 {
		errs = append(errs, fmt.Errorf("max query length %d is below 64 bytes", o.MaxQueryLength))
	}
	if o.MaxSamplesInMemory < 0 {
		errs = append(errs, fmt.Errorf("max samples in memory %d is negative", o.MaxSamplesInMemory))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s is negative", o.Timeout))
	}
	if o.MaxQueueDuration < 0 {
		errs = append(errs, fmt.Errorf("max queue duration %s is negative", o.MaxQueueDuration))
	}
	if o.LookbackDelta < 0 {
		errs = append(errs, fmt.Errorf("lookback delta %s is negative", o.LookbackDelta))
	}
	if o.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("parallelism %d is negative", o.Parallelism))
	}
	for i, t := range o.Rollups {
		if t.Interval < time.Millisecond || t.Interval%time.Millisecond != 0 || t.Storage == nil || t.BuiltThrough == nil || t.Covers == nil {
			errs = append(errs, fmt.Errorf("rollup tier %d: want an interval of whole milliseconds, a storage, BuiltThrough and Covers", i))
		}
	}
	return errors.Join(errs...)
}
