package engine

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestDeleteForgetRacesAppends deletes whole series, flushes, cleans
// tombstones and forgets series while appenders keep writing them: no
// write may land on a forgotten series (its samples would be in segments
// under an ID the registry no longer knows, and the next open would find
// the snapshot stale), and every sample acknowledged after the last
// deletion must be readable after a reopen.
func TestDeleteForgetRacesAppends(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs logBuffer
	opts := delOptions(nil)
	opts.Logger = logs.logger()
	db := mustOpen(t, dir, opts)
	const nSeries, appenders = 200, 3
	var ts atomic.Int64
	ts.Store(int64(time.Hour))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Each round writes series 0..7 and one of the others (the next of a
	// counter), so those go unwritten for a while and can be forgotten
	// while an appender is about to write one; the final round writes
	// them all.
	var next atomic.Int64
	appendRound := func(all bool) error {
		var b series.Batch
		t0 := ts.Add(int64(time.Second))
		other := 8 + next.Load()%(nSeries-8)
		for s := range nSeries {
			if all || s < 8 || int64(s) == other {
				b.AddSeries(labels("race", "s", fmt.Sprint(s)), series.TypeFloat)
				b.AppendFloat(t0, float64(s))
			}
		}
		next.Add(1)
		_, err := db.Append(ctx, &b)
		return err
	}
	for range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := appendRound(false); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 2000 && time.Now().Before(deadline); i++ {
		if id, ok := db.Lookup(labels("race", "s", fmt.Sprint(8+i%(nSeries-8)))); ok {
			require.NoError(t, db.Delete(ctx, roaring.BitmapOf(uint32(id)), math.MinInt64, math.MaxInt64))
		}
		require.NoError(t, db.Flush(ctx))
		require.NoError(t, db.CleanTombstones(ctx))
		_, err := db.ForgetSeries()
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	require.NoError(t, appendRound(true)) // after every deletion: must survive
	last := ts.Load()
	// How many were forgotten depends on the scheduling (usually a few
	// to a few dozen); TestForgetWaitsForAppend is the deterministic case.
	forgotten := db.Stats().SeriesRemoved
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	defer db.Close()
	require.NotContains(t, logs.String(), "snapshot unusable", "a write landed on a forgotten series")
	for s := range nSeries {
		got := timestamps(db, labels("race", "s", fmt.Sprint(s)))
		require.Contains(t, got, last, "series %d: the last acknowledged sample is missing", s)
	}
	t.Logf("%d series forgotten during the run", forgotten)
}
