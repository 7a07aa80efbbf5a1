package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// loadSnapshot loads series.snap into the registry. Once a checkpoint has
// happened (the manifest has a WAL checkpoint or segments), the WAL that
// defined the segments' series may be gone and the snapshot is their only
// record besides the tag index files. A snapshot that is damaged, missing
// or lacks a series a segment holds is rebuilt from the tag index files
// (the label pairs of every series with samples in a partition) and the
// segments (the series' types), then written anew. Going on without it
// would give the segments' IDs to new series (wrong data for label
// queries) and make WAL replay stop at the first record of an unknown one.
func (db *DB) loadSnapshot(m *manifest) error {
	name := filepath.Join(db.dir, snapshotFile)
	snap, err := db.fs.ReadFile(name)
	var bad error // why the snapshot cannot be used as it is
	switch {
	case db.opts.rebuild != nil && db.opts.rebuild.Snapshot && err == nil:
		bad = errors.New("rebuild requested (lightning-admin rebuild-index --series)")
	case errors.Is(err, fs.ErrNotExist):
		if m.walCheckpoint == 0 && len(m.segs) == 0 {
			return nil // the WAL defines every series
		}
		bad = fmt.Errorf("%w: %s is missing but %s records a checkpoint", series.ErrCorruptSnapshot, name, manifestFile)
	case err != nil:
		return fmt.Errorf("read series snapshot: %w", err)
	default:
		if err := encrypt.NotEncryptedCheck(name, snap); err != nil {
			return err
		}
		if err := db.reg.LoadSnapshot(snap); err != nil {
			bad = fmt.Errorf("load %s: %w", name, err)
		}
	}
	if bad == nil {
		bad = db.snapshotCoversSegments(name)
	}
	if bad == nil {
		return nil
	}
	if err := db.rebuildSnapshot(); err != nil {
		return fmt.Errorf("%w; rebuilding it from the tag index files failed: %w; restore %s from a backup",
			bad, err, name)
	}
	db.log.Warn("series snapshot unusable; rebuilt it from the tag index files and the segments",
		"file", name, "err", bad, "series", db.reg.Len())
	if err := db.writeSnapshot(); err != nil {
		return fmt.Errorf("write rebuilt series snapshot: %w", err)
	}
	return nil
}

// snapshotCoversSegments returns an error when a segment holds a series
// the registry does not know.
func (db *DB) snapshotCoversSegments(name string) error {
	for _, p := range db.cur.parts {
		for _, s := range p.segs {
			for _, id := range s.x.ids {
				if db.reg.Labels(id) == nil {
					return fmt.Errorf("%w: %s lacks series %d, which segment %s holds",
						series.ErrCorruptSnapshot, name, id, s.path)
				}
			}
		}
	}
	return nil
}

// rebuildSnapshot adds to the registry every series of the segments that
// it lacks, with its labels from the partition's tag index file and its
// type from the segment. Every such series must be found.
func (db *DB) rebuildSnapshot() error {
	for _, p := range db.cur.parts {
		types := map[series.ID]series.ValueType{}
		for _, s := range p.segs {
			for i, id := range s.x.ids {
				if db.reg.Labels(id) == nil {
					types[id] = s.x.types[i]
				}
			}
		}
		if len(types) == 0 {
			continue
		}
		if err := db.rebuildPartitionSeries(indexFileName(db.dir, p.start), types); err != nil {
			return err
		}
	}
	return nil
}

// rebuildPartitionSeries inserts the series of types into the registry
// with their labels from the tag index file path.
func (db *DB) rebuildPartitionSeries(path string, types map[series.ID]series.ValueType) error {
	ip, err := tagindex.OpenPartition(db.fs, path)
	if err != nil {
		return err
	}
	defer ip.Close()
	ls := map[series.ID]series.Labels{}
	err = ip.ForEachLabel(func(name, value string, ids *roaring.Bitmap) error {
		it := ids.Iterator()
		for it.HasNext() {
			id := series.ID(it.Next())
			if _, ok := types[id]; ok {
				ls[id] = append(ls[id], series.Label{Name: name, Value: value})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var buf []byte
	for id, typ := range types {
		l, ok := ls[id]
		if !ok {
			return fmt.Errorf("%s has no labels of series %d", path, id)
		}
		buf = l.AppendCanonical(buf[:0])
		if err := db.reg.Insert(id, buf, typ); err != nil {
			return fmt.Errorf("series %d from %s: %w", id, path, err)
		}
	}
	return nil
}
