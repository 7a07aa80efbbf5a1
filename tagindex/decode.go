package tagindex

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// FS is the file system partition files are loaded through. engine.FS
// satisfies it, so the tag index does its file I/O through the engine's
// seam (and its test file systems) without importing the engine.
type FS interface {
	// MapFile maps a whole file read-only; unmap releases the mapping.
	MapFile(name string) (data []byte, unmap func() error, err error)
}

// OpenPartition loads a partition file written from WriteTo (the engine
// writes it atomically). The file is mapped through fs, and the bitmaps use
// the mapping's containers in place; Close (or Index.Drop) unmaps it. Every
// block's checksum is verified first; damage yields a *CorruptionError.
func OpenPartition(fs FS, path string) (*Partition, error) {
	data, unmap, err := fs.MapFile(path)
	if err != nil {
		return nil, fmt.Errorf("open tag index: %w", err)
	}
	p, err := DecodePartition(path, data)
	if err != nil {
		_ = unmap()
		return nil, err
	}
	p.mapped, p.unmap = data, unmap
	return p, nil
}

// DecodePartition decodes a partition from data in the file format; name
// is used in errors. The partition's bitmaps alias data, which must stay
// unchanged and valid for the life of the partition.
func DecodePartition(name string, data []byte) (*Partition, error) {
	d := decoder{file: name, data: data}
	p, err := d.partition()
	if err != nil {
		return nil, err
	}
	return p, nil
}

type decoder struct {
	file string
	data []byte
}

func (d *decoder) corrupt(off int, format string, args ...any) error {
	return &CorruptionError{File: d.file, Offset: int64(off), Err: fmt.Errorf(format, args...)}
}

func (d *decoder) partition() (*Partition, error) {
	data := d.data
	if len(data) < headerSize+footerSize {
		return nil, d.corrupt(0, "file of %d bytes is shorter than header and footer", len(data))
	}
	if string(data[:8]) != headerMagic {
		return nil, d.corrupt(0, "bad magic %q", data[:8])
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != formatVersion {
		return nil, d.corrupt(8, "unsupported format version %d (want %d)", v, formatVersion)
	}
	numBlocks, err := d.footer()
	if err != nil {
		return nil, err
	}
	minT := int64(binary.LittleEndian.Uint64(data[16:]))
	maxT := int64(binary.LittleEndian.Uint64(data[24:]))
	if minT > maxT {
		return nil, d.corrupt(16, "minT %d after maxT %d", minT, maxT)
	}
	p := NewPartition(minT, maxT)
	off, end := headerSize, len(data)-footerSize
	for i := uint32(0); i < numBlocks; i++ {
		payload, next, err := d.block(off, end)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			err = d.seriesBlock(p, payload, off+blockHdrSize, numBlocks-1)
		} else {
			err = d.nameBlock(p, payload, off+blockHdrSize)
		}
		if err != nil {
			return nil, err
		}
		off = next
	}
	if off != end {
		return nil, d.corrupt(off, "%d bytes after the last block", end-off)
	}
	if numBlocks == 0 {
		return nil, d.corrupt(len(data)-footerSize, "no series block")
	}
	p.numSeries.Store(int64(p.all.GetCardinality()))
	return p, nil
}

func (d *decoder) footer() (numBlocks uint32, err error) {
	off := len(d.data) - footerSize
	f := d.data[off:]
	if string(f[20:]) != footerMagic {
		return 0, d.corrupt(off+20, "bad footer magic %q", f[20:])
	}
	if got, want := crc32.Checksum(f[:16], castagnoli), binary.LittleEndian.Uint32(f[16:]); got != want {
		return 0, d.corrupt(off, "footer checksum %#x, want %#x", got, want)
	}
	if got, want := crc32.Checksum(d.data[:headerSize], castagnoli), binary.LittleEndian.Uint32(f[4:]); got != want {
		return 0, d.corrupt(0, "header checksum %#x, want %#x", got, want)
	}
	if bodyLen := binary.LittleEndian.Uint64(f[8:]); bodyLen != uint64(off-headerSize) {
		return 0, d.corrupt(off, "body of %d bytes, footer says %d (truncated or extended file)", off-headerSize, bodyLen)
	}
	return binary.LittleEndian.Uint32(f), nil
}

// block checks the block at off and returns its payload and the offset of
// the next block.
func (d *decoder) block(off, end int) (payload []byte, next int, err error) {
	if end-off < blockHdrSize {
		return nil, 0, d.corrupt(off, "block header past the end of the body")
	}
	n := int(binary.LittleEndian.Uint32(d.data[off:]))
	crc := binary.LittleEndian.Uint32(d.data[off+4:])
	start := off + blockHdrSize
	if n > end-start {
		return nil, 0, d.corrupt(off, "block of %d bytes overruns the body (%d bytes left)", n, end-start)
	}
	payload = d.data[start : start+n]
	if got := crc32.Checksum(payload, castagnoli); got != crc {
		return nil, 0, d.corrupt(off, "block checksum %#x, want %#x", got, crc)
	}
	next = start + n + pad8(n)
	if next > end {
		return nil, 0, d.corrupt(start+n, "block padding overruns the body")
	}
	for i := start + n; i < next; i++ {
		if d.data[i] != 0 {
			return nil, 0, d.corrupt(i, "non-zero padding byte")
		}
	}
	return payload, next, nil
}

func (d *decoder) seriesBlock(p *Partition, b []byte, base int, numNames uint32) error {
	r := reader{d: d, b: b, base: base}
	if n := r.uvarint(); r.err == nil && n != uint64(numNames) {
		return d.corrupt(base, "series block names %d label names, the file holds %d", n, numNames)
	}
	p.all = r.bitmap(len(b) - r.off)
	if r.err == nil && r.off != len(b) {
		return d.corrupt(base+r.off, "%d stray bytes after the series bitmap", len(b)-r.off)
	}
	return r.err
}

func (d *decoder) nameBlock(p *Partition, b []byte, base int) error {
	r := reader{d: d, b: b, base: base}
	nameOff := r.off
	name := string(r.bytes(r.uvarint()))
	numValues := r.uvarint()
	if r.err != nil {
		return r.err
	}
	if name == "" || (len(p.sortedNames) > 0 && name <= p.sortedNames[len(p.sortedNames)-1]) {
		return d.corrupt(base+nameOff, "label name %q empty or out of order", name)
	}
	if numValues == 0 || numValues > uint64(len(b)) {
		return d.corrupt(base+nameOff, "label %q: bad value count %d", name, numValues)
	}
	ni := &nameIndex{
		values:    make(map[string]*roaring.Bitmap, numValues),
		sorted:    make([]string, numValues),
		sortedBms: make([]*roaring.Bitmap, numValues),
	}
	if err := r.values(ni.sorted); err != nil {
		return err
	}
	sizes := make([]uint64, numValues)
	for i := range sizes {
		sizes[i] = r.uvarint()
	}
	anySize := r.uvarint()
	r.skip(pad8(r.off))
	ni.any = r.bitmap(int(min(anySize, uint64(len(b)))))
	for i, v := range ni.sorted {
		bmOff := r.off
		bm := r.bitmap(int(min(sizes[i], uint64(len(b)))))
		if r.err != nil {
			return r.err
		}
		if bm.IsEmpty() {
			return d.corrupt(base+bmOff, "label %s=%q has no series", name, v)
		}
		ni.values[v] = bm
		ni.sortedBms[i] = bm
	}
	if r.err == nil && r.off != len(b) {
		return d.corrupt(base+r.off, "label %q: %d stray bytes", name, len(b)-r.off)
	}
	if r.err != nil {
		return r.err
	}
	p.names[name] = ni
	p.sortedNames = append(p.sortedNames, name)
	return nil
}

// reader decodes fields of one block payload; the first error sticks.
type reader struct {
	d    *decoder
	b    []byte
	off  int
	base int // file offset of b[0]
	err  error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = r.d.corrupt(r.base+r.off, format, args...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("field of %d bytes overruns the block", n)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) skip(n int) { r.bytes(uint64(n)) }

// values decodes len(dst) values into dst. They share one string, so the
// whole list costs one allocation and never aliases the mapped file.
func (r *reader) values(dst []string) error {
	start := r.off
	for range dst {
		r.bytes(r.uvarint())
	}
	if r.err != nil {
		return r.err
	}
	arena := string(r.b[start:r.off])
	rest := unsafe.Slice(unsafe.StringData(arena), len(arena))
	pos := 0
	for i := range dst {
		n, k := binary.Uvarint(rest[pos:])
		pos += k
		dst[i] = arena[pos : pos+int(n)]
		pos += int(n)
		if dst[i] == "" || (i > 0 && dst[i] <= dst[i-1]) {
			return r.d.corrupt(r.base+start+pos-int(n), "value %q empty or out of order", dst[i])
		}
	}
	return nil
}

// bitmap reads a portable Roaring bitmap of size bytes in place.
func (r *reader) bitmap(size int) *roaring.Bitmap {
	buf := r.bytes(uint64(size))
	if r.err != nil {
		return nil
	}
	bm := roaring.New()
	n, err := bm.FromBuffer(buf)
	if err == nil && n != int64(size) {
		err = fmt.Errorf("read %d of %d bytes", n, size)
	}
	if err == nil {
		err = bm.Validate()
	}
	if err != nil {
		r.off -= size
		r.fail("bitmap: %w", err)
		return nil
	}
	return bm
}
