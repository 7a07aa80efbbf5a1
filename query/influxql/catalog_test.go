package influxql

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCatalogPersistAndPrune: entries survive a reopen once synced, a
// known field does not dirty the catalog, and Prune forgets entries whose
// series are gone.
func TestCatalogPersistAndPrune(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir, CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.ObserveField([]byte("t"), []byte("cpu_usage_idle"), []byte("cpu"), []byte("usage_idle"))
	c.ObserveField([]byte("t"), []byte("disk_used"), []byte("disk"), []byte("used"))
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	c.ObserveField([]byte("t"), []byte("disk_used"), []byte("disk"), []byte("used"))
	if c.dirty.Load() {
		t.Fatal("a known field dirtied the catalog")
	}
	c2, err := OpenCatalog(dir, CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c2.Lookup("t", "cpu_usage_idle"); len(got) != 1 || got[0] != (Field{"cpu", "usage_idle"}) {
		t.Fatalf("after reopen: %v", got)
	}
	n, err := c2.Prune(func(db, metric string) bool { return metric != "disk_used" })
	if err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	c3, err := OpenCatalog(dir, CatalogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c3.Lookup("t", "disk_used") != nil || c3.Lookup("t", "cpu_usage_idle") == nil {
		t.Fatal("prune was not persisted")
	}
	if err := os.WriteFile(filepath.Join(dir, CatalogFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCatalog(dir, CatalogOptions{}); err == nil {
		t.Fatal("a damaged catalog opened without error")
	}
}

// TestLiveAfterDeletion: Executor.Live, which Prune asks at start-up,
// follows the index.
func TestLiveAfterDeletion(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	if !e.Live("t", "cpu_usage_idle") || e.Live("t", "nope_value") || e.Live("other", "cpu_usage_idle") {
		t.Fatal("Live does not follow the index")
	}
}

// TestCatalogBounds: a full catalog drops new fields (counted), and Sync
// writes at most once per interval while Flush writes at once.
func TestCatalogBounds(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir, CatalogOptions{MaxEntries: 2, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a_x", "b_x", "c_x"} {
		c.ObserveField([]byte("t"), []byte(m), []byte(m[:1]), []byte("x"))
	}
	if c.Lookup("t", "c_x") != nil || c.Dropped() != 1 {
		t.Fatalf("cap: c_x %v, dropped %d", c.Lookup("t", "c_x"), c.Dropped())
	}
	if err := c.Sync(); err != nil { // the first write is not held back
		t.Fatal(err)
	}
	reopen := func() *Catalog {
		t.Helper()
		r, err := OpenCatalog(dir, CatalogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if reopen().Lookup("t", "b_x") == nil {
		t.Fatal("first Sync did not write")
	}
	n, _ := c.Prune(func(_, metric string) bool { return metric != "a_x" }) // frees a place, flushes
	c.ObserveField([]byte("t"), []byte("d_x"), []byte("d"), []byte("x"))
	if n != 1 || c.Lookup("t", "d_x") == nil {
		t.Fatal("pruning did not free a place")
	}
	if err := c.Sync(); err != nil {
		t.Fatal(err)
	}
	if reopen().Lookup("t", "d_x") != nil {
		t.Fatal("Sync wrote again within its interval")
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if reopen().Lookup("t", "d_x") == nil {
		t.Fatal("Flush did not write")
	}
}
