package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/internal/encrypt"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// The rollup power-cut workload: a raw engine, a 10m tier engine and the
// downsample builder over them on one crashFS, with appends, flushes,
// builds, deletions (the server's order: the builder paused, the tier's
// records first, then the raw samples), compactions and reopens.
const (
	rlDir      = "/db"
	rlRollup   = "/db/rollup"
	rlTierDir  = "/db/rollup/10m"
	rlFresh    = "/fresh"
	rlStep     = int64(10 * time.Minute) // the clock and the timestamps advance this much per step
	rlInterval = 10 * time.Minute
	rlSeries   = 3
	rlPer      = 4 // samples per series and step
)

// rlKey is one raw sample: series number and timestamp (ns).
type rlKey struct {
	s int
	t int64
}

// rlValue is a sample's value: series 0 is a counter with resets, the
// others gauges with non-integer values.
func rlValue(k rlKey) float64 {
	n := k.t / (rlStep / rlPer)
	if k.s == 0 {
		return float64(n%7) * 1.5
	}
	return float64(k.s)/10 + float64(n%13)/3
}

func rlLabels(s int) series.Labels {
	return series.FromStrings("__name__", "rl", "job", "rl", "s", fmt.Sprint(s))
}

// rlDelete is a deletion of series s over [minT, maxT] (ns) in the raw
// engine and of the records of the intervals holding those samples in the
// tier (downsample.RecordsHolding).
type rlDelete struct {
	s          int
	minT, maxT int64
}

func (d rlDelete) covers(k rlKey) bool { return k.s == d.s && k.t >= d.minT && k.t <= d.maxT }

func (d rlDelete) coversRecord(s int, t int64) bool {
	lo, hi := downsample.RecordsHolding(d.minT, d.maxT, rlInterval)
	return s == d.s && t >= lo && t <= hi
}

// rlEngines is what the server runs: the raw engine, the tier, the
// builder.
type rlEngines struct {
	raw, tier *engine.DB
	b         *downsample.Builder
}

var rlLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func rlOptions(fs engine.FS, now func() time.Time) engine.Options {
	return engine.Options{FS: rlFS(fs), Now: now, PartitionDuration: int64(time.Hour), DisableCompaction: true,
		MemtableFlushBytes: 1 << 30, MemtableFlushInterval: 1000 * time.Hour, MaintenanceInterval: 1000 * time.Hour,
		WALSegmentSize: 64 << 10, BlockSamples: 16, Logger: rlLogger}
}

func rlRules(t testing.TB) *downsample.Rules {
	rules, err := downsample.Config{Rules: []downsample.RuleConfig{{Match: `{job="rl"}`,
		Tiers: []downsample.TierConfig{{After: "20m", Interval: "10m"}}}}}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// rlOpenTier opens a tier engine in dir and a builder over raw writing
// it, its state in stateDir.
func rlOpenTier(t testing.TB, fs engine.FS, now func() time.Time, raw *engine.DB, dir, stateDir string) (*engine.DB, *downsample.Builder, error) {
	tier, err := engine.Open(dir, rlOptions(fs, now))
	if err != nil {
		return nil, nil, fmt.Errorf("open the tier: %w", err)
	}
	b, err := downsample.NewBuilder(rlRules(t), query.RollupSource(raw),
		map[time.Duration]downsample.Appender{rlInterval: tier},
		downsample.BuilderOptions{Dir: stateDir, FS: rlFS(fs), Now: now, Chunk: 30 * time.Minute, BatchSamples: 40, Logger: rlLogger})
	if err != nil {
		_ = tier.Close()
		return nil, nil, err
	}
	return tier, b, nil
}

func rlOpen(t testing.TB, fs engine.FS, now func() time.Time) (*rlEngines, error) {
	raw, err := engine.Open(rlDir, rlOptions(fs, now))
	if err != nil {
		return nil, fmt.Errorf("open the raw engine: %w", err)
	}
	tier, b, err := rlOpenTier(t, fs, now, raw, rlTierDir, rlRollup)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return &rlEngines{raw: raw, tier: tier, b: b}, nil
}

func (e *rlEngines) close() error {
	err := e.tier.Close()
	if rerr := e.raw.Close(); err == nil {
		err = rerr
	}
	return err
}

// rlRun is one run of the workload on a fresh crashFS, the power cut
// just before sync point cutAt (0: never).
type rlRun struct {
	steps int
	cutAt int
	ref   []string // the sync points without a cut, to check determinism
	fs    *engine.CrashFS

	mu      sync.Mutex // protects the fields below
	now     int64
	syncs   []string
	clone   *engine.CrashFS
	diverge string
	acked   map[rlKey]bool
	builds  int // builds that advanced the tier
	// delStarted are the deletions begun, delDone those that returned.
	delStarted, delDone []rlDelete
}

func (r *rlRun) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return time.Unix(0, r.now)
}

func (r *rlRun) beforeSync(n int, path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.syncs = append(r.syncs, path)
	if r.ref != nil && r.diverge == "" && (n > len(r.ref) || r.ref[n-1] != path) {
		r.diverge = fmt.Sprintf("sync point %d is %s without the cut", n, path)
	}
	if n == r.cutAt {
		r.clone = r.fs.CrashClone()
		r.fs.Kill()
	}
}

func (r *rlRun) cut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clone != nil
}

// run executes the workload until its end or the cut; an error before
// the cut fails the test.
func (r *rlRun) run(t *testing.T) {
	ctx := context.Background()
	r.fs = engine.NewCrashFS()
	r.fs.SetBeforeSync(r.beforeSync)
	r.acked = map[rlKey]bool{}
	failed := func(what string, err error) bool {
		if err != nil && !r.cut() {
			t.Fatalf("%s before the power cut: %v", what, err)
		}
		return err != nil
	}
	e, err := rlOpen(t, r.fs, r.clock)
	if failed("open", err) {
		return
	}
	defer func() {
		if e != nil {
			_ = e.close()
		}
	}()
	for step := range r.steps {
		t0 := int64(step) * rlStep
		r.mu.Lock()
		r.now = t0 + rlStep
		r.mu.Unlock()
		if failed(fmt.Sprintf("step %d: append", step), r.appendStep(ctx, e.raw, t0)) ||
			failed(fmt.Sprintf("step %d: delete", step), r.deleteStep(ctx, e, step, t0)) {
			return
		}
		if step%2 == 1 {
			err = e.raw.Flush(ctx)
		}
		if err == nil {
			before := e.b.BuiltThrough(rlInterval)
			if _, err = e.b.Build(ctx); err == nil && e.b.BuiltThrough(rlInterval) > before {
				r.builds++
			}
		}
		switch {
		case err != nil:
		case step%9 == 8:
			if err = e.raw.Compact(ctx); err == nil {
				err = e.tier.Compact(ctx)
			}
		case step%13 == 12:
			err = e.close()
			e = nil
			if err == nil {
				e, err = rlOpen(t, r.fs, r.clock)
			}
		}
		if failed(fmt.Sprintf("step %d", step), err) {
			return
		}
	}
}

func (r *rlRun) appendStep(ctx context.Context, raw *engine.DB, t0 int64) error {
	var b series.Batch
	var keys []rlKey
	for s := range rlSeries {
		b.AddSeries(rlLabels(s), series.TypeFloat)
		for j := range int64(rlPer) {
			k := rlKey{s, t0 + j*rlStep/rlPer + int64(s)*int64(time.Millisecond)}
			b.AppendFloat(k.t, rlValue(k))
			keys = append(keys, k)
		}
	}
	if _, err := raw.Append(ctx, &b); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.acked[k] = true
	}
	return nil
}

// deleteStep deletes, every fifth step, one series over the two steps
// before the last (built or not yet), and every seventh the samples of a
// step long built, cutting through its intervals; the workload never
// writes those timestamps again.
func (r *rlRun) deleteStep(ctx context.Context, e *rlEngines, step int, t0 int64) error {
	var d rlDelete
	switch {
	case step%5 == 2 && step >= 3:
		d = rlDelete{s: step % rlSeries, minT: t0 - 3*rlStep, maxT: t0 - rlStep - 1}
	case step%7 == 4 && step >= 8:
		d = rlDelete{s: (step + 1) % rlSeries, minT: t0 - 7*rlStep + rlStep/3, maxT: t0 - 6*rlStep + rlStep/3}
	default:
		return nil
	}
	r.mu.Lock()
	r.delStarted = append(r.delStarted, d)
	r.mu.Unlock()
	resume := e.b.Pause()
	defer resume()
	var ms []*tagindex.Matcher
	for _, l := range rlLabels(d.s) {
		ms = append(ms, tagindex.MustNewMatcher(tagindex.MatchEqual, l.Name, l.Value))
	}
	lo, hi := downsample.RecordsHolding(d.minT, d.maxT, rlInterval)
	ids, err := e.tier.Index().Postings(lo, hi, ms...)
	if err == nil {
		err = e.tier.Delete(ctx, ids, lo, hi)
	}
	if err != nil {
		return fmt.Errorf("delete from the tier: %w", err)
	}
	if id, ok := e.raw.Lookup(rlLabels(d.s)); ok {
		if err := e.raw.Delete(ctx, roaring.BitmapOf(uint32(id)), d.minT, d.maxT); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.delDone = append(r.delDone, d)
	r.mu.Unlock()
	return nil
}

// rlRecord is one sample of a tier: field series and timestamp.
type rlRecord struct {
	series string
	t      int64
}

// rlDump returns every sample of a tier engine.
func rlDump(db *engine.DB) (map[rlRecord]uint64, error) {
	ids, err := db.Index().Postings(-1<<63, 1<<63-1)
	if err != nil {
		return nil, err
	}
	out := map[rlRecord]uint64{}
	var it *engine.Iterator
	for i := ids.Iterator(); i.HasNext(); {
		id := series.ID(i.Next())
		canon := string(db.Registry().Labels(id))
		it = db.Select(id, -1<<63, 1<<63-1, it)
		for it.Next() {
			t, v := it.At()
			out[rlRecord{canon, t}] = v
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rawSeriesOf returns the raw series number of a tier sample.
func rawSeriesOf(canon string) int {
	raw, _, ok := downsample.RawSeries(nil, []byte(canon))
	if !ok {
		return -1
	}
	ls, err := series.UnmarshalLabels(nil, raw)
	if err != nil {
		return -1
	}
	var s int
	if _, err := fmt.Sscan(ls.Get("s"), &s); err != nil {
		return -1
	}
	return s
}

// check opens the engines on disk at the clock of the cut and returns
// what is wrong: an acknowledged raw sample lost, a deleted one back, a
// tier record that is not what the surviving raw data gives (built from
// deleted data), and, once the build has resumed, a tier that differs
// from one built from scratch without interruption over the same raw
// data (only the records of intervals a deletion cut through, which a
// deletion removes and the builder does not rebuild, may be missing).
func (r *rlRun) check(t *testing.T, disk *engine.CrashFS) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx := context.Background()
	now := r.now
	clock := func() time.Time { return time.Unix(0, now) }
	e, err := rlOpen(t, disk, clock)
	if err != nil {
		return []string{fmt.Sprintf("reopen failed: %v", err)}
	}
	defer e.close()
	bad := r.checkRaw(e.raw)
	if err := e.raw.Flush(ctx); err != nil { // the builder reads sealed data only
		return append(bad, fmt.Sprintf("flush after the reopen: %v", err))
	}
	fresh, fb, err := rlOpenTier(t, disk, clock, e.raw, rlFresh+"/10m", rlFresh)
	if err != nil {
		return append(bad, fmt.Sprintf("open a fresh tier: %v", err))
	}
	defer fresh.Close()
	if _, err := fb.Build(ctx); err != nil {
		return append(bad, fmt.Sprintf("build a fresh tier: %v", err))
	}
	want, err := rlDump(fresh)
	if err != nil {
		return append(bad, err.Error())
	}
	got, err := rlDump(e.tier)
	if err != nil {
		return append(bad, err.Error())
	}
	for k, v := range got {
		if w, ok := want[k]; !ok || w != v {
			bad = append(bad, fmt.Sprintf("after the cut, record %s t=%d is %x, the surviving raw data gives %x (present: %v)", k.series, k.t, v, w, ok))
		}
	}
	if _, err := e.b.Build(ctx); err != nil {
		return append(bad, fmt.Sprintf("resumed build: %v", err))
	}
	if g, w := e.b.BuiltThrough(rlInterval), fb.BuiltThrough(rlInterval); g != w {
		bad = append(bad, fmt.Sprintf("resumed build through %d ms, a fresh one through %d", g, w))
	}
	if got, err = rlDump(e.tier); err != nil {
		return append(bad, err.Error())
	}
	for k, w := range want {
		v, ok := got[k]
		switch {
		case !ok && !r.deletedRecord(k):
			bad = append(bad, fmt.Sprintf("resumed build: record %s t=%d missing", k.series, k.t))
		case ok && v != w:
			bad = append(bad, fmt.Sprintf("resumed build: record %s t=%d is %x, an uninterrupted build %x", k.series, k.t, v, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, fmt.Sprintf("resumed build: record %s t=%d, which an uninterrupted build does not have", k.series, k.t))
		}
	}
	return bad
}

// deletedRecord reports whether a deletion begun before the cut may have
// removed tier record k. r.mu is held.
func (r *rlRun) deletedRecord(k rlRecord) bool {
	s := rawSeriesOf(k.series)
	for _, d := range r.delStarted {
		if d.coversRecord(s, k.t) {
			return true
		}
	}
	return false
}

// checkRaw returns the acknowledged raw samples lost or changed and the
// deleted ones back. r.mu is held.
func (r *rlRun) checkRaw(raw *engine.DB) []string {
	var bad []string
	found := map[rlKey]bool{}
	for s := range rlSeries {
		id, ok := raw.Lookup(rlLabels(s))
		if !ok {
			continue
		}
		it := raw.Select(id, -1<<63, 1<<63-1, nil)
		for it.Next() {
			ts, v := it.AtFloat()
			k := rlKey{s, ts}
			found[k] = true
			switch {
			case rlCovered(r.delDone, k):
				bad = append(bad, fmt.Sprintf("raw series %d t=%d: deleted before the cut, back after it", s, ts))
			case r.acked[k] && v != rlValue(k):
				bad = append(bad, fmt.Sprintf("raw series %d t=%d: value %v, want %v", s, ts, v, rlValue(k)))
			}
		}
	}
	for k := range r.acked {
		if !found[k] && !rlCovered(r.delStarted, k) {
			bad = append(bad, fmt.Sprintf("raw series %d t=%d: acknowledged, lost", k.s, k.t))
		}
	}
	return bad
}

func rlCovered(ds []rlDelete, k rlKey) bool {
	for _, d := range ds {
		if d.covers(k) {
			return true
		}
	}
	return false
}

// TestRollupPowerLossAtEverySyncPoint runs the rollup workload (appends,
// flushes, rollup builds resumed from their state file, deletions from
// the tier and the raw data, compactions, reopens) on a crashFS, then for
// each of its sync points reruns it with the power cut just before it,
// and checks on what survived: no acknowledged raw sample lost, nothing
// deleted back, no tier record built from deleted data, and a build
// resumed after the cut ends with the same tier as one built from
// scratch without a cut.
func TestRollupPowerLossAtEverySyncPoint(t *testing.T) { testRollupPowerLoss(t, 30) }

// TestRollupPowerLossAtEverySyncPointEncrypted: the same with every file
// sealed (engine.EncFS over the crash FS), the builder's state file too.
func TestRollupPowerLossAtEverySyncPointEncrypted(t *testing.T) {
	k, err := encrypt.NewKeyring("test", bytes.Repeat([]byte{9}, encrypt.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	rlKeys = k
	defer func() { rlKeys = nil }()
	testRollupPowerLoss(t, 16)
	r := &rlRun{steps: 6}
	r.run(t)
	for _, name := range []string{rlDir + "/MANIFEST", rlTierDir + "/MANIFEST", rlRollup + "/rollup.state"} {
		if b, err := r.fs.ReadFile(name); err != nil || !encrypt.IsSealed(b) {
			t.Errorf("%s: sealed %v, err %v", name, err == nil && encrypt.IsSealed(b), err)
		}
	}
}

// rlKeys, when set, seals every file of the rollup power-cut workload.
var rlKeys *encrypt.Keyring

func rlFS(fs engine.FS) engine.FS {
	if rlKeys != nil {
		return engine.NewEncFS(fs, rlKeys)
	}
	return fs
}

func testRollupPowerLoss(t *testing.T, steps int) {
	if testing.Short() || engine.RaceEnabled { // the race detector makes it ten times slower
		steps = 16
	}
	ref := &rlRun{steps: steps}
	ref.run(t)
	n := len(ref.syncs)
	t.Logf("workload: %d steps, %d sync points, %d builds advanced the tier", steps, n, ref.builds)
	if ref.builds < 8 {
		t.Fatalf("%d builds advanced the tier: the workload does not build", ref.builds)
	}
	failed := 0
	for k := 1; k <= n+1; k++ {
		r := &rlRun{steps: steps, cutAt: k, ref: ref.syncs}
		r.run(t)
		if r.diverge != "" {
			t.Fatalf("the workload is not deterministic: %s", r.diverge)
		}
		if r.clone == nil { // k == n+1: the end of the workload
			r.clone = r.fs.CrashClone()
		}
		bad := r.check(t, r.clone)
		if len(bad) > 0 {
			failed++
			if failed <= 10 {
				where := "the end"
				if k <= n {
					where = ref.syncs[k-1]
				}
				t.Errorf("cut before sync point %d (%s): %d problems, first: %s", k, where, len(bad), bad[0])
			}
		}
	}
	t.Logf("%d crash points, %d failed", n+1, failed)
}
