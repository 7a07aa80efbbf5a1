package engine

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
)

// segmentWriter streams one segment file: series in ascending ID order,
// each written whole by writeSeries. Blocks go to the file as they are
// encoded; only the index (tens of bytes per series) stays in memory. It
// writes to a temporary name; finish fsyncs and renames it into place.
type segmentWriter struct {
	fs        FS
	path, tmp string
	f         File
	bw        *bufio.Writer
	enc       *encoding.Encoder
	maxBlock  int

	off      int64
	buf      []byte
	strs     [][]byte
	index    []byte
	entry    []byte
	lastID   series.ID
	shared   tsSharer
	times    timeUnit
	bitmap   *roaring.Bitmap
	nSeries  uint32
	nBlocks  uint32
	nSamples uint64
	minT     int64
	maxT     int64
}

// newSegmentWriter creates path+".tmp". enc is the caller's encoder
// (reused across segments); maxBlock bounds the samples per block.
func newSegmentWriter(fs FS, path string, enc *encoding.Encoder, maxBlock int) (*segmentWriter, error) {
	w := &segmentWriter{fs: fs, path: path, tmp: path + ".tmp", enc: enc, maxBlock: maxBlock,
		bitmap: roaring.New(), minT: math.MaxInt64, maxT: math.MinInt64, off: segHeaderSize}
	f, err := fs.OpenFile(w.tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, 1<<20)
	_, err = w.bw.Write(append([]byte(segMagic), segVersion, 0))
	return w, err
}

// writeSeries writes the samples of series id: ts ascending and unique,
// vals raw, strings as off<<32|len into strs. IDs must ascend across calls.
func (w *segmentWriter) writeSeries(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte) error {
	if len(ts) == 0 {
		return nil
	}
	if id <= w.lastID && w.nSeries > 0 {
		return fmt.Errorf("segment writer: series %d after %d", id, w.lastID)
	}
	nb := (len(ts) + w.maxBlock - 1) / w.maxBlock
	per := (len(ts) + nb - 1) / nb // even blocks: no short tail block
	// The index entry is built aside: its block times are relative to the
	// segment's minT, known only at the end, so entries keep absolute times
	// here and the index is re-encoded in finish.
	w.entry = binary.AppendUvarint(w.entry[:0], uint64(id))
	w.entry = append(w.entry, byte(typ), 0) // the timestamps hint, set by block 0
	hint := len(w.entry) - 1
	w.entry = binary.AppendUvarint(w.entry, uint64(nb))
	for lo, j := 0, 0; lo < len(ts); lo, j = lo+per, j+1 {
		hi := min(lo+per, len(ts))
		n, back, err := w.writeBlock(j, typ, ts[lo:hi], vals[lo:hi], strs)
		if j == 0 {
			w.entry[hint] = back
		}
		if err != nil {
			return fmt.Errorf("segment %s: series %d: %w", w.path, id, err)
		}
		w.entry = binary.AppendUvarint(w.entry, uint64(n))
		w.entry = binary.AppendUvarint(w.entry, uint64(hi-lo))
		w.entry = binary.AppendVarint(w.entry, ts[lo])
		w.entry = binary.AppendVarint(w.entry, ts[hi-1])
		w.times.add(ts[lo], ts[hi-1])
		if typ != series.TypeString {
			w.entry = appendBlockAgg(w.entry, computeBlockAgg(typ, ts[lo:hi], vals[lo:hi]))
		}
	}
	w.shared.next()
	w.index = append(w.index, w.entry...)
	w.bitmap.Add(id)
	w.lastID = id
	w.nSeries++
	w.nBlocks += uint32(nb)
	w.nSamples += uint64(len(ts))
	w.minT = min(w.minT, ts[0])
	w.maxT = max(w.maxT, ts[len(ts)-1])
	return nil
}

// writeBlock writes block j of a series. Timestamps equal to those of
// block j of a previous series are written as a reference to them; it
// returns the block's length and how many series back their owner is.
func (w *segmentWriter) writeBlock(j int, typ series.ValueType, ts []int64, vals []uint64, strs []byte) (int, uint8, error) {
	var b []byte
	owner, shared := w.shared.match(j, ts)
	var err error
	if shared {
		b = appendTimesRef(w.buf[:0], w.off, owner)
	} else {
		b, err = w.enc.AppendTimestamps(w.buf[:0], ts)
	}
	if err != nil {
		return 0, 0, err
	}
	tsLen := len(b)
	if typ == series.TypeString {
		w.strs = w.strs[:0]
		for _, v := range vals {
			off, n := v>>32, v&math.MaxUint32
			w.strs = append(w.strs, strs[off:off+n])
		}
		b, err = w.enc.AppendStrings(b, w.strs)
		clear(w.strs)
	} else {
		b, err = w.enc.AppendValues(b, typ, vals)
	}
	if err != nil {
		return 0, 0, err
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	w.buf = b
	if _, err := w.bw.Write(b); err != nil {
		return 0, 0, err
	}
	if !shared {
		owner = w.shared.owner(w.off, tsLen, crc32.Checksum(b[:tsLen], castagnoli))
	}
	back := uint8(w.shared.seq - owner.series)
	w.shared.add(owner, ts)
	w.off += int64(len(b))
	return len(b), back, nil
}

// empty reports whether no series was written.
func (w *segmentWriter) empty() bool { return w.nSeries == 0 }

// abort closes and removes the temporary file.
func (w *segmentWriter) abort() {
	w.f.Close()
	_ = w.fs.Remove(w.tmp)
}

// finish writes index, bitmap and footer, fsyncs, closes and renames the
// file into place. The caller fsyncs the directory before publishing the
// segment in the manifest. It returns the file size.
func (w *segmentWriter) finish() (int64, error) {
	if err := w.finishTmp(); err != nil {
		w.abort()
		return 0, fmt.Errorf("write segment %s: %w", w.tmp, err)
	}
	if err := w.fs.Rename(w.tmp, w.path); err != nil {
		_ = w.fs.Remove(w.tmp)
		return 0, fmt.Errorf("rename segment: %w", err)
	}
	return w.off, nil
}

func (w *segmentWriter) finishTmp() error {
	index, err := w.encodeIndex()
	if err != nil {
		return err
	}
	indexOff := w.off
	w.bitmap.RunOptimize()
	bm, err := w.bitmap.ToBytes()
	if err != nil {
		return err
	}
	crc := crc32.Update(crc32.Checksum(index, castagnoli), castagnoli, bm)
	le := binary.LittleEndian
	ft := make([]byte, 0, segFooterSize)
	ft = le.AppendUint64(ft, uint64(indexOff))
	ft = le.AppendUint64(ft, uint64(len(index)))
	ft = le.AppendUint64(ft, uint64(len(bm)))
	ft = le.AppendUint64(ft, uint64(w.minT))
	ft = le.AppendUint64(ft, uint64(w.maxT))
	ft = le.AppendUint32(ft, w.nSeries)
	ft = le.AppendUint32(ft, w.nBlocks)
	ft = le.AppendUint64(ft, w.nSamples)
	ft = le.AppendUint32(ft, crc)
	ft = le.AppendUint32(ft, crc32.Checksum(ft, castagnoli))
	ft = append(ft, segFooterMagic...)
	for _, b := range [][]byte{index, bm, ft} {
		if _, err := w.bw.Write(b); err != nil {
			return err
		}
		w.off += int64(len(b))
	}
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	return w.f.Close()
}

// encodeIndex re-encodes the buffered entries with IDs as deltas and block
// times relative to the segment minT and to each previous block, in units
// of the greatest common divisor of the block times' distances.
func (w *segmentWriter) encodeIndex() ([]byte, error) {
	r := segReader{b: w.index}
	out := binary.AppendUvarint(make([]byte, 0, len(w.index)), uint64(w.nSeries))
	g := w.times.unit()
	out = binary.AppendUvarint(out, uint64(g))
	var prevID uint64
	for range w.nSeries {
		id := r.uvarint()
		typ, back := r.byte(), r.byte()
		nb := r.uvarint()
		out = binary.AppendUvarint(out, id-prevID)
		out = append(out, typ, back)
		out = binary.AppendUvarint(out, nb)
		prevID = id
		prev := w.minT
		for range nb {
			l, c := r.uvarint(), r.uvarint()
			minT, _ := r.varintSigned(), 0
			maxT := r.varintSigned()
			out = binary.AppendUvarint(out, l)
			out = binary.AppendUvarint(out, c)
			out = binary.AppendUvarint(out, zigzag64((minT-prev)/g))
			out = binary.AppendUvarint(out, uint64(maxT-minT)/uint64(g))
			if series.ValueType(typ) != series.TypeString {
				if r.off+blockAggSize > len(r.b) {
					return nil, errSegAggTruncated
				}
				out = appendBlockAggV3(out, r.blockAgg())
			}
			prev = maxT
		}
	}
	return out, r.err
}

func (r *segReader) varintSigned() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.err = fmt.Errorf("bad varint at %d", r.off)
		return 0
	}
	r.off += n
	return v
}
