package remote

import (
	"maps"
	"sort"
	"sync"
)

// MetricMetadata is what a sender says about a metric family, in the shape
// of Prometheus's /api/v1/metadata.
type MetricMetadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// Metadata keeps the latest metadata received for each metric name, in
// memory only (senders resend it: Prometheus every minute with 1.0, with
// every series with 2.0). It is bounded: past MaxMetrics names, new names
// are dropped (existing ones still update). It is safe for concurrent use;
// the query layer serves /api/v1/metadata from List.
type Metadata struct {
	max int
	// OnChange, when set before the store is used, is told of each
	// metric whose metadata this node's senders changed, compared with
	// what they last sent (not with Learn's rows: two nodes whose senders
	// disagree do not tell each other again at every send): a cluster
	// node shares it (docs/cluster.md). It must not block.
	OnChange func(metric string, m MetricMetadata)
	// mu protects m.
	mu      sync.RWMutex
	m       map[string]MetricMetadata
	sent    map[string]MetricMetadata // what senders last sent, with OnChange
	dropped int64
}

// NewMetadata returns a store for at most maxMetrics names (0: 100,000).
func NewMetadata(maxMetrics int) *Metadata {
	if maxMetrics <= 0 {
		maxMetrics = 100_000
	}
	return &Metadata{max: maxMetrics, m: make(map[string]MetricMetadata), sent: make(map[string]MetricMetadata)}
}

// Get returns the metadata of one metric.
func (md *Metadata) Get(metric string) (MetricMetadata, bool) {
	md.mu.RLock()
	defer md.mu.RUnlock()
	m, ok := md.m[metric]
	return m, ok
}

// Len returns the number of metrics with metadata.
func (md *Metadata) Len() int {
	md.mu.RLock()
	defer md.mu.RUnlock()
	return len(md.m)
}

// List returns metadata as /api/v1/metadata answers it: metric name to a
// list of entries (here always one, the latest). metric, when not empty,
// selects one name; limit > 0 bounds the number of names (the first in
// name order). The map is the caller's.
func (md *Metadata) List(metric string, limit int) map[string][]MetricMetadata {
	md.mu.RLock()
	defer md.mu.RUnlock()
	out := make(map[string][]MetricMetadata)
	if metric != "" {
		if m, ok := md.m[metric]; ok {
			out[metric] = []MetricMetadata{m}
		}
		return out
	}
	names := make([]string, 0, len(md.m))
	for n := range md.m {
		names = append(names, n)
	}
	sort.Strings(names)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	for _, n := range names {
		out[n] = []MetricMetadata{md.m[n]}
	}
	return out
}

// set stores metadata for name. It allocates only when something changed,
// so senders repeating the same metadata cost a map look-up.
func (md *Metadata) set(name []byte, typ string, help, unit []byte) {
	if len(name) == 0 {
		return
	}
	same := func(o MetricMetadata) bool { return o.Type == typ && o.Help == string(help) && o.Unit == string(unit) }
	md.mu.RLock()
	old, ok := md.m[string(name)]
	sent, wasSent := md.sent[string(name)]
	full := len(md.m) >= md.max
	md.mu.RUnlock()
	tell := md.OnChange != nil && !(wasSent && same(sent))
	if ok && same(old) && !tell {
		return
	}
	if !ok && full {
		md.mu.Lock()
		md.dropped++
		md.mu.Unlock()
		return
	}
	m := MetricMetadata{Type: typ, Help: string(help), Unit: string(unit)}
	if md.store(string(name), m) && tell {
		md.mu.Lock()
		md.sent[string(name)] = m
		md.mu.Unlock()
		md.OnChange(string(name), m)
	}
}

// Sent returns what this node's senders last sent (OnChange set), one
// entry per metric: what a cluster node puts again when its bucket lacks
// it.
func (md *Metadata) Sent() map[string]MetricMetadata {
	md.mu.RLock()
	defer md.mu.RUnlock()
	return maps.Clone(md.sent)
}

// Learn stores m for metric as a sender's metadata is stored, without
// telling OnChange: another node's row.
func (md *Metadata) Learn(metric string, m MetricMetadata) {
	if metric != "" {
		md.store(metric, m)
	}
}

// store keeps m for name unless the store is full of other names, and
// reports whether it did.
func (md *Metadata) store(name string, m MetricMetadata) bool {
	md.mu.Lock()
	defer md.mu.Unlock()
	if _, ok := md.m[name]; ok || len(md.m) < md.max {
		md.m[name] = m
		return true
	}
	md.dropped++
	return false
}

// metricTypes maps the MetricType enum (the same numbers in 1.0 and 2.0)
// to the names Prometheus's API uses.
var metricTypes = [...]string{"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"}

func metricTypeName(v uint64) string {
	if v < uint64(len(metricTypes)) {
		return metricTypes[v]
	}
	return "unknown"
}
