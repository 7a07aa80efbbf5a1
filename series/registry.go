package series

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ID identifies a series. IDs are dense, start at 1 and are never reused
// (not even those of removed series, Registry.Remove); 0
// means "no series". They are 32 bits because the tag index keeps them in
// Roaring bitmaps, whose native (and fastest) domain is uint32, and because
// per-series tables indexed by ID stay half the size; four billion series is
// far beyond what one node holds (docs/ARCHITECTURE.md argues this).
type ID = uint32

const (
	registryShards = 64
	pageBits       = 12
	pageSize       = 1 << pageBits
)

// Registry maps canonical label sets to series IDs and back. Lookups are safe
// from many goroutines: a bounded, lock-free direct-mapped cache answers hot
// label sets, striped maps answer the rest, and ID -> labels reads take no
// lock at all. The registry itself is memory only; the engine persists it
// (series records in the WAL plus snapshots) and rebuilds it with Insert.
type Registry struct {
	maxSeries int

	shards [registryShards]registryShard

	growMu sync.Mutex                 // growMu serialises growth of pages and next
	pages  atomic.Pointer[[]*regPage] // ID>>pageBits -> page; grows by copy
	next   atomic.Uint32              // next ID to hand out
	count  atomic.Int64               // live series

	cache     []atomic.Uint64 // hash-indexed: hash high 32 bits << 32 | ID
	cacheMask uint64
}

type registryShard struct {
	mu sync.RWMutex
	m  map[string]ID // mu protects m
	_  [40]byte      // pad to a cache line to avoid false sharing
}

type regPage [pageSize]atomic.Pointer[regEntry]

type regEntry struct {
	labels  []byte // canonical form; immutable
	typ     ValueType
	durable atomic.Bool
}

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// MaxSeries caps the number of series; 0 means no limit.
	MaxSeries int
	// CacheSize is the number of slots of the lookup cache, rounded up to a
	// power of two. 0 means 1<<16; the cache costs 8 bytes a slot.
	CacheSize int
}

// NewRegistry returns an empty registry.
func NewRegistry(opts RegistryOptions) *Registry {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1 << 16
	}
	size := 1
	for size < opts.CacheSize {
		size <<= 1
	}
	r := &Registry{maxSeries: opts.MaxSeries, cache: make([]atomic.Uint64, size), cacheMask: uint64(size - 1)}
	for i := range r.shards {
		r.shards[i].m = make(map[string]ID)
	}
	pages := make([]*regPage, 0, 16)
	r.pages.Store(&pages)
	r.next.Store(1)
	return r
}

// Len returns the number of series.
func (r *Registry) Len() int { return int(r.count.Load()) }

// MaxID returns the largest ID handed out so far (0 when empty).
func (r *Registry) MaxID() ID { return r.next.Load() - 1 }

func (r *Registry) entry(id ID) *regEntry {
	pages := *r.pages.Load()
	p := int(id >> pageBits)
	if p >= len(pages) || pages[p] == nil { // nil: freed by Remove
		return nil
	}
	return pages[p][id&(pageSize-1)].Load()
}

// Labels returns the canonical labels of id, or nil for an unknown ID. The
// slice is shared and must not be modified.
func (r *Registry) Labels(id ID) []byte {
	if e := r.entry(id); e != nil {
		return e.labels
	}
	return nil
}

// Type returns the value type of id, or 0 for an unknown ID.
func (r *Registry) Type(id ID) ValueType {
	if e := r.entry(id); e != nil {
		return e.typ
	}
	return 0
}

// Durable reports whether the series record of id is known to be on disk.
func (r *Registry) Durable(id ID) bool {
	e := r.entry(id)
	return e != nil && e.durable.Load()
}

// MarkDurable records that the series record of id is on disk.
func (r *Registry) MarkDurable(id ID) {
	if e := r.entry(id); e != nil {
		e.durable.Store(true)
	}
}

// Lookup returns the ID of a canonical label set.
func (r *Registry) Lookup(canonical []byte) (ID, bool) {
	return r.lookup(canonical, HashCanonical(canonical))
}

func (r *Registry) lookup(canonical []byte, h uint64) (ID, bool) {
	slot := &r.cache[h&r.cacheMask]
	if v := slot.Load(); v>>32 == h>>32 {
		id := ID(v)
		if e := r.entry(id); e != nil && string(e.labels) == string(canonical) {
			return id, true
		}
	}
	s := &r.shards[h%registryShards]
	s.mu.RLock()
	id, ok := s.m[string(canonical)]
	s.mu.RUnlock()
	if ok {
		slot.Store(h>>32<<32 | uint64(id))
	}
	return id, ok
}

// GetOrCreate returns the ID of a canonical label set, creating the series
// with type typ when it is new (created is then true). The labels of a new
// series are validated; a new series beyond MaxSeries gets ErrSeriesLimit.
// A new series is not durable until MarkDurable.
func (r *Registry) GetOrCreate(canonical []byte, typ ValueType) (id ID, created bool, err error) {
	return r.GetOrCreateAdmit(canonical, typ, nil)
}

// GetOrCreateAdmit is GetOrCreate that, when the series is new, first asks
// admit (unless nil): an error from it is returned and nothing is created.
// admit runs under a registry lock, once per series actually created, so a
// caller can count new series exactly (a limit on new series per request
// or per minute); it must be cheap and must not call the registry.
func (r *Registry) GetOrCreateAdmit(canonical []byte, typ ValueType, admit func() error) (id ID, created bool, err error) {
	h := HashCanonical(canonical)
	if id, ok := r.lookup(canonical, h); ok {
		return id, false, nil
	}
	if _, err := UnmarshalLabels(nil, canonical); err != nil {
		return 0, false, err
	}
	if !typ.Valid() {
		return 0, false, fmt.Errorf("invalid value type %d", typ)
	}
	s := &r.shards[h%registryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.m[string(canonical)]; ok {
		return id, false, nil
	}
	if r.maxSeries > 0 && r.count.Load() >= int64(r.maxSeries) {
		return 0, false, fmt.Errorf("%w: the database holds %d series, the limit is %d", ErrSeriesLimit, r.count.Load(), r.maxSeries)
	}
	if admit != nil {
		if err := admit(); err != nil {
			return 0, false, err
		}
	}
	key := string(canonical)
	id, err = r.allocate(&regEntry{labels: keyBytes(key), typ: typ})
	if err != nil {
		return 0, false, err
	}
	s.m[key] = id
	return id, true, nil
}

// allocate hands out the next ID and stores e under it, under growMu (so
// that Remove never frees the page in between).
func (r *Registry) allocate(e *regEntry) (ID, error) {
	r.growMu.Lock()
	defer r.growMu.Unlock()
	id := r.next.Load()
	if id == math.MaxUint32 {
		return 0, fmt.Errorf("%w: series ID space exhausted", ErrSeriesLimit)
	}
	r.ensurePageLocked(id)
	r.next.Store(id + 1)
	r.store(id, e)
	return id, nil
}

// ensurePageLocked makes sure the page holding id exists; growMu is held.
func (r *Registry) ensurePageLocked(id ID) {
	pages := *r.pages.Load()
	need := int(id>>pageBits) + 1
	if need <= len(pages) {
		if pages[need-1] == nil { // freed by Remove: IDs are not reused, but Insert may name one
			cp := make([]*regPage, len(pages), cap(pages))
			copy(cp, pages)
			cp[need-1] = new(regPage)
			r.pages.Store(&cp)
		}
		return
	}
	grown := make([]*regPage, need, max(need, 2*len(pages)))
	copy(grown, pages)
	for i := len(pages); i < need; i++ {
		grown[i] = new(regPage)
	}
	r.pages.Store(&grown)
}

// store sets id's entry; growMu is held.
func (r *Registry) store(id ID, e *regEntry) {
	pages := *r.pages.Load()
	pages[id>>pageBits][id&(pageSize-1)].Store(e)
	r.count.Add(1)
}

// Insert adds a series with a known ID, as recovery does. Inserting the same
// ID with the same labels again is a no-op; a conflict is an error. The series
// is marked durable.
func (r *Registry) Insert(id ID, canonical []byte, typ ValueType) error {
	if id == 0 || id == math.MaxUint32 {
		return fmt.Errorf("invalid series ID %d", id)
	}
	if !typ.Valid() {
		return fmt.Errorf("series %d: invalid value type %d", id, typ)
	}
	if e := r.entry(id); e != nil {
		if string(e.labels) != string(canonical) || e.typ != typ {
			return fmt.Errorf("series %d recorded twice with different labels or type", id)
		}
		return nil
	}
	h := HashCanonical(canonical)
	s := &r.shards[h%registryShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, ok := s.m[string(canonical)]; ok {
		return fmt.Errorf("series %d has the labels of series %d", id, other)
	}
	key := string(canonical)
	e := &regEntry{labels: keyBytes(key), typ: typ}
	e.durable.Store(true)
	r.growMu.Lock()
	r.ensurePageLocked(id)
	if id >= r.next.Load() {
		r.next.Store(id + 1)
	}
	r.store(id, e)
	r.growMu.Unlock()
	s.m[key] = id
	return nil
}

// keyBytes returns the bytes of a map key without copying them: an entry's
// labels and its key in the shard map share one copy (they were two, a
// tenth of a new series' memory). Labels are never modified (Labels says
// so), so the string stays immutable.
func keyBytes(key string) []byte { return unsafe.Slice(unsafe.StringData(key), len(key)) }

// ForEach calls fn for every series in ID order until fn returns false. The
// labels slice is shared and must not be modified.
func (r *Registry) ForEach(fn func(id ID, canonical []byte, typ ValueType, durable bool) bool) {
	maxID := r.MaxID()
	for id := ID(1); id <= maxID && id != 0; id++ {
		if e := r.entry(id); e != nil && !fn(id, e.labels, e.typ, e.durable.Load()) {
			return
		}
	}
}
