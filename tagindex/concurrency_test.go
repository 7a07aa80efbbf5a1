package tagindex

import (
	"strconv"
	"sync"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestConcurrentAddAndQuery runs ingest and queries at once (meaningful
// under -race) and checks that a query never sees a series only partly
// indexed: every series has both labels, so the two counts must agree.
func TestConcurrentAddAndQuery(t *testing.T) {
	ix, _ := New(Options{PartitionDuration: 100})
	const n = 4000
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				can := series.FromStrings("__name__", "m"+strconv.Itoa(i%7), "pod", "p"+strconv.Itoa(i)).AppendCanonical(nil)
				for _, start := range []int64{0, 100} {
					if err := ix.Add(start, series.ID(i+1), can); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			a, _ := ix.Postings(0, 199, MustNewMatcher(MatchRegexp, "__name__", "m.*"))
			b, _ := ix.Postings(0, 199, MustNewMatcher(MatchNotEqual, "pod", ""))
			_, _ = ix.LabelValues("pod", 0, 99, 10, MustNewMatcher(MatchEqual, "__name__", "m1"))
			_ = ix.Stats(0, 99, 3)
			if a.GetCardinality() > b.GetCardinality()+uint64(n) {
				t.Error("impossible counts")
			}
		}
	}()
	wg.Wait()
	<-done
	got, _ := ix.Postings(0, 199, MustNewMatcher(MatchRegexp, "pod", "p.+"))
	if got.GetCardinality() != n {
		t.Fatalf("%d series indexed, want %d", got.GetCardinality(), n)
	}
}
