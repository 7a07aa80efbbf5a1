package query

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
)

// TestDecodeNoAllocsPerSample: decoding through the engine's Querier into a
// warmed arena and walking the samples through a reused iterator allocate
// nothing per sample or per series: one series of 2,880 samples costs the
// same few allocations (the engine's SeriesSet) as all series.
func TestDecodeNoAllocsPerSample(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	ids, err := db.Index().Postings(t0, t0+48*hour)
	require.NoError(t, err)
	eq, err := db.Querier(t0, t0+48*hour)
	require.NoError(t, err)
	defer eq.Close()
	view := &querierView{q: eq}
	ar := &arena{}
	allRefs := make([]seriesRef, 0, ids.GetCardinality())
	for _, id := range ids.ToArray() {
		allRefs = append(allRefs, seriesRef{id: id})
	}
	var it chunkenc.Iterator
	allocs := func(refs []seriesRef) float64 {
		run := func() {
			ar.reset()
			got, err := ar.decodeRefs(view, refs, engine.ScanSequential)
			if err != nil || got < int64(len(refs))*24*60 {
				t.Fatalf("decode: got %d err=%v", got, err)
			}
			for i := range refs {
				it = refs[i].Iterator(it)
				for it.Next() == chunkenc.ValFloat {
				}
			}
		}
		run()
		return testing.AllocsPerRun(20, run)
	}
	one, all := allocs(allRefs[:1]), allocs(allRefs)
	require.Greater(t, len(allRefs), 3)
	require.LessOrEqual(t, one, 4.0, "per-select cost")
	require.Equal(t, one, all, "allocations grow with series or samples")
}
