package engine

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func TestAppendSelectReopen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	var b series.Batch
	b.AddSeries(labels("temp", "room", "kitchen"), series.TypeFloat)
	b.AppendFloat(30, 21.5)
	b.AppendFloat(10, 20.0) // out of order
	b.AppendFloat(20, 20.5)
	b.AppendFloat(10, 19.0) // duplicate: last write wins
	b.AddSeries(labels("status", "dev", "d1"), series.TypeString)
	b.AppendString(5, []byte("ok"))
	b.AddSeries(labels("count"), series.TypeInt)
	b.AppendInt(1, math.MaxInt64)
	b.AppendInt(2, math.MinInt64)
	b.AddSeries(labels("big"), series.TypeUint)
	b.AppendUint(1, math.MaxUint64)
	b.AddSeries(labels("on"), series.TypeBool)
	b.AppendBool(1, true)
	res, err := db.Append(context.Background(), &b)
	if err != nil || len(res.Rejected) != 0 || res.Accepted != 9 {
		t.Fatalf("append: %+v %v", res, err)
	}
	check := func(db *DB) {
		t.Helper()
		id, _ := db.Lookup(labels("temp", "room", "kitchen"))
		it := db.Select(id, 0, 100, nil)
		var got []float64
		for it.Next() {
			_, v := it.AtFloat()
			got = append(got, v)
		}
		if !slices.Equal(got, []float64{19, 20.5, 21.5}) {
			t.Fatalf("temp = %v", got)
		}
		ids, err := db.Index().Postings(0, 100, tagindex.MustNewMatcher(tagindex.MatchEqual, "room", "kitchen"))
		if err != nil || ids.GetCardinality() != 1 || !ids.Contains(id) {
			t.Fatalf("tag index: %v %v", ids, err)
		}
		if ids, _ := db.Index().Postings(int64(48*time.Hour), int64(49*time.Hour), tagindex.MustNewMatcher(tagindex.MatchEqual, "room", "kitchen")); !ids.IsEmpty() {
			t.Fatalf("series found in a partition it has no samples in: %v", ids)
		}
		it = db.Select(id, 15, 25, it)
		if it.Len() != 1 {
			t.Fatalf("range [15,25] has %d samples", it.Len())
		}
		want := map[string][]string{
			"status": {`5="ok"`},
			"count":  {"1=integer:9223372036854775807", "2=integer:9223372036854775808"},
			"big":    {"1=unsigned:18446744073709551615"},
			"on":     {"1=boolean:1"},
		}
		for name, w := range want {
			ls := labels(name)
			if name == "status" {
				ls = labels(name, "dev", "d1")
			}
			if got := readAll(db, ls); !slices.Equal(got, w) {
				t.Fatalf("%s = %v want %v", name, got, w)
			}
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, Options{})
	check(db)
	db.Close()
	// Without a flush at Close, the WAL alone must rebuild the registry
	// when the snapshot is gone.
	dir = t.TempDir()
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	db.Close()
	os.Remove(filepath.Join(dir, snapshotFile))
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	check(db)
}

func TestTypeConflictIsPartial(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	defer db.Close()
	appendOne(t, db, labels("m"), series.TypeInt, 1, 7)
	var b series.Batch
	b.AddSeries(labels("m"), series.TypeFloat) // conflicts
	b.AppendFloat(2, 1.5)
	b.AddSeries(labels("other"), series.TypeFloat)
	b.AppendFloat(2, 2.5)
	b.AddSeries(series.Labels{{Name: "host", Value: "x"}}, series.TypeFloat) // no name
	b.AppendFloat(2, 3.5)
	res, err := db.Append(context.Background(), &b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 1 || len(res.Rejected) != 2 {
		t.Fatalf("result %+v", res)
	}
	if r := res.Rejected[0]; r.Index != 0 || !errors.Is(r.Err, series.ErrTypeConflict) ||
		!strings.Contains(r.Err.Error(), "holds integer values, got float") {
		t.Fatalf("rejection 0: %+v", r)
	}
	if r := res.Rejected[1]; r.Index != 2 || !errors.Is(r.Err, series.ErrInvalidLabels) {
		t.Fatalf("rejection 1: %+v", r)
	}
	if got := readAll(db, labels("m")); !slices.Equal(got, []string{"1=integer:7"}) {
		t.Fatalf("m = %v", got)
	}
	if got := readAll(db, labels("other")); len(got) != 1 {
		t.Fatalf("valid series of the batch not stored: %v", got)
	}
}

func TestSeriesLimit(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MaxSeries: 1})
	defer db.Close()
	appendOne(t, db, labels("a"), series.TypeFloat, 1, 0)
	res := appendOne(t, db, labels("b"), series.TypeFloat, 1, 0)
	if len(res.Rejected) != 1 || !errors.Is(res.Rejected[0].Err, series.ErrSeriesLimit) ||
		!strings.Contains(res.Rejected[0].Err.Error(), "the limit is 1") {
		t.Fatalf("result %+v", res)
	}
	if res := appendOne(t, db, labels("a"), series.TypeFloat, 2, 0); res.Accepted != 1 {
		t.Fatal("existing series refused after the limit")
	}
}

func TestOverloaded(t *testing.T) {
	var b series.Batch
	b.AddSeries(labels("a"), series.TypeFloat)
	b.AppendFloat(2, 1)
	// The budget holds the batch alone, not beside the memtable.
	db := mustOpen(t, t.TempDir(), Options{MemtableBudget: requestBytes(&b) + 1})
	defer db.Close()
	appendOne(t, db, labels("a"), series.TypeFloat, 1, 0)
	if _, err := db.Append(context.Background(), &b); !errors.Is(err, series.ErrOverloaded) {
		t.Fatalf("err = %v, want series.ErrOverloaded", err)
	}
	if got := db.Stats().Overloaded; got != 1 {
		t.Fatalf("overloaded counter %d", got)
	}
}

func TestClosedAndSyncModes(t *testing.T) {
	for _, mode := range []SyncMode{SyncFsync, SyncInterval, SyncNone} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, Options{SyncMode: mode})
			appendOne(t, db, labels("a"), series.TypeFloat, 1, 5)
			if err := db.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			var b series.Batch
			b.AddSeries(labels("a"), series.TypeFloat)
			b.AppendFloat(2, 1)
			if _, err := db.Append(context.Background(), &b); !errors.Is(err, ErrClosed) {
				t.Fatalf("append after close: %v", err)
			}
			db = mustOpen(t, dir, Options{})
			defer db.Close()
			if got := readAll(db, labels("a")); len(got) != 1 {
				t.Fatalf("after reopen: %v", got)
			}
		})
	}
	if _, err := ParseSyncMode("sometimes"); err == nil {
		t.Fatal("bad sync mode parsed")
	}
}

func TestConcurrentAppendersShareGroups(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	defer db.Close()
	const workers, batches = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b series.Batch
			for i := range batches {
				b.Reset()
				for s := range 10 {
					b.AddSeries(labels("m", "w", string(rune('a'+w)), "s", string(rune('a'+s))), series.TypeFloat)
					b.AppendFloat(int64(i), float64(i))
				}
				if _, err := db.Append(context.Background(), &b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := db.Stats()
	if st.AppendedSamples != workers*batches*10 || st.Series != workers*10 {
		t.Fatalf("stats %+v", st)
	}
	if st.WALFsyncs >= st.AppendedBatches {
		t.Fatalf("no group commit: %d fsyncs for %d batches", st.WALFsyncs, st.AppendedBatches)
	}
	t.Logf("%d batches in %d groups, %d fsyncs", st.AppendedBatches, st.WALGroups, st.WALFsyncs)
}
