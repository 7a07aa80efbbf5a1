package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// mapPolicy gives retention by series ID; unknown IDs are kept for ever.
type mapPolicy struct {
	mu  sync.Mutex
	m   map[series.ID]time.Duration
	gen atomic.Uint64
}

func (p *mapPolicy) Generation() uint64 { return p.gen.Load() }

// set changes id's retention and the generation.
func (p *mapPolicy) set(id series.ID, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[id] = d
	p.gen.Add(1)
}

func (p *mapPolicy) Retention(id series.ID) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[id]
}

// TestRetentionPerSeries: with two series under 2 and 5 days of
// retention, partitions where both expired are dropped whole, partitions
// where only the short one expired are rewritten by the compactor without
// it, and a reopen serves the same.
func TestRetentionPerSeries(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(day)
	pol := &mapPolicy{m: map[series.ID]time.Duration{}}
	opts := Options{RetentionPolicy: pol, MaintenanceInterval: time.Hour, DisableCompaction: true,
		Now: func() time.Time { return time.Unix(0, now.Load()) }}
	db := mustOpen(t, dir, opts)
	short, long := labels("s", "k", "short"), labels("s", "k", "long")
	for d := int64(0); d <= 10; d++ {
		appendOne(t, db, short, series.TypeInt, d*day+day/2, uint64(d))
		appendOne(t, db, long, series.TypeInt, d*day+day/2, uint64(d))
	}
	must(t, db.Flush(context.Background()))
	sid, _ := db.Lookup(short)
	lid, _ := db.Lookup(long)
	pol.mu.Lock()
	pol.m[sid], pol.m[lid] = time.Duration(2*day), time.Duration(5*day)
	pol.mu.Unlock()
	now.Store(10*day + day/2)
	// long keeps partitions ending at or after 5.5 days (5..10), short 8..10.
	must(t, db.ApplyRetention(context.Background()))
	if st := db.Stats(); st.Partitions != 6 {
		t.Fatalf("after whole-partition drops: %+v", st)
	}
	if got := len(readAll(db, short)); got != 6 {
		t.Fatalf("short has %d samples before the rewrite, want 6 (reads serve until removal)", got)
	}
	must(t, db.Compact(context.Background())) // runs the queued rewrites
	checkRetained := func(db *DB) {
		t.Helper()
		if got := readAll(db, short); len(got) != 3 {
			t.Fatalf("short after rewrite: %v", got)
		}
		if got := readAll(db, long); len(got) != 6 {
			t.Fatalf("long after rewrite: %v", got)
		}
	}
	checkRetained(db)
	m := db.m
	if m.retentionPartitions.Load() != 5 || m.retentionRewrites.Load() != 3 ||
		m.retentionSamples.Load() != 10+3 || m.retentionSeries.Load() != 10+3 {
		t.Fatalf("metrics: partitions %d rewrites %d samples %d series %d", m.retentionPartitions.Load(),
			m.retentionRewrites.Load(), m.retentionSamples.Load(), m.retentionSeries.Load())
	}
	// A second run finds nothing more to do.
	must(t, db.ApplyRetention(context.Background()))
	must(t, db.Compact(context.Background()))
	if m.retentionRewrites.Load() != 3 {
		t.Fatalf("rewrote again: %d", m.retentionRewrites.Load())
	}
	must(t, db.Close())
	db = mustOpen(t, dir, opts)
	defer db.Close()
	checkRetained(db)
}

// TestRetentionNextExpiry: a partition whose series are all kept is
// skipped until its next series expires, then handled.
func TestRetentionNextExpiry(t *testing.T) {
	var now atomic.Int64
	now.Store(day)
	pol := &mapPolicy{m: map[series.ID]time.Duration{}}
	db := mustOpen(t, t.TempDir(), Options{RetentionPolicy: pol, MaintenanceInterval: time.Hour, DisableCompaction: true,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer db.Close()
	a := labels("s", "k", "a")
	appendOne(t, db, a, series.TypeInt, day/2, 1)
	must(t, db.Flush(context.Background()))
	id, _ := db.Lookup(a)
	pol.m[id] = time.Duration(2 * day)
	now.Store(2*day + day/2)
	must(t, db.ApplyRetention(context.Background()))
	if st := db.Stats(); st.Partitions != 1 {
		t.Fatalf("dropped too early: %+v", st)
	}
	now.Store(3*day + 1)
	must(t, db.ApplyRetention(context.Background()))
	if st := db.Stats(); st.Partitions != 0 {
		t.Fatalf("not dropped once expired: %+v", st)
	}
}

// TestRetentionPolicyChange: a partition skipped under a long retention is
// dropped at the next run once the policy shortens it (a new generation).
func TestRetentionPolicyChange(t *testing.T) {
	var now atomic.Int64
	now.Store(day)
	pol := &mapPolicy{m: map[series.ID]time.Duration{}}
	db := mustOpen(t, t.TempDir(), Options{RetentionPolicy: pol, MaintenanceInterval: time.Hour, DisableCompaction: true,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer db.Close()
	a := labels("s", "k", "a")
	appendOne(t, db, a, series.TypeInt, day/2, 1)
	must(t, db.Flush(context.Background()))
	id, _ := db.Lookup(a)
	pol.set(id, time.Duration(30*day))
	now.Store(5 * day)
	must(t, db.ApplyRetention(context.Background()))
	if st := db.Stats(); st.Partitions != 1 {
		t.Fatalf("dropped under 30 days: %+v", st)
	}
	pol.set(id, time.Duration(2*day))
	must(t, db.ApplyRetention(context.Background()))
	if st := db.Stats(); st.Partitions != 0 {
		t.Fatalf("not dropped after the policy shortened: %+v", st)
	}
}
