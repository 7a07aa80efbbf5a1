package tagindex

import (
	"encoding/binary"
	"hash/crc32"
	"io"

	"github.com/RoaringBitmap/roaring/v2"
)

// File format, version 1 (also in docs/tagindex-format.md). Integers are
// little endian; uvarint is encoding/binary's.
//
//	┌──────────────────────────────────────────────────────────────┐
//	│ header, 32 B: magic "LDBTIDX\x00" │ version u32 │ flags u32 (0) │
//	│               minT i64 │ maxT i64  (ns, inclusive)             │
//	├──────────────────────────────────────────────────────────────┤
//	│ block 0: series block                                        │
//	│ block 1..N: one label-name block per name, names ascending   │
//	├──────────────────────────────────────────────────────────────┤
//	│ footer, 24 B: numBlocks u32 │ headerCRC u32 │ bodyLen u64 │    │
//	│               footerCRC u32 │ magic "LDBE"                   │
//	└──────────────────────────────────────────────────────────────┘
//
// Every block starts at an 8-byte aligned offset:
//
//	payloadLen u32 │ CRC32C(payload) u32 │ payload │ zero padding to 8
//
// Series block payload: uvarint numNames │ roaring(all series).
//
// Label-name block payload:
//
//	uvarint len │ name
//	uvarint numValues
//	numValues × (uvarint len │ value)    values ascending, unique, non-empty
//	numValues × uvarint size             serialized size of each value bitmap
//	uvarint size                         serialized size of the "any" bitmap
//	zero padding to an 8-byte file offset
//	roaring(any) │ roaring(value 0) │ ... │ roaring(value numValues-1)
//
// roaring(x) is the portable Roaring serialization (RoaringFormatSpec), which
// FromBuffer reads in place: a memory-mapped file's containers are used
// without a copy. headerCRC covers the 32 header bytes, footerCRC the first
// 16 footer bytes, bodyLen is the byte count between header and footer (a
// truncated file fails it) and numBlocks counts the blocks.
const (
	formatVersion = 1
	headerSize    = 32
	footerSize    = 24
	blockHdrSize  = 8
	headerMagic   = "LDBTIDX\x00"
	footerMagic   = "LDBE"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func pad8(n int) int { return (8 - n%8) % 8 }

// WriteTo writes the partition in the file format to w. It holds the
// partition's read lock throughout, so new series wait until it returns.
func (p *Partition) WriteTo(w io.Writer) (int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return 0, ErrClosed
	}
	enc := &encoder{w: w}
	enc.header(p.minT, p.maxT)
	var payload []byte
	payload = binary.AppendUvarint(payload, uint64(len(p.sortedNames)))
	payload = appendBitmap(payload, runOptimized(p.all))
	enc.block(payload)
	for _, name := range p.sortedNames {
		payload = appendNameBlock(payload[:0], name, p.names[name])
		enc.block(payload)
	}
	enc.footer()
	return enc.n, enc.err
}

type encoder struct {
	w         io.Writer
	n         int64
	err       error
	blocks    uint32
	headerCRC uint32
}

func (e *encoder) write(b []byte) {
	if e.err != nil {
		return
	}
	k, err := e.w.Write(b)
	e.n += int64(k)
	e.err = err
}

func (e *encoder) header(minT, maxT int64) {
	h := make([]byte, 0, headerSize)
	h = append(h, headerMagic...)
	h = binary.LittleEndian.AppendUint32(h, formatVersion)
	h = binary.LittleEndian.AppendUint32(h, 0)
	h = binary.LittleEndian.AppendUint64(h, uint64(minT))
	h = binary.LittleEndian.AppendUint64(h, uint64(maxT))
	e.headerCRC = crc32.Checksum(h, castagnoli)
	e.write(h)
}

func (e *encoder) block(payload []byte) {
	var h [blockHdrSize]byte
	binary.LittleEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(payload, castagnoli))
	e.write(h[:])
	e.write(payload)
	var zeros [8]byte
	e.write(zeros[:pad8(len(payload))])
	e.blocks++
}

func (e *encoder) footer() {
	f := make([]byte, 0, footerSize)
	f = binary.LittleEndian.AppendUint32(f, e.blocks)
	f = binary.LittleEndian.AppendUint32(f, e.headerCRC)
	f = binary.LittleEndian.AppendUint64(f, uint64(e.n-headerSize))
	f = binary.LittleEndian.AppendUint32(f, crc32.Checksum(f, castagnoli))
	f = append(f, footerMagic...)
	e.write(f)
}

// appendNameBlock appends the payload of a label-name block. Payloads start
// at 8-byte aligned file offsets, so padding relative to the payload start
// aligns the bitmaps in the file.
func appendNameBlock(b []byte, name string, ni *nameIndex) []byte {
	values, bms := ni.sortedValues()
	bms = append(bms[:0:0], bms...)
	for i, bm := range bms {
		bms[i] = runOptimized(bm)
	}
	anyBm := runOptimized(ni.any)
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendUvarint(b, uint64(len(values)))
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, bm := range bms {
		b = binary.AppendUvarint(b, bm.GetSerializedSizeInBytes())
	}
	b = binary.AppendUvarint(b, anyBm.GetSerializedSizeInBytes())
	b = append(b, make([]byte, pad8(len(b)))...)
	b = appendBitmap(b, anyBm)
	for _, bm := range bms {
		b = appendBitmap(b, bm)
	}
	return b
}

// runOptimized returns bm with run containers where they are smaller (a
// host's fields have consecutive series IDs: one run instead of an array),
// a copy when that changes anything: bm itself is shared with readers.
func runOptimized(bm *roaring.Bitmap) *roaring.Bitmap {
	c := bm.Clone()
	c.RunOptimize()
	if c.GetSerializedSizeInBytes() < bm.GetSerializedSizeInBytes() {
		return c
	}
	return bm
}

type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func appendBitmap(b []byte, bm *roaring.Bitmap) []byte {
	w := appendWriter{b}
	// Writing to memory cannot fail.
	_, _ = bm.WriteTo(&w)
	return w.b
}
