package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// Manifest file, format version 1: the live segment set, replaced
// atomically (writeFileAtomic) on every flush, compaction and retention
// drop, so a crash leaves either the old set or the new one.
//
//	+--------------------------------------------+
//	| magic "LDBMAN" (6) | version (1) | zero (1) |
//	| uvarint nextFileNum                        |
//	| uvarint walCheckpoint                      |  first WAL segment to replay
//	| uvarint nSegments                          |
//	| per segment: uvarint fileNum | varint partition | uvarint level |
//	|   uvarint seq | varint minT | varint maxT | uvarint size          |
//	| crc32c (4) of every byte before it         |
//	+--------------------------------------------+
//
// Files in the segments directory that the manifest does not list
// (temporary files, outputs of an interrupted flush or compaction, inputs
// of a finished compaction) are removed on open.
const (
	manifestFile    = "MANIFEST"
	manifestMagic   = "LDBMAN"
	manifestVersion = 1
)

type manifest struct {
	nextFileNum   uint64
	walCheckpoint uint64
	segs          []segMeta
}

func (m *manifest) marshal() []byte {
	b := append([]byte(manifestMagic), manifestVersion, 0)
	b = binary.AppendUvarint(b, m.nextFileNum)
	b = binary.AppendUvarint(b, m.walCheckpoint)
	b = binary.AppendUvarint(b, uint64(len(m.segs)))
	for _, s := range m.segs {
		b = binary.AppendUvarint(b, s.fileNum)
		b = binary.AppendVarint(b, s.partition)
		b = binary.AppendUvarint(b, uint64(s.level))
		b = binary.AppendUvarint(b, s.seq)
		b = binary.AppendVarint(b, s.minT)
		b = binary.AppendVarint(b, s.maxT)
		b = binary.AppendUvarint(b, uint64(s.size))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func unmarshalManifest(name string, b []byte) (*manifest, error) {
	corrupt := func(off int, err error) error { return &CorruptionError{File: name, Offset: int64(off), Err: err} }
	if len(b) < 12 || string(b[:6]) != manifestMagic || b[6] != manifestVersion {
		return nil, corrupt(0, errors.New("bad manifest header"))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, corrupt(len(body), errors.New("manifest checksum mismatch"))
	}
	r := segReader{b: body, off: 8}
	m := &manifest{nextFileNum: r.uvarint(), walCheckpoint: r.uvarint()}
	n := r.uvarint()
	if n > uint64(len(body)) {
		return nil, corrupt(r.off, fmt.Errorf("%d segments", n))
	}
	for range n {
		s := segMeta{fileNum: r.uvarint(), partition: r.varintSigned(), level: int(r.uvarint()),
			seq: r.uvarint(), minT: r.varintSigned(), maxT: r.varintSigned(), size: int64(r.uvarint())}
		m.segs = append(m.segs, s)
	}
	if r.err != nil || r.off != len(body) {
		return nil, corrupt(r.off, fmt.Errorf("bad manifest body: %v", r.err))
	}
	return m, nil
}

// readManifest returns the manifest of dir, or an empty one when there is
// none yet.
func readManifest(fsys FS, dir string) (*manifest, error) {
	name := filepath.Join(dir, manifestFile)
	b, err := fsys.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return &manifest{nextFileNum: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if err := encrypt.NotEncryptedCheck(name, b); err != nil {
		return nil, err
	}
	return unmarshalManifest(name, b)
}

func writeManifest(fsys FS, dir string, m *manifest) error {
	b := m.marshal()
	err := writeFileAtomic(fsys, filepath.Join(dir, manifestFile), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}
