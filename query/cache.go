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
// the live one misses after a new series arrives. Bounded in entries and
// in bytes (its share of Options.CacheBytes, budget.go): when full,
// arbitrary entries are evicted.
type postingsCache struct {
	mu       sync.Mutex // mu protects entries and bytes
	max      int
	maxBytes int64
	bytes    int64
	entries  map[cacheKey]cacheEntry
	stats    cacheCounters
}

type cacheKey struct {
	p        *tagindex.Partition
	matchers string
}

type cacheEntry struct {
	gen   uint64
	bm    *roaring.Bitmap // shared: never modified
	bytes int64
}

// postingsEntryOverhead is what an entry costs besides its bitmap and key:
// the map slot, the key's string header and partition pointer, the entry.
const postingsEntryOverhead = 96

func newPostingsCache(max int, maxBytes int64) *postingsCache {
	return &postingsCache{max: max, maxBytes: maxBytes, entries: make(map[cacheKey]cacheEntry)}
}

func (c *postingsCache) get(p *tagindex.Partition, matchers string, gen uint64) (*roaring.Bitmap, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{p, matchers}]
	if !ok || e.gen != gen {
		c.stats.misses.Add(1)
		return nil, false
	}
	c.stats.hits.Add(1)
	return e.bm, true
}

func (c *postingsCache) put(p *tagindex.Partition, matchers string, gen uint64, bm *roaring.Bitmap) {
	n := int64(bm.GetSizeInBytes()) + int64(len(matchers)) + postingsEntryOverhead
	if n > c.maxBytes {
		return // larger than the whole share
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{p, matchers}
	if old, ok := c.entries[k]; ok {
		c.bytes -= old.bytes
		delete(c.entries, k)
	}
	for k := range c.entries {
		if len(c.entries) < c.max && c.bytes+n <= c.maxBytes {
			break
		}
		c.bytes -= c.entries[k].bytes
		delete(c.entries, k)
		c.stats.evictions.Add(1)
	}
	c.entries[k] = cacheEntry{gen: gen, bm: bm, bytes: n}
	c.bytes += n
}

// len returns the number of entries.
func (c *postingsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// usage returns the entries and bytes held.
func (c *postingsCache) usage() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes
}
