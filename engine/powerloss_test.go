package engine

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

var crashPoints = flag.String("crash.points", "",
	`TestPowerLossAtEverySyncPoint and TestIOErrorsThenPowerLoss: "" runs the short versions (CI), "all" the long ones; the environment variable LDB_CRASH_POINTS=all does the same`)

// longCrashTest reports whether the long versions of the power-cut tests
// run (-crash.points=all or LDB_CRASH_POINTS=all).
func longCrashTest() bool {
	return *crashPoints == "all" || os.Getenv("LDB_CRASH_POINTS") == "all"
}

// plWorkload is a deterministic workload for the power-cut test.
type plWorkload struct {
	steps  int // appends; flushes, compactions, retention and reopens come between them
	series int // series per append (one more joins every fifth step)
	per    int // samples per series per append
	bulk   int // samples of series plBulk every 11th step: the WAL passes its segment size and rotates
}

const (
	plDir       = "/db"
	plPart      = int64(time.Hour)
	plStep      = int64(10 * time.Minute) // the clock and the timestamps advance this much per step
	plRetention = 3 * time.Hour
)

// plKey is one sample: series number and timestamp.
type plKey struct {
	s int
	t int64
}

// plBulk is the series number of the bulk series.
const plBulk = 1000

// plValue is the value of a sample; the bulk series' values do not
// compress, so its WAL records are large.
func plValue(k plKey) float64 {
	if k.s != plBulk {
		return float64(k.s*1_000_003) + float64(k.t/int64(time.Second))
	}
	x := uint64(k.t) * 0x9e3779b97f4a7c15
	x ^= x >> 31
	x *= 0xbf58476d1ce4e5b9
	return float64(x>>11) / (1 << 53)
}

func plLabels(s int) series.Labels { return labels("pl", "s", fmt.Sprint(s)) }

// plRun is one run of the workload on a fresh crashFS. With cutAt > 0 the
// power goes off just before the cutAt-th sync point: clone is the disk as
// the machine would find it.
type plRun struct {
	w     plWorkload
	fs    *crashFS
	cutAt int
	ref   []string // the sync points of the run without a cut, to check determinism
	efs   *errorFS // injects errors; nil for none. With it, errors are expected and tolerated
	errs  int      // errors the workload saw (with efs)
	opens int      // opens that failed under injected errors and were retried
	// visible and visibleParts are the expired samples and tag index
	// partitions the DB still showed at the end (with efs only).
	visible      map[plKey]bool
	visibleParts map[int64]bool
	trace        func(format string, args ...any) // logs each step, when set

	mu      sync.Mutex // mu protects the fields below
	now     int64
	syncs   []string
	clone   *crashFS
	diverge string
	acked   map[plKey]bool
	// started is the cutoff of the latest retention run that began,
	// done that of the latest that returned: samples of partitions
	// ending before started may be gone, before done must be.
	started, done int64
	nSeries       int
	// delStarted are the deletions begun, delDone those that returned
	// nil: samples in a begun one may be gone, in a done one must be.
	delStarted, delDone []plDelete
}

// plDelete is one deletion of the workload: series s over [minT, maxT]
// (what the checker requires gone: the samples written before it).
type plDelete struct {
	s          int
	minT, maxT int64
}

func (d plDelete) covers(k plKey) bool { return k.s == d.s && k.t >= d.minT && k.t <= d.maxT }

func plCovered(ds []plDelete, k plKey) bool {
	for _, d := range ds {
		if d.covers(k) {
			return true
		}
	}
	return false
}

// plDeleteStep deletes, every fifth step, the samples of one series over
// the two steps before the last (so in segments and in the memtable); the
// workload never writes those timestamps again. It reports the error.
//
// Every eleventh step (between two bulk writes) it deletes the bulk series
// over all time instead: once flushes and compactions have removed its
// samples it is forgotten, and the next bulk write creates it again with a
// new ID, whose samples must all be there and the old ones must not.
func (r *plRun) plDeleteStep(ctx context.Context, db *DB, step int, t0 int64) error {
	var d plDelete
	minT, maxT := int64(0), int64(0)
	switch {
	case step%11 == 5 && step > 11:
		d = plDelete{s: plBulk, minT: math.MinInt64, maxT: t0 - 1} // every bulk sample so far is before t0
		minT, maxT = math.MinInt64, math.MaxInt64
	case step%5 == 2 && step >= 3:
		d = plDelete{s: step % r.nSeries, minT: t0 - 3*plStep, maxT: t0 - plStep - 1}
		minT, maxT = d.minT, d.maxT
	default:
		return nil
	}
	id, ok := db.Lookup(plLabels(d.s))
	if !ok {
		return nil
	}
	r.mu.Lock()
	r.delStarted = append(r.delStarted, d)
	r.mu.Unlock()
	err := db.Delete(ctx, roaring.BitmapOf(uint32(id)), minT, maxT)
	if err == nil {
		r.mu.Lock()
		r.delDone = append(r.delDone, d)
		r.mu.Unlock()
	}
	return err
}

func (r *plRun) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Unix(0, r.now)
}

func (r *plRun) beforeSync(n int, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs = append(r.syncs, path)
	if r.ref != nil && r.diverge == "" && (n > len(r.ref) || r.ref[n-1] != path) {
		r.diverge = fmt.Sprintf("sync point %d is %s, was %s without a cut", n, path, r.refAt(n))
	}
	if n == r.cutAt {
		r.clone = r.fs.CrashClone()
		r.fs.kill() // syncPoint sees it after the hook: this sync fails, and all after it
	}
}

func (r *plRun) refAt(n int) string {
	if n > len(r.ref) {
		return "past the end"
	}
	return r.ref[n-1]
}

// mayDrop is the cutoff below which a sample may be gone: a retention run
// that began, or a flush (which skips expired partitions) on the clock at
// the cut. r.mu is held.
func (r *plRun) mayDrop() int64 {
	return max(r.started, r.now-int64(plRetention))
}

func (r *plRun) cut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clone != nil
}

func plOptions(fs FS, now func() time.Time, retention time.Duration) Options {
	return Options{FS: plFS(fs), Now: now, PartitionDuration: plPart, Retention: retention,
		DisableCompaction: true, MemtableFlushBytes: 1 << 30, MemtableFlushInterval: 1000 * time.Hour,
		MaintenanceInterval: 1000 * time.Hour, WALSegmentSize: 64 << 10, BlockSamples: 512,
		Logger: plLogger}
}

// plLogger receives the engine's logs in the power-cut tests; a debugging
// aid.
var plLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// run executes the workload until its end or the power cut. Without efs,
// an error before the cut fails the test: the workload itself must work.
// With efs, errors are counted and the workload goes on: a failed append is
// not acknowledged, a sticky WAL failure reopens the DB.
func (r *plRun) run(t *testing.T) {
	if r.fs == nil {
		r.fs = newCrashFS()
	}
	r.fs.beforeSync = r.beforeSync
	r.acked = map[plKey]bool{}
	r.started, r.done = -1<<63, -1<<63
	r.nSeries = r.w.series
	ctx := context.Background()
	opts := plOptions(r.fs, r.clock, plRetention)
	if r.efs != nil {
		opts.FS = plFS(r.efs)
	}
	fail := func(what string, err error) bool {
		if err == nil {
			return false
		}
		if r.efs != nil {
			r.errs++
			return false
		}
		if !r.cut() {
			t.Fatalf("%s before the power cut: %v", what, err)
		}
		return true
	}
	open := func() (*DB, error) {
		db, err := Open(plDir, opts)
		// Injected errors may fail an open (strict recovery stops on a
		// listed segment it cannot map); the next try draws others.
		for i := 0; err != nil && r.efs != nil && !r.cut() && i < 19; i++ {
			r.opens++
			db, err = Open(plDir, opts)
		}
		if err != nil && r.efs != nil && !r.cut() {
			t.Fatalf("open after injected I/O errors, 20 tries: %v (%s)", err, r.efs.describe())
		}
		return db, err
	}
	db, err := open()
	if fail("open", err) {
		return
	}
	defer func() {
		if db != nil {
			_ = db.Close()
		}
	}()
	for step := range r.w.steps {
		if r.cut() || db == nil {
			return
		}
		t0 := int64(step) * plStep
		r.mu.Lock()
		r.now = t0 + plStep
		if step%5 == 4 {
			r.nSeries++
		}
		r.mu.Unlock()
		var b series.Batch
		var keys []plKey
		for s := range r.nSeries {
			b.AddSeries(plLabels(s), series.TypeFloat)
			for j := range r.w.per {
				k := plKey{s, t0 + int64(j)*plStep/int64(r.w.per)}
				b.AppendFloat(k.t, plValue(k))
				keys = append(keys, k)
			}
		}
		if step%11 == 10 {
			b.AddSeries(plLabels(plBulk), series.TypeFloat)
			for j := range r.w.bulk {
				k := plKey{plBulk, t0 + int64(j)*int64(time.Millisecond)}
				b.AppendFloat(k.t, plValue(k))
				keys = append(keys, k)
			}
		}
		res, err := db.Append(ctx, &b)
		if r.trace != nil {
			r.trace("step %d: append %d samples: %v", step, len(keys), err)
		}
		if fail("append", err) {
			return
		}
		if err != nil { // tolerated: not acknowledged
			if errors.Is(err, ErrWALFailed) {
				_ = db.Close()
				db, _ = open()
			}
			continue
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("step %d: %v rejected", step, res.Rejected)
		}
		r.mu.Lock()
		for _, k := range keys {
			r.acked[k] = true
		}
		r.mu.Unlock()
		err = r.plDeleteStep(ctx, db, step, t0)
		if r.trace != nil {
			r.trace("step %d: delete: %v", step, err)
		}
		if fail(fmt.Sprintf("step %d: delete", step), err) {
			return
		}
		switch {
		case step%4 == 3:
			err = db.Flush(ctx)
		case step%9 == 8:
			err = db.Compact(ctx)
		case step%7 == 6:
			cutoff := r.clock().UnixNano() - int64(plRetention)
			r.mu.Lock()
			r.started = cutoff
			r.mu.Unlock()
			if err = db.ApplyRetention(ctx); err == nil {
				r.mu.Lock()
				r.done = cutoff
				r.mu.Unlock()
			}
		case step%13 == 12:
			err = db.Close()
			db = nil
			if !fail("close", err) {
				db, err = open()
			}
		}
		if r.trace != nil {
			r.trace("step %d: maintenance: %v", step, err)
		}
		if fail(fmt.Sprintf("step %d", step), err) {
			return
		}
	}
	if r.efs != nil && db != nil && !r.cut() {
		r.noteVisibleExpired(db)
	}
}

// mayShowExpired reports whether the expired tag index partition part (or
// sample k, when part is -1) may be visible after the cut: it was visible
// at the end of a run with errors, or the run with errors was cut before
// its end (what it showed then is unknown).
func (r *plRun) mayShowExpired(part int64, k plKey) bool {
	switch {
	case r.efs == nil:
		return false
	case r.visible == nil:
		return true
	case part != -1:
		return r.visibleParts[part]
	}
	return r.visible[k]
}

// noteVisibleExpired records the samples and tag index partitions of
// expired partitions that db still shows: retention drops segments, not
// the memtable, so after flushes have failed for longer than the retention
// the WAL and the memtable still hold expired samples, and queries see
// them until a flush succeeds. They have not come back after the cut:
// they were never gone.
func (r *plRun) noteVisibleExpired(db *DB) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.visible = map[plKey]bool{}
	r.visibleParts = map[int64]bool{}
	for _, p := range db.Index().Partitions() {
		r.visibleParts[p.MinT()] = true
	}
	for _, s := range append(seq(r.nSeries), plBulk) {
		id, ok := db.Lookup(plLabels(s))
		if !ok {
			continue
		}
		it := db.Select(id, -1<<63, 1<<63-1, nil)
		for it.Next() {
			ts, _ := it.At()
			r.visible[plKey{s, ts}] = true
		}
	}
}

// expired reports whether the partition of t ends before cutoff.
func plExpired(t, cutoff int64) bool {
	return partitionEnd(partitionStartOf(t, plPart), plPart) < cutoff
}

// checkOptions are the options of a reopen after the cut: no retention,
// so what is on disk is what a query sees.
func (r *plRun) checkOptions(fs FS) Options {
	now := r.now
	opts := plOptions(fs, func() time.Time { return time.Unix(0, now) }, 0)
	opts.noFlushOnClose = true
	return opts
}

// cutDuringRecovery reopens a copy of disk and cuts the power again just
// before the j-th sync point of the recovery (or of the Close after it, if
// recovery has fewer): the disk a second reopen finds.
func (r *plRun) cutDuringRecovery(disk *crashFS, j int) *crashFS {
	r.mu.Lock()
	opts := r.checkOptions(nil)
	r.mu.Unlock()
	c := disk.CrashClone()
	var mu sync.Mutex
	var second *crashFS
	c.beforeSync = func(n int, _ string) {
		if n == j {
			mu.Lock()
			second = c.CrashClone()
			mu.Unlock()
			c.kill()
		}
	}
	opts.FS = plFS(c)
	if db, err := Open(plDir, opts); err == nil {
		_ = db.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if second == nil {
		second = c.CrashClone()
	}
	return second
}

// check opens the engine on disk and returns what is wrong: an
// acknowledged sample missing or changed, a sample of a partition
// retention had dropped or that a deletion had deleted, a series the tag
// index does not find.
func (r *plRun) check(disk *crashFS) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	db, err := Open(plDir, r.checkOptions(disk))
	if err != nil {
		return []string{fmt.Sprintf("reopen failed: %v", err)}
	}
	defer db.Close()
	var bad []string
	for _, p := range db.Index().Partitions() {
		if partitionEnd(p.MinT(), plPart) < r.done && !r.mayShowExpired(p.MinT(), plKey{}) {
			bad = append(bad, fmt.Sprintf("tag index partition %d: expired by retention before the cut, back after it", p.MinT()))
		}
	}
	found := map[plKey]bool{}
	for _, s := range append(seq(r.nSeries), plBulk) {
		id, ok := db.Lookup(plLabels(s))
		if !ok {
			continue
		}
		it := db.Select(id, -1<<63, 1<<63-1, nil)
		parts := map[int64]bool{}
		for it.Next() {
			ts, v := it.AtFloat()
			k := plKey{s, ts}
			found[k] = true
			parts[partitionStartOf(ts, plPart)] = true
			switch {
			case plExpired(ts, r.done) && !r.mayShowExpired(-1, k):
				bad = append(bad, fmt.Sprintf("series %d t=%d: expired by retention before the cut, back after it", s, ts))
			case plCovered(r.delDone, k):
				bad = append(bad, fmt.Sprintf("series %d t=%d: deleted before the cut, back after it", s, ts))
			case !r.acked[k]:
			case v != plValue(k):
				bad = append(bad, fmt.Sprintf("series %d t=%d: value %v, want %v", s, ts, v, plValue(k)))
			}
		}
		bad = append(bad, plCheckIndexed(db, s, id, parts)...)
	}
	for k := range r.acked {
		if !found[k] && !plExpired(k.t, r.mayDrop()) && !plCovered(r.delStarted, k) {
			bad = append(bad, fmt.Sprintf("series %d t=%d: acknowledged, lost", k.s, k.t))
		}
	}
	return bad
}

// TestPowerLossAtEverySyncPoint runs a workload of appends (each
// acknowledged one recorded), deletions, flushes, compactions, retention and reopens
// on a crashFS, counts its sync points, then for each sync point k reruns
// it, cuts the power just before the k-th sync (CrashClone: only synced
// data and synced directory entries survive), reopens the engine on what
// survived and checks that every acknowledged sample is there and that
// nothing retention had dropped or a deletion had deleted came back; then it cuts the power once
// more during the recovery (at its (1+k%7)-th sync point) and checks the
// same after a second reopen. The last point is the end of the workload
// without a Close.
func TestPowerLossAtEverySyncPoint(t *testing.T) { testPowerLossAtEverySyncPoint(t) }

// TestPowerLossAtEverySyncPointEncrypted runs the same with every file
// sealed (EncFS over the crash FS): a torn sealed WAL frame must be cut
// like a torn plain record, and nothing acknowledged lost.
func TestPowerLossAtEverySyncPointEncrypted(t *testing.T) {
	withPLEncryption(t)
	testPowerLossAtEverySyncPoint(t)
	r := &plRun{w: plWorkload{steps: 10, series: 3, per: 2, bulk: 9000}}
	r.run(t)
	if n := checkAllSealed(t, r.fs.root, "/"); n < 5 {
		t.Fatalf("only %d sealed files", n)
	}
}

// checkAllSealed fails unless every non-empty file under n is sealed, and
// returns how many there are.
func checkAllSealed(t *testing.T, n *memNode, path string) int {
	count := 0
	for name, c := range n.children {
		p := path + name
		switch {
		case c.dir:
			count += checkAllSealed(t, c, p+"/")
		case len(c.data) > 0 && !encrypt.IsSealed(c.data):
			t.Errorf("%s (%d bytes) is not sealed: %q", p, len(c.data), c.data[:min(16, len(c.data))])
		case len(c.data) > 0:
			count++
		}
	}
	return count
}

func testPowerLossAtEverySyncPoint(t *testing.T) {
	w := plWorkload{steps: 40, series: 3, per: 2, bulk: 9000}
	if longCrashTest() {
		w = plWorkload{steps: 400, series: 6, per: 4, bulk: 9000}
	} else if testing.Short() {
		w.steps = 20
	}
	ref := &plRun{w: w}
	ref.run(t)
	n := len(ref.syncs)
	t.Logf("workload: %d steps, %d sync points", w.steps, n)
	lost, failed := 0, 0
	var first []string
	for k := 1; k <= n+1; k++ {
		r := &plRun{w: w, cutAt: k, ref: ref.syncs}
		r.run(t)
		if r.clone == nil { // k == n+1: the end of the workload
			r.clone = r.fs.CrashClone()
		}
		if r.diverge != "" {
			t.Fatalf("the workload is not deterministic: %s", r.diverge)
		}
		bad := r.check(r.clone.CrashClone())
		if len(bad) == 0 {
			j := 1 + k%7
			for _, b := range r.check(r.cutDuringRecovery(r.clone, j)) {
				bad = append(bad, fmt.Sprintf("after a second cut at sync point %d of the recovery: %s", j, b))
			}
		}
		if len(bad) > 0 {
			failed++
			if strings.HasPrefix(bad[0], "reopen failed") {
				lost++
			}
			if len(first) < 10 {
				where := "the end"
				if k <= n {
					where = ref.syncs[k-1]
				}
				first = append(first, fmt.Sprintf("cut before sync point %d (%s): %d problems, first: %s", k, where, len(bad), bad[0]))
			}
		}
	}
	t.Logf("%d crash points: %d passed, %d failed (%d did not reopen)", n+1, n+1-failed, failed, lost)
	for _, f := range first {
		t.Error(f)
	}
}

// plCheckIndexed checks that the tag index finds series s (ID id) by its
// labels in every partition it has samples in.
func plCheckIndexed(db *DB, s int, id series.ID, parts map[int64]bool) []string {
	var ms []*tagindex.Matcher
	for _, l := range plLabels(s) {
		ms = append(ms, tagindex.MustNewMatcher(tagindex.MatchEqual, l.Name, l.Value))
	}
	var bad []string
	for p := range parts {
		ids, err := db.Index().Postings(p, p+plPart-1, ms...)
		if err != nil || ids.GetCardinality() != 1 || !ids.Contains(id) {
			bad = append(bad, fmt.Sprintf("series %d has samples in partition %d, the tag index finds %v (err %v)", s, p, ids, err))
		}
	}
	return bad
}

// TestNewDatabaseSurvivesPowerCut: Open created the wal, segments and
// index directories without syncing the data directory, so a power cut
// before the first manifest write lost the WAL with every acknowledged
// sample in it.
func TestNewDatabaseSurvivesPowerCut(t *testing.T) {
	c := newCrashFS()
	db := mustOpen(t, plDir, Options{FS: c})
	appendOne(t, db, labels("a"), series.TypeFloat, 1, 1)
	db = afterPowerCut(t, c, db)
	defer db.Close()
	if got := readAll(db, labels("a")); len(got) != 1 {
		t.Fatalf("acknowledged sample after a power cut: %v", got)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestIOErrorsThenPowerLoss runs the power-cut workload with I/O errors
// injected at random (seeded: a failing seed replays) into writes, syncs,
// creations, renames, removals, truncations and mappings, tolerating them
// (a failed append is not acknowledged, a failed fsync reopens the DB),
// then cuts the power at the end and checks, after a reopen without
// errors, that every acknowledged sample is there and nothing retention
// dropped came back.
func TestIOErrorsThenPowerLoss(t *testing.T) { testIOErrorsThenPowerLoss(t, 20) }

// TestIOErrorsThenPowerLossEncrypted: the same, files sealed, I/O errors
// injected below the encryption (in the ciphertext's writes).
func TestIOErrorsThenPowerLossEncrypted(t *testing.T) {
	withPLEncryption(t)
	testIOErrorsThenPowerLoss(t, 10)
}

func testIOErrorsThenPowerLoss(t *testing.T, seeds int) {
	if testing.Short() {
		seeds = min(seeds, 5)
	}
	if longCrashTest() {
		seeds = 300
	}
	if n, err := strconv.Atoi(os.Getenv("LDB_IOERR_SEEDS")); err == nil {
		seeds = n
	}
	w := plWorkload{steps: 40, series: 3, per: 2, bulk: 3000}
	total, cuts := 0, 0
	for seed := range uint64(seeds) {
		// First to the end, then again (the same errors: the same seed)
		// with a power cut at a sync point drawn from the seed.
		end := runWithErrors(t, w, seed, 0)
		total += len(end.efs.injected())
		if n := len(end.syncs); n > 0 {
			runWithErrors(t, w, seed, 1+int(seed*7919)%n)
			cuts++
		}
	}
	t.Logf("%d seeds, %d errors injected; %d power cuts at the end and %d in the middle, all checked", seeds, total, seeds, cuts)
}

// runWithErrors runs the workload with errors injected at random (seed)
// and a power cut before sync point cutAt (0: after the end), and checks
// the disk left.
func runWithErrors(t *testing.T, w plWorkload, seed uint64, cutAt int) *plRun {
	c := newCrashFS()
	r := &plRun{w: w, fs: c, efs: newErrorFS(c, seed), cutAt: cutAt}
	r.efs.inject(errorRule{ops: opWrite | opSync | opSyncDir | opCreate | opRename | opRemove | opTruncate | opMmap,
		prob: 0.02})
	r.run(t)
	r.efs.reset()
	if r.clone == nil {
		r.clone = c.CrashClone()
	}
	if bad := r.check(r.clone); len(bad) > 0 {
		inj := r.efs.injected()
		t.Errorf("seed %d, cut before sync point %d (0: at the end), %d errors injected (%v...): %d problems, first: %s",
			seed, cutAt, len(inj), inj[:min(3, len(inj))], len(bad), bad[0])
	}
	return r
}

// TestManifestDirSyncFailureKeepsWAL: when the directory fsync after the
// manifest rename failed, the flush carried on and deleted the WAL below
// the new checkpoint; a power cut then brought the old manifest back,
// without the WAL that replay needed: every sample of the flush was lost.
func TestManifestDirSyncFailureKeepsWAL(t *testing.T) {
	c := newCrashFS()
	efs := newErrorFS(c, 1)
	db := mustOpen(t, plDir, Options{FS: efs})
	appendOne(t, db, labels("a"), series.TypeFloat, 1, 1)
	// A flush syncs the data directory twice: after series.snap, then
	// after MANIFEST. Fail the second.
	efs.inject(errorRule{ops: opSyncDir, pattern: filepath.Base(plDir), skip: 1})
	_ = db.Flush(context.Background())
	efs.reset()
	if len(efs.injected()) == 0 {
		t.Fatal("no directory fsync failed")
	}
	db = afterPowerCut(t, c, db)
	defer db.Close()
	if got := readAll(db, labels("a")); len(got) != 1 {
		t.Fatalf("acknowledged sample after a failed manifest directory fsync and a power cut: %v", got)
	}
}

// afterPowerCut cuts the power under db: what c had synced when the cut
// came is all that is left; db is closed (on the old disk) and the
// directory is opened again on the disk after the cut.
func afterPowerCut(t *testing.T, c *crashFS, db *DB) *DB {
	t.Helper()
	clone := c.CrashClone()
	must(t, db.Close())
	return mustOpen(t, plDir, Options{FS: clone})
}

// TestCompactionInputsKeptUntilManifestDurable: the same for compaction:
// its inputs were deleted although the old manifest, which a power cut
// could bring back, still listed them.
func TestCompactionInputsKeptUntilManifestDurable(t *testing.T) {
	c := newCrashFS()
	efs := newErrorFS(c, 1)
	db := mustOpen(t, plDir, Options{FS: efs, DisableCompaction: true})
	for i := range int64(2) {
		appendOne(t, db, labels("a"), series.TypeFloat, i, 1)
		must(t, db.Flush(context.Background()))
	}
	efs.inject(errorRule{ops: opSyncDir, pattern: filepath.Base(plDir)})
	_ = db.Compact(context.Background())
	efs.reset()
	if len(efs.injected()) == 0 {
		t.Fatal("no directory fsync failed")
	}
	// A flush syncs the segments directory: the removal of the inputs, if
	// done, becomes durable; the manifest directory is not synced again.
	efs.inject(errorRule{ops: opSyncDir, pattern: filepath.Base(plDir)})
	appendOne(t, db, labels("b"), series.TypeFloat, 5, 1)
	_ = db.Flush(context.Background())
	efs.reset()
	db = afterPowerCut(t, c, db)
	defer db.Close()
	if got := readAll(db, labels("a")); len(got) != 2 {
		t.Fatalf("compacted samples after a failed manifest directory fsync and a power cut: %v", got)
	}
}

// TestReplayedWALSyncedBeforeNewRecords: after a failed WAL fsync, a
// reopen replayed the unsynced records from the page cache (defining their
// series), and new acknowledged records used those series without defining
// them again. A power cut then lost the unsynced definitions, and recovery
// cut the WAL at the first acknowledged record of an undefined series.
func TestReplayedWALSyncedBeforeNewRecords(t *testing.T) {
	c := newCrashFS()
	efs := newErrorFS(c, 1)
	db := mustOpen(t, plDir, Options{FS: efs, noFlushOnClose: true})
	efs.inject(errorRule{ops: opSync, pattern: "*" + walSuffix})
	var b series.Batch
	b.AddSeries(labels("a"), series.TypeFloat)
	b.AppendFloat(1, 1)
	if _, err := db.Append(context.Background(), &b); !errors.Is(err, ErrWALFailed) {
		t.Fatalf("append with a failing fsync: %v", err)
	}
	efs.reset()
	_ = db.Close()
	db = mustOpen(t, plDir, Options{FS: efs, noFlushOnClose: true})
	appendOne(t, db, labels("a"), series.TypeFloat, 2, 2) // acknowledged
	db = afterPowerCut(t, c, db)
	defer db.Close()
	if got := readAll(db, labels("a")); !slices.Contains(got, "2=float:2") {
		t.Fatalf("acknowledged sample after a power cut: %v", got)
	}
}

// plEncrypt, when set, seals every file of the power-cut workloads
// (plFS): the encrypted variants of the tests set it for their run.
var plEncrypt *encrypt.Keyring

func plFS(fs FS) FS {
	if plEncrypt != nil {
		return NewEncFS(fs, plEncrypt)
	}
	return fs
}

func withPLEncryption(t *testing.T) {
	k, err := encrypt.NewKeyring("test", bytes.Repeat([]byte{7}, encrypt.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	plEncrypt = k
	t.Cleanup(func() { plEncrypt = nil })
}
