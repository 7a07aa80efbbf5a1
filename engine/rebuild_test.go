package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// postingsOf returns the series the tag index matches for name=value.
func postingsOf(t *testing.T, db *DB, name, value string) []uint32 {
	t.Helper()
	ps, err := db.index.Postings(0, 100, tagindex.MustNewMatcher(tagindex.MatchEqual, name, value))
	must(t, err)
	return ps.ToArray()
}

// TestRebuildIndexReplacesWrongFile checks that RebuildIndex rebuilds a
// tag index file whose checksums pass but whose content is wrong (another
// directory's file of the same partition), which an open keeps using.
func TestRebuildIndexReplacesWrongFile(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
	appendOne(t, db, labels("m", "k", "b"), series.TypeFloat, 10, 2)
	must(t, db.Close())
	odb := mustOpen(t, other, Options{})
	appendOne(t, odb, labels("m", "k", "x"), series.TypeFloat, 10, 1)
	appendOne(t, odb, labels("m", "k", "y"), series.TypeFloat, 10, 2)
	must(t, odb.Close())
	names, err := os.ReadDir(filepath.Join(dir, indexDir))
	must(t, err)
	if len(names) != 1 {
		t.Fatalf("index files: %v", names)
	}
	wrong, err := os.ReadFile(filepath.Join(other, indexDir, names[0].Name()))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, indexDir, names[0].Name()), wrong, 0o644))

	db = mustOpen(t, dir, Options{})
	if got := postingsOf(t, db, "k", "b"); len(got) != 0 {
		t.Fatalf("the wrong file should answer k=b with nothing (the premise), got %v", got)
	}
	must(t, db.Close())

	rep, err := RebuildIndex(dir, Options{}, false)
	must(t, err)
	if rep.IndexFiles != 1 || rep.Series != 2 || rep.Partitions != 1 || rep.Snapshot {
		t.Fatalf("report %+v", rep)
	}
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	id, _ := db.Lookup(labels("m", "k", "b"))
	if got := postingsOf(t, db, "k", "b"); len(got) != 1 || got[0] != uint32(id) {
		t.Fatalf("k=b after the rebuild: %v, want [%d]", got, id)
	}
	if got := postingsOf(t, db, "k", "x"); len(got) != 0 {
		t.Fatalf("k=x after the rebuild: %v, want none", got)
	}
}

// TestRebuildIndexSnapshot rebuilds series.snap from the tag index files
// with samples still in the WAL: every series keeps its ID and labels,
// the WAL's samples are still replayed, and new series get new IDs.
func TestRebuildIndexSnapshot(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 10, 1)
	appendOne(t, db, labels("m", "k", "b"), series.TypeInt, 10, 2)
	must(t, db.Flush(context.Background()))
	a, _ := db.Lookup(labels("m", "k", "a"))
	b, _ := db.Lookup(labels("m", "k", "b"))
	appendOne(t, db, labels("m", "k", "a"), series.TypeFloat, 20, 3) // WAL only
	db.opts.noFlushOnClose = true
	must(t, db.Close())

	rep, err := RebuildIndex(dir, Options{}, true)
	must(t, err)
	if !rep.Snapshot || rep.Series != 2 || rep.IndexFiles != 1 {
		t.Fatalf("report %+v", rep)
	}
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	for _, c := range []struct {
		ls series.Labels
		id series.ID
	}{{labels("m", "k", "a"), a}, {labels("m", "k", "b"), b}} {
		if id, ok := db.Lookup(c.ls); !ok || id != c.id {
			t.Fatalf("%v: id %d %v, want %d", c.ls, id, ok, c.id)
		}
	}
	if got := readAll(db, labels("m", "k", "a")); len(got) != 2 {
		t.Fatalf("series a after the rebuild: %v, want 2 samples (one replayed from the WAL)", got)
	}
	appendOne(t, db, labels("m", "k", "c"), series.TypeFloat, 30, 4)
	if c, _ := db.Lookup(labels("m", "k", "c")); c == a || c == b {
		t.Fatalf("a new series got an existing ID %d", c)
	}
}
