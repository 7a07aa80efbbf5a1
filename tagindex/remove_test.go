package tagindex

import (
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// TestPartitionRemove removes series: they leave every posting list, label
// values and names left without series go, the generation changes, and
// results handed out before stay as they were.
func TestPartitionRemove(t *testing.T) {
	p := NewPartition(0, 100)
	add := func(id series.ID, kv ...string) {
		if err := p.Add(id, series.FromStrings(kv...).AppendCanonical(nil)); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "__name__", "m", "host", "a")
	add(2, "__name__", "m", "host", "b", "only2", "x")
	add(3, "__name__", "n", "host", "a")
	before, _ := p.Postings(MustNewMatcher(MatchEqual, "host", "a"))
	vals := p.labelValues("host", nil, nil)
	gen := p.Generation()
	if n := p.Remove(roaring.BitmapOf(2, 3, 99)); n != 2 {
		t.Fatalf("removed %d, want 2", n)
	}
	if p.Generation() == gen || p.NumSeries() != 1 {
		t.Fatalf("generation %d (was %d), %d series", p.Generation(), gen, p.NumSeries())
	}
	got, _ := p.Postings(MustNewMatcher(MatchEqual, "host", "a"))
	if got.String() != "{1}" || before.String() != "{1,3}" {
		t.Fatalf("host=a: %v (before: %v)", got, before)
	}
	if v := p.labelValues("host", nil, nil); len(v) != 1 || v[0] != "a" || len(vals) != 2 {
		t.Fatalf("host values %v (before %v)", v, vals)
	}
	if names := p.labelNames(nil); len(names) != 2 {
		t.Fatalf("label names %v: only2 should be gone", names)
	}
	if p.seen.contains(2) {
		t.Fatal("removed series still seen")
	}
}
