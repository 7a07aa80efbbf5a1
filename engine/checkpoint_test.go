package engine

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestCheckpointUnderWrites takes a checkpoint while writers append and
// flushes run, with a deletion before it, and opens the checkpoint: every
// sample acknowledged before the call is there, the deleted ones are not.
func TestCheckpointUnderWrites(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.MemtableFlushBytes = 64 << 10
	opts.WALSegmentSize = 64 << 10
	db := mustOpen(t, dir, opts)
	ctx := context.Background()

	del := labels("del")
	for ts := int64(1); ts <= 100; ts++ {
		appendOne(t, db, del, series.TypeFloat, ts, uint64(ts))
	}
	require.NoError(t, db.Flush(ctx))
	require.NoError(t, db.Delete(ctx, idsOf(t, db, del), 1, 50))

	const writers, perWriter = 4, 3000
	var acked [writers]atomic.Int64
	half := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls := labels("w", "n", fmt.Sprint(w))
			for i := range int64(perWriter) {
				var b series.Batch
				b.AddSeries(ls, series.TypeInt)
				b.AppendRaw(i+1, uint64(i))
				if _, err := db.Append(ctx, &b); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				acked[w].Store(i + 1)
				if i == perWriter/2 {
					once.Do(func() { close(half) })
				}
			}
		}()
	}
	<-half
	var before [writers]int64
	for w := range writers {
		before[w] = acked[w].Load()
	}
	snap := filepath.Join(t.TempDir(), "snap")
	st, err := db.Checkpoint(snap)
	require.NoError(t, err)
	wg.Wait()
	require.NoError(t, db.Close())
	require.Positive(t, st.Linked, "segments are hard-linked")
	_, err = db.Checkpoint(snap)
	require.ErrorIs(t, err, ErrClosed)

	cp := mustOpen(t, snap, opts)
	defer cp.Close()
	for w := range writers {
		got := readAll(cp, labels("w", "n", fmt.Sprint(w)))
		require.GreaterOrEqual(t, int64(len(got)), before[w], "writer %d: samples acknowledged before the checkpoint", w)
		for i := range before[w] {
			require.Equal(t, fmt.Sprintf("%d=integer:%d", i+1, i), got[i])
		}
	}
	got := readAll(cp, del)
	require.Len(t, got, 50, "the deletion before the checkpoint holds")
	require.Equal(t, "51=float:51", got[0])
}

// TestCheckpointRefusesExisting refuses a destination that exists.
func TestCheckpointRefusesExisting(t *testing.T) {
	db := mustOpen(t, t.TempDir(), DefaultOptions())
	defer db.Close()
	_, err := db.Checkpoint(t.TempDir())
	require.ErrorIs(t, err, fs.ErrExist)
}
