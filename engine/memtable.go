package engine

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
)

// memtable holds the samples not yet flushed, per series, sorted by time
// with duplicates resolved to the last write. It is written by one goroutine
// at a time (the commit pipeline's applier, or replay) and read by any
// number of readers concurrently.
//
// A DB has one active memtable and, while flushes run, immutable ones that
// stay readable until their segments are live. Versions reference
// memtables (refs); once a flushed memtable is in no version it is reset
// and kept as the next active one, so its per-series slices keep their
// capacity and appends stay allocation-free across flushes.
type memtable struct {
	writeMu  sync.Mutex // writeMu serialises writers (growth of pages)
	pages    atomic.Pointer[[]*memPage]
	bytes    atomic.Int64 // approximate memory held (capacity)
	used     atomic.Int64 // bytes of samples held (length): the flush trigger
	nSeries  atomic.Int64
	samples  atomic.Int64
	firstAdd atomic.Int64 // unix ns of the first insert since reset, on now; 0 = none
	now      func() time.Time

	refs   atomic.Int32 // versions holding the memtable
	walSeq uint64       // set when frozen: the WAL segments below it hold only this and older memtables
	// immBytes is what freezing added to DB.immBytes; the last unref takes
	// it back, so a frozen memtable a Querier still holds after its flush
	// stays in the budget.
	immBytes int64

	// exclusive is set (under writeMu) while recovery replays the WAL into
	// the memtable: Open has not returned, so nothing else can read a
	// series, and the per-series lock is skipped (its atomics were a
	// quarter of replay's CPU).
	exclusive bool

	enc []byte // scratch of seal (under writeMu)
	// slabs hold the chunks' bytes, carved in order (under writeMu); they
	// are kept across reset like the series' slices, so sealing allocates
	// once per memSlabBytes in steady state.
	slabs [][]byte
	slab  int // the slab being carved
}

const memSlabBytes = 64 << 10

// alloc returns n bytes for a chunk's data from the slabs.
func (m *memtable) alloc(n int) []byte {
	for ; m.slab < len(m.slabs); m.slab++ {
		if b := m.slabs[m.slab]; cap(b)-len(b) >= n {
			m.slabs[m.slab] = b[:len(b)+n]
			return b[len(b) : len(b)+n : len(b)+n]
		}
	}
	b := make([]byte, n, max(n, memSlabBytes))
	m.slabs = append(m.slabs, b)
	m.bytes.Add(int64(cap(b)))
	return b[:n:n]
}

const memPageBits = 12

type memPage [1 << memPageBits]atomic.Pointer[memSeries]

// memSeries is one series' in-memory samples: older ones sealed into
// byte-aligned chunks (encoding.AppendMemChunk, about 2 bytes a sample
// instead of 16), the newest ones raw in ts and vals, where appends land,
// and samples arriving after newer ones were sealed raw in lts and lvals.
// String series stay raw.
type memSeries struct {
	// indexed is the last partition start this series was added to the
	// tag index for (+1, so that the zero value means none): a cheap check
	// that spares the index call for every batch after the first.
	indexed atomic.Int64

	mu   sync.RWMutex // mu protects everything below
	typ  series.ValueType
	ts   []int64
	vals []uint64 // raw values; strings are off<<32|len into strs
	strs []byte

	// chunks hold the sealed samples: in time order, disjoint, all older
	// than ts[0]. sealed is their bytes (data and headers).
	chunks []memChunk
	sealed int64
	// lts and lvals hold the late samples: those at or before the newest
	// sealed one (chunks stay as they are), sorted, unique, raw. A late
	// sample wins over a sealed one of the same timestamp (it was written
	// after it). Chunks and raw samples stay disjoint in time; late ones
	// overlap the chunks' span only.
	lts   []int64
	lvals []uint64
}

// memChunk is a sealed run of samples of a series.
type memChunk struct {
	minT, maxT int64
	n          int32
	float      bool // the value form of encoding.AppendMemChunk
	data       []byte
}

// decode appends the chunk's samples to ts and vals. Chunks are written by
// this package only, so a decoding error is a bug.
func (c *memChunk) decode(ts []int64, vals []uint64) ([]int64, []uint64) {
	ts, vals, err := encoding.DecodeMemChunk(ts, vals, c.data, int(c.n), c.float)
	if err != nil {
		panic("engine: memtable chunk: " + err.Error())
	}
	return ts, vals
}

// Sealing: once a series holds memSealAt raw samples, all but the newest
// memKeepRaw are encoded into chunks of at most memChunkSamples. The raw
// tail therefore stays under memSealAt samples (1 KiB) per series, and a
// sample arriving out of order within the newest memKeepRaw is a plain
// insert; an older one goes to the series' late samples, raw, until the
// flush. The raw tail is per series, so with many series it is most of the
// memtable: at 256 samples, 30,000 series (the bench's iot-lp) held 117 MiB
// of raw tails; at 64, peak RSS 297 -> 188 MB. Chunks of 48 samples cost
// ~0.3 bytes a sample of header and ~1 of chunk entry more than 240.
const (
	memSealAt       = 64
	memKeepRaw      = 16
	memChunkSamples = 48
	// memChunkOverhead is what a chunk costs beyond its data: its entry in
	// chunks.
	memChunkOverhead = 48
)

// Fixed cost charged per series, for the budget: struct (192 B with its
// slice headers) and page slot (TestSeriesMemory measures it).
const memSeriesOverhead = 208

func newMemtable() *memtable { return newMemtableAt(time.Now) }

// newMemtableAt returns an empty memtable whose age (firstAdd) is read on
// the clock now: the engine's Options.Now.
func newMemtableAt(now func() time.Time) *memtable {
	m := &memtable{now: now}
	pages := []*memPage{}
	m.pages.Store(&pages)
	return m
}

func (m *memtable) get(id series.ID) *memSeries {
	pages := *m.pages.Load()
	p := int(id >> memPageBits)
	if p >= len(pages) || pages[p] == nil { // nil: freed by reset
		return nil
	}
	return pages[p][id&(1<<memPageBits-1)].Load()
}

// getOrCreate returns the series of id, creating it; writeMu must be held.
func (m *memtable) getOrCreateLocked(id series.ID, typ series.ValueType) *memSeries {
	if s := m.get(id); s != nil {
		return s
	}
	pages := *m.pages.Load()
	need := int(id>>memPageBits) + 1
	if need > len(pages) || pages[need-1] == nil {
		grown := make([]*memPage, max(need, len(pages)), max(need, 2*len(pages)))
		copy(grown, pages)
		for i := len(pages); i < need-1; i++ {
			grown[i] = nil // below the new series: allocated when written
		}
		grown[need-1] = new(memPage)
		m.pages.Store(&grown)
		pages = grown
	}
	s := &memSeries{typ: typ}
	pages[id>>memPageBits][id&(1<<memPageBits-1)].Store(s)
	m.used.Add(memSeriesOverhead)
	m.nSeries.Add(1)
	m.bytes.Add(memSeriesOverhead)
	return s
}

// memDelta accumulates the changes of many inserts to a memtable's
// counters, so a writer adding a whole group touches the shared atomics
// once (commit).
type memDelta struct{ bytes, used, samples int64 }

// commit adds d to m's counters and notes the first insert.
func (m *memtable) commit(d *memDelta) {
	if d.samples == 0 && d.bytes == 0 && d.used == 0 {
		return
	}
	m.samples.Add(d.samples)
	m.bytes.Add(d.bytes)
	m.used.Add(d.used)
	if m.firstAdd.Load() == 0 {
		m.firstAdd.Store(m.now().UnixNano())
	}
	*d = memDelta{}
}

// addLocked inserts samples into series id. strs holds the bytes of string
// values (raw = off<<32|len into strs). The caller holds writeMu.
func (m *memtable) addLocked(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte) {
	var d memDelta
	m.addDeltaLocked(id, typ, ts, vals, strs, &d)
	m.commit(&d)
}

// addDeltaLocked is addLocked leaving the counter changes in d for the
// caller to commit (before it releases writeMu). The caller holds writeMu.
func (m *memtable) addDeltaLocked(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte, d *memDelta) {
	s := m.getOrCreateLocked(id, typ)
	if !m.exclusive {
		s.mu.Lock()
	}
	if s.typ != typ { // a recycled slot of a series of another type
		s.typ = typ
	}
	before, beforeUsed := s.sizeBytes(), s.usedBytes()
	for i, t := range ts {
		v := vals[i]
		if typ == series.TypeString {
			off, n := v>>32, v&0xffffffff
			v = uint64(len(s.strs))<<32 | n
			s.strs = append(s.strs, strs[off:off+n]...)
		}
		s.insert(t, v)
	}
	if typ != series.TypeString && len(s.ts) >= memSealAt {
		m.seal(s)
	}
	d.samples += int64(len(ts))
	d.bytes += s.sizeBytes() - before
	d.used += s.usedBytes() - beforeUsed
	if !m.exclusive {
		s.mu.Unlock()
	}
}

// insert adds one sample keeping ts sorted; an equal timestamp is replaced
// (last write wins). In-order samples, the common case, are an append; a
// sample at or before the newest sealed one goes to the late samples.
func (s *memSeries) insert(t int64, v uint64) {
	n := len(s.ts)
	if n == cap(s.ts) {
		s.grow()
	}
	if n > 0 && t > s.ts[n-1] || n == 0 && (len(s.chunks) == 0 || t > s.chunks[len(s.chunks)-1].maxT) {
		s.ts = append(s.ts, t)
		s.vals = append(s.vals, v)
		return
	}
	if len(s.chunks) > 0 && t <= s.chunks[len(s.chunks)-1].maxT {
		s.lts, s.lvals = insertSorted(s.lts, s.lvals, t, v)
		return
	}
	s.ts, s.vals = insertSorted(s.ts, s.vals, t, v)
}

// insertSorted inserts (t, v) into the sorted, unique ts and vals,
// replacing the value of an equal timestamp.
func insertSorted(ts []int64, vals []uint64, t int64, v uint64) ([]int64, []uint64) {
	n := len(ts)
	i := sort.Search(n, func(i int) bool { return ts[i] >= t })
	if i < n && ts[i] == t {
		vals[i] = v
		return ts, vals
	}
	ts, vals = append(ts, 0), append(vals, 0)
	copy(ts[i+1:], ts[i:n])
	copy(vals[i+1:], vals[i:n])
	ts[i], vals[i] = t, v
	return ts, vals
}

// seal encodes the raw samples of s but the newest memKeepRaw into chunks.
// The caller holds writeMu and s.mu.
func (m *memtable) seal(s *memSeries) {
	cut := len(s.ts) - memKeepRaw
	if s.chunks == nil {
		s.chunks = make([]memChunk, 0, 16)
	}
	for lo := 0; lo < cut; {
		hi := min(lo+memChunkSamples, cut)
		float := s.typ == series.TypeFloat
		m.enc = encoding.AppendMemChunk(m.enc[:0], float, s.ts[lo:hi], s.vals[lo:hi])
		data := m.alloc(len(m.enc))
		copy(data, m.enc)
		s.chunks = append(s.chunks, memChunk{minT: s.ts[lo], maxT: s.ts[hi-1], n: int32(hi - lo), float: float, data: data})
		s.sealed += int64(len(data)) + memChunkOverhead
		lo = hi
	}
	n := copy(s.ts, s.ts[cut:])
	copy(s.vals, s.vals[cut:])
	s.ts, s.vals = s.ts[:n], s.vals[:n]
}

// samples returns all samples of s, the sealed ones decoded into buf; with
// nothing sealed, they alias s. The caller holds s.mu or the memtable is
// frozen.
func (s *memSeries) samples(buf *sampleBuf) (ts []int64, vals []uint64) {
	if len(s.chunks) == 0 {
		return s.ts, s.vals // no chunks, no late samples
	}
	buf.ts, buf.vals = buf.ts[:0], buf.vals[:0]
	for i := range s.chunks {
		buf.ts, buf.vals = s.chunks[i].decode(buf.ts, buf.vals)
	}
	buf.ts, buf.vals = mergeLate(buf.ts, buf.vals, 0, s.lts, s.lvals)
	buf.ts, buf.vals = append(buf.ts, s.ts...), append(buf.vals, s.vals...)
	return buf.ts, buf.vals
}

// mergeLate merges the sorted late samples lts, lvals into ts[base:],
// vals[base:] (sorted), a late sample replacing a sealed one of the same
// timestamp, in place (from the back), and returns the slices.
func mergeLate(ts []int64, vals []uint64, base int, lts []int64, lvals []uint64) ([]int64, []uint64) {
	if len(lts) == 0 {
		return ts, vals
	}
	mid := len(ts)
	ts, vals = append(ts, lts...), append(vals, lvals...) // room; overwritten
	i, j, k := mid-1, len(lts)-1, len(ts)-1
	for j >= 0 {
		switch {
		case i >= base && ts[i] > lts[j]:
			ts[k], vals[k] = ts[i], vals[i]
			i--
		case i >= base && ts[i] == lts[j]:
			ts[k], vals[k] = lts[j], lvals[j]
			i, j = i-1, j-1
		default:
			ts[k], vals[k] = lts[j], lvals[j]
			j--
		}
		k--
	}
	// ts[base:i+1] did not move; ts[i+1:k+1] is one hole per duplicate.
	if gap := k - i; gap > 0 {
		copy(ts[i+1:], ts[k+1:])
		copy(vals[i+1:], vals[k+1:])
		ts, vals = ts[:len(ts)-gap], vals[:len(vals)-gap]
	}
	return ts, vals
}

// grow enlarges the capacity of ts and vals: doubling up to
// memGrowDoubleUntil samples (at least 32), then by a quarter. The slices
// are the memtable's memory (16 bytes a sample), so doubling a large series
// would waste up to half of it; they are kept across flushes (the spare
// memtable), so growth is rare in steady state either way. Plain append
// grows by similar factors but rounds to size classes and is not tied to
// this accounting.
func (s *memSeries) grow() {
	c := memGrowCap(cap(s.ts))
	ts := make([]int64, len(s.ts), c)
	copy(ts, s.ts)
	vals := make([]uint64, len(s.vals), c)
	copy(vals, s.vals)
	s.ts, s.vals = ts, vals
}

// memFirstCap is the capacity (samples) of a series' first slices. It was
// 32 (512 bytes): half the memory of a new series of one sample, which is
// what a flood of new series is made of; a regular series reaches 64 in
// three more growths, once (a flushed memtable keeps its slices).
const memFirstCap = 8

// memGrowDoubleUntil is the capacity (samples) up to which a series'
// slices double; past it they grow by a quarter.
const memGrowDoubleUntil = 512

// memGrowCap is the capacity a series' slices grow to from c.
func memGrowCap(c int) int {
	if c < memGrowDoubleUntil {
		return max(memFirstCap, 2*c)
	}
	return c + c/4
}

func (s *memSeries) usedBytes() int64 {
	return int64(len(s.ts)+len(s.lts))*16 + int64(len(s.strs)) + s.sealed
}

func (s *memSeries) sizeBytes() int64 {
	return int64(cap(s.ts)+cap(s.lts))*8 + int64(cap(s.vals)+cap(s.lvals))*8 + int64(cap(s.strs)) + int64(cap(s.chunks))*memChunkOverhead
}

// read appends the samples of [minT, maxT] to r and returns how many.
func (s *memSeries) read(minT, maxT int64, r *sampleBuf) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	start := len(r.ts)
	if len(s.chunks) > 0 && s.chunks[0].minT <= maxT {
		k := sort.Search(len(s.chunks), func(i int) bool { return s.chunks[i].maxT >= minT })
		for i := k; i < len(s.chunks); i++ {
			c := &s.chunks[i]
			if c.minT > maxT {
				break
			}
			base := len(r.ts)
			r.ts, r.vals = c.decode(r.ts, r.vals)
			if c.minT < minT || c.maxT > maxT {
				got := r.ts[base:]
				lo := sort.Search(len(got), func(i int) bool { return got[i] >= minT })
				hi := sort.Search(len(got), func(i int) bool { return got[i] > maxT })
				copy(r.ts[base:], r.ts[base+lo:base+hi])
				copy(r.vals[base:], r.vals[base+lo:base+hi])
				r.ts, r.vals = r.ts[:base+hi-lo], r.vals[:base+hi-lo]
			}
		}
	}
	if len(s.lts) > 0 {
		lo := sort.Search(len(s.lts), func(i int) bool { return s.lts[i] >= minT })
		hi := sort.Search(len(s.lts), func(i int) bool { return s.lts[i] > maxT })
		r.ts, r.vals = mergeLate(r.ts, r.vals, start, s.lts[lo:hi], s.lvals[lo:hi])
	}
	lo := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= minT })
	hi := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] > maxT })
	if lo < hi {
		r.ts = append(r.ts, s.ts[lo:hi]...)
		if s.typ != series.TypeString {
			r.vals = append(r.vals, s.vals[lo:hi]...)
		} else {
			for _, v := range s.vals[lo:hi] {
				off, n := v>>32, v&0xffffffff
				r.vals = append(r.vals, uint64(len(r.strs))<<32|n)
				r.strs = append(r.strs, s.strs[off:off+n]...)
			}
		}
	}
	if len(r.ts) > start {
		r.typ = s.typ
	}
	return len(r.ts) - start
}

// forEach calls fn for every series with samples, in ascending ID order.
// The memtable must be frozen (no writer).
func (m *memtable) forEach(fn func(id series.ID, s *memSeries) error) error {
	for p, page := range *m.pages.Load() {
		if page == nil {
			continue
		}
		for i := range page {
			s := page[i].Load()
			if s == nil || len(s.ts) == 0 && len(s.chunks) == 0 {
				continue
			}
			if err := fn(series.ID(p<<memPageBits|i), s); err != nil {
				return err
			}
		}
	}
	return nil
}

// reset empties a memtable that no reader holds any more, keeping the
// slice capacity of every series written during its life for reuse; the
// others (a series that stopped reporting) are dropped, and so are pages
// left without a series.
func (m *memtable) reset() {
	pages := *m.pages.Load()
	var freed []int
	for p, page := range pages {
		if page == nil {
			continue
		}
		live := 0
		for i := range page {
			s := page[i].Load()
			if s == nil {
				continue
			}
			if len(s.ts) == 0 && len(s.chunks) == 0 && len(s.lts) == 0 {
				// Not written during this memtable's life (or all its
				// samples deleted): a series that stopped does not keep
				// its memory.
				m.bytes.Add(-s.sizeBytes() - memSeriesOverhead)
				m.nSeries.Add(-1)
				page[i].Store(nil)
				continue
			}
			live++
			if s.lts != nil {
				// Late samples are the exception: their buffers go.
				m.bytes.Add(-int64(cap(s.lts)+cap(s.lvals)) * 8)
				s.lts, s.lvals = nil, nil
			}
			if s.typ != series.TypeString && cap(s.ts) > 2*memSealAt {
				// A sealing series' raw tail needs memSealAt samples.
				m.bytes.Add(-int64(cap(s.ts)+cap(s.vals)) * 8)
				s.ts, s.vals = nil, nil
			}
			clear(s.chunks)
			s.chunks, s.sealed = s.chunks[:0], 0
			s.ts, s.vals, s.strs = s.ts[:0], s.vals[:0], s.strs[:0]
			s.indexed.Store(0)
		}
		if live == 0 {
			freed = append(freed, p)
		}
	}
	if len(freed) > 0 {
		cp := slices.Clone(pages)
		for _, p := range freed {
			cp[p] = nil
		}
		m.pages.Store(&cp)
	}
	for i := range m.slabs {
		m.slabs[i] = m.slabs[i][:0]
	}
	m.slab = 0
	m.used.Store(0)
	m.samples.Store(0)
	m.firstAdd.Store(0)
	m.walSeq = 0
}

// overlaps reports whether the series may have a sample in [minT, maxT]:
// exact for the raw samples; for a sealed chunk whose span holds the whole
// range it answers yes without decoding the chunk (a range falling in a
// gap between two samples of one chunk is the only false yes). Its callers
// (Fingerprint, Summaries) then read the samples instead of trusting the
// segments alone: slower, never wrong.
func (s *memSeries) overlaps(minT, maxT int64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := sort.Search(len(s.chunks), func(i int) bool { return s.chunks[i].maxT >= minT })
	if k < len(s.chunks) && s.chunks[k].minT <= maxT {
		return true
	}
	if lo := sort.Search(len(s.lts), func(i int) bool { return s.lts[i] >= minT }); lo < len(s.lts) && s.lts[lo] <= maxT {
		return true
	}
	lo := sort.Search(len(s.ts), func(i int) bool { return s.ts[i] >= minT })
	return lo < len(s.ts) && s.ts[lo] <= maxT
}

// forget drops the per-series state of the series of ids (lifecycle.go);
// the caller holds writeMu, and no reader of the memtable reads them.
func (m *memtable) forget(ids []series.ID) {
	for _, id := range ids {
		pages := *m.pages.Load()
		p := int(id >> memPageBits)
		if p >= len(pages) || pages[p] == nil {
			continue
		}
		slot := &pages[p][id&(1<<memPageBits-1)]
		if s := slot.Load(); s != nil {
			m.bytes.Add(-s.sizeBytes() - memSeriesOverhead)
			m.nSeries.Add(-1)
			slot.Store(nil)
		}
	}
}
