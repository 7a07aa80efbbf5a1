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
	fn     string
	lo, hi int64 // ms, the window (lo, hi]
	fp     uint64
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
