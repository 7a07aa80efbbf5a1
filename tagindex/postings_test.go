package tagindex

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
)

func randomBitmap(rng *rand.Rand) *roaring.Bitmap {
	bm := roaring.New()
	for range rng.IntN(200) {
		bm.Add(1 + uint32(rng.IntN(500)))
	}
	if rng.IntN(4) == 0 {
		bm.AddRange(70000, 70000+uint64(rng.IntN(3000)))
	}
	return bm
}

func TestPostingsOperators(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 300 {
		a, b, c := randomBitmap(rng), randomBitmap(rng), randomBitmap(rng)
		p := func(bm *roaring.Bitmap) Postings { return NewBitmapPostings(bm) }
		check := func(what string, it Postings, want *roaring.Bitmap) {
			t.Helper()
			got, err := ToBitmap(it)
			if err != nil || !got.Equals(want) {
				t.Fatalf("%s: got %d IDs, want %d (%v)", what, got.GetCardinality(), want.GetCardinality(), err)
			}
		}
		check("intersect", Intersect(p(a), p(b), p(c)), roaring.FastAnd(a, b, c))
		check("merge", Merge(p(a), p(b), p(c)), roaring.FastOr(a, b, c))
		check("without", Without(p(a), p(b)), roaring.AndNot(a, b))
		check("nested", Without(Merge(p(a), p(b)), Intersect(p(b), p(c))), roaring.AndNot(roaring.Or(a, b), roaring.And(b, c)))

		// Seek lands on the first ID >= target and never moves back.
		want := roaring.Or(a, b).ToArray()
		it := Merge(p(a), p(b))
		target := uint32(rng.IntN(600))
		i, _ := slices.BinarySearch(want, target)
		if ok := it.Seek(target); ok != (i < len(want)) || (ok && it.At() != want[i]) {
			t.Fatalf("seek %d: %v %d", target, ok, it.At())
		}
		if ok := it.Seek(0); ok != (i < len(want)) || (ok && it.At() != want[i]) {
			t.Fatal("seek moved backwards")
		}
	}
	if EmptyPostings().Next() || Intersect().Next() || Merge().Next() {
		t.Fatal("empty postings has IDs")
	}
}
