package remote

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// seriesCache maps the label fields of a 1.0 TimeSeries, as raw protobuf
// bytes, to the canonical label form they decode to and the series ID the
// appender gave it. A Prometheus shard sends the same series request after
// request with byte-identical labels, so a hit skips decoding the labels,
// checking them, building the canonical form and (through the batch's Ref
// hint) the registry lookup: the engine only compares the canonical bytes
// with the registry's. Only label sets that passed every check are cached,
// so a hit needs no check.
//
// It is 4-way set-associative and lock-free: a slot holds an immutable
// entry (but for its ID hint, an atomic); a new label set whose set of
// slots is full replaces one of them. Safe for
// concurrent use.
type seriesCache struct {
	slots []atomic.Pointer[cacheEntry]
	mask  uint64
}

// cacheWays is the number of slots a label set may occupy.
const cacheWays = 4

// cacheEntry is one cached label set. buf holds the raw label fields, then
// the canonical form; both are immutable.
type cacheEntry struct {
	buf    []byte
	rawLen int
	id     atomic.Uint32 // series ID hint; 0 until an append returns one
}

func (e *cacheEntry) raw() []byte   { return e.buf[:e.rawLen] }
func (e *cacheEntry) canon() []byte { return e.buf[e.rawLen:] }

// newSeriesCache returns a cache of size slots rounded up to a power of
// two (at least one set), or nil when size is not positive.
func newSeriesCache(size int) *seriesCache {
	if size <= 0 {
		return nil
	}
	n := cacheWays
	for n < size {
		n <<= 1
	}
	return &seriesCache{slots: make([]atomic.Pointer[cacheEntry], n), mask: uint64(n - 1)}
}

// get returns the entry for raw, or nil. A label set may sit in any slot
// of its set of 4 (set-associative), so a few hot label sets whose hashes
// collide do not evict each other on every request.
func (c *seriesCache) get(raw []byte, h uint64) *cacheEntry {
	set := c.slots[h&c.mask&^(cacheWays-1):][:cacheWays]
	for i := range set {
		if e := set[i].Load(); e != nil && string(e.raw()) == string(raw) {
			return e
		}
	}
	return nil
}

// put stores raw -> canon (copied) in an empty slot of its set, or over
// the one the hash picks, and returns the new entry.
func (c *seriesCache) put(raw, canon []byte, h uint64) *cacheEntry {
	buf := make([]byte, 0, len(raw)+len(canon))
	buf = append(append(buf, raw...), canon...)
	e := &cacheEntry{buf: buf, rawLen: len(raw)}
	set := c.slots[h&c.mask&^(cacheWays-1):][:cacheWays]
	victim := int(h >> 62) // the top bits: not those that chose the set
	for i := range set {
		if set[i].Load() == nil {
			victim = i
			break
		}
	}
	set[victim].Store(e)
	return e
}

func hashRaw(raw []byte) uint64 { return xxhash.Sum64(raw) }

// labelPrefix returns the length of the run of label fields (field 1,
// length-delimited) that starts a TimeSeries message, and how many there
// are. Only their framing is checked here.
func labelPrefix(msg []byte) (end, n int) {
	const labelTag = 1<<3 | byte(protowire.BytesType)
	for end < len(msg) && msg[end] == labelTag {
		l, k := protowire.ConsumeVarint(msg[end+1:])
		if k < 0 || l > uint64(len(msg)-end-1-k) {
			break
		}
		end += 1 + k + int(l)
		n++
	}
	return end, n
}

// learnRefs stores the series IDs the appender set in b into the cache
// entries the batch's series came from.
func (d *decoder) learnRefs(b *series.Batch) {
	for i, e := range d.ents {
		if e == nil || i >= b.Len() {
			continue
		}
		if ref := b.Ref(i); ref != 0 && e.id.Load() != ref {
			e.id.Store(ref)
		}
	}
}
