package query

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The query caches share one memory budget, Options.CacheBytes: the window
// cache (rcache.go) gets seven eighths of it and the postings cache
// (cache.go) one eighth. Each counts what it holds in bytes (the window
// lists by capacity, the bitmaps by their serialized size, plus a fixed
// overhead per entry) and drops entries past its share. Decoded samples
// are not cached across queries: the arenas a query decodes into return
// to a pool when it ends, which the garbage collector empties.
//
// Why a fixed split rather than one pool: an entry of either cache is
// worth a different amount of work, so a shared pool would let one fill
// the budget and starve the other. Windows are the larger and the more
// valuable one (an hour's window saves decoding 360 samples per series and
// step); a postings entry saves resolving matchers, a few per query.

// windowShare is the window cache's share of the budget, in eighths.
const windowShare = 7

// shares returns the byte bounds of the window and postings caches.
func (o *Options) shares() (window, postings int64) {
	window = o.CacheBytes / 8 * windowShare
	return window, o.CacheBytes - window
}

// cacheCounters counts one cache's lookups and evictions.
type cacheCounters struct {
	hits, misses, evictions atomic.Int64
}

// CacheStats is what one query cache holds and did.
type CacheStats struct {
	Entries     int   // windows for the window cache, bitmaps for postings
	Bytes       int64 // memory held, as the budget counts it
	BudgetBytes int64 // its share of Options.CacheBytes
	Hits        int64 // lookups answered (window cache: a series' windows, all found)
	Misses      int64
	Evictions   int64 // entries dropped to stay within the bounds (window cache: series' lists)
}

// CacheStats returns the window and postings caches' stats (zero for a
// disabled cache).
func (a *Adapter) CacheStats() (window, postings CacheStats) {
	if c := a.wcache; c != nil {
		window = CacheStats{BudgetBytes: c.maxBytes, Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(),
			Evictions: c.stats.evictions.Load()}
		window.Entries, window.Bytes = c.usage()
	}
	if c := a.cache; c != nil {
		postings = CacheStats{BudgetBytes: c.maxBytes, Hits: c.stats.hits.Load(), Misses: c.stats.misses.Load(),
			Evictions: c.stats.evictions.Load()}
		postings.Entries, postings.Bytes = c.usage()
	}
	return window, postings
}

// cacheCollector exports CacheStats as metrics, read at each scrape, and
// the count of direct aggregations.
type cacheCollector struct {
	a                                    *Adapter
	budget, bytes, entries               *prometheus.Desc
	hits, misses, evictions, totalBudget *prometheus.Desc
	direct                               *prometheus.Desc
}

func newCacheCollector(a *Adapter) *cacheCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &cacheCollector{a: a,
		totalBudget: d("query_cache_budget_bytes", "Memory budget of the query caches (query.cache_bytes)."),
		budget:      d("query_cache_share_bytes", "Each query cache's share of the budget.", "cache"),
		bytes:       d("query_cache_bytes", "Memory each query cache holds, as the budget counts it.", "cache"),
		entries:     d("query_cache_entries", "Entries each query cache holds: windows (window), bitmaps (postings).", "cache"),
		hits:        d("query_cache_hits_total", "Lookups a query cache answered.", "cache"),
		misses:      d("query_cache_misses_total", "Lookups a query cache could not answer.", "cache"),
		evictions:   d("query_cache_evictions_total", "Entries a query cache dropped to stay within its bounds.", "cache"),
		direct:      d("query_direct_total", "Range queries answered by direct aggregation, without the PromQL engine (query/direct.go)."),
	}
}

// Describe implements prometheus.Collector.
func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.totalBudget, c.budget, c.bytes, c.entries, c.hits, c.misses, c.evictions, c.direct} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.totalBudget, prometheus.GaugeValue, float64(max(c.a.opts.CacheBytes, 0)))
	ch <- prometheus.MustNewConstMetric(c.direct, prometheus.CounterValue, float64(c.a.direct.Load()))
	w, p := c.a.CacheStats()
	for _, s := range []struct {
		name string
		st   CacheStats
	}{{"window", w}, {"postings", p}} {
		ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(s.st.BudgetBytes), s.name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.st.Bytes), s.name)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(s.st.Entries), s.name)
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(s.st.Hits), s.name)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(s.st.Misses), s.name)
		ch <- prometheus.MustNewConstMetric(c.evictions, prometheus.CounterValue, float64(s.st.Evictions), s.name)
	}
}
