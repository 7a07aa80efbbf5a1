package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// A tombstone deletes the samples of a set of series over [minT, maxT]
// (inclusive, ns) that were written before it (Prometheus' delete_series
// semantics: samples written later are kept).
//
// "Before it" is decided per source:
//
//   - memtables: DB.Delete purges every memtable of the samples at once,
//     in the commit pipeline's applier, in WAL order (WAL replay does the
//     same with the tombstone's WAL record), so a memtable never holds a
//     deleted sample;
//   - segments: a tombstone applies to the segments whose file number is
//     below its bound, the DB's next file number when the tombstone was
//     made. Delete holds flushMu and compactMu while it makes one, so no
//     flush or compaction is running: every segment with a lower number
//     was written before the tombstone, and every later one is written
//     from purged memtables or by a compaction that applied the tombstone.
//
// Readers filter the segments' samples through the tombstones of their
// version (iterator, summaries, fingerprints); compaction writes its output
// without them, and once no live segment below a tombstone's bound holds
// any of its series in its range, the tombstone is dropped.
type tombstone struct {
	seq        uint64 // unique, increasing
	before     uint64 // applies to segments with fileNum < before
	minT, maxT int64
	ids        *roaring.Bitmap // read-only once made
}

// tombstones is an immutable list of tombstones, shared by versions.
type tombstones struct {
	list []*tombstone
	any  *roaring.Bitmap // the union of the tombstones' series: most reads skip the list
}

// newTombstones returns the list of list, with its union.
func newTombstones(list []*tombstone) *tombstones {
	bms := make([]*roaring.Bitmap, len(list))
	for i, x := range list {
		bms[i] = x.ids
	}
	return &tombstones{list: list, any: roaring.FastOr(bms...)}
}

// touchesSeries reports whether a tombstone of t names series id.
func (t *tombstones) touchesSeries(id series.ID) bool {
	return !t.empty() && (t.any == nil || t.any.Contains(uint32(id)))
}

// empty reports whether t holds no tombstone (nil is empty).
func (t *tombstones) empty() bool { return t == nil || len(t.list) == 0 }

// with returns a new list of t's tombstones and x.
func (t *tombstones) with(x *tombstone) *tombstones {
	var list []*tombstone
	if t != nil {
		list = slices.Clone(t.list)
	}
	return newTombstones(append(list, x))
}

// without returns a new list of t's tombstones but those of gone (by seq).
func (t *tombstones) without(gone map[uint64]bool) *tombstones {
	var list []*tombstone
	for _, x := range t.list {
		if !gone[x.seq] {
			list = append(list, x)
		}
	}
	return newTombstones(list)
}

// has reports whether t holds the tombstone seq.
func (t *tombstones) has(seq uint64) bool {
	if t == nil {
		return false
	}
	for _, x := range t.list {
		if x.seq == seq {
			return true
		}
	}
	return false
}

// appliesTo reports whether x deletes samples of series id held by seg.
func (x *tombstone) appliesTo(seg *segment, id series.ID) bool {
	return seg.fileNum < x.before && seg.minT <= x.maxT && seg.maxT >= x.minT && x.ids.Contains(uint32(id))
}

// touches reports whether x may delete samples held by seg: seg is older
// than x, overlaps its range and holds one of its series.
func (x *tombstone) touches(seg *segment) bool {
	return seg.fileNum < x.before && seg.minT <= x.maxT && seg.maxT >= x.minT && seg.x.bitmap.Intersects(x.ids)
}

// hides reports whether a tombstone of t deletes a sample of series id in
// seg within [minT, maxT].
func (t *tombstones) hides(seg *segment, id series.ID, minT, maxT int64) bool {
	if !t.touchesSeries(id) {
		return false
	}
	for _, x := range t.list {
		if x.minT <= maxT && x.maxT >= minT && x.appliesTo(seg, id) {
			return true
		}
	}
	return false
}

// filterRun removes from s[start:] (samples of series id read from seg)
// those a tombstone of t deletes.
func (t *tombstones) filterRun(seg *segment, id series.ID, s *sampleBuf, start int) {
	if !t.touchesSeries(id) {
		return
	}
	for _, x := range t.list {
		if !x.appliesTo(seg, id) {
			continue
		}
		n := start
		for i := start; i < len(s.ts); i++ {
			if s.ts[i] >= x.minT && s.ts[i] <= x.maxT {
				continue
			}
			s.ts[n], s.vals[n] = s.ts[i], s.vals[i]
			n++
		}
		s.ts, s.vals = s.ts[:n], s.vals[:n]
	}
}

// Tombstone file: the tombstones in force, replaced atomically
// (writeFileAtomic) when the set changes.
//
//	magic "LDBTMB" (6) | version (1) | zero (1)
//	uvarint nextSeq | uvarint n
//	per tombstone: uvarint seq | uvarint before | varint minT | varint maxT |
//	    uvarint len | portable Roaring bitmap of the series IDs
//	crc32c (4) of every byte before it
const (
	tombstoneFile    = "TOMBSTONES"
	tombstoneMagic   = "LDBTMB"
	tombstoneVersion = 1
)

func marshalTombstones(t *tombstones, nextSeq uint64) ([]byte, error) {
	b := append([]byte(tombstoneMagic), tombstoneVersion, 0)
	b = binary.AppendUvarint(b, nextSeq)
	var list []*tombstone
	if t != nil {
		list = t.list
	}
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, x := range list {
		b = binary.AppendUvarint(b, x.seq)
		b = binary.AppendUvarint(b, x.before)
		b = binary.AppendVarint(b, x.minT)
		b = binary.AppendVarint(b, x.maxT)
		bm, err := x.ids.ToBytes()
		if err != nil {
			return nil, fmt.Errorf("encode tombstone %d: %w", x.seq, err)
		}
		b = binary.AppendUvarint(b, uint64(len(bm)))
		b = append(b, bm...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func unmarshalTombstones(name string, b []byte) (*tombstones, uint64, error) {
	corrupt := func(off int, err error) error { return &CorruptionError{File: name, Offset: int64(off), Err: err} }
	if len(b) < 12 || string(b[:6]) != tombstoneMagic || b[6] != tombstoneVersion {
		return nil, 0, corrupt(0, errors.New("bad tombstone file header"))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, 0, corrupt(len(body), errors.New("tombstone file checksum mismatch"))
	}
	r := reader{b: body[8:]}
	nextSeq, n := r.uvarint(), r.uvarint()
	if n > uint64(len(body)) {
		return nil, 0, corrupt(8, fmt.Errorf("%d tombstones", n))
	}
	var list []*tombstone
	for i := uint64(0); i < n && r.err == nil; i++ {
		x := &tombstone{seq: r.uvarint(), before: r.uvarint(), minT: r.varint(), maxT: r.varint()}
		raw := r.bytes(r.uvarint())
		if r.err != nil {
			break
		}
		x.ids = roaring.New()
		if _, err := x.ids.ReadFrom(bytes.NewReader(raw)); err != nil {
			return nil, 0, corrupt(len(body)-len(r.b), fmt.Errorf("tombstone %d: %w", x.seq, err))
		}
		list = append(list, x)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, 0, corrupt(len(body)-len(r.b), fmt.Errorf("bad tombstone file body: %v", r.err))
	}
	return newTombstones(list), nextSeq, nil
}

// readTombstones returns the tombstones of dir and the next sequence
// number; none when the file does not exist.
func readTombstones(fsys FS, dir string) (*tombstones, uint64, error) {
	name := filepath.Join(dir, tombstoneFile)
	b, err := fsys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return newTombstones(nil), 1, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read tombstones: %w", err)
	}
	if err := encrypt.NotEncryptedCheck(name, b); err != nil {
		return nil, 0, err
	}
	return unmarshalTombstones(name, b)
}

// writeTombstonesLocked writes the tombstone file with t; tombMu is held.
func (db *DB) writeTombstonesLocked(t *tombstones) error {
	b, err := marshalTombstones(t, db.tombSeq)
	if err != nil {
		return err
	}
	err = writeFileAtomic(db.fs, filepath.Join(db.dir, tombstoneFile), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		db.tombDirty = true
		return fmt.Errorf("write tombstones: %w", err)
	}
	db.tombDirty = false
	return nil
}

// Tombstone WAL record payload (record kind recordTombstone):
//
//	uvarint seq | uvarint before | varint minT | varint maxT |
//	uvarint nIDs | IDs ascending as uvarint deltas (the first to 0)
func appendTombstoneRecord(dst []byte, x *tombstone) []byte {
	var p []byte
	p = binary.AppendUvarint(p, x.seq)
	p = binary.AppendUvarint(p, x.before)
	p = binary.AppendVarint(p, x.minT)
	p = binary.AppendVarint(p, x.maxT)
	p = binary.AppendUvarint(p, x.ids.GetCardinality())
	var prev uint32
	it := x.ids.Iterator()
	for it.HasNext() {
		id := it.Next()
		p = binary.AppendUvarint(p, uint64(id-prev))
		prev = id
	}
	return frameRecordKind(dst, p, recordTombstone)
}

// decodeTombstoneRecord parses a tombstone record's payload. It never
// panics on malformed input.
func decodeTombstoneRecord(p []byte) (*tombstone, error) {
	r := reader{b: p}
	x := &tombstone{seq: r.uvarint(), before: r.uvarint(), minT: r.varint(), maxT: r.varint(), ids: roaring.New()}
	n := r.uvarint()
	if n > uint64(len(p)) {
		return nil, fmt.Errorf("%w: tombstone of %d series", errBadPayload, n)
	}
	var id uint64
	for i := uint64(0); i < n && r.err == nil; i++ {
		id += r.uvarint()
		if id == 0 || id > 1<<32-2 {
			return nil, fmt.Errorf("%w: tombstone series %d", errBadPayload, id)
		}
		x.ids.Add(uint32(id))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", errBadPayload, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadPayload, len(r.b))
	}
	if x.seq == 0 || x.minT > x.maxT {
		return nil, fmt.Errorf("%w: tombstone %d over [%d, %d]", errBadPayload, x.seq, x.minT, x.maxT)
	}
	return x, nil
}
