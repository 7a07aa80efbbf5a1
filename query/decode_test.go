package query

import (
	"testing"

	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

// TestDecodeNoAllocsPerSample: decoding into a warmed arena and walking the
// samples through a reused iterator allocate nothing.
func TestDecodeNoAllocsPerSample(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	ids, err := db.Index().Postings(t0, t0+48*hour)
	require.NoError(t, err)
	id := ids.Minimum()
	ar := &arena{}
	ref := &seriesRef{ar: ar}
	var it chunkenc.Iterator
	run := func() {
		ar.reset()
		off, n, err := ar.decodeSeries(db, id, t0, t0+48*hour)
		if err != nil || n != 48*60 {
			t.Fatalf("decode: n=%d err=%v", n, err)
		}
		ref.off, ref.n = off, n
		it = ref.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
		}
	}
	run()
	require.Zero(t, testing.AllocsPerRun(20, run))
}
