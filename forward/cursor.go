package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"

	"github.com/lightningdb/lightningdb/engine"
)

// Cursor file, format version 1: the WAL position up to which the central
// server acknowledged everything.
//
//	magic "LDBFWD" (6) | version (1) | uvarint seq | uvarint offset | crc32c (4)
//
// The CRC32C (Castagnoli, little endian) covers every byte before it. The
// file is replaced atomically (engine.WriteFileAtomic) after each
// acknowledged batch.
const (
	cursorMagic   = "LDBFWD"
	cursorVersion = 1
	// CursorFile is the cursor's name in the data directory.
	CursorFile = "forward.cursor"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendCursor appends the encoded cursor pos to dst.
func AppendCursor(dst []byte, pos engine.WALPosition) []byte {
	start := len(dst)
	dst = append(dst, cursorMagic...)
	dst = append(dst, cursorVersion)
	dst = binary.AppendUvarint(dst, pos.Seq)
	dst = binary.AppendUvarint(dst, uint64(pos.Offset))
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// UnmarshalCursor decodes a cursor file.
func UnmarshalCursor(src []byte) (engine.WALPosition, error) {
	var pos engine.WALPosition
	if len(src) < len(cursorMagic)+1+2+4 || string(src[:len(cursorMagic)]) != cursorMagic {
		return pos, errors.New("forward cursor: bad magic or too short")
	}
	if v := src[len(cursorMagic)]; v != cursorVersion {
		return pos, fmt.Errorf("forward cursor: unsupported version %d", v)
	}
	body, sum := src[:len(src)-4], binary.LittleEndian.Uint32(src[len(src)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return pos, errors.New("forward cursor: checksum mismatch")
	}
	rest := body[len(cursorMagic)+1:]
	seq, n := binary.Uvarint(rest)
	if n <= 0 {
		return pos, errors.New("forward cursor: bad segment number")
	}
	off, m := binary.Uvarint(rest[n:])
	if m <= 0 || off > 1<<62 {
		return pos, errors.New("forward cursor: bad offset")
	}
	if n+m != len(rest) {
		return pos, fmt.Errorf("forward cursor: %d trailing bytes", len(rest)-n-m)
	}
	return engine.WALPosition{Seq: seq, Offset: int64(off)}, nil
}

// LoadCursor reads the cursor file name; a missing file is the zero
// position (forward from the oldest WAL segment).
func LoadCursor(fsys engine.FS, name string) (engine.WALPosition, error) {
	b, err := fsys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return engine.WALPosition{}, nil
	}
	if err != nil {
		return engine.WALPosition{}, fmt.Errorf("read %s: %w", name, err)
	}
	pos, err := UnmarshalCursor(b)
	if err != nil {
		return pos, fmt.Errorf("%s: %w (remove it to forward from the oldest WAL segment)", name, err)
	}
	return pos, nil
}

// SaveCursor replaces the cursor file name atomically.
func SaveCursor(fsys engine.FS, name string, pos engine.WALPosition) error {
	return engine.WriteFileAtomic(fsys, name, AppendCursor(nil, pos))
}
