package query

import (
	"sync"

	"github.com/lightningdb/lightningdb/series"
)

// windowCache keeps the results of pushed-down windows over final data
// (segments only, no memtable), keyed by the engine's fingerprint of the
// window's samples: a repeated dashboard query, or one whose time range
// slides by whole steps, reads them instead of decoding again. A window
// whose samples change (a late write, a retention drop) has another
// fingerprint, so a stale entry is never read; entries are dropped
// arbitrarily past the bound.
type windowCache struct {
	mu  sync.Mutex
	max int
	m   map[windowKey]windowVal
}

type windowKey struct {
	id     series.ID
	fn     uint8 // fnCode
	lo, hi int64 // ms, the window (lo, hi]
	fp     uint64
}

// fnCode numbers the pushed-down functions for windowKey (a string would
// be hashed on every lookup).
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
	}
	return 0 // not cached
}

type windowVal struct {
	v  float64
	ok bool // false: the window is empty
}

func newWindowCache(n int) *windowCache {
	return &windowCache{max: n, m: make(map[windowKey]windowVal)}
}

func (c *windowCache) get(k windowKey) (windowVal, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *windowCache) put(k windowKey, v windowVal) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		drop := max(c.max/8, 1)
		for k := range c.m {
			delete(c.m, k)
			if drop--; drop == 0 {
				break
			}
		}
	}
	c.m[k] = v
	c.mu.Unlock()
}
