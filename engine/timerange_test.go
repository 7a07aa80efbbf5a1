package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

func TestPartitionArithmeticWholeRange(t *testing.T) {
	for _, d := range []int64{int64(time.Minute), int64(24 * time.Hour), int64(7 * 24 * time.Hour), 86400e9 + 7} {
		for _, ts := range []int64{math.MinInt64, math.MinInt64 + 1, series.MinTime, series.MinTime + d, -d - 1, -d, -1, 0, 1,
			d - 1, d, series.MaxTime - d, series.MaxTime, math.MaxInt64} {
			p := partitionStartOf(ts, d)
			end := partitionEnd(p, d)
			if p > ts || ts > end {
				t.Fatalf("d=%d t=%d: partition [%d, %d] does not hold it", d, ts, p, end)
			}
			if p != math.MinInt64 && p%d != 0 {
				t.Fatalf("d=%d t=%d: start %d not a boundary", d, ts, p)
			}
			if end != math.MaxInt64 {
				if next := partitionStartOf(end+1, d); next != end+1 {
					t.Fatalf("d=%d t=%d: partition ends at %d, the next starts at %d", d, ts, end, next)
				}
			}
			if p != math.MinInt64 {
				if prev := partitionStartOf(p-1, d); partitionEnd(prev, d) != p-1 {
					t.Fatalf("d=%d t=%d: previous partition ends at %d, want %d", d, ts, partitionEnd(prev, d), p-1)
				}
			}
		}
	}
	if got := subSat(math.MinInt64+5, 10); got != math.MinInt64 {
		t.Fatalf("subSat wrapped: %d", got)
	}
}

// TestAppendRejectsTimestampOutOfRange: a sample outside
// series.MinTime..MaxTime once passed Append and made every later flush
// fail ("time range differs from the manifest's"); now its series is
// rejected and the rest of the batch, samples at both ends of the range
// included, is stored, flushed and read back.
func TestAppendRejectsTimestampOutOfRange(t *testing.T) {
	dir := t.TempDir()
	opts := Options{PartitionDuration: int64(time.Hour)}
	db := mustOpen(t, dir, opts)
	defer func() { db.Close() }()
	var b series.Batch
	poison := []int64{math.MinInt64, math.MinInt64 + 1, math.MaxInt64}
	for i, ts := range poison {
		b.AddSeries(labels("poison", "i", fmt.Sprint(i)), series.TypeFloat)
		b.AppendFloat(0, 1) // a valid sample beside it does not save the series
		b.AppendFloat(ts, 1)
	}
	edges := []int64{series.MinTime, series.MinTime + 1, -1, 0, series.MaxTime - 1, series.MaxTime}
	b.AddSeries(labels("edge"), series.TypeFloat)
	for _, ts := range edges {
		b.AppendFloat(ts, float64(ts%1000))
	}
	res, err := db.Append(context.Background(), &b)
	must(t, err)
	if len(res.Rejected) != len(poison) || res.Accepted != len(edges) {
		t.Fatalf("result %+v, want %d rejected and %d accepted", res, len(poison), len(edges))
	}
	for i, rj := range res.Rejected {
		if rj.Index != i || !errors.Is(rj.Err, series.ErrTimestampRange) || !strings.Contains(rj.Err.Error(), fmt.Sprint(poison[i])) {
			t.Fatalf("rejection %d: %+v, want ErrTimestampRange naming %d", i, rj, poison[i])
		}
	}
	if _, ok := db.Lookup(labels("poison", "i", "0")); ok {
		t.Fatal("a rejected series was created")
	}
	if got := db.m.rejectedBy[rejectTimeRange].Load(); got != uint64(len(poison)) {
		t.Fatalf("timestamp_range rejections counted %d", got)
	}
	must(t, db.Flush(context.Background()))
	appendOne(t, db, labels("after"), series.TypeFloat, 5, 5)
	must(t, db.Close())
	db = mustOpen(t, dir, opts)
	if got := readAll(db, labels("edge")); len(got) != len(edges) {
		t.Fatalf("edge samples after flush and reopen: %v", got)
	}
	must(t, db.Flush(context.Background()))
}

// TestRecoveryDropsOutOfRangeSamples: a WAL written by a version that took
// out-of-range timestamps replays without them (logged, counted) instead
// of feeding a memtable that can never be flushed.
func TestRecoveryDropsOutOfRangeSamples(t *testing.T) {
	dir := t.TempDir()
	old := mustOpen(t, dir, Options{noTimeCheck: true, noFlushOnClose: true})
	var b series.Batch
	b.AddSeries(labels("poison"), series.TypeFloat)
	b.AppendFloat(math.MinInt64, 1)
	b.AppendFloat(7, 2)
	b.AddSeries(labels("ok"), series.TypeFloat)
	b.AppendFloat(8, 3)
	res, err := old.Append(context.Background(), &b)
	if err != nil || res.Accepted != 3 {
		t.Fatalf("old version append: %+v %v", res, err)
	}
	must(t, old.Close())

	var logs logBuffer
	db := mustOpen(t, dir, Options{Logger: logs.logger()})
	defer db.Close()
	if got := db.m.replayDropped.Load(); got != 1 {
		t.Fatalf("dropped %d samples, want 1", got)
	}
	if !strings.Contains(logs.String(), "out of the stored timestamp range") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	must(t, db.Flush(context.Background()))
	if got := readAll(db, labels("poison")); len(got) != 1 || got[0] != "7=float:4611686018427387904" {
		t.Fatalf("poison series: %v", got)
	}
	if got := readAll(db, labels("ok")); len(got) != 1 {
		t.Fatalf("ok series: %v", got)
	}
}
