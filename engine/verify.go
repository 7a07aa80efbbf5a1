package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Segments int
	Blocks   int
	Samples  uint64
	Bytes    int64
	// Damage lists every problem found, each with its file and offset.
	Damage []*CorruptionError
}

// Verify checks a database directory without opening it for writing: the
// manifest, and in every live segment the footer, the index and each
// block's checksum, and that each block decodes to the sample count its
// index entry gives; it also checks each tag index file. It may run
// against a directory an open DB is using (it reads only immutable files).
// Damage goes to the report; the error is for problems that stop the check
// (an unreadable manifest).
func Verify(dir string) (*VerifyReport, error) {
	return VerifyWithProgress(dir, nil)
}

// VerifyWithProgress is Verify calling progress, if not nil, before it
// checks each segment: the 1-based segment number, their count and the
// file.
func VerifyWithProgress(dir string, progress func(seg, segs int, file string)) (*VerifyReport, error) {
	return VerifyOn(OSFS{}, dir, progress)
}

// VerifyOn is VerifyWithProgress through fsys (EncFS for an encrypted
// data directory).
func VerifyOn(fsys FS, dir string, progress func(seg, segs int, file string)) (*VerifyReport, error) {
	m, err := readManifest(fsys, dir)
	if err != nil {
		return nil, err
	}
	rep := &VerifyReport{}
	parts := map[int64]bool{}
	var dec encoding.Decoder
	var ts []int64
	var vals []uint64
	var strs [][]byte
	for i, meta := range m.segs {
		parts[meta.partition] = true
		path := segName(dir, meta.fileNum)
		if progress != nil {
			progress(i+1, len(m.segs), path)
		}
		data, err := fsys.ReadFile(path)
		if err != nil {
			rep.Damage = append(rep.Damage, &CorruptionError{File: path, Err: fmt.Errorf("unreadable: %w", err)})
			continue
		}
		rep.Segments++
		rep.Bytes += int64(len(data))
		x, err := decodeSegIndex(path, data)
		if err != nil {
			var ce *CorruptionError
			if errors.As(err, &ce) {
				rep.Damage = append(rep.Damage, ce)
			}
			continue
		}
		for i := range x.ids {
			typ := x.types[i]
			for _, b := range x.blocks[x.first[i]:x.first[i+1]] {
				rep.Blocks++
				err := verifyBlock(&dec, data, x.version, b, typ, &ts, &vals, &strs)
				if err != nil {
					rep.Damage = append(rep.Damage, &CorruptionError{File: path, Offset: b.off,
						Err: fmt.Errorf("block of series %d: %w", x.ids[i], err)})
					continue
				}
				rep.Samples += uint64(b.count)
			}
		}
	}
	if err := verifyQuarantine(fsys, dir, rep); err != nil {
		return nil, err
	}
	if err := verifyWAL(fsys, dir, m.walCheckpoint, rep); err != nil {
		return nil, err
	}
	for p := range parts {
		path := indexFileName(dir, p)
		ip, err := tagindex.OpenPartition(fsys, path)
		if err != nil {
			var ce *tagindex.CorruptionError
			if errors.As(err, &ce) {
				rep.Damage = append(rep.Damage, &CorruptionError{File: ce.File, Offset: ce.Offset, Err: err})
			}
			// A missing index file is rebuilt on open: not damage.
			continue
		}
		ip.Close()
	}
	return rep, nil
}

func verifyBlock(dec *encoding.Decoder, data []byte, version byte, b blockRef, typ series.ValueType, ts *[]int64, vals *[]uint64, strs *[][]byte) error {
	payload, err := checkBlock(data, b)
	if err != nil {
		return err
	}
	t, rest, err := decodeBlockTimes(dec, data, version, b, payload, (*ts)[:0])
	if err != nil {
		return err
	}
	*ts = t
	n := 0
	if typ == series.TypeString {
		s, r, err := dec.DecodeStrings((*strs)[:0], rest)
		if err != nil {
			return err
		}
		*strs, rest, n = s[:0], r, len(s)
	} else {
		v, r, err := dec.DecodeValues((*vals)[:0], typ, rest)
		if err != nil {
			return err
		}
		*vals, rest, n = v, r, len(v)
	}
	if len(t) != int(b.count) || n != len(t) || len(rest) != 0 {
		return fmt.Errorf("decodes to %d timestamps and %d values, index says %d", len(t), n, b.count)
	}
	for i := 1; i < len(t); i++ {
		if t[i] <= t[i-1] {
			return fmt.Errorf("timestamps not ascending at sample %d", i)
		}
	}
	if t[0] != b.minT || t[len(t)-1] != b.maxT {
		return fmt.Errorf("time range %d..%d, index says %d..%d", t[0], t[len(t)-1], b.minT, b.maxT)
	}
	return nil
}

// verifyQuarantine adds a damage entry for each file in the quarantine
// directory.
func verifyQuarantine(fsys FS, dir string, rep *VerifyReport) error {
	qdir := filepath.Join(dir, quarantineDir)
	names, err := fsys.ReadDir(qdir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", qdir, err)
	}
	for _, n := range names {
		rep.Damage = append(rep.Damage, &CorruptionError{File: filepath.Join(qdir, n),
			Err: errors.New("segment quarantined at open (damaged; its samples are not served)")})
	}
	return nil
}
