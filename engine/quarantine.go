package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
)

// quarantineDir holds the segments recovery found damaged, moved aside
// whole for inspection: they are not served, and Verify reports each.
const quarantineDir = "quarantine"

// openSegments opens the live segments of m. A segment whose checks fail
// (CorruptionError) is moved to the quarantine directory, logged and
// counted (engine_segments_quarantined_total), and the manifest is
// rewritten without it; other errors stop the open. A listed segment found
// in the quarantine directory is one whose quarantine a crash cut short
// before the manifest write.
func (db *DB) openSegments(m *manifest) error {
	var gone []uint64 // file numbers to drop from the manifest
	for _, meta := range m.segs {
		s, err := openSegment(db.fs, db.dir, meta, db.mapAdvice())
		if err == nil {
			db.cur.addSegment(s)
			continue
		}
		path := segName(db.dir, meta.fileNum)
		qpath := filepath.Join(db.dir, quarantineDir, filepath.Base(path))
		var ce *CorruptionError
		if n, serr := fileSize(db.fs, path); serr == nil && n == 0 {
			err = &CorruptionError{File: path, Err: errors.New("empty segment file")} // mmap refuses it
		}
		switch {
		case errors.As(err, &ce):
			if err := db.quarantine(path, qpath, err); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrNotExist) && db.exists(qpath):
			db.log.Warn("segment already quarantined; dropping it from the manifest", "file", qpath)
		case errors.Is(err, fs.ErrNotExist) && db.opts.repair != nil:
			db.log.Warn("segment listed in the manifest is missing; repair drops it from the manifest", "file", path)
			db.opts.repair.Missing = append(db.opts.repair.Missing, path)
			gone = append(gone, meta.fileNum)
			continue
		case errors.Is(err, fs.ErrNotExist):
			return &RepairNeededError{Corruption: &CorruptionError{File: path,
				Err: fmt.Errorf("segment listed in %s is missing: %w", manifestFile, err)},
				Lost: "the segment from the manifest (its samples are gone already)", Command: repairCommand(db.dir)}
		default:
			return fmt.Errorf("segment %s listed in %s: %w", path, manifestFile, err)
		}
		gone = append(gone, meta.fileNum)
		if rep := db.opts.repair; rep != nil {
			rep.Quarantined = append(rep.Quarantined, qpath)
		}
	}
	if err := db.countQuarantine(); err != nil {
		return err
	}
	if len(gone) == 0 {
		return nil
	}
	m.segs = slices.DeleteFunc(m.segs, func(s segMeta) bool { return slices.Contains(gone, s.fileNum) })
	return writeManifest(db.fs, db.dir, m)
}

// quarantine moves the damaged segment path to qpath (rename, then fsync
// of the directories), before the manifest stops listing it.
func (db *DB) quarantine(path, qpath string, cause error) error {
	db.log.Error("segment damaged: moved to quarantine, its samples are not served; inspect it with lightning-admin verify",
		"file", path, "quarantined_as", qpath, "err", cause)
	db.m.quarantined.Inc()
	if err := db.fs.MkdirAll(filepath.Dir(qpath), 0o755); err != nil {
		return fmt.Errorf("quarantine %s: %w", path, err)
	}
	if err := db.fs.Rename(path, qpath); err != nil {
		return fmt.Errorf("quarantine %s: %w", path, err)
	}
	for _, d := range []string{filepath.Dir(qpath), filepath.Dir(path), db.dir} {
		if err := db.fs.SyncDir(d); err != nil {
			return fmt.Errorf("quarantine %s: %w", path, err)
		}
	}
	return nil
}

// exists reports whether the file name can be opened.
func (db *DB) exists(name string) bool {
	_, err := fileSize(db.fs, name)
	return err == nil
}

// countQuarantine sets the engine_quarantined_segments gauge and warns
// while the quarantine directory holds segments.
func (db *DB) countQuarantine() error {
	dir := filepath.Join(db.dir, quarantineDir)
	names, err := db.fs.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	db.m.inQuarantine.Store(int64(len(names)))
	if len(names) > 0 {
		db.log.Warn("damaged segments in quarantine, not served; lightning-admin verify lists them",
			"dir", dir, "segments", len(names))
	}
	return nil
}
