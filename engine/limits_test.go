package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

func manySeries(prefix string, n int, ts int64) *series.Batch {
	var b series.Batch
	for i := range n {
		b.AddSeries(labels(prefix, "i", fmt.Sprint(i)), series.TypeFloat)
		b.AppendFloat(ts, 1)
	}
	return &b
}

// TestRequestTooLarge: the budget was checked before the append only, so
// one request with 409,084 new series passed a 64 MiB budget and left a
// 275 MB memtable. Now a batch whose own estimate is over the budget is
// refused whole with ErrBatchTooLarge, before any series is created.
func TestRequestTooLarge(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MemtableBudget: 1 << 20})
	defer db.Close()
	b := manySeries("big", 2000, 1)
	res, err := db.Append(context.Background(), b)
	if !errors.Is(err, series.ErrBatchTooLarge) || !strings.Contains(err.Error(), "request too large") {
		t.Fatalf("append: %+v %v, want ErrBatchTooLarge", res, err)
	}
	if st := db.Stats(); st.Series != 0 || st.MemtableBytes != 0 {
		t.Fatalf("a refused batch left %d series, %d memtable bytes", st.Series, st.MemtableBytes)
	}
	if db.m.tooLarge.Load() != 1 {
		t.Fatal("not counted")
	}
	res, err = db.Append(context.Background(), manySeries("small", 100, 1))
	if err != nil || res.Accepted != 100 {
		t.Fatalf("a small batch after it: %+v %v", res, err)
	}
}

// TestBudgetCountsAdmittedBatches: concurrent batches each under the
// budget cannot together take the memtable far past it (they reserve their
// estimate before they are written).
func TestBudgetCountsAdmittedBatches(t *testing.T) {
	const n, per = 16, 200
	budget := 3 * requestBytes(manySeries("c0", per, 1))
	db := mustOpen(t, t.TempDir(), Options{MemtableBudget: budget, MemtableFlushBytes: 1 << 30})
	defer db.Close()
	var wg sync.WaitGroup
	for g := range n {
		wg.Go(func() {
			_, err := db.Append(context.Background(), manySeries(fmt.Sprint("c", g), per, 1))
			if err != nil && !errors.Is(err, series.ErrOverloaded) {
				t.Errorf("append: %v", err)
			}
		})
	}
	wg.Wait()
	if got := db.Stats().MemtableBytes; got > budget {
		t.Fatalf("memtable %d bytes, budget %d", got, budget)
	}
	if db.pending.Load() != 0 {
		t.Fatalf("reservations left: %d", db.pending.Load())
	}
}

func TestNewSeriesPerRequest(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MaxNewSeriesPerRequest: 10})
	defer db.Close()
	appendOne(t, db, labels("old", "i", "0"), series.TypeFloat, 1, 1)
	b := manySeries("new", 15, 1)
	b.AddSeries(labels("old", "i", "0"), series.TypeFloat) // existing series are not counted
	b.AppendFloat(2, 1)
	res, err := db.Append(context.Background(), b)
	must(t, err)
	if res.Accepted != 11 || len(res.Rejected) != 5 || res.Rejected[0].Index != 10 {
		t.Fatalf("result %+v, want 11 accepted, series 10..14 rejected", res)
	}
	if err := res.Rejected[0].Err; !errors.Is(err, series.ErrSeriesLimit) || !strings.Contains(err.Error(), "max_new_series_per_request") {
		t.Fatalf("rejection %v", err)
	}
	if got := db.m.rejectedBy[rejectPerRequest].Load(); got != 5 {
		t.Fatalf("counted %d", got)
	}
	res, err = db.Append(context.Background(), manySeries("new", 15, 2)) // the next request gets its own 10
	if err != nil || res.Accepted != 15 {
		t.Fatalf("next request: %+v %v", res, err)
	}
}

func TestNewSeriesPerMinute(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db := mustOpen(t, t.TempDir(), Options{MaxNewSeriesPerMinute: 60, Now: clock})
	defer db.Close()
	res, err := db.Append(context.Background(), manySeries("a", 100, 1))
	must(t, err)
	if res.Accepted != 60 || len(res.Rejected) != 40 || !strings.Contains(res.Rejected[0].Err.Error(), "max_new_series_per_minute") {
		t.Fatalf("result accepted %d, %d rejected, want 60 and 40", res.Accepted, len(res.Rejected))
	}
	mu.Lock()
	now = now.Add(10 * time.Second) // 10 more series
	mu.Unlock()
	res, err = db.Append(context.Background(), manySeries("b", 20, 1))
	must(t, err)
	if res.Accepted != 10 {
		t.Fatalf("after 10 s: %d accepted, want 10", res.Accepted)
	}
	if got := db.m.rejectedBy[rejectPerMinute].Load(); got != 50 {
		t.Fatalf("counted %d", got)
	}
	res, err = db.Append(context.Background(), manySeries("a", 60, 2)) // existing series are free
	if err != nil || res.Accepted != 60 {
		t.Fatalf("existing series: %+v %v", res, err)
	}
}

// TestFlushRetriedAfterDiskFull: a background flush that failed on a full
// disk waited for the memtable to reach its flush size again; now it is
// retried with backoff, and the disk error reaches Append's callers
// without a server path.
func TestFlushRetriedAfterDiskFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		efs := newErrorFS(nil, 1)
		dir := t.TempDir()
		db := mustOpen(t, dir, Options{FS: efs, MemtableFlushBytes: 1, FlushRetryMin: time.Second, FlushRetryMax: 4 * time.Second,
			MaintenanceInterval: time.Hour, MemtableFlushInterval: 24 * time.Hour})
		defer db.Close()
		efs.inject(errorRule{ops: opWrite, pattern: "*" + segSuffix + "*", err: syscall.ENOSPC})
		appendOne(t, db, labels("a"), series.TypeFloat, 1, 1) // over MemtableFlushBytes: a flush starts
		synctest.Wait()
		if st := db.Stats(); st.Flushes != 0 || db.m.flushFailures.Load() != 1 {
			t.Fatalf("flushes %d, failures %d; want 0, 1", st.Flushes, db.m.flushFailures.Load())
		}
		time.Sleep(time.Second) // the first retry, still failing
		synctest.Wait()
		if got := db.m.flushFailures.Load(); got != 2 {
			t.Fatalf("failures after 1 s: %d, want 2", got)
		}
		efs.reset()
		time.Sleep(2*time.Second - time.Nanosecond) // backoff doubled: not yet
		synctest.Wait()
		if st := db.Stats(); st.Flushes != 0 {
			t.Fatalf("retried before the backoff: %d flushes", st.Flushes)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if st := db.Stats(); st.Flushes != 1 || st.Segments != 1 {
			t.Fatalf("after space came back: %d flushes, %d segments", st.Flushes, st.Segments)
		}
	})
}

// TestDiskFullErrorHasNoPath: the error Append returns for a full disk is
// ErrDiskFull, matches series.ErrOverloaded (retry later) and names no
// server file.
func TestDiskFullErrorHasNoPath(t *testing.T) {
	efs := newErrorFS(nil, 1)
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{FS: efs})
	defer db.Close()
	efs.inject(errorRule{ops: opWrite, pattern: "*" + walSuffix, err: syscall.ENOSPC})
	var b series.Batch
	b.AddSeries(labels("a"), series.TypeFloat)
	b.AppendFloat(1, 1)
	_, err := db.Append(context.Background(), &b)
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, series.ErrOverloaded) ||
		strings.Contains(err.Error(), dir) || err.Error() != "no space left on device" {
		t.Fatalf("append on a full disk: %v", err)
	}
	efs.reset()
	appendOne(t, db, labels("a"), series.TypeFloat, 2, 1)
}
