package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/klauspost/compress/s2"

	"github.com/lightningdb/lightningdb/series"
)

// WAL record, format version 1 (integers little endian):
//
//	+-------------+------------+-------------+----------+-----------------+
//	| crc32c (4)  | length (4) | version (1) | kind (1) | payload (length)|
//	+-------------+------------+-------------+----------+-----------------+
//
// The CRC32C (Castagnoli) covers every byte after itself: length, version,
// kind and payload, so a zeroed or torn header fails the check like a torn
// payload. kind is recordBatch, with flagS2 set when the payload is
// S2-compressed (done when it saves at least 1/8).
//
// kind recordTombstone carries a deletion (tombstone.go); replay applies it
// in WAL order.
//
// Batch payload (before compression):
//
//	uvarint nDefs, then nDefs series definitions:
//	    uvarint id | type (1) | uvarint len | canonical labels
//	uvarint nSeries, then per series: uvarint id | type (1) | uvarint count
//	timestamps of all samples in series order: zig-zag varint of the delta
//	    to the previous timestamp (the first to 0), across series
//	values of all samples in series order, by the series' type:
//	    float: 8 bytes raw bits | integer: zig-zag varint delta to the
//	    previous value of the series | unsigned: uvarint | boolean: 1 byte |
//	    string: uvarint len | bytes
//
// A series definition is carried by every record that uses the series until
// the series is known to be durable, so replay never meets an unknown ID.
const (
	recordHeaderSize = 10
	recordVersion    = 1
	recordBatch      = 1
	recordTombstone  = 2 // a deletion (tombstone.go)
	flagS2           = 0x80
	minCompressSize  = 512
	maxRecordSize    = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordEncoder encodes batches into WAL records, reusing its buffers. It is
// owned by one goroutine at a time (pooled).
type recordEncoder struct {
	payload []byte
	rec     []byte
}

// encode appends the record for the accepted series of b: ids[i] is the
// series ID of batch series i, or 0 when it was rejected; needDef[i] marks
// series whose definition must be carried. The returned slice is owned by
// the encoder until its next use.
func (e *recordEncoder) encode(b *series.Batch, ids []series.ID, needDef []bool) []byte {
	p := e.payload[:0]
	nDefs, nSeries := 0, 0
	for i, id := range ids {
		if id != 0 {
			nSeries++
			if needDef[i] {
				nDefs++
			}
		}
	}
	p = binary.AppendUvarint(p, uint64(nDefs))
	for i, id := range ids {
		if id != 0 && needDef[i] {
			canonical, typ, _, _ := b.Series(i)
			p = binary.AppendUvarint(p, uint64(id))
			p = append(p, byte(typ))
			p = binary.AppendUvarint(p, uint64(len(canonical)))
			p = append(p, canonical...)
		}
	}
	p = binary.AppendUvarint(p, uint64(nSeries))
	for i, id := range ids {
		if id != 0 {
			_, typ, ts, _ := b.Series(i)
			p = binary.AppendUvarint(p, uint64(id))
			p = append(p, byte(typ))
			p = binary.AppendUvarint(p, uint64(len(ts)))
		}
	}
	var prev int64
	for i, id := range ids {
		if id == 0 {
			continue
		}
		_, _, ts, _ := b.Series(i)
		for _, t := range ts {
			p = binary.AppendVarint(p, t-prev)
			prev = t
		}
	}
	for i, id := range ids {
		if id == 0 {
			continue
		}
		_, typ, _, vals := b.Series(i)
		p = appendValues(p, b, typ, vals)
	}
	e.payload = p
	e.rec = frameRecord(e.rec[:0], p)
	return e.rec
}

func appendValues(p []byte, b *series.Batch, typ series.ValueType, vals []uint64) []byte {
	switch typ {
	case series.TypeFloat:
		for _, v := range vals {
			p = binary.LittleEndian.AppendUint64(p, v)
		}
	case series.TypeInt:
		var prev int64
		for _, v := range vals {
			p = binary.AppendVarint(p, int64(v)-prev)
			prev = int64(v)
		}
	case series.TypeUint:
		for _, v := range vals {
			p = binary.AppendUvarint(p, v)
		}
	case series.TypeBool:
		for _, v := range vals {
			p = append(p, byte(v))
		}
	case series.TypeString:
		for _, v := range vals {
			s := b.Str(v)
			p = binary.AppendUvarint(p, uint64(len(s)))
			p = append(p, s...)
		}
	}
	return p
}

// frameRecord appends the header and (possibly compressed) payload of a
// batch record to dst.
func frameRecord(dst, payload []byte) []byte { return frameRecordKind(dst, payload, recordBatch) }

// frameRecordKind appends the header and (possibly compressed) payload of
// a record of kind to dst.
func frameRecordKind(dst, payload []byte, kind byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...)
	if len(payload) >= minCompressSize {
		bound := s2.MaxEncodedLen(len(payload))
		dst = growTo(dst, len(dst)+bound)
		enc := s2.Encode(dst[len(dst):len(dst)+bound], payload)
		if len(enc) < len(payload)-len(payload)/8 {
			dst = dst[:len(dst)+len(enc)]
			kind |= flagS2
		} else {
			dst = append(dst, payload...)
		}
	} else {
		dst = append(dst, payload...)
	}
	h := dst[start : start+recordHeaderSize]
	binary.LittleEndian.PutUint32(h[4:], uint32(len(dst)-start-recordHeaderSize))
	h[8] = recordVersion
	h[9] = kind
	binary.LittleEndian.PutUint32(h[0:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

var (
	errShortHeader = errors.New("torn record header")
	errZeroed      = errors.New("zero-filled tail")
)

// readRecord checks the record at the start of src and returns its payload
// (decompressed into *buf, which it may grow, when needed) and its total
// size on disk.
func readRecord(src []byte, buf *[]byte) (payload []byte, size int, err error) {
	if len(src) < recordHeaderSize {
		if allZero(src) {
			return nil, 0, errZeroed
		}
		return nil, 0, errShortHeader
	}
	sum := binary.LittleEndian.Uint32(src)
	n := binary.LittleEndian.Uint32(src[4:])
	if sum == 0 && n == 0 && allZero(src[:recordHeaderSize]) {
		return nil, 0, errZeroed
	}
	if n > maxRecordSize {
		return nil, 0, fmt.Errorf("record length %d over the %d limit", n, maxRecordSize)
	}
	if int(n) > len(src)-recordHeaderSize {
		return nil, 0, fmt.Errorf("torn record: length %d, only %d bytes left", n, len(src)-recordHeaderSize)
	}
	size = recordHeaderSize + int(n)
	if crc32.Checksum(src[4:size], castagnoli) != sum {
		return nil, 0, errors.New("checksum mismatch")
	}
	if v := src[8]; v != recordVersion {
		return nil, 0, fmt.Errorf("unsupported record version %d", v)
	}
	kind := src[9]
	if k := kind &^ flagS2; k != recordBatch && k != recordTombstone {
		return nil, 0, fmt.Errorf("unknown record kind %d", kind)
	}
	payload = src[recordHeaderSize:size]
	if kind&flagS2 != 0 {
		dl, err := s2.DecodedLen(payload)
		if err != nil || dl > maxRecordSize {
			return nil, 0, fmt.Errorf("bad compressed payload: %v", err)
		}
		*buf = growTo((*buf)[:0], dl)
		payload, err = s2.Decode((*buf)[:dl], payload)
		if err != nil {
			return nil, 0, fmt.Errorf("bad compressed payload: %w", err)
		}
	}
	return payload, size, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// recordVisitor receives the decoded contents of a batch record. The slices
// are reused after each call returns.
type recordVisitor interface {
	def(id series.ID, typ series.ValueType, canonical []byte) error
	samples(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte) error
}

// recordDecoder decodes batch payloads, reusing its buffers.
type recordDecoder struct {
	heads []seriesHead
	ts    []int64
	vals  []uint64
	strs  []byte
}

type seriesHead struct {
	id    series.ID
	typ   series.ValueType
	count int
}

var errBadPayload = errors.New("malformed batch payload")

// decode parses a batch payload and calls v for its definitions, then for
// each series' samples. It never panics on malformed input.
func (d *recordDecoder) decode(p []byte, v recordVisitor) error {
	r := reader{b: p}
	nDefs := r.uvarint()
	for i := uint64(0); i < nDefs && r.err == nil; i++ {
		id, typ := r.uvarint(), series.ValueType(r.byte())
		canonical := r.bytes(r.uvarint())
		if r.err != nil {
			break
		}
		if id == 0 || id > math.MaxUint32-1 || !typ.Valid() {
			return fmt.Errorf("%w: bad series definition %d", errBadPayload, id)
		}
		if err := v.def(series.ID(id), typ, canonical); err != nil {
			return err
		}
	}
	nSeries := r.uvarint()
	if nSeries > uint64(len(p)) {
		return fmt.Errorf("%w: %d series", errBadPayload, nSeries)
	}
	d.heads = d.heads[:0]
	total := 0
	for i := uint64(0); i < nSeries && r.err == nil; i++ {
		id, typ, count := r.uvarint(), series.ValueType(r.byte()), r.uvarint()
		if id == 0 || id > math.MaxUint32-1 || !typ.Valid() || count > uint64(len(p)) {
			return fmt.Errorf("%w: bad series entry", errBadPayload)
		}
		d.heads = append(d.heads, seriesHead{series.ID(id), typ, int(count)})
		total += int(count)
	}
	if total > len(p) {
		return fmt.Errorf("%w: %d samples in %d bytes", errBadPayload, total, len(p))
	}
	d.ts = d.ts[:0]
	var prev int64
	for i := 0; i < total && r.err == nil; i++ {
		prev += r.varint()
		d.ts = append(d.ts, prev)
	}
	off := 0
	for _, h := range d.heads {
		d.vals, d.strs = d.vals[:0], d.strs[:0]
		r.values(h.typ, h.count, &d.vals, &d.strs)
		if r.err != nil {
			break
		}
		if err := v.samples(h.id, h.typ, d.ts[off:off+h.count], d.vals, d.strs); err != nil {
			return err
		}
		off += h.count
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", errBadPayload, r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadPayload, len(r.b))
	}
	return nil
}

// reader decodes varints with a sticky error.
type reader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.err = errTruncated
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errTruncated
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

// values decodes count values of typ; string values become off<<32|len
// into *strs, as series.Batch lays them out.
func (r *reader) values(typ series.ValueType, count int, vals *[]uint64, strs *[]byte) {
	var prev int64
	for i := 0; i < count && r.err == nil; i++ {
		switch typ {
		case series.TypeFloat:
			b := r.bytes(8)
			if b != nil {
				*vals = append(*vals, binary.LittleEndian.Uint64(b))
			}
		case series.TypeInt:
			prev += r.varint()
			*vals = append(*vals, uint64(prev))
		case series.TypeUint:
			*vals = append(*vals, r.uvarint())
		case series.TypeBool:
			c := r.byte()
			if c > 1 {
				r.err = fmt.Errorf("boolean value %d", c)
			}
			*vals = append(*vals, uint64(c))
		case series.TypeString:
			s := r.bytes(r.uvarint())
			*vals = append(*vals, uint64(len(*strs))<<32|uint64(len(s)))
			*strs = append(*strs, s...)
		}
	}
}
