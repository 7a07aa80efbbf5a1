package engine

import (
	"slices"
	"sync/atomic"
)

// version is an immutable view of what a read must merge: the memtables
// (oldest first; the last is the active one) and the live segments per
// partition. The DB holds one reference to its current version; readers
// take one for the length of a query, so the segments and memtables a
// version lists stay mapped and readable until the last reader is done,
// even when a flush, compaction or retention drop has replaced them.
type version struct {
	refs  atomic.Int32
	mems  []*memtable
	parts []partSegs // sorted by start
	// tombs are the deletions in force over parts' segments (tombstone.go).
	tombs *tombstones
	db    *DB
}

// partSegs is the segments of one time partition, oldest data first (by
// seq): for duplicates, a later segment wins.
type partSegs struct {
	start int64
	segs  []*segment
}

func (v *version) ref() { v.refs.Add(1) }

func (v *version) unref() {
	if v.refs.Add(-1) != 0 {
		return
	}
	for _, p := range v.parts {
		for _, s := range p.segs {
			s.unref()
		}
	}
	for _, m := range v.mems {
		v.db.unrefMemtable(m)
	}
}

// clone returns a copy of v holding its own references to every segment
// and memtable; the caller edits it and installs it.
func (v *version) clone() *version {
	n := &version{db: v.db, mems: slices.Clone(v.mems), parts: make([]partSegs, len(v.parts)), tombs: v.tombs}
	for i, p := range v.parts {
		n.parts[i] = partSegs{start: p.start, segs: slices.Clone(p.segs)}
		for _, s := range p.segs {
			s.ref()
		}
	}
	for _, m := range v.mems {
		m.refs.Add(1)
	}
	n.refs.Store(1)
	return n
}

// partition returns the index of partition start in parts and whether it
// is there.
func (v *version) partition(start int64) (int, bool) {
	return slices.BinarySearchFunc(v.parts, start, func(p partSegs, t int64) int {
		switch {
		case p.start < t:
			return -1
		case p.start > t:
			return 1
		}
		return 0
	})
}

// addSegment inserts s (whose reference the version takes over) in its
// partition, ordered by seq.
func (v *version) addSegment(s *segment) {
	i, ok := v.partition(s.partition)
	if !ok {
		v.parts = slices.Insert(v.parts, i, partSegs{start: s.partition})
	}
	segs := v.parts[i].segs
	j, _ := slices.BinarySearchFunc(segs, s.seq, func(x *segment, seq uint64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	v.parts[i].segs = slices.Insert(segs, j, s)
}

// removeSegment drops s from the version and releases the version's
// reference to it. It reports whether s was there.
func (v *version) removeSegment(s *segment) bool {
	i, ok := v.partition(s.partition)
	if !ok {
		return false
	}
	j := slices.Index(v.parts[i].segs, s)
	if j < 0 {
		return false
	}
	v.parts[i].segs = slices.Delete(v.parts[i].segs, j, j+1)
	if len(v.parts[i].segs) == 0 {
		v.parts = slices.Delete(v.parts, i, i+1)
	}
	s.unref()
	return true
}

// segments returns the metadata of every live segment.
func (v *version) segments() []segMeta {
	var out []segMeta
	for _, p := range v.parts {
		for _, s := range p.segs {
			out = append(out, s.segMeta)
		}
	}
	return out
}

// acquire returns the current version with a reference the caller must
// release with unref.
func (db *DB) acquire() *version {
	db.verMu.RLock()
	v := db.cur
	v.ref()
	db.verMu.RUnlock()
	return v
}

// install makes v the current version and releases the old one.
func (db *DB) install(v *version) {
	db.verMu.Lock()
	old := db.cur
	db.cur = v
	db.verMu.Unlock()
	if old != nil {
		old.unref()
	}
}

// unrefMemtable releases a version's reference to m; the last reference to
// a flushed memtable resets it and keeps it as the spare next active one.
func (db *DB) unrefMemtable(m *memtable) {
	if m.refs.Add(-1) != 0 {
		return
	}
	if n := m.immBytes; n != 0 {
		m.immBytes = 0
		db.immBytes.Add(-n) // frozen: out of the budget once nothing holds it
	}
	m.reset()
	if m.bytes.Load() > db.opts.MemtableBudget/2 {
		// Its kept capacity alone would hold the next active memtable near
		// the budget while empty: Append would be refused and no flush
		// would help. Let it go.
		return
	}
	db.spareMu.Lock()
	if db.spare == nil {
		db.spare = m
	}
	db.spareMu.Unlock()
}
