package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// Segment file, format version 3 (integers little endian; drawn in
// docs/segment-format.md; version 2 is read too, segment_tsref.go):
//
//	+--------------------------------------------+
//	| magic "LDBSEG" (6) | version (1) | zero (1) |  header, 8 bytes
//	+--------------------------------------------+
//	| block 0 | block 1 | ... | block n-1         |  blocks, in (series ID, time) order
//	+--------------------------------------------+
//	| index                                      |  series ID -> blocks
//	+--------------------------------------------+
//	| series bitmap (portable Roaring)           |
//	+--------------------------------------------+
//	| footer, 72 bytes                           |
//	+--------------------------------------------+
//
//	block:  encoded timestamps | encoded values | crc32c of both (4)
//	        (streams of package encoding; strings use the string codec;
//	        from version 3 the timestamps may be a reference to an earlier
//	        block's, segment_tsref.go)
//
//	index:  uvarint nSeries, then per series in ascending ID order:
//	        uvarint ID delta (to the previous ID, the first to 0) | type (1) |
//	        uvarint nBlocks, then per block:
//	        uvarint length (with its CRC) | uvarint count |
//	        varint minT delta (to the series' previous block maxT, the first
//	        to the segment minT) | uvarint maxT-minT |
//	        numeric types only: aggregates: flags (1) | min | max | sum |
//	        first value | last value (version 2: float64 bits, 8 each,
//	        blockagg.go; version 3: decimals where exact, blockagg_v3.go)
//	        Blocks are contiguous in index order, so offsets are implied: the
//	        first block starts at 8 and each starts where the previous ended.
//
//	footer: indexOff (8) | indexLen (8) | bitmapLen (8) | minT (8) | maxT (8) |
//	        nSeries (4) | nBlocks (4) | nSamples (8) |
//	        indexCRC (4, crc32c of index and bitmap) |
//	        footerCRC (4, crc32c of the 64 bytes before it) | magic "LDBSEGv3" (8,
//	        "LDBSEGv2" in version 2)
//
// Version 1 (no aggregates) was never deployed and is refused.
//
// A segment holds the samples of one time partition; it is immutable once
// renamed into place and listed in the manifest.
const (
	segMagic       = "LDBSEG"
	segVersion     = 3 // written; 2 is read too (segment_tsref.go)
	segHeaderSize  = 8
	segFooterSize  = 72
	segFooterMagic = "LDBSEGv3"
	segSuffix      = ".seg"
	segDir         = "segments"
)

// blockRef locates one block of a segment.
type blockRef struct {
	off   int64 // of the block in the file
	len   uint32
	count uint32
	minT  int64
	maxT  int64
}

// segIndex is the decoded index of a segment.
type segIndex struct {
	ids    []series.ID // ascending
	types  []series.ValueType
	first  []uint32 // first block of ids[i] in blocks; first[len(ids)] = len(blocks)
	blocks []blockRef
	aggs   []BlockAgg // parallel to blocks; zero for string series
	bitmap *roaring.Bitmap

	minT, maxT int64
	nSamples   uint64
	version    byte // of the file format; 2 holds no timestamps references
	// tsBack[i] (version 3) is how many series before ids[i] the series
	// is whose blocks hold the timestamps of its first block; 0: its own.
	tsBack []uint8
}

// find returns the position of id in the index.
func (x *segIndex) find(id series.ID) (int, bool) {
	i := sort.Search(len(x.ids), func(i int) bool { return x.ids[i] >= id })
	return i, i < len(x.ids) && x.ids[i] == id
}

// seriesBlocks returns the blocks of the series at position i that overlap
// [minT, maxT].
func (x *segIndex) seriesBlocks(i int, minT, maxT int64) []blockRef {
	bs := x.blocks[x.first[i]:x.first[i+1]]
	lo := sort.Search(len(bs), func(j int) bool { return bs[j].maxT >= minT })
	hi := lo
	for hi < len(bs) && bs[hi].minT <= maxT {
		hi++
	}
	return bs[lo:hi]
}

var (
	errSegTooShort     = errors.New("file shorter than header and footer")
	errSegAggTruncated = errors.New("block aggregates truncated")
)

// decodeSegIndex checks the header, footer and index of a segment file's
// bytes and decodes the index. Damage yields a *CorruptionError naming
// file and offset.
func decodeSegIndex(file string, data []byte) (*segIndex, error) {
	corrupt := func(off int, format string, args ...any) error {
		return &CorruptionError{File: file, Offset: int64(off), Err: fmt.Errorf(format, args...)}
	}
	if len(data) < segHeaderSize+segFooterSize {
		return nil, corrupt(0, "%w (%d bytes)", errSegTooShort, len(data))
	}
	version := data[len(segMagic)]
	if string(data[:len(segMagic)]) != segMagic || !segVersionReadable(version) || data[segHeaderSize-1] != 0 {
		return nil, corrupt(0, "bad header magic or version %d", version)
	}
	fo := len(data) - segFooterSize
	ft := data[fo:]
	if string(ft[64:]) != segFooterMagicOf(version) {
		return nil, corrupt(fo+64, "bad footer magic")
	}
	if crc32.Checksum(ft[:60], castagnoli) != binary.LittleEndian.Uint32(ft[60:]) {
		return nil, corrupt(fo, "footer checksum mismatch")
	}
	le := binary.LittleEndian
	indexOff, indexLen, bitmapLen := le.Uint64(ft[0:]), le.Uint64(ft[8:]), le.Uint64(ft[16:])
	if indexOff < segHeaderSize || indexOff+indexLen+bitmapLen != uint64(fo) || indexOff > uint64(fo) {
		return nil, corrupt(fo, "index at %d+%d+%d does not end at the footer", indexOff, indexLen, bitmapLen)
	}
	region := data[indexOff:fo]
	if crc32.Checksum(region, castagnoli) != le.Uint32(ft[56:]) {
		return nil, corrupt(int(indexOff), "index checksum mismatch")
	}
	x := &segIndex{minT: int64(le.Uint64(ft[24:])), maxT: int64(le.Uint64(ft[32:])), nSamples: le.Uint64(ft[48:]), version: version}
	nSeries, nBlocks := le.Uint32(ft[40:]), le.Uint32(ft[44:])
	if err := x.decode(region[:indexLen], int64(indexOff), nSeries, nBlocks); err != nil {
		return nil, corrupt(int(indexOff), "index: %w", err)
	}
	x.bitmap = roaring.New()
	if _, err := x.bitmap.FromBuffer(region[indexLen:]); err != nil {
		return nil, corrupt(int(indexOff+indexLen), "series bitmap: %w", err)
	}
	if x.bitmap.GetCardinality() != uint64(len(x.ids)) {
		return nil, corrupt(int(indexOff+indexLen), "series bitmap holds %d series, index %d", x.bitmap.GetCardinality(), len(x.ids))
	}
	return x, nil
}

func (x *segIndex) decode(b []byte, dataEnd int64, nSeries, nBlocks uint32) error {
	r := segReader{b: b}
	n := r.uvarint()
	if n != uint64(nSeries) || uint64(nBlocks) > uint64(len(b)) || n > uint64(len(b)) {
		return fmt.Errorf("series count %d, footer says %d", n, nSeries)
	}
	x.ids = make([]series.ID, 0, n)
	x.types = make([]series.ValueType, 0, n)
	x.first = make([]uint32, 0, n+1)
	x.blocks = make([]blockRef, 0, nBlocks)
	x.aggs = make([]BlockAgg, 0, nBlocks)
	g := int64(1) // unit of the block times
	if x.version >= 3 {
		x.tsBack = make([]uint8, 0, n)
		if g = int64(r.uvarint()); g < 1 || g > 1<<62 {
			return fmt.Errorf("block time unit %d", g)
		}
	}
	off := int64(segHeaderSize)
	var id uint64
	var samples uint64
	for range n {
		d := r.uvarint()
		if d == 0 && len(x.ids) > 0 || id+d > 1<<32-1 {
			return fmt.Errorf("series IDs not ascending at %d", r.off)
		}
		id += d
		typ := series.ValueType(r.byte())
		if !typ.Valid() {
			return fmt.Errorf("series %d: invalid type %d", id, typ)
		}
		if x.version >= 3 {
			if err := x.decodeTsBack(r.byte()); err != nil {
				return fmt.Errorf("series %d: %w", id, err)
			}
		}
		nb := r.uvarint()
		if nb == 0 || nb > uint64(nBlocks)-uint64(len(x.blocks)) {
			return fmt.Errorf("series %d: %d blocks", id, nb)
		}
		x.ids = append(x.ids, series.ID(id))
		x.types = append(x.types, typ)
		x.first = append(x.first, uint32(len(x.blocks)))
		prev := x.minT
		for range nb {
			l, c := r.uvarint(), r.uvarint()
			minT := prev + unzigzag64(r.uvarint())*g
			maxT := minT + int64(r.uvarint())*g
			var agg BlockAgg
			if typ != series.TypeString {
				if x.version >= 3 {
					agg = r.blockAggV3()
				} else {
					agg = r.blockAgg()
				}
			}
			if r.err != nil {
				return r.err
			}
			if l < 5 || off+int64(l) > dataEnd || c == 0 || maxT < minT || minT < x.minT || maxT > x.maxT {
				return fmt.Errorf("series %d: bad block (len %d, count %d, time %d..%d)", id, l, c, minT, maxT)
			}
			x.blocks = append(x.blocks, blockRef{off: off, len: uint32(l), count: uint32(c), minT: minT, maxT: maxT})
			x.aggs = append(x.aggs, agg)
			off += int64(l)
			samples += c
			prev = maxT
		}
	}
	if r.err != nil {
		return r.err
	}
	if r.off != len(b) || off != dataEnd || len(x.blocks) != int(nBlocks) || samples != x.nSamples {
		return fmt.Errorf("index does not account for the data exactly")
	}
	x.first = append(x.first, uint32(len(x.blocks)))
	return nil
}

func zigzag64(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag64(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// segReader reads uvarints with a sticky error.
type segReader struct {
	b   []byte
	off int
	err error
}

func (r *segReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.err = fmt.Errorf("bad uvarint at %d", r.off)
		return 0
	}
	r.off += n
	return v
}

func (r *segReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.err = fmt.Errorf("truncated at %d", r.off)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// checkBlock verifies the CRC of a block and returns its payload.
func checkBlock(data []byte, b blockRef) ([]byte, error) {
	end := b.off + int64(b.len)
	if end > int64(len(data)) {
		return nil, errors.New("block past the end of the file")
	}
	blk := data[b.off:end]
	p := blk[:len(blk)-4]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(blk[len(p):]) {
		return nil, errors.New("block checksum mismatch")
	}
	return p, nil
}
