package series

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Registry snapshot format, version 3 (all integers little endian):
//
//	+--------------------+------------------------------------+---------------+------------+-----------+
//	| magic "LDBSER" (6) | version (1) = 3 | reserved (1) = 0 | uvarint next  | zstd frame | count (8) |
//	+--------------------+------------------------------------+---------------+------------+-----------+
//	| crc32c (4) of every byte before it                                                        |
//	+-------------------------------------------------------------------------------------------+
//
//	frame: the records in ascending ID order, each
//	       uvarint(id - previous id) (the first: id) | type (1) |
//	       uvarint(shared) | uvarint(len) | the last len bytes of the canonical labels,
//	       whose first shared bytes are those of the previous record's
//
// Only durable series are written: a snapshot never names a series whose
// record could be missing from the WAL it replaces. next is the next ID to
// hand out: IDs of removed series (Remove) are never handed out again, also
// after a restart. Versions 1 and 2 (snapshot_v2.go) are read as well.
const (
	snapshotMagic   = "LDBSER"
	snapshotVersion = 3
	// maxSnapshotLabels bounds a record's canonical labels (MaxLabels
	// pairs of the longest names and values fit).
	maxSnapshotLabels = 2 << 20
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
	zw, err := zstd.NewWriter(bw, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20),
		zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return fmt.Errorf("series snapshot: %w", err)
	}
	var (
		n      uint64
		buf    []byte
		prev   []byte
		prevID ID
	)
	r.ForEach(func(id ID, canonical []byte, typ ValueType, durable bool) bool {
		if !durable {
			return true
		}
		shared := commonPrefix(prev, canonical)
		buf = binary.AppendUvarint(buf[:0], uint64(id-prevID))
		buf = append(buf, byte(typ))
		buf = binary.AppendUvarint(buf, uint64(shared))
		buf = binary.AppendUvarint(buf, uint64(len(canonical)-shared))
		buf = append(buf, canonical[shared:]...)
		_, err = zw.Write(buf)
		prev, prevID = append(prev[:0], canonical...), id
		n++
		return err == nil
	})
	if err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
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

// commonPrefix returns the length of the common prefix of a and b.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// LoadSnapshot verifies data as a snapshot and inserts every series it holds.
// A snapshot that fails its checksum is rejected whole with
// ErrCorruptSnapshot before anything is inserted.
func (r *Registry) LoadSnapshot(data []byte) error {
	if len(data) < len(snapshotMagic)+2+8+4 || string(data[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("%w: bad header", ErrCorruptSnapshot)
	}
	v := data[len(snapshotMagic)]
	if v < 1 || v > snapshotVersion {
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
	load := r.loadRecordsV2
	if v == 3 {
		load = r.loadRecordsV3
	}
	if n, err := load(recs); err != nil {
		return err
	} else if n != want {
		return fmt.Errorf("%w: %d records, trailer says %d", ErrCorruptSnapshot, n, want)
	}
	r.raiseNext(ID(next))
	return nil
}
