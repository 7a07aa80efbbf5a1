package series

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Registry snapshot format, version 2 (all integers little endian):
//
//	+--------------------+------------------------------------+---------------+-------------+-----------+
//	| magic "LDBSER" (6) | version (1) = 2 | reserved (1) = 0 | uvarint next  | records ... | count (8) |
//	+--------------------+------------------------------------+---------------+-------------+-----------+
//	| crc32c (4) of every byte before it                                                         |
//	+--------------------------------------------------------------------------------------------+
//
//	record: uvarint(id) | type (1) | uvarint(len) | canonical labels (len)
//
// Only durable series are written: a snapshot never names a series whose
// record could be missing from the WAL it replaces. next is the next ID to
// hand out: IDs of removed series (Remove) are never handed out again, also
// after a restart. Version 1 (no next) is read as well.
const (
	snapshotMagic   = "LDBSER"
	snapshotVersion = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteSnapshot writes every durable series to w in the snapshot format.
func (r *Registry) WriteSnapshot(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 1<<16)
	hdr := append([]byte(snapshotMagic), snapshotVersion, 0)
	hdr = binary.AppendUvarint(hdr, uint64(r.next.Load()))
	if _, err := bw.Write(hdr); err != nil {
		return err
	}
	var (
		n   uint64
		buf []byte
		err error
	)
	r.ForEach(func(id ID, canonical []byte, typ ValueType, durable bool) bool {
		if !durable {
			return true
		}
		buf = binary.AppendUvarint(buf[:0], uint64(id))
		buf = append(buf, byte(typ))
		buf = binary.AppendUvarint(buf, uint64(len(canonical)))
		buf = append(buf, canonical...)
		_, err = bw.Write(buf)
		n++
		return err == nil
	})
	if err != nil {
		return err
	}
	if _, err := bw.Write(binary.LittleEndian.AppendUint64(nil, n)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	return err
}

// LoadSnapshot verifies data as a snapshot and inserts every series it holds.
// A snapshot that fails its checksum is rejected whole with
// ErrCorruptSnapshot before anything is inserted.
func (r *Registry) LoadSnapshot(data []byte) error {
	if len(data) < len(snapshotMagic)+2+8+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: bad header", ErrCorruptSnapshot)
	}
	v := data[len(snapshotMagic)]
	if v != 1 && v != snapshotVersion {
		return fmt.Errorf("%w: unsupported version %d", ErrCorruptSnapshot, v)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	want := binary.LittleEndian.Uint64(body[len(body)-8:])
	recs := body[len(snapshotMagic)+2 : len(body)-8]
	var next uint64
	if v >= 2 {
		var k int
		next, k = binary.Uvarint(recs)
		if k <= 0 || next > uint64(^ID(0)) {
			return fmt.Errorf("%w: bad next ID", ErrCorruptSnapshot)
		}
		recs = recs[k:]
	}
	var n uint64
	for len(recs) > 0 {
		id, k := binary.Uvarint(recs)
		if k <= 0 || len(recs) < k+1 || id == 0 || id > uint64(^ID(0)) {
			return fmt.Errorf("%w: bad record %d", ErrCorruptSnapshot, n)
		}
		typ := ValueType(recs[k])
		recs = recs[k+1:]
		l, k := binary.Uvarint(recs)
		if k <= 0 || l > uint64(len(recs)-k) {
			return fmt.Errorf("%w: bad record %d", ErrCorruptSnapshot, n)
		}
		canonical := recs[k : k+int(l)]
		recs = recs[k+int(l):]
		if err := r.Insert(ID(id), canonical, typ); err != nil {
			return fmt.Errorf("%w: record %d: %w", ErrCorruptSnapshot, n, err)
		}
		n++
	}
	if n != want {
		return fmt.Errorf("%w: %d records, trailer says %d", ErrCorruptSnapshot, n, want)
	}
	r.raiseNext(ID(next))
	return nil
}
