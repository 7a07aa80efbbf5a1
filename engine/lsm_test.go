package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

const day = int64(24 * time.Hour)

// liveSegmentFiles lists the segment files in dir.
func liveSegmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	names, err := OSFS{}.ReadDir(filepath.Join(dir, segDir))
	must(t, err)
	return names
}

func TestFlushReadReopen(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	ls := labels("m", "k", "v")
	for i := range 100 {
		appendOne(t, db, ls, series.TypeFloat, int64(i)*int64(time.Hour), math.Float64bits(float64(i)))
	}
	must(t, db.Flush(context.Background()))
	st := db.Stats()
	if st.Segments != 5 || st.Partitions != 5 || st.Flushes != 1 { // 100 h: 5 days
		t.Fatalf("after flush: %+v", st)
	}
	// The WAL segments the flush covered are gone.
	seqs, err := listWAL(OSFS{}, filepath.Join(dir, walDir))
	must(t, err)
	if len(seqs) != 1 {
		t.Fatalf("WAL segments after flush: %v", seqs)
	}
	// Overwrite one sample and add one: memtable over segments.
	appendOne(t, db, ls, series.TypeFloat, 5*int64(time.Hour), math.Float64bits(-5))
	appendOne(t, db, ls, series.TypeFloat, 200*int64(time.Hour), math.Float64bits(200))
	want := readAll(db, ls)
	if len(want) != 101 || want[5] != fmt.Sprintf("%d=float:%d", 5*int64(time.Hour), math.Float64bits(-5)) {
		t.Fatalf("merged read: %d samples, [5]=%s", len(want), want[5])
	}
	must(t, db.Close())
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	if got := readAll(db, ls); !slices.Equal(got, want) {
		t.Fatalf("after reopen:\n got %v\nwant %v", got, want)
	}
	// The tag index was loaded for each partition.
	m := tagindex.MustNewMatcher(tagindex.MatchEqual, "k", "v")
	ids, err := db.Index().Postings(0, 200*int64(time.Hour), m)
	must(t, err)
	if ids.GetCardinality() != 1 || len(db.Index().Partitions()) != 6 {
		t.Fatalf("index: %v, %d partitions", ids, len(db.Index().Partitions()))
	}
}

// TestBackfill writes days-old out-of-order samples after newer ones: they
// land in their own partitions and read back merged.
func TestBackfill(t *testing.T) {
	dir := t.TempDir()
	now := 30 * day
	db := mustOpen(t, dir, Options{Now: func() time.Time { return time.Unix(0, now) }})
	ls := labels("temp", "dev", "d1")
	var want []string
	for d := int64(29); d >= 20; d-- { // newest first
		ts := d*day + 1000
		appendOne(t, db, ls, series.TypeInt, ts, uint64(d))
		want = append(want, fmt.Sprintf("%d=integer:%d", ts, d))
		if d%3 == 0 {
			must(t, db.Flush(context.Background()))
		}
	}
	slices.Reverse(want)
	must(t, db.Flush(context.Background()))
	must(t, db.Compact(context.Background()))
	v := db.acquire()
	for _, p := range v.parts {
		for _, s := range p.segs {
			if s.minT < p.start || s.maxT >= p.start+day {
				t.Errorf("segment %d of partition %d spans %d..%d", s.fileNum, p.start, s.minT, s.maxT)
			}
		}
		if len(p.segs) != 1 {
			t.Errorf("partition %d has %d segments after Compact", p.start, len(p.segs))
		}
	}
	if len(v.parts) != 10 {
		t.Errorf("%d partitions, want 10", len(v.parts))
	}
	v.unref()
	if got := readAll(db, ls); !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	must(t, db.Close())
}

// TestCompactionLastWriteWins overwrites samples across flushes; after
// compaction the newest write of every timestamp survives.
func TestCompactionLastWriteWins(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{DisableCompaction: true})
	ls := labels("s")
	str := labels("str")
	for round := range 6 {
		var b series.Batch
		b.AddSeries(ls, series.TypeInt)
		for i := range 50 {
			if (i+round)%3 == 0 || round == 0 {
				b.AppendInt(int64(i), int64(round*1000+i))
			}
		}
		b.AddSeries(str, series.TypeString)
		b.AppendString(int64(round%2), []byte(fmt.Sprintf("r%d", round)))
		_, err := db.Append(context.Background(), &b)
		must(t, err)
		must(t, db.Flush(context.Background()))
	}
	want := map[int64]int64{}
	for round := range 6 {
		for i := range 50 {
			if (i+round)%3 == 0 || round == 0 {
				want[int64(i)] = int64(round*1000 + i)
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		id, _ := db.Lookup(ls)
		it := db.Select(id, 0, 100, nil)
		n := 0
		for it.Next() {
			ts, v := it.At()
			if int64(v) != want[ts] {
				t.Fatalf("%s: ts %d = %d want %d", stage, ts, int64(v), want[ts])
			}
			n++
		}
		if n != 50 || it.Err() != nil {
			t.Fatalf("%s: %d samples, err %v", stage, n, it.Err())
		}
		if got := readAll(db, str); !slices.Equal(got, []string{`0="r4"`, `1="r5"`}) {
			t.Fatalf("%s: strings %v", stage, got)
		}
	}
	check("before compaction")
	if st := db.Stats(); st.Segments != 6 {
		t.Fatalf("segments before compaction: %d", st.Segments)
	}
	must(t, db.Compact(context.Background()))
	if st := db.Stats(); st.Segments != 1 || st.Compactions == 0 {
		t.Fatalf("after compaction: %+v", st)
	}
	check("after compaction")
	must(t, db.Close())
	if n := len(liveSegmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segment files after compaction, want 1", n)
	}
	db = mustOpen(t, dir, Options{})
	check("after reopen")
	must(t, db.Close())
}

// TestTieredCompaction checks that the background job merges runs of
// CompactionFanIn segments of the current partition.
func TestTieredCompaction(t *testing.T) {
	now := 10 * day
	db := mustOpen(t, t.TempDir(), Options{CompactionFanIn: 2, Now: func() time.Time { return time.Unix(0, now) }})
	defer db.Close()
	ls := labels("s")
	// compactorRound returns once the background job has run a whole
	// round after the flush, and a round merges until no run of FanIn
	// segments of one level is left: after each flush the levels hold the
	// flushes counted in binary, whenever the compactor woke, and 8
	// flushes take 7 merges of two. (Flushing all 8 first made the count
	// depend on scheduling: a compactor that did not run in between
	// merged all 8 in one job.)
	for i := range 8 {
		appendOne(t, db, ls, series.TypeInt, now+int64(i), uint64(i))
		must(t, db.Flush(context.Background()))
		compactorRound(db)
		if st := db.Stats(); st.Segments != bits.OnesCount(uint(i+1)) {
			t.Fatalf("after flush %d: %d segments, want %d: %+v", i+1, st.Segments, bits.OnesCount(uint(i+1)), st)
		}
	}
	st := db.Stats()
	if st.Segments != 1 || st.Compactions != 7 {
		t.Fatalf("tiered compaction: %+v", st)
	}
	if got := readAll(db, ls); len(got) != 8 {
		t.Fatalf("got %v", got)
	}
}

// TestColdCompactionDelay checks that a partition before the current one
// is merged whole only once no flush has added to it for
// ColdCompactionDelay, and tiered meanwhile. The delay is measured on the
// injected clock, so both sides of it are checked on any machine.
func TestColdCompactionDelay(t *testing.T) {
	var now atomic.Int64
	now.Store(10 * day)
	const delay = time.Hour
	db := mustOpen(t, t.TempDir(), Options{CompactionFanIn: 4, ColdCompactionDelay: delay, MaintenanceInterval: time.Hour,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer db.Close()
	ls := labels("s")
	for i := range 3 { // below the fan-in: no tiered merge
		appendOne(t, db, ls, series.TypeInt, 5*day+int64(i), uint64(i))
		must(t, db.Flush(context.Background()))
	}
	now.Add(int64(delay) - 1)
	compactorRound(db)
	if st := db.Stats(); st.Segments != 3 || st.Compactions != 0 {
		t.Fatalf("cold partition merged %v after its last flush, before the delay (%v): %+v", delay-1, delay, st)
	}
	now.Add(2)
	compactorRound(db)
	if st := db.Stats(); st.Segments != 1 || st.Compactions != 1 {
		t.Fatalf("cold partition not merged after the delay: %+v", st)
	}
	if got := readAll(db, ls); len(got) != 3 {
		t.Fatalf("got %v", got)
	}
}

// TestCompactionQuietPeriodUsesOptionsNow checks that the flush time and
// the quiet period are measured on one clock, Options.Now: a clock set in
// the past must not make every partition look freshly flushed (or quiet)
// by the wall clock.
func TestCompactionQuietPeriodUsesOptionsNow(t *testing.T) {
	var now atomic.Int64
	now.Store(10 * day) // 1970: far from the wall clock
	db := mustOpen(t, t.TempDir(), Options{CompactionFanIn: 4, ColdCompactionDelay: time.Minute, MaintenanceInterval: time.Hour,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	defer db.Close()
	for i := range 2 {
		appendOne(t, db, labels("s"), series.TypeInt, 5*day+int64(i), uint64(i))
		must(t, db.Flush(context.Background()))
	}
	if job := pickCompactionNow(db); job != nil {
		job.release()
		t.Fatal("picked at the flush's instant: the quiet period is not on Options.Now")
	}
	now.Add(int64(time.Minute) + 1)
	job := pickCompactionNow(db)
	if job == nil {
		t.Fatal("not picked a minute after the flush by Options.Now")
	}
	defer job.release()
	if job.part != 5*day || len(job.inputs) != 2 {
		t.Fatalf("job: partition %d, %d inputs", job.part, len(job.inputs))
	}
}

// compactorRound returns once the background compactor has run a whole
// round (picking and merging until nothing is left) that began after the
// call: compactq holds one token, so the third send completes only after
// the compactor took the second, that is after it finished the round the
// first one started (a token already queued by a flush only delays this).
func compactorRound(db *DB) {
	for range 3 {
		db.compactq <- struct{}{}
	}
}

// pickCompactionNow asks the background job's question once, holding
// compactMu as it does.
func pickCompactionNow(db *DB) *compactJob {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	return db.pickCompaction(false)
}

// TestRetention drops exactly the partitions wholly older than the TTL,
// also while a query holds them.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(day)
	db := mustOpen(t, dir, Options{Retention: time.Duration(3 * day), MaintenanceInterval: time.Hour,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	ls := labels("s", "k", "v")
	for d := int64(0); d <= 10; d++ {
		appendOne(t, db, ls, series.TypeInt, d*day+day/2, uint64(d))
	}
	must(t, db.Flush(context.Background()))
	now.Store(10*day + day/2)
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	must(t, err)
	id, _ := db.Lookup(ls)
	must(t, db.ApplyRetention(context.Background()))
	// cutoff = 7.5 days: partitions 0..6 end before it; 7 (7..8 days) stays.
	st := db.Stats()
	if st.Partitions != 4 || st.RetentionDropped != 7 {
		t.Fatalf("after retention: %+v", st)
	}
	var got []string
	for it := db.Select(id, math.MinInt64, math.MaxInt64, nil); it.Next(); {
		got = append(got, fmtSample(it))
	}
	if len(got) != 4 || got[0] != fmt.Sprintf("%d=integer:7", 7*day+day/2) {
		t.Fatalf("after retention: %v", got)
	}
	// The querier still sees all 11 days; its files are still there.
	if n := len(liveSegmentFiles(t, dir)); n != 11 {
		t.Fatalf("%d segment files while a query holds them, want 11", n)
	}
	set := q.Select(roaring.BitmapOf(id), SelectHints{})
	if !set.Next() {
		t.Fatal("querier lost its series")
	}
	if _, it := set.At(); it.Len() != 11 {
		t.Fatalf("querier sees %d samples, want 11", it.Len())
	}
	must(t, q.Close())
	if n := len(liveSegmentFiles(t, dir)); n != 4 {
		t.Fatalf("%d segment files after the query closed, want 4", n)
	}
	for _, p := range db.Index().Partitions() {
		if p.MinT() < 7*day {
			t.Fatalf("tag index partition %d not dropped", p.MinT())
		}
	}
	must(t, db.Close())
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	if st := db.Stats(); st.Partitions != 4 {
		t.Fatalf("after reopen: %+v", st)
	}
}

// TestBlockCorruption flips a byte in one block: Select of that series
// returns its other blocks and a CorruptionError with file and offset,
// other series read fine, and Verify reports the same place.
func TestBlockCorruption(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{BlockSamples: 16})
	a, b := labels("a"), labels("b")
	for i := range 64 {
		var bt series.Batch
		bt.AddSeries(a, series.TypeFloat)
		bt.AppendFloat(int64(i), float64(i)*1.5)
		bt.AddSeries(b, series.TypeFloat)
		bt.AppendFloat(int64(i), float64(i))
		_, err := db.Append(context.Background(), &bt)
		must(t, err)
	}
	must(t, db.Close())
	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) != 0 || rep.Blocks != 8 || rep.Samples != 128 {
		t.Fatalf("clean verify: %+v", rep)
	}
	file := filepath.Join(dir, segDir, liveSegmentFiles(t, dir)[0])
	data, err := os.ReadFile(file)
	must(t, err)
	x, err := decodeSegIndex(file, data)
	must(t, err)
	blk := x.blocks[x.first[0]+1] // series a, second block
	// A byte of its values (b's blocks refer to a's timestamps: damage to
	// those is TestSharedTimestampsDamage).
	data[blk.off+int64(blk.len)-6] ^= 0x40
	must(t, os.WriteFile(file, data, 0o644))

	rep, err = Verify(dir)
	must(t, err)
	if len(rep.Damage) != 1 || rep.Damage[0].File != file || rep.Damage[0].Offset != blk.off {
		t.Fatalf("verify: %+v (want %s at %d)", rep.Damage, file, blk.off)
	}
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	id, _ := db.Lookup(a)
	it := db.Select(id, math.MinInt64, math.MaxInt64, nil)
	var ce *CorruptionError
	if !errors.As(it.Err(), &ce) || ce.File != file || ce.Offset != blk.off {
		t.Fatalf("select err = %v", it.Err())
	}
	if it.Len() != 48 {
		t.Fatalf("damaged series: %d samples, want the 48 of the undamaged blocks", it.Len())
	}
	if got := readAll(db, b); len(got) != 64 {
		t.Fatalf("undamaged series: %d samples", len(got))
	}
	// Compaction refuses to merge damaged data away.
	if err := db.Compact(context.Background()); err != nil {
		t.Fatalf("compact with one segment: %v", err)
	}
}

// TestOrphansRemoved leaves a temporary and an unlisted segment file: open
// removes them and reads only the listed ones.
func TestOrphansRemoved(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("s"), series.TypeInt, 1, 1)
	must(t, db.Close())
	files := liveSegmentFiles(t, dir)
	src := filepath.Join(dir, segDir, files[0])
	data, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(segName(dir, 999), data, 0o644))
	must(t, os.WriteFile(segName(dir, 1000)+".tmp", data[:10], 0o644))
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	if got := liveSegmentFiles(t, dir); !slices.Equal(got, files) {
		t.Fatalf("segment files %v, want %v", got, files)
	}
	if got := readAll(db, labels("s")); len(got) != 1 {
		t.Fatalf("got %v", got)
	}
}

// TestQuerierSelect reads a strided and a sequential selection.
func TestQuerierSelect(t *testing.T) {
	db := mustOpen(t, t.TempDir(), Options{BlockSamples: 64})
	defer db.Close()
	var b series.Batch
	for h := range 20 {
		b.Reset()
		for f := range 5 {
			b.AddSeries(labels("cpu", "host", fmt.Sprint(h), "f", fmt.Sprint(f)), series.TypeInt)
			for i := range 300 {
				b.AppendInt(int64(i), int64(h*100+f))
			}
		}
		_, err := db.Append(context.Background(), &b)
		must(t, err)
	}
	must(t, db.Flush(context.Background()))
	for _, pat := range []ScanPattern{ScanAuto, ScanSequential, ScanStrided, ScanPoint} {
		q, err := db.Querier(100, 199)
		must(t, err)
		ids := roaring.New()
		for h := range 20 {
			id, _ := db.Lookup(labels("cpu", "host", fmt.Sprint(h), "f", "2"))
			ids.Add(id)
		}
		set := q.Select(ids, SelectHints{Pattern: pat})
		n := 0
		prev := series.ID(0)
		for set.Next() {
			id, it := set.At()
			if id <= prev || it.Len() != 100 {
				t.Fatalf("%v: series %d after %d with %d samples", pat, id, prev, it.Len())
			}
			prev = id
			n++
		}
		if n != 20 || set.Err() != nil {
			t.Fatalf("%v: %d series, err %v", pat, n, set.Err())
		}
		must(t, q.Close())
	}
}

// TestConcurrentFlushCompactRead appends from several goroutines while
// flushes, compactions, retention passes and reads run concurrently (a
// race detector target), then checks every acknowledged sample.
func TestConcurrentFlushCompactRead(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{SyncMode: SyncNone, MemtableFlushBytes: 16 << 10, CompactionFanIn: 2,
		BlockSamples: 32, MaintenanceInterval: 5 * time.Millisecond, Retention: time.Duration(10 * day),
		Now: func() time.Time { return time.Unix(0, 3*day) }})
	const writers, perWriter = 3, 400
	ctx := context.Background()
	done := make(chan struct{})
	errc := make(chan error, 16)
	for w := range writers {
		go func() {
			var b series.Batch
			for k := range perWriter {
				b.Reset()
				for j := range 4 {
					b.AddSeries(labels("c", "w", fmt.Sprint(w), "j", fmt.Sprint(j)), series.TypeInt)
					b.AppendInt(int64(k)*int64(time.Minute)*7, int64(k))
				}
				if _, err := db.Append(ctx, &b); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	go func() {
		it := &Iterator{}
		for {
			select {
			case <-done:
				errc <- nil
				return
			default:
			}
			q, err := db.Querier(math.MinInt64, math.MaxInt64)
			if err != nil {
				errc <- err
				return
			}
			set := q.SelectSorted(allIDs(db), SelectHints{Iterator: it})
			for set.Next() {
				_, it := set.At()
				prev := int64(math.MinInt64)
				for it.Next() {
					ts, _ := it.At()
					if ts <= prev {
						errc <- fmt.Errorf("timestamps not ascending: %d after %d", ts, prev)
						return
					}
					prev = ts
				}
			}
			if err := set.Err(); err != nil {
				errc <- err
				return
			}
			q.Close()
			_ = db.Flush(ctx)
		}
	}()
	for range writers {
		must(t, <-errc)
	}
	close(done)
	must(t, <-errc)
	must(t, db.Compact(ctx))
	for w := range writers {
		for j := range 4 {
			got := readAll(db, labels("c", "w", fmt.Sprint(w), "j", fmt.Sprint(j)))
			if len(got) != perWriter {
				t.Fatalf("series w=%d j=%d: %d samples, want %d", w, j, len(got), perWriter)
			}
		}
	}
	st := db.Stats()
	t.Logf("flushes %d, compactions %d, segments %d, partitions %d", st.Flushes, st.Compactions, st.Segments, st.Partitions)
	must(t, db.Close())
}

// TestFlushEncoderChoice checks that only small flushes use the fast
// encoder: with large ones a past partition may keep its one flushed
// segment for good, so it gets the full search.
func TestFlushEncoderChoice(t *testing.T) {
	for _, c := range []struct {
		flush int64
		fast  bool
	}{{0, false}, {256 << 20, false}, {fastFlushBelow, false}, {20 << 20, true}} {
		db := mustOpen(t, t.TempDir(), Options{MemtableFlushBytes: c.flush})
		if db.flushEnc.Fast != c.fast {
			t.Errorf("MemtableFlushBytes %d: fast flush encoder %v, want %v", c.flush, db.flushEnc.Fast, c.fast)
		}
		must(t, db.Close())
	}
}
