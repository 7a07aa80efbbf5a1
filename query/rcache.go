package query

import (
	"slices"
	"sort"
	"sync"
	"unsafe"

	"github.com/lightningdb/lightningdb/series"
)

// windowCache keeps the results of pushed-down windows over final data
// (segments only, no memtable), keyed by the engine's fingerprint of the
// window's samples: a repeated dashboard query, or one whose time range
// slides by whole steps, reads them instead of decoding again. A window
// whose samples change (a late write, a retention drop) has another
// fingerprint, so a stale entry is never read (and is replaced when the
// window is computed again).
//
// Windows are kept per (series, function, range), sorted by their end, so
// that a select looks up all the windows of a series under one lock and
// one map access, walking the sorted list. It is bounded in windows and in
// bytes (its share of Options.CacheBytes, budget.go; the lists' capacity
// counted): past either bound, the windows of arbitrary series are
// dropped until an eighth of it is free.
type windowCache struct {
	mu       sync.Mutex // mu protects n, bytes and m
	max      int        // windows
	maxBytes int64
	n        int   // windows held
	bytes    int64 // their lists' memory
	m        map[windowSeries]*windowList
	stats    cacheCounters
}

// Memory of the cache: per window held (by the lists' capacity), and per
// list (its map slot, key, pointer and header).
const (
	windowEntryBytes   = int64(unsafe.Sizeof(windowEntry{}))
	windowListOverhead = 96
)

func (l *windowList) bytes() int64 { return windowListOverhead + int64(cap(l.es))*windowEntryBytes }

// windowSeries names the windows (hi - rangeMs, hi] of one series and
// function.
type windowSeries struct {
	id      series.ID
	fn      uint8 // fnCode
	rangeMs int64
}

// windowList holds one windowSeries' windows, ascending by hi.
type windowList struct {
	es []windowEntry
}

type windowEntry struct {
	hi int64 // ms
	fp uint64
	windowVal
}

// fnCode numbers the pushed-down functions for windowSeries (a string
// would be hashed on every lookup).
func fnCode(fn string) uint8 {
	switch fn {
	case "max_over_time":
		return 1
	case "min_over_time":
		return 2
	case "sum_over_time":
		return 3
	case "count_over_time":
		return 4
	case "avg_over_time":
		return 5
	case "rate":
		return 6
	case "increase":
		return 7
	}
	return 0 // not cached
}

type windowVal struct {
	v  float64
	ok bool // false: the window is empty
}

func newWindowCache(n int, maxBytes int64) *windowCache {
	return &windowCache{max: n, maxBytes: maxBytes, m: make(map[windowSeries]*windowList)}
}

// getAll looks up the windows of k ending at his (ascending) with the
// fingerprints fps, appending their values to out. It reports whether
// every one was found; out is then complete, otherwise unspecified.
func (c *windowCache) getAll(k windowSeries, his []int64, fps []uint64, out []windowVal) ([]windowVal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.m[k]
	if l == nil {
		c.stats.misses.Add(1)
		return out, false
	}
	es := l.es
	j := sort.Search(len(es), func(i int) bool { return es[i].hi >= his[0] })
	for i, hi := range his {
		for j < len(es) && es[j].hi < hi {
			j++
		}
		if j == len(es) || es[j].hi != hi || es[j].fp != fps[i] {
			c.stats.misses.Add(1)
			return out, false
		}
		out = append(out, es[j].windowVal)
	}
	c.stats.hits.Add(1)
	return out, true
}

// putAll stores the windows es (ascending by hi) of k, replacing those
// with the same ends.
func (c *windowCache) putAll(k windowSeries, es []windowEntry) {
	if len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.m[k]
	if l == nil {
		l = &windowList{}
		c.m[k] = l
	} else {
		c.bytes -= l.bytes()
	}
	before := len(l.es)
	if before == 0 || l.es[before-1].hi < es[0].hi {
		l.es = append(l.es, es...)
	} else {
		l.es = mergeWindows(l.es, es)
	}
	c.n += len(l.es) - before
	c.bytes += l.bytes()
	if c.n > c.max || c.bytes > c.maxBytes {
		c.evictLocked(k)
	}
}

// mergeWindows returns the union of old and new (both ascending by hi),
// new winning on equal ends.
func mergeWindows(old, new []windowEntry) []windowEntry {
	out := make([]windowEntry, 0, len(old)+len(new))
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && old[i].hi < new[j].hi:
			out = append(out, old[i])
			i++
		case i == len(old) || new[j].hi < old[i].hi:
			out = append(out, new[j])
			j++
		default: // same end: the new result
			out = append(out, new[j])
			i++
			j++
		}
	}
	return slices.Clip(out)
}

// evictLocked drops the windows of arbitrary series other than keep until
// an eighth of each bound is free.
func (c *windowCache) evictLocked(keep windowSeries) {
	target, targetBytes := c.max-max(c.max/8, 1), c.maxBytes-max(c.maxBytes/8, 1)
	under := func() bool { return c.n <= target && c.bytes <= targetBytes }
	for k, l := range c.m {
		if under() {
			return
		}
		if k != keep {
			c.dropLocked(k, l)
		}
	}
	if l := c.m[keep]; !under() && l != nil { // one series over the bound
		c.dropLocked(keep, l)
	}
}

func (c *windowCache) dropLocked(k windowSeries, l *windowList) {
	c.n -= len(l.es)
	c.bytes -= l.bytes()
	delete(c.m, k)
	c.stats.evictions.Add(1)
}

// usage returns the windows and bytes held.
func (c *windowCache) usage() (windows int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.bytes
}
