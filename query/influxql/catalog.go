package influxql

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lightningdb/lightningdb/internal/atomicfile"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
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
	dir   string // "" keeps it in memory only
	mu    sync.RWMutex
	m     map[string][]Field // key: db 0xff metric
	dirty atomic.Bool
	wmu   sync.Mutex // serialises Sync's file writes
}

// NewCatalog returns an empty catalog kept in memory only.
func NewCatalog() *Catalog { return &Catalog{m: make(map[string][]Field)} }

// OpenCatalog loads the catalog of dir (CatalogFile), or starts an empty
// one when there is none.
func OpenCatalog(dir string) (*Catalog, error) {
	c := NewCatalog()
	c.dir = dir
	b, err := os.ReadFile(filepath.Join(dir, CatalogFile))
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
	c.m[k] = append(c.m[k], f)
	return true
}

// ObserveField records that the field of a line of measurement in
// database db was stored as the series named metric. Known fields cost one
// read-locked map lookup.
func (c *Catalog) ObserveField(db, metric, measurement, field []byte) {
	f := Field{Measurement: string(measurement), Field: string(field)}
	c.mu.RLock()
	known := slices.Contains(c.m[string(db)+"\xff"+string(metric)], f)
	c.mu.RUnlock()
	if known {
		return
	}
	c.mu.Lock()
	if c.add(string(db), string(metric), f) {
		c.dirty.Store(true)
	}
	c.mu.Unlock()
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

// Sync persists the catalog when it changed since the last Sync: one
// atomic file write (internal/atomicfile). It costs one atomic load when
// nothing changed; an in-memory catalog does nothing.
func (c *Catalog) Sync() error {
	if c == nil || !c.dirty.Load() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.dirty.Swap(false) {
		return nil
	}
	if c.dir == "" {
		return nil
	}
	if err := atomicfile.Write(c.dir, CatalogFile, c.encode()); err != nil {
		c.dirty.Store(true)
		return fmt.Errorf("write influx catalog: %w", err)
	}
	return nil
}

// encode returns the catalog as JSON, sorted, so that equal catalogs
// write equal files.
func (c *Catalog) encode() []byte {
	c.mu.RLock()
	rows := make([]catalogEntry, 0, len(c.m))
	for k, fs := range c.m {
		db, metric := splitKey(k)
		for _, f := range fs {
			rows = append(rows, catalogEntry{DB: db, Metric: metric, Field: f})
		}
	}
	c.mu.RUnlock()
	slices.SortFunc(rows, func(a, b catalogEntry) int {
		return cmpStrings(a.DB+"\xff"+a.Metric+"\xff"+a.Measurement, b.DB+"\xff"+b.Metric+"\xff"+b.Measurement)
	})
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

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
		delete(c.m, k)
	}
	c.mu.Unlock()
	c.dirty.Store(true)
	return len(dead), c.Sync()
}

// Live reports whether db holds a series named metric (any time): what
// Catalog.Prune asks.
func (e *Executor) Live(db, metric string) bool {
	nm, err := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
	if err != nil {
		return true
	}
	ids, err := e.st.Index().Postings(minTime, maxTime, nm, e.dbMatcher(db))
	return err != nil || !ids.IsEmpty()
}
