package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// segment is an open, immutable segment file, memory-mapped. It is
// reference-counted: each version that lists it holds one reference, and
// readers hold the version. The last unref unmaps it and, when it was
// marked obsolete (compacted away or dropped by retention), deletes the
// file (VictoriaMetrics' partWrapper).
type segment struct {
	segMeta
	path  string
	fs    FS
	data  []byte       // the mapping; nil after the last unref
	unmap func() error // releases data
	x     *segIndex

	refs     atomic.Int32
	obsolete atomic.Bool
	onRemove func(*segment, error) // called after the file is removed (or failed to be)
}

// segMeta is what the manifest records of a segment.
type segMeta struct {
	fileNum   uint64
	partition int64 // start of its time partition
	level     int
	seq       uint64 // precedence: a higher seq is newer data
	minT      int64
	maxT      int64
	size      int64
}

func segName(dir string, fileNum uint64) string {
	return filepath.Join(dir, segDir, fmt.Sprintf("%06d%s", fileNum, segSuffix))
}

// mapFile maps a file read-only through fs, MADV_RANDOM by default: a
// point lookup faults in only its own pages; scans advise more
// (prefetch.go).
func mapFile(fs FS, path string, advice int) ([]byte, func() error, error) {
	data, unmap, err := fs.MapFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(data) == 0 {
		_ = unmap()
		return nil, nil, fmt.Errorf("cannot map %s of 0 bytes", path)
	}
	if advice >= 0 {
		_ = unix.Madvise(data, advice)
	}
	return data, unmap, nil
}

// openSegment maps and checks a segment. The returned segment holds one
// reference.
func openSegment(fs FS, dir string, m segMeta, advice int) (*segment, error) {
	path := segName(dir, m.fileNum)
	data, unmap, err := mapFile(fs, path, advice)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	x, err := decodeSegIndex(path, data)
	if err != nil {
		if eerr := encrypt.NotEncryptedCheck(path, data); eerr != nil {
			err = eerr
		}
		_ = unmap()
		return nil, err
	}
	if x.minT < m.partition || (m.minT != 0 || m.maxT != 0) && (x.minT != m.minT || x.maxT != m.maxT) {
		_ = unmap()
		return nil, &CorruptionError{File: path, Offset: int64(len(data) - segFooterSize),
			Err: errors.New("time range differs from the manifest's")}
	}
	m.minT, m.maxT, m.size = x.minT, x.maxT, int64(len(data))
	s := &segment{segMeta: m, path: path, fs: fs, data: data, unmap: unmap, x: x}
	s.refs.Store(1)
	return s, nil
}

func (s *segment) ref() { s.refs.Add(1) }

func (s *segment) unref() {
	n := s.refs.Add(-1)
	if n != 0 {
		return // n < 0 would be a double unref; the mapping is already gone
	}
	_ = s.unmap()
	s.data = nil
	if s.obsolete.Load() {
		err := s.fs.Remove(s.path)
		if s.onRemove != nil {
			s.onRemove(s, err)
		}
	}
}
