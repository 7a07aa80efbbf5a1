package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestInspect reports partitions, segments, series and samples from the
// segment indexes, and the WAL not yet flushed.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.PartitionDuration = int64(time.Hour)
	db := mustOpen(t, dir, opts)
	hour := int64(time.Hour)
	for i := range 3 {
		for s := range 4 {
			appendOne(t, db, labels("m", "s", fmt.Sprint(s)), series.TypeFloat, 10*hour+int64(i), 1)
		}
		appendOne(t, db, labels("m", "s", "late"), series.TypeFloat, 11*hour+int64(i), 1)
	}
	require.NoError(t, db.Flush(context.Background()))
	appendOne(t, db, labels("m", "s", "wal"), series.TypeFloat, 12*hour, 1)

	rep, err := Inspect(dir)
	require.NoError(t, err)
	require.Len(t, rep.Partitions, 2)
	require.Equal(t, 10*hour, rep.Partitions[0].Start)
	require.EqualValues(t, 4, rep.Partitions[0].Series)
	require.EqualValues(t, 12, rep.Partitions[0].Samples)
	require.EqualValues(t, 1, rep.Partitions[1].Series)
	require.EqualValues(t, 3, rep.Partitions[1].Samples)
	require.Len(t, rep.Partitions[1].Segments, 1)
	require.Positive(t, rep.Partitions[1].Segments[0].Bytes)
	require.EqualValues(t, 5, rep.Series)
	require.Positive(t, rep.WALBytes, "the sample after the flush is in the WAL")
	require.NoError(t, db.Close())

	_, err = Inspect(t.TempDir() + "/missing")
	require.Error(t, err)
}
