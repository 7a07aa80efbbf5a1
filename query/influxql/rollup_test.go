package influxql

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
)

// rollT0 is the start of the rollup tests' data (a day boundary).
var rollT0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// rollLines returns line protocol of measurement m for hosts over hours
// of data from rollT0 + from, a point every 10 s at second precision:
// jittered (so that some fall on window boundaries) unless offset >= 0,
// then at offset s past each 10 s (never on a minute's start when it is
// not 0). Floats are quarters and integers small: their sums are exact in
// any order.
func rollLines(rng *rand.Rand, m string, hosts []string, from, hours time.Duration, offset int) string {
	var b strings.Builder
	start := rollT0.Add(from).Unix()
	for _, h := range hosts {
		for i := int64(0); i < int64(hours/(10*time.Second)); i++ {
			if rng.IntN(50) == 0 {
				continue // a gap
			}
			s := int64(offset)
			if offset < 0 {
				s = int64(rng.IntN(10))
			}
			fmt.Fprintf(&b, "%s,host=%s f=%g,n=%di %d\n", m, h, float64(rng.IntN(4000))/4-500, rng.IntN(1000)-300, (start+i*10+s)*1e9)
		}
	}
	return b.String()
}

// rollEngine opens an engine of 1h partitions (raw data that retention
// drops an hour at a time), or of the given partitions.
func rollEngine(t testing.TB, partition ...time.Duration) *engine.DB {
	t.Helper()
	p := time.Hour
	if len(partition) > 0 {
		p = partition[0]
	}
	eng, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone, PartitionDuration: int64(p)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// buildTiers builds tiers of intervals ivs (every series) from raw's
// sealed data, as of now, and returns them for the executor.
func buildTiers(t testing.TB, raw *engine.DB, now time.Time, ivs ...string) []query.RollupTier {
	t.Helper()
	if err := raw.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var tcs []downsample.TierConfig
	for _, iv := range ivs {
		tcs = append(tcs, downsample.TierConfig{After: "1m", Interval: iv})
	}
	rules, err := downsample.Config{Rules: []downsample.RuleConfig{{Match: `{db=~".+"}`, Tiers: tcs}}}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	tiers := map[time.Duration]*engine.DB{}
	apps := map[time.Duration]downsample.Appender{}
	for _, d := range rules.Intervals() {
		tiers[d] = rollEngine(t, downsample.PartitionDuration(d, 0)) // as the server has them
		apps[d] = tiers[d]
	}
	b, err := downsample.NewBuilder(rules, query.RollupSource(raw), apps, downsample.BuilderOptions{Dir: t.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.Build(context.Background()); err != nil || n == 0 {
		t.Fatalf("build: %d records, %v", n, err)
	}
	var out []query.RollupTier
	for d, db := range tiers {
		if err := db.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, query.RollupTier{Interval: d, Storage: db,
			BuiltThrough: func() int64 { return b.BuiltThrough(d) },
			Covers: func(canon []byte) bool {
				ls, err := series.UnmarshalLabels(nil, canon)
				if err != nil {
					return false
				}
				_, ok := rules.TierOf(ls, d)
				return ok
			}})
	}
	return out
}

// runFull executes q and returns its JSON and messages.
func runFull(t testing.TB, e *Executor, db, q string) (string, []Message) {
	t.Helper()
	stmt, err := ql.ParseStatement(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	res := e.Execute(context.Background(), stmt, Params{DB: db})
	if res.Err != nil {
		return "error: " + res.Err.Error(), res.Messages
	}
	return resultJSON(res), res.Messages
}

// rollSeed seeds TestRollupsMatchRaw.
var rollSeed uint64 = 1

var rollAggs = []string{"count", "sum", "mean", "min", "max", "first", "last"}

// randomRollQuery returns a GROUP BY time() statement over [from, to) of
// 2 days of data whose interval is a multiple of 5m or 1h.
func randomRollQuery(rng *rand.Rand) string {
	field := []string{"f", "n"}[rng.IntN(2)]
	var sel []string
	for _, a := range rollAggs {
		if rng.IntN(2) == 0 {
			sel = append(sel, a+"("+field+")")
		}
	}
	if len(sel) == 0 {
		sel = []string{"mean(" + field + ")"}
	}
	iv := []time.Duration{5 * time.Minute, time.Hour}[rng.IntN(2)]
	k := 1 + rng.IntN(6)
	if iv == time.Hour {
		k = 1 + rng.IntN(3)
	}
	g := iv * time.Duration(k)
	off := ""
	if n := int(g / iv); n > 1 && rng.IntN(3) == 0 {
		off = fmt.Sprintf(", %s", iv*time.Duration(rng.IntN(n)))
	}
	from := rollT0.Add(time.Duration(rng.IntN(40*3600)) * time.Second)
	to := from.Add(time.Hour + time.Duration(rng.IntN(8*3600))*time.Second)
	dims := ""
	if rng.IntN(2) == 0 {
		dims = ", host"
	}
	fill := ""
	if rng.IntN(3) == 0 {
		fill = " fill(none)"
	}
	return fmt.Sprintf("SELECT %s FROM m WHERE time >= '%s' AND time < '%s' GROUP BY time(%s%s)%s%s",
		strings.Join(sel, ", "), from.Format(time.RFC3339), to.Format(time.RFC3339), g, off, dims, fill)
}

// TestRollupsMatchRaw: random GROUP BY time() statements of every
// aggregate whose intervals are multiples of a tier answer with rollups
// what they answer without, on data at second precision (some points on
// window boundaries), and most read records.
func TestRollupsMatchRaw(t *testing.T) {
	rng := rand.New(rand.NewPCG(rollSeed, 2))
	raw := rollEngine(t)
	cat := NewCatalog()
	write(t, raw, cat, "t", rollLines(rng, "m", []string{"a", "b", "c"}, 0, 48*time.Hour, -1))
	now := rollT0.Add(50 * time.Hour)
	tiers := buildTiers(t, raw, now, "5m", "1h")
	e := New(raw, Options{Catalog: cat, Rollups: tiers, Now: func() time.Time { return now }})
	used := 0
	for i := range 60 {
		q := randomRollQuery(rng)
		before := e.RollupRecords()
		fast, msgs := runFull(t, e, "t", q)
		e.opts.DisableRollups = true
		slow, _ := runFull(t, e, "t", q)
		e.opts.DisableRollups = false
		if fast != slow {
			t.Fatalf("query %d: %s\nrollups: %s\n    raw: %s", i, q, fast, slow)
		}
		if strings.HasPrefix(fast, "error") || !strings.Contains(fast, "values") {
			t.Fatalf("%s: %s", q, fast)
		}
		if len(msgs) > 0 {
			t.Errorf("%s: messages %v while raw data exists", q, msgs)
		}
		if e.RollupRecords() > before {
			used++
		}
	}
	if used < 50 {
		t.Errorf("only %d of 60 statements read records", used)
	}
	plan := run(t, e, "t", `EXPLAIN SELECT mean(f) FROM m WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-02T00:00:00Z' GROUP BY time(2h)`)
	if !strings.Contains(plan, "ROLLUP: tier 1h: GROUP BY time(2h0m0s)") {
		t.Errorf("explain: %s", plan)
	}
	plan = run(t, e, "t", `EXPLAIN SELECT mean(f) FROM m WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-02T00:00:00Z' GROUP BY time(7m)`)
	if !strings.Contains(plan, "ROLLUP: raw: 1h: GROUP BY time(7m0s) is not a multiple of 1h") {
		t.Errorf("explain: %s", plan)
	}
}

// TestRollupsWhereRawExpired: where raw data is gone (the raw engine holds
// only the second day; host c and measurement old only in the tiers), a
// statement answers from the records what the full raw data answers, with
// a warning message; SHOW finds what only the tiers hold.
func TestRollupsWhereRawExpired(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	full := rollEngine(t)
	cat := NewCatalog()
	day1 := rollLines(rng, "m", []string{"a", "b", "c"}, 0, 24*time.Hour, 3) + rollLines(rng, "old", []string{"a"}, 0, 24*time.Hour, 7)
	day2 := rollLines(rng, "m", []string{"a", "b"}, 24*time.Hour, 24*time.Hour, 3)
	write(t, full, cat, "t", day1+day2)
	now := rollT0.Add(50 * time.Hour)
	tiers := buildTiers(t, full, now, "5m", "1h")
	rest := rollEngine(t) // what retention left: the second day
	write(t, rest, cat, "t", day2)
	if err := rest.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := New(rest, Options{Catalog: cat, Rollups: tiers, Now: func() time.Time { return now }})
	ref := New(full, Options{Catalog: cat, DisableRollups: true, Now: func() time.Time { return now }})
	for _, q := range []string{
		`SELECT count(f), sum(f), mean(f), min(f), max(f), first(f), last(f) FROM m WHERE time >= '2026-11-01T14:00:00Z' AND time < '2026-11-02T03:00:00Z' GROUP BY time(1h), host`,
		`SELECT sum(n), max(n), min(n), last(n) FROM m WHERE time >= '2026-11-01T20:00:00Z' AND time < '2026-11-02T01:00:00Z' GROUP BY time(10m)`,
		`SELECT mean(f) FROM old WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-02T00:00:00Z' GROUP BY time(3h)`,
	} {
		got, msgs := runFull(t, e, "t", q)
		want, _ := runFull(t, ref, "t", q)
		if got != want {
			t.Errorf("%s\n rollups: %.600s\n     raw: %.600s", q, got, want)
		}
		if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "raw samples before 2026-11-02T00:00:00Z have expired;") || msgs[0].Level != "warning" {
			t.Errorf("%s: messages %v", q, msgs)
		}
	}
	_, msgs := runFull(t, e, "t", `SELECT mean(f) FROM m WHERE time >= '2026-11-01T14:00:00Z' AND time < '2026-11-02T03:00:00Z' GROUP BY time(7m)`)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "cannot read the rollups (raw: 1h: GROUP BY time(7m0s) is not a multiple of 1h") {
		t.Errorf("unaligned: messages %v", msgs)
	}
	for q, want := range map[string]string{
		`SHOW MEASUREMENTS`:                      `"values":[["m"],["old"]]`,
		`SHOW TAG VALUES FROM m WITH KEY = host`: `"values":[["host","a"],["host","b"],["host","c"]]`,
		`SHOW FIELD KEYS FROM old`:               `"values":[["f","float"],["n","float"]]`,
	} {
		if got := run(t, e, "t", q); !strings.Contains(got, want) {
			t.Errorf("%s: %s, want %s", q, got, want)
		}
	}
	if !e.Live("t", "old_f") || e.Live("t", "gone_f") {
		t.Error("Live: the tiers' metric old_f must live, gone_f not")
	}
}

// TestRollupsSameMillisecond: points sharing a millisecond (nanosecond
// precision) are one sample to a record; the raw count tells, and raw
// data answers.
func TestRollupsSameMillisecond(t *testing.T) {
	var b strings.Builder
	start := rollT0.UnixNano()
	for i := int64(0); i < 3*360; i++ {
		fmt.Fprintf(&b, "m,host=a f=%d %d\n", i%17, start+i*10e9)
		if i%100 == 0 {
			fmt.Fprintf(&b, "m,host=a f=%d %d\n", i%13, start+i*10e9+500)
		}
	}
	raw := rollEngine(t)
	cat := NewCatalog()
	write(t, raw, cat, "t", b.String())
	now := rollT0.Add(5 * time.Hour)
	e := New(raw, Options{Catalog: cat, Rollups: buildTiers(t, raw, now, "5m"), Now: func() time.Time { return now }})
	q := `SELECT count(f), sum(f) FROM m WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-01T03:00:00Z' GROUP BY time(30m)`
	before := e.RollupRecords()
	fast, _ := runFull(t, e, "t", q)
	if e.RollupRecords() != before {
		t.Errorf("records read although raw samples share milliseconds")
	}
	e.opts.DisableRollups = true
	if slow, _ := runFull(t, e, "t", q); fast != slow {
		t.Errorf("rollups %s\n    raw %s", fast, slow)
	}
}

// TestRollupsApproxWarning: where raw data is gone, a record whose last
// sample opens the next window answers count and sum exactly, but last()
// of the window before it cannot be known: a second warning says so.
func TestRollupsApproxWarning(t *testing.T) {
	var b strings.Builder
	start := rollT0.UnixNano()
	for i := int64(0); i <= 2*360; i++ { // every 10 s from 00:00: points on the hours
		fmt.Fprintf(&b, "m,host=a f=%d %d\n", i%17, start+i*10e9)
	}
	full := rollEngine(t)
	cat := NewCatalog()
	write(t, full, cat, "t", b.String())
	now := rollT0.Add(5 * time.Hour)
	tiers := buildTiers(t, full, now, "1h")
	e := New(rollEngine(t), Options{Catalog: cat, Rollups: tiers, Now: func() time.Time { return now }})
	ref := New(full, Options{Catalog: cat, DisableRollups: true, Now: func() time.Time { return now }})
	q := `SELECT count(f), sum(f) FROM m WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-01T03:00:00Z' GROUP BY time(1h)`
	got, msgs := runFull(t, e, "t", q)
	if want, _ := runFull(t, ref, "t", q); got != want || len(msgs) != 1 {
		t.Errorf("count, sum: %s %v\nwant %s", got, msgs, want)
	}
	_, msgs = runFull(t, e, "t", strings.Replace(q, "count(f), sum(f)", "last(f)", 1))
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Text, "2 1h rollup records have no raw samples left to answer exactly") {
		t.Errorf("last: messages %v", msgs)
	}
}
