package series

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// loadRecordsV2 inserts the records of a version 1 or 2 snapshot, each
// uvarint(id) | type (1) | uvarint(len) | canonical labels (len), and
// returns how many it read.
func (r *Registry) loadRecordsV2(recs []byte) (uint64, error) {
	var n uint64
	for len(recs) > 0 {
		id, k := binary.Uvarint(recs)
		if k <= 0 || len(recs) < k+1 || id == 0 || id > uint64(^ID(0)) {
			return n, fmt.Errorf("%w: bad record %d", ErrCorruptSnapshot, n)
		}
		typ := ValueType(recs[k])
		recs = recs[k+1:]
		l, k := binary.Uvarint(recs)
		if k <= 0 || l > uint64(len(recs)-k) {
			return n, fmt.Errorf("%w: bad record %d", ErrCorruptSnapshot, n)
		}
		canonical := recs[k : k+int(l)]
		recs = recs[k+int(l):]
		if err := r.Insert(ID(id), canonical, typ); err != nil {
			return n, fmt.Errorf("%w: record %d: %w", ErrCorruptSnapshot, n, err)
		}
		n++
	}
	return n, nil
}

// loadRecordsV3 inserts the records of a version 3 snapshot's zstd frame
// (WriteSnapshot), decompressing as it reads, and returns how many it read.
func (r *Registry) loadRecordsV3(frame []byte) (uint64, error) {
	zr, err := zstd.NewReader(bytes.NewReader(frame), zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(1<<20))
	if err != nil {
		return 0, fmt.Errorf("series snapshot: %w", err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<16)
	var (
		n         uint64
		id        uint64
		canonical []byte
	)
	bad := func(what string, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("%w: record %d: %s: %w", ErrCorruptSnapshot, n, what, err)
	}
	for {
		d, err := binary.ReadUvarint(br)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, bad("id", err)
		}
		if id += d; d == 0 || id > uint64(^ID(0)) {
			return n, bad("id", errors.New("not ascending"))
		}
		typ, err := br.ReadByte()
		if err != nil {
			return n, bad("type", err)
		}
		shared, err := binary.ReadUvarint(br)
		if err == nil && shared > uint64(len(canonical)) {
			err = errors.New("longer than the previous labels")
		}
		if err != nil {
			return n, bad("shared prefix", err)
		}
		l, err := binary.ReadUvarint(br)
		if err == nil && l > maxSnapshotLabels-shared {
			err = errors.New("too long")
		}
		if err != nil {
			return n, bad("labels length", err)
		}
		canonical = slices.Grow(canonical[:shared], int(l))[:shared+l]
		if _, err := io.ReadFull(br, canonical[shared:]); err != nil {
			return n, bad("labels", err)
		}
		if err := r.Insert(ID(id), canonical, ValueType(typ)); err != nil {
			return n, fmt.Errorf("%w: record %d: %w", ErrCorruptSnapshot, n, err)
		}
		n++
	}
}
