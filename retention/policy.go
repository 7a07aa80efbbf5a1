package retention

import (
	"maps"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// LabelSource resolves a series ID to its canonical labels
// (series.Labels AppendCanonical); nil means unknown. *series.Registry
// satisfies it.
type LabelSource interface {
	Labels(id series.ID) []byte
}

// Policy answers how long each series is kept: the engine's per-series
// retention interface. The answer is cached per series ID; changing the
// run-time database durations clears the cache. It is safe for
// concurrent use.
type Policy struct {
	rules   *Rules
	dbLabel string
	src     LabelSource

	mu  sync.RWMutex // protects dbs, cache
	dbs map[string]time.Duration
	// cache holds the answer per series ID (IDs are dense), unset where
	// not yet known: 8 bytes a series.
	cache []time.Duration
	gen   atomic.Uint64 // bumped by every change of dbs
}

// unset marks a cache slot not yet computed.
const unset time.Duration = math.MinInt64

// NewPolicy returns a policy over rules (nil: keep everything) that reads
// labels from src. dbLabel names the database label ("db" when empty).
func NewPolicy(rules *Rules, dbLabel string, src LabelSource) *Policy {
	if rules == nil {
		rules = &Rules{}
	}
	if dbLabel == "" {
		dbLabel = "db"
	}
	return &Policy{rules: rules, dbLabel: dbLabel, src: src}
}

// Retention returns how long series id's samples are kept; Forever (0)
// keeps them for ever, as does an ID src does not know.
func (p *Policy) Retention(id series.ID) time.Duration {
	p.mu.RLock()
	d := unset
	if int(id) < len(p.cache) {
		d = p.cache[id]
	}
	p.mu.RUnlock()
	if d != unset {
		return d
	}
	canon := p.src.Labels(id)
	if canon == nil {
		return Forever
	}
	var ls series.Labels // canonical forms are sorted by name
	err := series.ForEachCanonical(canon, func(name, value []byte) error {
		ls = append(ls, series.Label{Name: string(name), Value: string(value)})
		return nil
	})
	if err != nil {
		return Forever // never expire what cannot be read
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	d = p.rules.For(ls, p.dbLabel, p.dbs)
	if int(id) >= len(p.cache) {
		grown := make([]time.Duration, max(int(id)+1, 2*len(p.cache), 1024))
		n := copy(grown, p.cache)
		for i := n; i < len(grown); i++ {
			grown[i] = unset
		}
		p.cache = grown
	}
	p.cache[id] = d
	return d
}

// Bounded reports whether any series can expire.
func (p *Policy) Bounded() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.rules.Bounded(p.dbs)
}

// SetDatabases replaces the run-time per-database durations (from the
// default InfluxDB retention policy of each database); they win over the
// configured per-database durations, not over matcher rules.
func (p *Policy) SetDatabases(dbs map[string]time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dbs = maps.Clone(dbs)
	for i := range p.cache {
		p.cache[i] = unset
	}
	p.gen.Add(1)
}

// Generation changes whenever the policy's answers may have changed (a
// run-time policy was created, altered or dropped): the engine forgets
// what it cached about partitions.
func (p *Policy) Generation() uint64 { return p.gen.Load() }

// DatabaseDefault returns the configured retention of database db
// (ignoring matcher rules and run-time policies): what SHOW RETENTION
// POLICIES reports for a database with no policy of its own.
func (p *Policy) DatabaseDefault(db string) time.Duration {
	if d, ok := p.rules.Databases[db]; ok {
		return d
	}
	return p.rules.Default
}
