package query

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/tagindex"
)

// postingsCache keeps the series bitmap of recent (partition, matchers)
// pairs, so a dashboard refreshing the same panels resolves no matcher
// twice. An entry is valid while the partition's series count is the one
// recorded: series are only ever added to a partition, so an unchanged
// count means an unchanged bitmap. Sealed partitions therefore hit forever;
// the live one misses after a new series arrives. Bounded: when full, an
// arbitrary entry is evicted.
type postingsCache struct {
	mu      sync.Mutex // mu protects entries
	max     int
	entries map[cacheKey]cacheEntry
}

type cacheKey struct {
	p        *tagindex.Partition
	matchers string
}

type cacheEntry struct {
	numSeries int
	bm        *roaring.Bitmap // shared: never modified
}

func newPostingsCache(max int) *postingsCache {
	return &postingsCache{max: max, entries: make(map[cacheKey]cacheEntry)}
}

func (c *postingsCache) get(p *tagindex.Partition, matchers string, numSeries int) (*roaring.Bitmap, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{p, matchers}]
	if !ok || e.numSeries != numSeries {
		return nil, false
	}
	return e.bm, true
}

func (c *postingsCache) put(p *tagindex.Partition, matchers string, numSeries int, bm *roaring.Bitmap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[cacheKey{p, matchers}] = cacheEntry{numSeries: numSeries, bm: bm}
}

// len returns the number of entries.
func (c *postingsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
