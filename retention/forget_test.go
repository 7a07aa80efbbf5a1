package retention

import (
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestPolicyForget: the per-ID cache lets forgotten series go, page by
// page, so it follows the live series rather than every ID handed out.
func TestPolicyForget(t *testing.T) {
	r, _ := Config{Default: "30d"}.Compile()
	src := labelMap{}
	var ids []series.ID
	for id := series.ID(1); id <= 3<<cachePageBits; id++ {
		src[id] = series.FromStrings("db", "x")
		ids = append(ids, id)
	}
	p := NewPolicy(r, "db", src)
	for _, id := range ids {
		p.Retention(id)
	}
	if len(p.cache) != 4 {
		t.Fatalf("%d cache pages, want 4", len(p.cache))
	}
	p.Forget(ids[:2<<cachePageBits])
	if len(p.cache) != 2 {
		t.Fatalf("%d cache pages after forgetting two pages of series, want 2", len(p.cache))
	}
	if p.Retention(ids[0]) != 30*day {
		t.Fatal("a forgotten ID asked again (its labels still known) must still be answered")
	}
}
