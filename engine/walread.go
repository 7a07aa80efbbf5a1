package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/lightningdb/lightningdb/series"
)

// Reading the WAL for a forwarder (docs/forwarding.md): records in order
// from a position (segment, offset), the position persisted by the reader
// once what it read is delivered elsewhere. Options.WALRetain keeps the
// segments the reader has not passed.

// WALPosition is a position in the WAL: a segment's sequence number and a
// byte offset in it (0 means the first record).
type WALPosition struct {
	Seq    uint64
	Offset int64
}

// WALSegment is a WAL segment file and its size in bytes.
type WALSegment struct {
	Seq  uint64
	Size int64
}

// WALSamples is one series' samples in a WAL record. Labels is the
// canonical label set, nil when the series is not known any more (it was
// deleted); strings are in Strs as series.Batch lays them out. The slices
// are reused after the callback returns.
type WALSamples struct {
	ID     series.ID
	Labels []byte
	Type   series.ValueType
	T      []int64 // ns
	V      []uint64
	Strs   []byte
}

// ErrWALGap is returned by ReadWAL when the segment of the position is
// gone (deleted past the reader's bound, or by a repair) and reading
// resumes at the next one: records were lost to the reader.
var ErrWALGap = errors.New("WAL segment of the read position is gone")

// walRetain returns the first WAL segment to keep instead of seq, given
// Options.WALRetain.
func (db *DB) walRetain(seq uint64) uint64 {
	if db.opts.WALRetain == nil {
		return seq
	}
	if r := db.opts.WALRetain(); r > 0 && r < seq {
		return r
	}
	return seq
}

// WALSegments lists the WAL segment files, ascending, with their sizes
// on disk (sealed files are not decoded to list them).
func (db *DB) WALSegments() ([]WALSegment, error) {
	fsys := db.fs
	if e, ok := fsys.(*EncFS); ok {
		fsys = e.FS
	}
	dir := filepath.Join(db.dir, walDir)
	seqs, err := listWAL(db.fs, dir)
	if err != nil {
		return nil, fmt.Errorf("list WAL: %w", err)
	}
	out := make([]WALSegment, 0, len(seqs))
	for _, seq := range seqs {
		size, err := fileSize(fsys, walName(dir, seq))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, WALSegment{Seq: seq, Size: size})
	}
	return out, nil
}

// ReadWAL reads the whole records from pos on, about maxBytes of them (at
// least one record), and calls fn for the samples of each series of each
// batch record, in WAL order; tombstone records are skipped. It returns
// the position after the last record read, moving to the next segment at
// the end of one that is no longer written. At the end of the active
// segment (or before a record still being written) it returns pos with
// nothing read. When pos's segment is gone, it returns the start of the
// next one with ErrWALGap; a damaged record in a segment no longer written
// gives a *CorruptionError with the start of the next segment (the rest
// of the damaged one is lost to the reader). An error of fn stops the read
// and is returned with pos.
func (db *DB) ReadWAL(pos WALPosition, maxBytes int, fn func(*WALSamples) error) (WALPosition, error) {
	// Listed before reading: a later segment means this one is complete.
	segs, err := db.WALSegments()
	if err != nil {
		return pos, err
	}
	i := 0
	for i < len(segs) && segs[i].Seq < pos.Seq {
		i++
	}
	if i == len(segs) {
		return pos, nil
	}
	if segs[i].Seq != pos.Seq {
		return WALPosition{Seq: segs[i].Seq, Offset: walHeaderSize}, fmt.Errorf("%w: segment %d, reading resumes at %d", ErrWALGap, pos.Seq, segs[i].Seq)
	}
	pos.Offset = max(pos.Offset, walHeaderSize)
	last := i == len(segs)-1
	next := pos
	if !last {
		next = WALPosition{Seq: segs[i+1].Seq, Offset: walHeaderSize}
	}
	name := walName(filepath.Join(db.dir, walDir), pos.Seq)
	data, segSize, err := db.readWALRange(name, pos, segs[i].Size, last, maxBytes)
	if err != nil {
		return pos, err
	}
	r := walSampleReader{db: db, fn: fn}
	off := 0
	for off < len(data) {
		payload, size, err := readRecord(data[off:], &r.buf)
		if err != nil {
			rest := data[off:]
			cut := pos.Offset+int64(len(data)) < segSize // more in the file
			if cut && off > 0 && (len(rest) < recordHeaderSize || recordLen(rest) > len(rest)) {
				break // cut by maxBytes: the next call reads it whole
			}
			if last && !validRecordAfter(data, off) {
				break // the tail being written
			}
			ce := &CorruptionError{File: name, Offset: pos.Offset + int64(off), Err: err}
			if last {
				return pos, ce
			}
			return next, ce
		}
		if data[off+9]&^flagS2 == recordBatch {
			clear(r.defs)
			if err := r.dec.decode(payload, &r); err != nil {
				if r.fnErr != nil {
					return pos, r.fnErr
				}
				return WALPosition{Seq: pos.Seq, Offset: pos.Offset + int64(off+size)},
					&CorruptionError{File: name, Offset: pos.Offset + int64(off), Err: err}
			}
		}
		off += size
		if off >= maxBytes {
			break
		}
	}
	end := WALPosition{Seq: pos.Seq, Offset: pos.Offset + int64(off)}
	if !last && end.Offset >= segSize {
		return next, nil
	}
	return end, nil
}

// recordLen returns the size on disk of the record at the start of src
// from its header, or 0 when src holds no whole header.
func recordLen(src []byte) int {
	if len(src) < recordHeaderSize {
		return 0
	}
	return recordHeaderSize + int(uint32(src[4])|uint32(src[5])<<8|uint32(src[6])<<16|uint32(src[7])<<24)
}

// readWALRange reads the bytes of a WAL segment from pos, about maxBytes
// of them but at least the whole first record, and returns them with the
// segment's size (plaintext). phys is its size on disk.
func (db *DB) readWALRange(name string, pos WALPosition, phys int64, last bool, maxBytes int) ([]byte, int64, error) {
	if e, ok := db.fs.(*EncFS); ok {
		return db.readSealedWAL(e, name, pos, phys, last, maxBytes)
	}
	off, size := pos.Offset, phys
	if off >= size {
		return nil, size, nil
	}
	f, err := db.fs.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("open WAL segment: %w", err)
	}
	defer f.Close()
	n := min(size-off, int64(max(maxBytes, recordHeaderSize)))
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("read WAL segment %s: %w", name, err)
	}
	if l := recordLen(buf); l > len(buf) && l <= maxRecordSize+recordHeaderSize && off+int64(l) <= size {
		buf = make([]byte, l)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("read WAL segment %s: %w", name, err)
		}
	}
	return buf, size, nil
}

// sealedWAL caches the plaintext of the sealed WAL segment last read by
// ReadWAL: a sealed file is decoded whole (EncFS), so a reader going
// through a segment in steps would decode it at every step. The active
// segment is decoded again only when its size on disk changed.
type sealedWAL struct {
	mu    sync.Mutex // mu protects everything below
	seq   uint64
	phys  int64 // size on disk when decoded
	plain []byte
}

func (db *DB) readSealedWAL(e *EncFS, name string, pos WALPosition, phys int64, last bool, maxBytes int) ([]byte, int64, error) {
	c := &db.sealedWAL
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq != pos.Seq || c.phys != phys {
		plain, err := e.ReadFile(name)
		if err != nil {
			return nil, 0, fmt.Errorf("read WAL segment: %w", err)
		}
		c.seq, c.phys, c.plain = pos.Seq, phys, plain
	}
	size := int64(len(c.plain))
	if pos.Offset >= size {
		return nil, size, nil
	}
	end := min(size, pos.Offset+int64(max(maxBytes, recordHeaderSize)))
	if l := recordLen(c.plain[pos.Offset:]); pos.Offset+int64(l) > end && pos.Offset+int64(l) <= size {
		end = pos.Offset + int64(l)
	}
	return c.plain[pos.Offset:end], size, nil
}

// walSampleReader is the recordVisitor of ReadWAL.
type walSampleReader struct {
	db    *DB
	fn    func(*WALSamples) error
	dec   recordDecoder
	buf   []byte
	defs  map[series.ID][]byte // definitions of the current record
	s     WALSamples
	fnErr error
}

func (r *walSampleReader) def(id series.ID, _ series.ValueType, canonical []byte) error {
	if r.defs == nil {
		r.defs = map[series.ID][]byte{}
	}
	r.defs[id] = canonical
	return nil
}

func (r *walSampleReader) samples(id series.ID, typ series.ValueType, ts []int64, vals []uint64, strs []byte) error {
	ls, ok := r.defs[id]
	if !ok {
		ls = r.db.reg.Labels(id)
	}
	r.s = WALSamples{ID: id, Labels: ls, Type: typ, T: ts, V: vals, Strs: strs}
	if err := r.fn(&r.s); err != nil {
		r.fnErr = err
		return err
	}
	return nil
}
