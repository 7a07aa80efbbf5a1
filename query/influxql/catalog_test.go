package influxql

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCatalogPersistAndPrune: entries survive a reopen once synced, a
// known field does not dirty the catalog, and Prune forgets entries whose
// series are gone.
func TestCatalogPersistAndPrune(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCatalog(dir)
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
	c2, err := OpenCatalog(dir)
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
	c3, err := OpenCatalog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Lookup("t", "disk_used") != nil || c3.Lookup("t", "cpu_usage_idle") == nil {
		t.Fatal("prune was not persisted")
	}
	if err := os.WriteFile(filepath.Join(dir, CatalogFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCatalog(dir); err == nil {
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
