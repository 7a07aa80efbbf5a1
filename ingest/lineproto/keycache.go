package lineproto

import "bytes"

// keyCache remembers, per series key (the measurement and tags of a line
// exactly as sent, with the request's database), the canonical labels the
// key maps to, split around the __name__ pair, and per field the metric
// name and the series ID an appender gave it. A line whose key is cached
// skips sorting, checking and encoding its labels, and its series carry ID
// hints (series.Batch.SetRef) that spare the appender its registry lookup.
// Only keys whose labels passed every check are cached. It belongs to one
// Parser and is not safe for concurrent use.
type keyCache struct {
	max   int // keys held at most; 0: no cache
	m     map[string]*keyEntry
	key   []byte    // scratch: database, 0xff, series key
	slots []keySlot // per series added by the last Parse
}

type keyEntry struct {
	prefix, suffix []byte // canonical labels before and after __name__
	fields         []keyField
}

// keyField is what is known of a line's field i: the metric name it gave,
// and the series ID hint. gen changes when another name takes the place.
type keyField struct {
	name []byte
	id   uint32
	gen  uint32
	// The batch entry the field was last added as, by the Parse numbered
	// pgen (see sameAs).
	pgen uint64
	bidx int
}

// keySlot ties a series of the batch to the field of a key it came from.
type keySlot struct {
	k   *keyEntry
	i   int
	gen uint32
}

// makeKey builds db 0xff key in c.key; 0xff never occurs in UTF-8, and the
// database name is valid UTF-8, so the two parts cannot run together.
func (c *keyCache) makeKey(db, key []byte) []byte {
	c.key = append(append(append(c.key[:0], db...), 0xff), key...)
	return c.key
}

// get returns the entry of a series key, or nil.
func (c *keyCache) get(db, key []byte) *keyEntry {
	if c.max <= 0 {
		return nil
	}
	return c.m[string(c.makeKey(db, key))]
}

// put caches a series key with its canonical labels around __name__ and
// returns the entry (nil when the cache is off). A full cache is emptied
// first: simple, and a steady set of series refills it at once.
func (c *keyCache) put(db, key, prefix, suffix []byte) *keyEntry {
	if c.max <= 0 {
		return nil
	}
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[string]*keyEntry)
	}
	buf := make([]byte, 0, len(prefix)+len(suffix))
	buf = append(append(buf, prefix...), suffix...)
	k := &keyEntry{prefix: buf[:len(prefix):len(prefix)], suffix: buf[len(prefix):]}
	c.m[string(c.makeKey(db, key))] = k
	return k
}

// note records that the series just added came from field i of k, named
// name, and returns its series ID hint (0 if unknown) and whether the
// name is new at that place.
func (c *keyCache) note(k *keyEntry, i int, name []byte) (uint32, bool) {
	if k == nil {
		c.slots = append(c.slots, keySlot{})
		return 0, false
	}
	for len(k.fields) <= i {
		k.fields = append(k.fields, keyField{})
	}
	f := &k.fields[i]
	changed := !bytes.Equal(f.name, name)
	if changed {
		f.name = append(f.name[:0], name...)
		f.id = 0
		f.gen++
	}
	c.slots = append(c.slots, keySlot{k: k, i: i, gen: f.gen})
	return f.id, changed
}

// inBatch records that field i of k was added as entry j of the batch of
// the Parse numbered pgen. note(k, i, ...) must have been called.
func (c *keyCache) inBatch(k *keyEntry, i int, pgen uint64, j int) {
	if k == nil {
		return
	}
	k.fields[i].pgen, k.fields[i].bidx = pgen, j
}

// sameAs returns the batch entry that the field named name, at place i of
// a line of key k, was added as by the Parse numbered pgen, if it was. The
// field is looked for at place i first (lines of one source keep their
// field order), then at the others.
func (c *keyCache) sameAs(k *keyEntry, i int, name []byte, pgen uint64) (int, bool) {
	if i < len(k.fields) {
		if f := &k.fields[i]; f.pgen == pgen && bytes.Equal(f.name, name) {
			return f.bidx, true
		}
	}
	for j := range k.fields {
		if f := &k.fields[j]; j != i && f.pgen == pgen && bytes.Equal(f.name, name) {
			return f.bidx, true
		}
	}
	return 0, false
}
