package query

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// rollupData is two days of 15 s scrapes (with jitter and gaps) from
// t0: float and integer gauges, and counters with resets (some intervals
// hold several).
func rollupData(t0 int64, seed uint64) []testSeries {
	rng := rand.New(rand.NewPCG(seed, 7))
	const n = 2 * 24 * 60 * 4
	var out []testSeries
	gen := func(ls series.Labels, next func(i int, prev float64) float64) {
		s := testSeries{labels: ls}
		prev := 0.0
		for i := range n {
			if rng.IntN(50) == 0 {
				continue // a missed scrape
			}
			prev = next(i, prev)
			s.ts = append(s.ts, t0+int64(i)*15e9+int64(rng.IntN(3000))*1e6)
			s.vals = append(s.vals, prev)
		}
		out = append(out, s)
	}
	for h := range 4 {
		host := fmt.Sprintf("h%d", h)
		gen(series.FromStrings("__name__", "temp", "host", host, "db", "factory"), func(int, float64) float64 {
			return math.Round(rng.Float64()*1000) / 7 // not integers: sums are inexact
		})
		gen(series.FromStrings("__name__", "load", "host", host, "db", "factory"), func(int, float64) float64 {
			return float64(rng.IntN(100))
		})
		gen(series.FromStrings("__name__", "req_total", "host", host, "db", "factory"), func(i int, prev float64) float64 {
			if rng.IntN(400) == 0 || h == 3 && i%2000 < 2 {
				return float64(rng.IntN(5)) // resets; h3 has two in a row
			}
			return prev + float64(rng.IntN(20))
		})
	}
	return out
}

// rollupSetup is a raw engine with its tiers built, and the APIs over it
// with the tiers and without.
type rollupSetup struct {
	raw     *engine.DB
	tiers   map[time.Duration]*engine.DB
	builder *downsample.Builder
	rules   *downsample.Rules
}

func newRollupSetup(t *testing.T, raw *engine.DB, cfg downsample.Config, now time.Time) *rollupSetup {
	require.NoError(t, raw.Flush(context.Background())) // rollups are built from sealed data
	rules, err := cfg.Compile()
	require.NoError(t, err)
	s := &rollupSetup{raw: raw, tiers: map[time.Duration]*engine.DB{}, rules: rules}
	apps := map[time.Duration]downsample.Appender{}
	for _, d := range rules.Intervals() {
		s.tiers[d] = openDB(t, 7*24*hour)
		apps[d] = s.tiers[d]
	}
	s.builder, err = downsample.NewBuilder(rules, RollupSource(raw), apps, downsample.BuilderOptions{
		Dir: t.TempDir(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = s.builder.Build(context.Background())
	require.NoError(t, err)
	return s
}

func (s *rollupSetup) rollups(raw *engine.DB) []RollupTier {
	var out []RollupTier
	for d, db := range s.tiers {
		out = append(out, RollupTier{Interval: d, Storage: db,
			BuiltThrough: func() int64 { return s.builder.BuiltThrough(d) },
			Covers: func(canon []byte) bool {
				ls, err := series.UnmarshalLabels(nil, canon)
				if err != nil {
					return false
				}
				_, ok := s.rules.TierOf(ls, d)
				return ok
			}})
	}
	return out
}

type rangeAnswer struct {
	Result   json.RawMessage
	Trace    *Trace
	Warnings []string
}

func queryRange(t *testing.T, base, q string, start, end int64, step time.Duration) rangeAnswer {
	t.Helper()
	r := get(t, base, "/api/v1/query_range", url.Values{"query": {q}, "start": {secs(start)}, "end": {secs(end)},
		"step": {fmt.Sprint(step.Seconds())}, "explain": {"1"}})
	require.Equal(t, "success", r.Status, "%s: %s", q, r.Error)
	var d struct {
		Result  json.RawMessage `json:"result"`
		Explain *Trace          `json:"explain"`
	}
	require.NoError(t, json.Unmarshal(r.Data, &d))
	return rangeAnswer{d.Result, d.Explain, r.Warnings}
}

var rollupTestConfig = downsample.Config{Rules: []downsample.RuleConfig{{Match: `{db="factory"}`,
	Tiers: []downsample.TierConfig{{After: "1h", Interval: "5m"}, {After: "1h", Interval: "1h"}}}}}

// TestRollupQueriesMatchRaw: random aligned queries of every rollup-safe
// function, bare and under sum/max by, answered from the tiers equal the
// same queries on raw data bit for bit, and explain names the tier.
func TestRollupQueriesMatchRaw(t *testing.T) {
	t0 := int64(1_700_006_400) * 1e9 // a whole day
	raw := openDB(t, 24*hour)
	load(t, raw, rollupData(t0, 1))
	now := time.Unix(0, t0).Add(50 * time.Hour)
	s := newRollupSetup(t, raw, rollupTestConfig, now)
	require.Equal(t, time.Unix(0, t0).Add(49*time.Hour).UnixMilli(), s.builder.BuiltThrough(time.Hour))

	withTiers := newTestAPI(t, raw, Options{Rollups: s.rollups(raw)})
	plain := newTestAPI(t, raw, Options{DisablePushdown: true}) // PromQL's own functions on raw samples
	rng := rand.New(rand.NewPCG(3, 4))
	fns := []string{"max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time", "last_over_time",
		"rate", "increase", "delta"}
	used := map[string]int{}
	for range 80 {
		fn := fns[rng.IntN(len(fns))]
		name := []string{"temp", "load", "req_total"}[rng.IntN(3)]
		if fn == "rate" || fn == "increase" {
			name = "req_total"
		}
		iv := []time.Duration{5 * time.Minute, time.Hour}[rng.IntN(2)]
		rngDur := iv * time.Duration(1+rng.IntN(6))
		step := iv * time.Duration(1+rng.IntN(3))
		call := fmt.Sprintf("%s(%s[%s])", fn, name, rngDur)
		q := []string{call, "sum by (host) (" + call + ")", "max by (db) (" + call + ")", "2 * " + call}[rng.IntN(4)]
		start := t0 + int64(rng.IntN(40))*int64(iv)
		end := start + int64(rng.IntN(30)+1)*int64(step)
		a, b := queryRange(t, withTiers.URL, q, start, end, step), queryRange(t, plain.URL, q, start, end, step)
		require.JSONEq(t, string(b.Result), string(a.Result), q)
		require.NotEqual(t, "[]", string(a.Result), q)
		require.Len(t, a.Trace.Selects, 1, q)
		require.Contains(t, a.Trace.Selects[0].Rollup, "tier ", q)
		require.Positive(t, a.Trace.Selects[0].RollupRecords, q)
		require.Empty(t, a.Warnings, q)
		used[a.Trace.Selects[0].Rollup[:8]]++
	}
	require.Len(t, used, 2, "both tiers chosen: %v", used)
}

// TestRollupExplainWhyNot: a range that is not a multiple of a tier's
// interval reads raw data and explain says why.
func TestRollupExplainWhyNot(t *testing.T) {
	t0 := int64(1_700_006_400) * 1e9
	raw := openDB(t, 24*hour)
	load(t, raw, rollupData(t0, 2)[:3])
	s := newRollupSetup(t, raw, rollupTestConfig, time.Unix(0, t0).Add(50*time.Hour))
	srv := newTestAPI(t, raw, Options{Rollups: s.rollups(raw)})
	a := queryRange(t, srv.URL, `max_over_time(temp[7m])`, t0+3600e9, t0+7200e9, 5*time.Minute)
	require.Contains(t, a.Trace.Selects[0].Rollup, "raw: 1h: range 7m0s is not a multiple of 1h")
	require.Contains(t, a.Trace.Selects[0].Rollup, "5m: range 7m0s is not a multiple of 5m")
	a = queryRange(t, srv.URL, `quantile_over_time(0.5, temp[1h])`, t0+3600e9, t0+7200e9, time.Hour)
	require.Equal(t, "raw: quantile_over_time is not pushed down here (an unsupported function, a subquery, @, or no metric name), so no tier answers it",
		a.Trace.Selects[0].Rollup)
	a = queryRange(t, srv.URL, `temp`, t0+3600e9, t0+7200e9, time.Hour)
	require.Equal(t, "raw: a plain selector reads raw samples", a.Trace.Selects[0].Rollup)
}

// TestRollupsAfterRawExpired: with the raw data of the first day gone
// (a raw engine holding only the second), aligned queries over both days
// answer from the rollups as the full raw data did, with a warning; sums
// of non-integers without raw samples say they may differ.
func TestRollupsAfterRawExpired(t *testing.T) {
	t0 := int64(1_700_006_400) * 1e9
	data := rollupData(t0, 5)
	full := openDB(t, 24*hour)
	load(t, full, data)
	s := newRollupSetup(t, full, rollupTestConfig, time.Unix(0, t0).Add(50*time.Hour))
	var second []testSeries
	for _, ts := range data {
		k := 0
		for k < len(ts.ts) && ts.ts[k] < t0+24*3600e9 {
			k++
		}
		second = append(second, testSeries{labels: ts.labels, ts: ts.ts[k:], vals: ts.vals[k:]})
	}
	expired := openDB(t, 24*hour)
	load(t, expired, second)
	withTiers := newTestAPI(t, expired, Options{Rollups: s.rollups(expired)})
	reference := newTestAPI(t, full, Options{DisablePushdown: true})
	for _, q := range []string{`sum by (host) (max_over_time(temp[1h]))`, `rate(req_total[2h])`, `count_over_time(load[1h])`,
		`avg_over_time(load[3h])`, `delta(temp[1h])`, `last_over_time(temp[2h])`} {
		a := queryRange(t, withTiers.URL, q, t0+2*3600e9, t0+40*3600e9, time.Hour)
		b := queryRange(t, reference.URL, q, t0+2*3600e9, t0+40*3600e9, time.Hour)
		require.JSONEq(t, string(b.Result), string(a.Result), q)
		require.Len(t, a.Warnings, 1, q)
		require.Contains(t, a.Warnings[0], "have expired", q)
	}
	a := queryRange(t, withTiers.URL, `sum_over_time(temp[1h])`, t0+2*3600e9, t0+40*3600e9, time.Hour)
	require.Len(t, a.Warnings, 2)
	require.Contains(t, strings.Join(a.Warnings, "\n"), "may differ from raw data")
	a = queryRange(t, withTiers.URL, `max_over_time(temp[7m])`, t0+2*3600e9, t0+40*3600e9, time.Hour)
	require.Len(t, a.Warnings, 1)
	require.Contains(t, a.Warnings[0], "cannot read the rollups")
}

// TestRollupRebuildDoesNotDuplicate: building the same intervals again
// (a crash before the state was saved) leaves one record per interval.
func TestRollupRebuildDoesNotDuplicate(t *testing.T) {
	t0 := int64(1_700_006_400) * 1e9
	raw := openDB(t, 24*hour)
	load(t, raw, rollupData(t0, 6)[:3])
	rules, err := rollupTestConfig.Compile()
	require.NoError(t, err)
	require.NoError(t, raw.Flush(context.Background()))
	tiers := []*engine.DB{openDB(t, 7*24*hour), openDB(t, 7*24*hour)}
	apps := map[time.Duration]downsample.Appender{5 * time.Minute: tiers[0], time.Hour: tiers[1]}
	now := func() time.Time { return time.Unix(0, t0).Add(50 * time.Hour) }
	count := func() int {
		n := 0
		for _, tier := range tiers {
			q, err := tier.Querier(math.MinInt64, math.MaxInt64)
			require.NoError(t, err)
			tier.Registry().ForEach(func(id series.ID, _ []byte, _ series.ValueType, _ bool) bool {
				n += q.Range(id, math.MinInt64, math.MaxInt64, nil).Len()
				return true
			})
			q.Close()
		}
		return n
	}
	for i := range 2 {
		b, err := downsample.NewBuilder(rules, RollupSource(raw), apps, downsample.BuilderOptions{Dir: t.TempDir(), Now: now})
		require.NoError(t, err)
		recs, err := b.Build(context.Background())
		require.NoError(t, err)
		require.Positive(t, recs)
		require.Equal(t, 3*(2*288+48), int(recs), "3 series, 2 days of 5m and 1h intervals")
		require.Equal(t, int(recs)*int(downsample.NumFields), count(), "build %d: one record per interval", i)
		require.NoError(t, tiers[0].Flush(context.Background()))
	}
}

// TestRollupWaitsForSealedData: raw samples still in a memtable (a
// backfill may add to them) are not rolled up; after the flush they are.
func TestRollupWaitsForSealedData(t *testing.T) {
	t0 := int64(1_700_006_400) * 1e9
	raw := openDB(t, 24*hour)
	load(t, raw, rollupData(t0, 8)[:2])
	rules, err := rollupTestConfig.Compile()
	require.NoError(t, err)
	apps := map[time.Duration]downsample.Appender{5 * time.Minute: openDB(t, 7*24*hour), time.Hour: openDB(t, 7*24*hour)}
	b, err := downsample.NewBuilder(rules, RollupSource(raw), apps, downsample.BuilderOptions{
		Dir: t.TempDir(), Now: func() time.Time { return time.Unix(0, t0).Add(50 * time.Hour) }})
	require.NoError(t, err)
	n, err := b.Build(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, int64(math.MinInt64), b.BuiltThrough(time.Hour))
	require.NoError(t, raw.Flush(context.Background()))
	n, err = b.Build(context.Background())
	require.NoError(t, err)
	require.Positive(t, n)
	require.Equal(t, time.Unix(0, t0).Add(49*time.Hour).UnixMilli(), b.BuiltThrough(time.Hour))
}
