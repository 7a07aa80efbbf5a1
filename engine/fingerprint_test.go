package engine

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// TestFingerprintsEqualFingerprint: over compacted, overlapping L0 and
// memtable data with a deletion, Fingerprints of random ascending window
// lists (overlapping, disjoint, partly outside the Querier's range) gives
// for every window exactly what Fingerprint gives, fingerprint and ok.
func TestFingerprintsEqualFingerprint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 11))
	db := mustOpen(t, t.TempDir(), Options{SyncMode: SyncNone, BlockSamples: 32, DisableCompaction: true,
		PartitionDuration: int64(1e12)})
	defer db.Close()
	ctx := context.Background()
	const nSeries = 4
	sec := int64(1e9)
	write := func(from, to, step int64) {
		var b series.Batch
		for s := range nSeries {
			b.AddSeries(labels("m", "s", string(rune('a'+s))), series.TypeFloat)
			for ts := from; ts < to; ts += step {
				b.AppendFloat(ts, rng.Float64())
			}
		}
		if _, err := db.Append(ctx, &b); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 2000*sec, 10*sec)
	mustFlush(t, db)
	write(5*sec, 700*sec, 30*sec)
	mustFlush(t, db)
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	write(2000*sec, 2600*sec, 10*sec)
	mustFlush(t, db)
	if err := db.Delete(ctx, roaring.BitmapOf(2), 900*sec, 1100*sec); err != nil {
		t.Fatal(err)
	}
	write(2500*sec, 3000*sec, 7*sec) // memtable
	q, err := db.Querier(100*sec, 2900*sec)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	notOK, windows := 0, 0
	for range 300 {
		id := series.ID(1 + rng.IntN(nSeries))
		n := 1 + rng.IntN(40)
		width, step := rng.Int64N(400*sec), 1+rng.Int64N(200*sec)
		t0 := rng.Int64N(3000*sec) - 200*sec
		minTs, maxTs := make([]int64, n), make([]int64, n)
		for i := range n {
			maxTs[i] = t0 + int64(i)*step
			minTs[i] = maxTs[i] - width
		}
		fps, oks := make([]uint64, n), make([]bool, n)
		q.Fingerprints(id, minTs, maxTs, fps, oks)
		for i := range n {
			fp, ok := q.Fingerprint(id, minTs[i], maxTs[i])
			if ok != oks[i] || ok && fp != fps[i] {
				t.Fatalf("series %d window %d (%d, %d]: Fingerprints %x %v, Fingerprint %x %v", id, i, minTs[i], maxTs[i], fps[i], oks[i], fp, ok)
			}
			windows++
			if !ok {
				notOK++
			}
		}
	}
	if notOK == 0 || notOK == windows {
		t.Fatalf("%d of %d windows not final: want some of each", notOK, windows)
	}
}
