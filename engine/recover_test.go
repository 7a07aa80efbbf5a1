package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestMissingSnapshotFailsOpen: once a checkpoint has deleted the WAL
// segments that defined the series, series.snap is the only record of
// their labels. Without it, Open must fail and touch nothing: recovering
// would hand the segments' IDs to new series (wrong data for a label
// query) and cut the WAL at the first record of an "unknown" series.
func TestMissingSnapshotFailsOpen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{noFlushOnClose: true})
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
	must(t, db.Flush(context.Background()))
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 20, 2) // in the WAL, no definition
	must(t, db.Close())
	walBefore := walBytes(t, dir)
	must(t, os.Remove(filepath.Join(dir, snapshotFile)))

	db, err := Open(dir, Options{})
	if err == nil {
		got := readAll(db, labels("m", "k", "a"))
		db.Close()
		t.Fatalf("open without %s succeeded (series a reads %v)", snapshotFile, got)
	}
	if !errors.Is(err, series.ErrCorruptSnapshot) || !strings.Contains(err.Error(), snapshotFile) {
		t.Fatalf("error does not name %s: %v", snapshotFile, err)
	}
	if got := walBytes(t, dir); got != walBefore {
		t.Fatalf("failed open changed the WAL: %d bytes, was %d", got, walBefore)
	}
}

func walBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	names, err := OSFS{}.ReadDir(filepath.Join(dir, walDir))
	must(t, err)
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(dir, walDir, name))
		must(t, err)
		n += fi.Size()
	}
	return n
}
