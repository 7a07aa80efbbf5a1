package influxql

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightningdb/internal/atomicfile"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// CatalogFile is the name of the measurement catalog in the data
// directory.
const CatalogFile = "influx-catalog.json"

// Field is one InfluxDB field as line protocol wrote it: the measurement
// and field key that were joined into the metric name of its series.
type Field struct {
	Measurement string `json:"m"`
	Field       string `json:"f"`
}

// catalogEntry is one persisted catalog row.
type catalogEntry struct {
	DB     string `json:"db"`
	Metric string `json:"metric"`
	Field
}

// Catalog remembers, per database and metric name, the measurement and
// field a line protocol field was written as, so that a metric name such as
// cpu_usage_idle reads back as measurement cpu, field usage_idle, and not
// as cpu_usage, idle. The line protocol parser tells it of each field the
// first time it sees its series key (lineproto.Options.Observer), so the
// ingest hot path pays nothing for known series; Sync persists new entries
// before the write they came with is acknowledged.
//
// It is safe for concurrent use. The zero value is not usable; use
// OpenCatalog (or NewCatalog for one kept in memory).
type Catalog struct {
	dir     string // "" keeps it in memory only
	opts    CatalogOptions
	mu      sync.RWMutex
	m       map[string][]Field // key: db 0xff metric
	entries int
	dropped atomic.Int64 // fields not recorded: the catalog was full
	dirty   atomic.Bool
	wmu     sync.Mutex // serialises file writes; protects written
	written time.Time  // when the file was last written
}

// CatalogOptions bound a Catalog. Zero fields take the defaults.
type CatalogOptions struct {
	// MaxEntries bounds the fields remembered (about 150 bytes each);
	// past it new fields read through the fallback mapping until a
	// restart prunes the entries of deleted series. Default 200,000.
	MaxEntries int
	// SyncInterval is the least time between two file writes of Sync;
	// Flush writes at once. Default 1s.
	SyncInterval time.Duration
	// Keys, when set, seal the catalog file (encryption at rest,
	// docs/security.md); a plain one written before is still read.
	Keys *encrypt.Keyring
	// OnNew, when set, is told of each field ObserveField records (not
	// of those Add records): a cluster node shares it (docs/cluster.md).
	// It is called without the catalog's lock held and must not block.
	OnNew func(CatalogRow)
}

func (o *CatalogOptions) ensureDefaults() {
	if o.MaxEntries <= 0 {
		o.MaxEntries = 200_000
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = time.Second
	}
}

// NewCatalog returns an empty catalog kept in memory only.
func NewCatalog() *Catalog {
	c := &Catalog{m: make(map[string][]Field)}
	c.opts.ensureDefaults()
	return c
}

// OpenCatalog loads the catalog of dir (CatalogFile), or starts an empty
// one when there is none.
func OpenCatalog(dir string, opts CatalogOptions) (*Catalog, error) {
	c := NewCatalog()
	c.dir = dir
	opts.ensureDefaults()
	c.opts = opts
	b, err := encrypt.ReadFile(opts.Keys, filepath.Join(dir, CatalogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read influx catalog: %w", err)
	}
	var rows []catalogEntry
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("decode influx catalog %s: %w", filepath.Join(dir, CatalogFile), err)
	}
	for _, r := range rows {
		c.add(r.DB, r.Metric, r.Field)
	}
	return c, nil
}

func catalogKey(db, metric string) string { return db + "\xff" + metric }

// add records f for (db, metric) and reports whether it was new. c.mu
// must be held for writing (or c not yet shared).
func (c *Catalog) add(db, metric string, f Field) bool {
	k := catalogKey(db, metric)
	if slices.Contains(c.m[k], f) {
		return false
	}
	if c.entries >= c.opts.MaxEntries {
		c.dropped.Add(1)
		return false
	}
	c.m[k] = append(c.m[k], f)
	c.entries++
	return true
}

// Dropped returns how many fields were not recorded because the catalog
// was full.
func (c *Catalog) Dropped() int64 { return c.dropped.Load() }

// ObserveField records that the field of a line of measurement in
// database db was stored as the series named metric. Known fields cost one
// read-locked map lookup.
func (c *Catalog) ObserveField(db, metric, measurement, field []byte) {
	if c == nil || c.KnowsField(db, metric, measurement, field) {
		return
	}
	f := Field{Measurement: string(measurement), Field: string(field)}
	c.mu.Lock()
	added := c.add(string(db), string(metric), f)
	c.mu.Unlock()
	if added {
		c.dirty.Store(true)
		if c.opts.OnNew != nil {
			c.opts.OnNew(CatalogRow{DB: string(db), Metric: string(metric), Field: f})
		}
	}
}

// KnowsField reports whether the catalog holds the field: one
// read-locked map lookup.
func (c *Catalog) KnowsField(db, metric, measurement, field []byte) bool {
	if c == nil {
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, f := range c.m[string(db)+"\xff"+string(metric)] {
		if f.Measurement == string(measurement) && f.Field == string(field) {
			return true
		}
	}
	return false
}

// Lookup returns the fields recorded for metric in db (nil when none).
// The slice must not be modified.
func (c *Catalog) Lookup(db, metric string) []Field {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[catalogKey(db, metric)]
}

// Sync persists the catalog when it changed, at most once per
// SyncInterval: one atomic file write (internal/atomicfile). It costs one
// atomic load when nothing changed; an in-memory catalog does nothing.
// What a crash loses is learnt again: a restarted server's parsers see
// every series key as new.
func (c *Catalog) Sync() error { return c.sync(false) }

// Flush persists the catalog now when it changed (at shutdown).
func (c *Catalog) Flush() error { return c.sync(true) }

func (c *Catalog) sync(force bool) error {
	if c == nil || !c.dirty.Load() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !force && time.Since(c.written) < c.opts.SyncInterval {
		return nil
	}
	if !c.dirty.Swap(false) || c.dir == "" {
		return nil
	}
	c.written = time.Now()
	b, err := encrypt.SealIf(c.opts.Keys, c.encode())
	if err == nil {
		err = atomicfile.Write(c.dir, CatalogFile, b)
	}
	if err != nil {
		c.dirty.Store(true)
		return fmt.Errorf("write influx catalog: %w", err)
	}
	return nil
}

// encode returns the catalog as JSON, sorted, so that equal catalogs
// write equal files.
func (c *Catalog) encode() []byte {
	c.mu.RLock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows := make([]catalogEntry, 0, c.entries)
	for _, k := range keys {
		db, metric := splitKey(k)
		for _, f := range c.m[k] {
			rows = append(rows, catalogEntry{DB: db, Metric: metric, Field: f})
		}
	}
	c.mu.RUnlock()
	b, _ := json.Marshal(rows) // strings only: cannot fail
	return b
}

func splitKey(k string) (db, metric string) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0xff {
			return k[:i], k[i+1:]
		}
	}
	return "", k
}

// Prune forgets the entries for which live reports that no series of the
// metric is left in the database (deleted or expired), and persists the
// result. It returns how many entries it dropped.
func (c *Catalog) Prune(live func(db, metric string) bool) (int, error) {
	if c == nil {
		return 0, nil
	}
	c.mu.RLock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	c.mu.RUnlock()
	var dead []string
	for _, k := range keys {
		if db, metric := splitKey(k); !live(db, metric) {
			dead = append(dead, k)
		}
	}
	if len(dead) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	for _, k := range dead {
		c.entries -= len(c.m[k])
		delete(c.m, k)
	}
	c.mu.Unlock()
	c.dirty.Store(true)
	return len(dead), c.Flush()
}

// Live reports whether db holds a series named metric (any time), in raw
// data or in a rollup tier: what Catalog.Prune asks.
func (e *Executor) Live(db, metric string) bool {
	nm, err := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
	if err != nil {
		return true
	}
	ids, err := e.st.Index().Postings(minTime, maxTime, nm, e.dbMatcher(db))
	if err != nil || !ids.IsEmpty() {
		return true
	}
	ok, err := e.tiersHave(nm, e.dbMatcher(db))
	return ok || err != nil
}

// CatalogRow is one catalog entry: the metric name a field of a
// measurement of database DB is stored as.
type CatalogRow = catalogEntry

// Rows returns the entries of the databases dbs, sorted by database and
// metric name (a query node learns the catalog of its peers from them).
func (c *Catalog) Rows(dbs ...string) []CatalogRow {
	return c.rows(func(db string) bool { return slices.Contains(dbs, db) })
}

// All returns every entry, sorted as Rows.
func (c *Catalog) All() []CatalogRow { return c.rows(func(string) bool { return true }) }

func (c *Catalog) rows(keep func(db string) bool) []CatalogRow {
	if c == nil {
		return nil
	}
	var rows []CatalogRow
	c.mu.RLock()
	for k, fs := range c.m {
		db, metric := splitKey(k)
		if !keep(db) {
			continue
		}
		for _, f := range fs {
			rows = append(rows, CatalogRow{DB: db, Metric: metric, Field: f})
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(rows, func(a, b CatalogRow) int {
		if a.DB != b.DB {
			return strings.Compare(a.DB, b.DB)
		}
		if a.Metric != b.Metric {
			return strings.Compare(a.Metric, b.Metric)
		}
		if a.Measurement != b.Measurement {
			return strings.Compare(a.Measurement, b.Measurement)
		}
		return strings.Compare(a.Field.Field, b.Field.Field)
	})
	return rows
}

// Add records one entry (a row a peer's catalog holds); the next Sync
// persists it.
func (c *Catalog) Add(r CatalogRow) {
	c.mu.Lock()
	added := c.add(r.DB, r.Metric, r.Field)
	c.mu.Unlock()
	if added {
		c.dirty.Store(true)
	}
}
