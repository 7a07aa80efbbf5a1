package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// TestSnapshotRebuilt: once a checkpoint has deleted the WAL segments
// that defined the series, a missing, damaged or stale series.snap is
// rebuilt from the tag index files and the segments: every series keeps
// its ID, labels and type, the WAL replays, a new series gets a new ID,
// and the next open finds the rewritten snapshot whole.
func TestSnapshotRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string, stale []byte)
	}{
		{"missing", func(t *testing.T, path string, _ []byte) { must(t, os.Remove(path)) }},
		{"flipped bit", func(t *testing.T, path string, _ []byte) { flip(t, path, 12) }},
		{"truncated", func(t *testing.T, path string, _ []byte) { must(t, os.Truncate(path, 9)) }},
		{"stale", func(t *testing.T, path string, stale []byte) { must(t, os.WriteFile(path, stale, 0o644)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, Options{noFlushOnClose: true})
			appendOne(t, db, labels("m", "k", "old"), series.TypeFloat, 5, 1)
			must(t, db.Flush(context.Background()))
			stale, err := os.ReadFile(filepath.Join(dir, snapshotFile))
			must(t, err)
			appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
			var b series.Batch
			b.AddSeries(labels("s", "k", "b"), series.TypeString)
			b.AppendString(10, []byte("x"))
			_, err = db.Append(context.Background(), &b)
			must(t, err)
			must(t, db.Flush(context.Background()))
			appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 20, 2) // in the WAL, no definition
			appendOne(t, db, labels("m", "k", "c"), series.TypeFloat, 30, 3) // defined in the WAL
			ids := map[string]series.ID{}
			for _, k := range []string{"old", "a", "c"} {
				ids[k], _ = db.Lookup(labels("m", "k", k))
			}
			ids["b"], _ = db.Lookup(labels("s", "k", "b"))
			must(t, db.Close())
			tc.damage(t, filepath.Join(dir, snapshotFile), stale)

			var lb logBuffer
			db = mustOpen(t, dir, Options{Logger: lb.logger(), noFlushOnClose: true})
			if !strings.Contains(lb.String(), "rebuilt it from the tag index files") {
				t.Fatalf("no rebuild logged: %s", lb.String())
			}
			for _, k := range []string{"old", "a", "c"} {
				if id, _ := db.Lookup(labels("m", "k", k)); id != ids[k] {
					t.Fatalf("series %s has ID %d, was %d", k, id, ids[k])
				}
			}
			if id, _ := db.Lookup(labels("s", "k", "b")); id != ids["b"] || db.reg.Type(id) != series.TypeString {
				t.Fatalf("string series b: ID %d (was %d), type %s", id, ids["b"], db.reg.Type(id))
			}
			if got := fmt.Sprint(readAll(db, labels("m", "k", "a"))); got != "[10=float:1 20=float:2]" {
				t.Fatalf("series a reads %s", got)
			}
			appendOne(t, db, labels("m", "k", "new"), series.TypeFloat, 40, 4)
			if id, _ := db.Lookup(labels("m", "k", "new")); id <= ids["c"] {
				t.Fatalf("new series got ID %d, not above %d", id, ids["c"])
			}
			must(t, db.Close())
			lb = logBuffer{}
			db = mustOpen(t, dir, Options{Logger: lb.logger()})
			defer db.Close()
			if strings.Contains(lb.String(), "rebuilt") {
				t.Fatalf("second open rebuilt again: %s", lb.String())
			}
		})
	}
}

// TestSnapshotUnrebuildableFailsOpen: without series.snap and without the
// tag index files, the segments' labels are nowhere: Open fails, naming
// the snapshot, and touches nothing.
func TestSnapshotUnrebuildableFailsOpen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{noFlushOnClose: true})
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
	must(t, db.Flush(context.Background()))
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 20, 2) // in the WAL, no definition
	must(t, db.Close())
	walBefore := walBytes(t, dir)
	must(t, os.Remove(filepath.Join(dir, snapshotFile)))
	must(t, os.RemoveAll(filepath.Join(dir, indexDir)))
	must(t, os.Mkdir(filepath.Join(dir, indexDir), 0o755))

	db, err := Open(dir, Options{})
	if err == nil {
		got := readAll(db, labels("m", "k", "a"))
		db.Close()
		t.Fatalf("open without %s succeeded (series a reads %v)", snapshotFile, got)
	}
	if !errors.Is(err, series.ErrCorruptSnapshot) || !strings.Contains(err.Error(), snapshotFile) ||
		!strings.Contains(err.Error(), "backup") {
		t.Fatalf("error does not name %s: %v", snapshotFile, err)
	}
	if got := walBytes(t, dir); got != walBefore {
		t.Fatalf("failed open changed the WAL: %d bytes, was %d", got, walBefore)
	}
}

// TestTagIndexRebuilt: a damaged tag index file is rebuilt from the
// segments at open and written anew, so label queries answer, Verify
// finds no damage after the open and the next open does not rebuild.
func TestTagIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
	appendOne(t, db, labels("m", "k", "b"), series.TypeFloat, 10, 2)
	must(t, db.Close())
	names, err := os.ReadDir(filepath.Join(dir, indexDir))
	must(t, err)
	if len(names) != 1 {
		t.Fatalf("index files: %v", names)
	}
	path := filepath.Join(dir, indexDir, names[0].Name())
	flip(t, path, 40)
	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) != 1 {
		t.Fatalf("verify of the damaged index: %v", rep.Damage)
	}

	var lb logBuffer
	db = mustOpen(t, dir, Options{Logger: lb.logger()})
	if !strings.Contains(lb.String(), "rebuilding from segments") || !strings.Contains(lb.String(), path) {
		t.Fatalf("no rebuild logged: %s", lb.String())
	}
	ps, err := db.index.Postings(0, 100, tagindex.MustNewMatcher(tagindex.MatchEqual, "k", "b"))
	must(t, err)
	if id, _ := db.Lookup(labels("m", "k", "b")); ps.GetCardinality() != 1 || !ps.Contains(id) {
		t.Fatalf("k=b matches %v, want series %d", ps, id)
	}
	must(t, db.Close())
	rep, err = Verify(dir)
	must(t, err)
	if len(rep.Damage) != 0 {
		t.Fatalf("verify after the rebuild: %v", rep.Damage)
	}
	lb = logBuffer{}
	db = mustOpen(t, dir, Options{Logger: lb.logger()})
	defer db.Close()
	if strings.Contains(lb.String(), "rebuilding") {
		t.Fatalf("second open rebuilt again: %s", lb.String())
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

// TestManifestDamageFailsOpen: a damaged manifest, or a missing one in a
// directory that has had a checkpoint, stops the open with the file, what
// is wrong and what to do, and deletes no segment (a missing manifest made
// every segment an orphan).
func TestManifestDamageFailsOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"missing", func(t *testing.T, path string) { must(t, os.Remove(path)) }, "manifest is missing"},
		{"flipped bit", func(t *testing.T, path string) { flip(t, path, 9) }, "manifest checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, Options{})
			appendOne(t, db, labels("m"), series.TypeFloat, 10, 1)
			must(t, db.Flush(context.Background()))
			appendOne(t, db, labels("m"), series.TypeFloat, 20, 2)
			must(t, db.Close())
			segs := liveSegmentFiles(t, dir)
			tc.damage(t, filepath.Join(dir, manifestFile))

			db, err := Open(dir, Options{})
			if err == nil {
				db.Close()
				t.Fatal("open with a damaged manifest succeeded")
			}
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.File != filepath.Join(dir, manifestFile) ||
				!strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "restore "+ce.File+" from a backup") {
				t.Fatalf("open: %v", err)
			}
			if got := liveSegmentFiles(t, dir); fmt.Sprint(got) != fmt.Sprint(segs) {
				t.Fatalf("segments after the refused open: %v, were %v", got, segs)
			}
		})
	}
}

// TestNewDirectoryAfterFirstFlushCrash: a missing manifest next to a WAL
// that starts at segment 1 is a crash in the first flush: the segment
// files are orphans, the WAL holds everything, and the open succeeds.
func TestNewDirectoryAfterFirstFlushCrash(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{noFlushOnClose: true})
	appendOne(t, db, labels("m"), series.TypeFloat, 10, 1)
	must(t, db.Close())
	must(t, os.WriteFile(segName(dir, 1), []byte("half a flush"), 0o644))
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	if got := readAll(db, labels("m")); len(got) != 1 {
		t.Fatalf("m reads %v", got)
	}
}
