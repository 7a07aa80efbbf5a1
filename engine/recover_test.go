package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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

// openResources counts the process's open file descriptors and the
// mappings of files under dir.
func openResources(t *testing.T, dir string) (fds, maps int) {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	b, err := os.ReadFile("/proc/self/maps")
	must(t, err)
	return len(ents), strings.Count(string(b), dir)
}

// TestOpenCloseReleasesEverything: opening and closing a database with
// segments and tag index files many times, or failing to open it, leaks
// no file descriptor and no mapping.
func TestOpenCloseReleasesEverything(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	for p := range int64(3) {
		appendOne(t, db, labels("m", "p", strconv.FormatInt(p, 10)), series.TypeFloat, p*int64(24*time.Hour), 1)
		must(t, db.Flush(context.Background()))
	}
	appendOne(t, db, labels("m", "p", "wal"), series.TypeFloat, 5, 1)
	db.opts.noFlushOnClose = true // keep a WAL to replay
	must(t, db.Close())

	fds0, maps0 := openResources(t, dir)
	for range 20 {
		db := mustOpen(t, dir, Options{noFlushOnClose: true})
		if got := readAll(db, labels("m", "p", "1")); len(got) != 1 {
			t.Fatalf("read %v", got)
		}
		must(t, db.Close())
		efs := newErrorFS(nil, 1)
		efs.inject(errorRule{ops: opRead, pattern: "*" + walSuffix})
		if _, err := Open(dir, Options{FS: efs}); !errors.Is(err, errInjected) {
			t.Fatalf("open with an unreadable WAL: %v", err)
		}
	}
	if fds, maps := openResources(t, dir); fds > fds0 || maps > maps0 {
		t.Fatalf("after 20 opens and closes: %d fds (was %d), %d mappings of the data dir (was %d)", fds, fds0, maps, maps0)
	}
}

// TestOpenRemovesTempFiles: a crash inside an atomic file write leaves
// MANIFEST.tmp or series.snap.tmp; the next open removes them and keeps
// the real files.
func TestOpenRemovesTempFiles(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{SyncMode: SyncNone})
	var b series.Batch
	b.AddSeries(labels("m", "k", "v"), series.TypeFloat)
	b.AppendFloat(1, 1)
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	must(t, db.Close()) // flushes: MANIFEST and series.snap exist
	for _, n := range []string{manifestFile, snapshotFile} {
		must(t, os.WriteFile(filepath.Join(dir, n+".tmp"), []byte("half written"), 0o644))
	}
	db = mustOpen(t, dir, Options{SyncMode: SyncNone})
	defer db.Close()
	for _, n := range []string{manifestFile, snapshotFile} {
		if _, err := os.Stat(filepath.Join(dir, n+".tmp")); !os.IsNotExist(err) {
			t.Errorf("%s.tmp still there after open: %v", n, err)
		}
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}
