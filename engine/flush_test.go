package engine

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// commitWithoutIndexing runs b through the commit pipeline as Append does
// and stops where Append is between its commit and its indexBatch: the
// samples are in the WAL and the memtable, the tag index does not have the
// series yet. A flush can run in that window.
func commitWithoutIndexing(t *testing.T, db *DB, b *series.Batch) {
	t.Helper()
	c := db.commits.Get().(*commit)
	defer db.putCommit(c)
	c.batch = b
	c.ids = resize(c.ids, b.Len())
	c.needDef = resize(c.needDef, b.Len())
	var res series.AppendResult
	if db.resolve(b, c, &res) == 0 {
		t.Fatalf("nothing accepted: %+v", res)
	}
	c.rec = c.enc.encode(b, c.ids, c.needDef)
	db.queue <- c
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
}

// TestFlushIndexesFlushedSeries: a flush that runs between an append's
// commit and its tag index update must still write the series into the
// partition's tag index file, or after a restart the acknowledged series
// is in a segment but no label query finds it.
func TestFlushIndexesFlushedSeries(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("m", "k", "first"), series.TypeFloat, 10, 1)
	var b series.Batch
	b.AddSeries(labels("m", "k", "racer"), series.TypeFloat)
	b.AppendRaw(20, 2)
	commitWithoutIndexing(t, db, &b)
	must(t, db.Flush(context.Background()))
	db.indexBatch(&b, []series.ID{b.Ref(0)}) // the appender catches up
	must(t, db.Close())

	db = mustOpen(t, dir, Options{})
	defer func() { must(t, db.Close()) }()
	ids, err := db.Index().Postings(0, 100, tagindex.MustNewMatcher(tagindex.MatchEqual, "k", "racer"))
	must(t, err)
	if ids.GetCardinality() != 1 {
		t.Fatalf("series flushed while its append was indexing is not in the tag index after reopen: %v", ids.ToArray())
	}
}

// TestOverloadRecovers: a memtable over MemtableBudget but below
// MemtableFlushBytes must still be flushed, or Append keeps returning
// series.ErrOverloaded until the flush interval (15 minutes by default). It must
// recover again and again: the flushed memtable kept as the next active
// one must not itself hold the DB over its budget while empty.
func TestOverloadRecovers(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{MemtableBudget: 256 << 10, MaintenanceInterval: 10 * time.Millisecond,
		SyncMode: SyncNone, DisableCompaction: true})
	defer func() { must(t, db.Close()) }()
	var b series.Batch
	ts := int64(0)
	for round := range 3 {
		overloaded := false
		for i := 0; i < 10000 && !overloaded; i++ {
			b.Reset()
			for s := range 50 {
				b.AddSeries(labels("m", "s", strconv.Itoa(s)), series.TypeFloat)
				for range 20 {
					ts++
					b.AppendFloat(ts, 1)
				}
			}
			_, err := db.Append(context.Background(), &b)
			switch {
			case errors.Is(err, series.ErrOverloaded):
				overloaded = true
			case err != nil:
				t.Fatal(err)
			}
		}
		if !overloaded {
			t.Fatalf("round %d: never overloaded", round)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			b.Reset()
			b.AddSeries(labels("m", "s", "0"), series.TypeFloat)
			ts++
			b.AppendFloat(ts, 1)
			_, err := db.Append(context.Background(), &b)
			if err == nil {
				break
			}
			if !errors.Is(err, series.ErrOverloaded) || time.Now().After(deadline) {
				t.Fatalf("round %d: still %v after 10 s (stats %+v)", round, err, db.Stats())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// manifestDirSyncFS fails the directory fsync that follows the next rename
// of the MANIFEST once armed.
type manifestDirSyncFS struct {
	OSFS
	mu      sync.Mutex
	armed   bool
	renamed bool
}

func (f *manifestDirSyncFS) Rename(oldname, newname string) error {
	err := f.OSFS.Rename(oldname, newname)
	f.mu.Lock()
	if f.armed && err == nil && filepath.Base(newname) == manifestFile {
		f.renamed, f.armed = true, false
	}
	f.mu.Unlock()
	return err
}

func (f *manifestDirSyncFS) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

func (f *manifestDirSyncFS) SyncDir(dir string) error {
	f.mu.Lock()
	fail := f.renamed
	f.renamed = false
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.OSFS.SyncDir(dir)
}

// TestManifestDirSyncFailure: once the new MANIFEST is renamed into place
// it is what the next open reads, even when the fsync of the directory
// fails. A flush or compaction must not then undo itself in memory (delete
// the segments the new manifest lists, keep the inputs it dropped): the
// next open would miss those segments and delete the WAL below the new
// checkpoint, losing acknowledged data.
func TestManifestDirSyncFailure(t *testing.T) {
	dir := t.TempDir()
	fs := &manifestDirSyncFS{}
	db := mustOpen(t, dir, Options{FS: fs, DisableCompaction: true})
	ls := labels("m")
	appendOne(t, db, ls, series.TypeFloat, 1, 1)
	must(t, db.Flush(context.Background()))
	appendOne(t, db, ls, series.TypeFloat, 2, 2)
	fs.arm()
	_ = db.Flush(context.Background()) // an error is fine; losing data is not
	appendOne(t, db, ls, series.TypeFloat, 3, 3)
	must(t, db.Flush(context.Background()))
	fs.arm()
	_ = db.Compact(context.Background())
	want := []string{"1=float:1", "2=float:2", "3=float:3"}
	if got := readAll(db, ls); !slices.Equal(got, want) {
		t.Fatalf("before reopen: %v", got)
	}
	db.opts.noFlushOnClose = true // what a crash leaves
	must(t, db.Close())
	db = mustOpen(t, dir, Options{})
	defer func() { must(t, db.Close()) }()
	if got := readAll(db, ls); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

// TestFrozenMemtableInBudgetWhileQueried: a memtable flushed while a
// Querier still holds it keeps counting in MemtableBytes (the budget)
// until the Querier closes: its memory is still held.
func TestFrozenMemtableInBudgetWhileQueried(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{})
	defer db.Close()
	var b series.Batch
	b.AddSeries(labels("m"), series.TypeFloat)
	for i := range 10_000 {
		b.AppendFloat(int64(i), float64(i))
	}
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	before := db.Stats().MemtableBytes
	if before <= 0 {
		t.Fatalf("memtable bytes %d after an append", before)
	}
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	must(t, db.Flush(context.Background()))
	if held := db.Stats().MemtableBytes; held < before {
		t.Fatalf("memtable bytes %d while a Querier holds the flushed memtable, want at least %d", held, before)
	}
	q.Close()
	if after := db.Stats().MemtableBytes; after >= before {
		t.Fatalf("memtable bytes %d after the Querier closed, want below %d", after, before)
	}
}

// TestCloseStopsExplicitCompact: Close does not wait for an explicit,
// rate-limited Compact to finish (it held closeMu's read lock for its
// whole run): the compaction stops, Close returns, and every sample is
// there after a reopen.
func TestCloseStopsExplicitCompact(t *testing.T) {
	dir := t.TempDir()
	opts := Options{DisableCompaction: true, CompactionBytesPerSecond: 1 << 10}
	db := mustOpen(t, dir, opts)
	for round := range 2 { // two segments of one partition
		var b series.Batch
		for s := range 2000 {
			b.AddSeries(labels("m", "s", strconv.Itoa(s)), series.TypeFloat)
			b.AppendFloat(int64(round), float64(s))
		}
		if _, err := db.Append(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		must(t, db.Flush(context.Background()))
	}
	compacted := make(chan error, 1)
	go func() { compacted <- db.Compact(context.Background()) }()
	// Compact holds compactMu for its whole rate-limited merge (~100 KB at
	// 1 KB/s; background compaction is off): once the lock is seen taken,
	// Close meets the merge.
	for deadline := time.Now().Add(10 * time.Second); db.compactMu.TryLock(); runtime.Gosched() {
		db.compactMu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("Compact never started")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the rate-limited compaction")
	}
	if err := <-compacted; !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact: %v, want context.Canceled", err)
	}
	db = mustOpen(t, dir, opts)
	defer db.Close()
	for _, s := range []int{0, 999, 1999} {
		if got := readAll(db, labels("m", "s", strconv.Itoa(s))); len(got) != 2 {
			t.Fatalf("series %d after reopen: %v", s, got)
		}
	}
}

// TestMemtableAgeOnInjectedClock: the memtable's age, which flushes a quiet
// database after MemtableFlushInterval, is read on Options.Now like every
// other engine clock. It was read on the wall clock: an injected clock
// moved past the interval did not make the flush due.
func TestMemtableAgeOnInjectedClock(t *testing.T) {
	var now atomic.Int64 // read by the engine's goroutines too
	now.Store(time.Unix(1_700_000_000, 0).UnixNano())
	db := mustOpen(t, t.TempDir(), Options{Now: func() time.Time { return time.Unix(0, now.Load()) },
		MemtableFlushInterval: time.Hour, MaintenanceInterval: time.Hour, SyncMode: SyncNone})
	defer db.Close()
	appendOne(t, db, labels("quiet"), series.TypeFloat, now.Load(), 1)
	if db.flushDue() {
		t.Fatal("flush due at once")
	}
	now.Add(int64(time.Hour - 1))
	if db.flushDue() {
		t.Fatal("flush due before the interval")
	}
	now.Add(1)
	if !db.flushDue() {
		t.Fatal("flush not due once the injected clock passed MemtableFlushInterval")
	}
}
