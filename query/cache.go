package query

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/tagindex"
)

// postingsCache keeps the series bitmap of recent (partition, matchers)
// pairs, so a dashboard refreshing the same panels resolves no matcher
// twice. An entry is valid while the partition's generation is the one
// recorded: it changes with every series added to or removed from the
// partition (a count would not: one removed and one added keep it). Sealed
// partitions therefore hit until a deletion or retention removes series;
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
	gen uint64
	bm  *roaring.Bitmap // shared: never modified
}

func newPostingsCache(max int) *postingsCache {
	return &postingsCache{max: max, entries: make(map[cacheKey]cacheEntry)}
}

func (c *postingsCache) get(p *tagindex.Partition, matchers string, gen uint64) (*roaring.Bitmap, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{p, matchers}]
	if !ok || e.gen != gen {
		return nil, false
	}
	return e.bm, true
}

func (c *postingsCache) put(p *tagindex.Partition, matchers string, gen uint64, bm *roaring.Bitmap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[cacheKey{p, matchers}] = cacheEntry{gen: gen, bm: bm}
}

// len returns the number of entries.
func (c *postingsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
