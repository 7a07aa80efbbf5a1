package engine

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// delOptions: one-hour partitions, no background work, a fixed clock.
func delOptions(fs FS) Options {
	return Options{FS: fs, PartitionDuration: int64(time.Hour), DisableCompaction: true,
		MemtableFlushBytes: 1 << 30, MemtableFlushInterval: 1000 * time.Hour, MaintenanceInterval: 1000 * time.Hour,
		Now: func() time.Time { return time.Unix(0, 10*int64(time.Hour)) }}
}

func appendRange(t *testing.T, db *DB, ls series.Labels, from, to, step int64) {
	t.Helper()
	var b series.Batch
	b.AddSeries(ls, series.TypeFloat)
	for ts := from; ts <= to; ts += step {
		b.AppendFloat(ts, float64(ts))
	}
	_, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
}

func timestamps(db *DB, ls series.Labels) []int64 {
	id, ok := db.Lookup(ls)
	if !ok {
		return nil
	}
	it := db.Select(id, math.MinInt64, math.MaxInt64, nil)
	var out []int64
	for it.Next() {
		ts, _ := it.At()
		out = append(out, ts)
	}
	return out
}

func idsOf(t *testing.T, db *DB, lss ...series.Labels) *roaring.Bitmap {
	bm := roaring.New()
	for _, ls := range lss {
		id, ok := db.Lookup(ls)
		require.True(t, ok)
		bm.Add(uint32(id))
	}
	return bm
}

const min1 = int64(time.Minute)

func mustMatcher(t *testing.T, name, value string) *tagindex.Matcher {
	m, err := tagindex.NewMatcher(tagindex.MatchEqual, name, value)
	require.NoError(t, err)
	return m
}

// TestDeleteHidesEverywhere deletes a range of a series whose samples are
// in segments and in the memtable, then checks that the samples stay gone
// across reads, later writes, a reopen, a compaction and clean_tombstones,
// while the other series and the samples written after the delete stay.
func TestDeleteHidesEverywhere(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := mustOpen(t, dir, delOptions(nil))
	a, b := labels("m", "s", "a"), labels("m", "s", "b")
	appendRange(t, db, a, 0, 90*min1, min1) // two partitions
	appendRange(t, db, b, 0, 90*min1, min1)
	require.NoError(t, db.Flush(ctx))
	appendRange(t, db, a, 91*min1, 150*min1, min1) // memtable
	all := timestamps(db, a)
	require.Len(t, all, 151)

	require.NoError(t, db.Delete(ctx, idsOf(t, db, a), 30*min1, 120*min1))
	want := func() []int64 {
		var w []int64
		for _, ts := range all {
			if ts < 30*min1 || ts > 120*min1 {
				w = append(w, ts)
			}
		}
		return w
	}()
	require.Equal(t, want, timestamps(db, a))
	require.Len(t, timestamps(db, b), 91, "another series lost samples")
	require.Equal(t, 1, db.Tombstones())

	// Written after the delete: kept.
	appendRange(t, db, a, 60*min1, 60*min1, min1)
	want = append(want, 0)
	copy(want[31:], want[30:])
	want[30] = 60 * min1
	require.Equal(t, want, timestamps(db, a))

	require.NoError(t, db.Close())
	db = mustOpen(t, dir, delOptions(nil))
	require.Equal(t, want, timestamps(db, a), "after reopen")
	require.NoError(t, db.Compact(ctx))
	require.Equal(t, want, timestamps(db, a), "after compaction")
	require.NoError(t, db.CleanTombstones(ctx))
	require.Equal(t, 0, db.Tombstones(), "tombstones applied everywhere are dropped")
	require.Equal(t, want, timestamps(db, a), "after clean_tombstones")
	require.Len(t, timestamps(db, b), 91)
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, delOptions(nil))
	defer db.Close()
	require.Equal(t, want, timestamps(db, a), "after clean_tombstones and reopen")
}

// TestDeleteReplayedFromWAL deletes samples that only the WAL holds and
// reopens without a flush: replay applies the tombstone in WAL order
// (samples before it purged, samples after it kept).
func TestDeleteReplayedFromWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := delOptions(nil)
	opts.noFlushOnClose = true
	db := mustOpen(t, dir, opts)
	a := labels("m", "s", "a")
	appendRange(t, db, a, 0, 9*min1, min1)
	require.NoError(t, db.Delete(ctx, idsOf(t, db, a), 2*min1, 5*min1))
	appendRange(t, db, a, 3*min1, 3*min1, min1)
	want := []int64{0, min1, 3 * min1, 6 * min1, 7 * min1, 8 * min1, 9 * min1}
	require.Equal(t, want, timestamps(db, a))
	require.NoError(t, db.Close())
	db = mustOpen(t, dir, opts)
	defer db.Close()
	require.Equal(t, want, timestamps(db, a), "after WAL replay")
}

// TestDeleteDropsEmptySegments deletes every sample of a partition: the
// rewrite drops its segment, and summaries never count deleted samples.
func TestDeleteDropsEmptySegments(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, t.TempDir(), delOptions(nil))
	defer db.Close()
	a := labels("m", "s", "a")
	appendRange(t, db, a, 0, 59*min1, min1)
	require.NoError(t, db.Flush(ctx))
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	id, _ := db.Lookup(a)
	require.NotEmpty(t, q.Summaries(id, math.MinInt64, math.MaxInt64, nil))
	require.NoError(t, q.Close())

	n, err := db.DeleteMatching(ctx, math.MinInt64, math.MaxInt64, mustMatcher(t, "s", "a"))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	q, err = db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	require.Empty(t, q.Summaries(id, math.MinInt64, math.MaxInt64, nil), "a summary counts deleted samples")
	require.NoError(t, q.Close())
	require.Empty(t, timestamps(db, a))
	require.Equal(t, 1, db.Stats().Segments)
	require.NoError(t, db.CleanTombstones(ctx))
	require.Equal(t, 0, db.Stats().Segments, "a segment whose data is all deleted is dropped")
	require.Equal(t, 0, db.Tombstones())
}

// TestTombstoneRecordDecode checks the record round trip and that the
// decoder refuses malformed payloads.
func TestTombstoneRecordDecode(t *testing.T) {
	x := &tombstone{seq: 7, before: 12, minT: -5, maxT: 99, ids: roaring.BitmapOf(1, 5, 70000)}
	rec := appendTombstoneRecord(nil, x)
	var buf []byte
	p, _, err := readRecord(rec, &buf)
	require.NoError(t, err)
	got, err := decodeTombstoneRecord(p)
	require.NoError(t, err)
	require.Equal(t, x.seq, got.seq)
	require.Equal(t, x.before, got.before)
	require.Equal(t, x.ids.ToArray(), got.ids.ToArray())
	for i := range p {
		_, _ = decodeTombstoneRecord(p[:i]) // must not panic
	}
}

// FuzzTombstoneRecord feeds the tombstone record decoder and the tombstone
// file decoder arbitrary bytes: neither may panic.
func FuzzTombstoneRecord(f *testing.F) {
	x := &tombstone{seq: 1, before: 2, minT: 0, maxT: 10, ids: roaring.BitmapOf(3)}
	rec := appendTombstoneRecord(nil, x)
	f.Add(rec[recordHeaderSize:])
	file, _ := marshalTombstones(&tombstones{list: []*tombstone{x}}, 2)
	f.Add(file)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeTombstoneRecord(b)
		_, _, _ = unmarshalTombstones("f", b)
	})
}

// TestSalvageKeepsDeletions: a salvage of a damaged segment writes its
// readable blocks to a segment with a new file number, past every
// tombstone's bound; it must leave out the samples a tombstone deletes
// (they came back with the salvaged segment).
func TestSalvageKeepsDeletions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := mustOpen(t, dir, blockyOpts)
	writeSeries64(t, db, 0)
	must(t, db.Close())
	segs := liveSegmentFiles(t, dir)
	require.Len(t, segs, 1)
	damageBlock(t, filepath.Join(dir, segDir, segs[0])) // a block of series a
	opts := blockyOpts
	opts.DisableCompaction = true
	db = mustOpen(t, dir, opts)
	defer db.Close()
	require.NoError(t, db.Delete(ctx, idsOf(t, db, labels("b")), 1, 32))
	require.Len(t, timestamps(db, labels("b")), 32)
	id, _ := db.Lookup(labels("a"))
	require.Error(t, db.Select(id, math.MinInt64, math.MaxInt64, nil).Err()) // reports the damage
	require.NoError(t, db.Compact(ctx))                                      // salvages, then rewrites
	require.Len(t, timestamps(db, labels("b")), 32, "deleted samples came back with the salvaged segment")
}
