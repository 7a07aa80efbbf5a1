package tagindex

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestWriteRunContainers: a host's fields have consecutive series IDs, so
// the file stores its posting list as one run (~14 bytes) instead of an
// array; the loaded partition answers as the built one, accepts adds next
// to a run, and writing left the in-memory bitmaps as they were.
func TestWriteRunContainers(t *testing.T) {
	ix, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	const hosts, fields = 1000, 10
	for h := range hosts {
		for f := range fields {
			can := series.FromStrings("__name__", fmt.Sprintf("cpu_f%d", f), "hostname", fmt.Sprintf("host_%d", h),
				"region", fmt.Sprintf("r%d", h%9)).AppendCanonical(nil)
			if err := ix.Add(100, series.ID(1+h*fields+f), can); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := ix.Partition(100)
	path := filepath.Join(t.TempDir(), "p100.tidx")
	writePartitionFile(t, p, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d series: %d bytes, %.1f a host", hosts*fields, st.Size(), float64(st.Size())/hosts)
	if per := float64(st.Size()) / hosts; per > 60 {
		t.Fatalf("%.1f bytes a host, want at most 60 (arrays: ~120)", per)
	}
	if p.names["hostname"].values["host_7"].HasRunCompression() {
		t.Fatal("writing changed the in-memory posting list")
	}
	loaded, err := OpenPartition(osFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	samePartition(t, p, loaded)
	for _, h := range []int{0, 7, 999} {
		m := MustNewMatcher(MatchEqual, "hostname", fmt.Sprintf("host_%d", h))
		a, _ := p.Postings(m)
		b, _ := loaded.Postings(m)
		if !a.Equals(b) || b.GetCardinality() != fields {
			t.Fatalf("host_%d: %v, want %v", h, b.ToArray(), a.ToArray())
		}
	}
	late := series.FromStrings("__name__", "cpu_f10", "hostname", "host_7", "region", "r7").AppendCanonical(nil)
	for _, q := range []*Partition{p, loaded} {
		if err := q.Add(series.ID(hosts*fields+1), late); err != nil {
			t.Fatal(err)
		}
	}
	samePartition(t, p, loaded)
}
