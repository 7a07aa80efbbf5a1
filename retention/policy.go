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
	// cache holds the answer per series ID in pages of cachePageSize IDs,
	// unset where not yet known: 8 bytes a series. Pages whose series are
	// all forgotten (Forget) are freed, so the cache follows the live
	// series, not every ID ever handed out.
	cache map[series.ID]*cachePage
	gen   atomic.Uint64 // bumped by every change of dbs
}

const cachePageBits = 12

// cachePage caches the answers of cachePageBits-aligned IDs; n counts the
// slots set.
type cachePage struct {
	d [1 << cachePageBits]time.Duration
	n int
}

func newCachePage() *cachePage {
	pg := &cachePage{}
	for i := range pg.d {
		pg.d[i] = unset
	}
	return pg
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
	if pg := p.cache[id>>cachePageBits]; pg != nil {
		d = pg.d[id&(1<<cachePageBits-1)]
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
	if p.cache == nil {
		p.cache = map[series.ID]*cachePage{}
	}
	pg := p.cache[id>>cachePageBits]
	if pg == nil {
		pg = newCachePage()
		p.cache[id>>cachePageBits] = pg
	}
	if slot := &pg.d[id&(1<<cachePageBits-1)]; *slot == unset {
		pg.n++
		*slot = d
	}
	return d
}

// Forget drops the cached answers of ids, series the engine forgot (they
// have no sample left; their IDs are not handed out again).
func (p *Policy) Forget(ids []series.ID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		pg := p.cache[id>>cachePageBits]
		if pg == nil {
			continue
		}
		if slot := &pg.d[id&(1<<cachePageBits-1)]; *slot != unset {
			*slot = unset
			if pg.n--; pg.n == 0 {
				delete(p.cache, id>>cachePageBits)
			}
		}
	}
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
	p.cache = nil
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
