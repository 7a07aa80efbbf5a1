package query

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// newNamesEngine returns the test engine as NewAPI builds it in
// MetricsQL-names mode: with delayed name removal.
func newNamesEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
		EnableNegativeOffset: true, EnableDelayedNameRemoval: true})
}

// TestMetricsQLNamesPushdownIdentical: in MetricsQL-names mode (delayed
// name removal, name-keeping *_over_time), random queries that group by
// __name__, read it with label_replace, select several names with a
// regex, and wrap every pushdown function in name-sensitive and
// name-free aggregations give bit-identical results, or the same error,
// with pushdown on and off; and pushdown does take blocks from their
// aggregates, for regex selectors too.
func TestMetricsQLNamesPushdownIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 3))
	db, t0 := pushdownTestDB(t, rng)
	on, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2, MetricsQLNames: true})
	require.NoError(t, err)
	off, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2, MetricsQLNames: true, DisablePushdown: true})
	require.NoError(t, err)
	ng := newNamesEngine()
	funcs := []string{"max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time", "rate", "increase"}
	ranges := []string{"45s", "7m", "1h", "90m", "3h"}
	forms := []string{
		"%s",
		"max(%s) by (__name__)",
		"avg(%s) by (__name__, host)",
		"sum by (host) (%s)",
		"max without (host) (%s)",
		"count(%s)",
		"topk(2, %s)",
		`label_replace(%s, "n", "$1", "__name__", "(.+)")`,
		`label_replace(sum by (__name__) (%s), "__name__", "x_$1", "__name__", "(.+)")`,
		"sum by (__name__) (%s or g)",
		"max by (__name__) ((%s))",
		"-%s",
		`label_replace(%s, "__name__", "$1", "__name__", "(.+)")`,
		`max by (__name__) (label_replace(%s, "__name__", "$1", "__name__", "(.+)"))`,
	}
	var blocks, regexBlocks int64
	errs := 0
	for i := range 400 {
		fn := funcs[i%len(funcs)]
		metric := []string{`g`, `c_total`, `fc_total`, `{__name__=~"g|fc_total"}`, `{__name__=~".+_total"}`}[rng.IntN(5)]
		matchers := fmt.Sprintf(`host=~"h[0-%d]"`, rng.IntN(4))
		var sel string
		if strings.HasPrefix(metric, "{") {
			sel = metric[:len(metric)-1] + "," + matchers + "}"
		} else {
			sel = metric + "{" + matchers + "}"
		}
		sel += "[" + ranges[rng.IntN(len(ranges))] + "]"
		if rng.IntN(4) == 0 {
			sel += fmt.Sprintf(" offset %dm", rng.IntN(90)-30)
		}
		q := fmt.Sprintf(forms[rng.IntN(len(forms))], fmt.Sprintf("%s(%s)", fn, sel))
		start, end, step := randomEvalTimes(rng, t0)
		desc := fmt.Sprintf("%s start=%s end=%s step=%s", q, start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano), step)
		got, tr, _, gotErr := evalQueryAnnos(t, ng, on.Prepare, q, start, end, step)
		want, _, _, wantErr := evalQueryAnnos(t, ng, off.Prepare, q, start, end, step)
		if wantErr != nil || gotErr != nil {
			require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), desc)
			errs++
			continue
		}
		requireIdenticalMatrix(t, want, got, "%s", desc)
		for _, st := range tr.Selects {
			blocks += st.BlocksAggregated
			if strings.Contains(st.Selector, "=~") && strings.Contains(st.Selector, "__name__") {
				regexBlocks += st.BlocksAggregated
			}
		}
	}
	t.Logf("pushdown: %d blocks from aggregates (%d for regex names); %d queries failed alike", blocks, regexBlocks, errs)
	require.Greater(t, blocks, int64(100))
	require.Greater(t, regexBlocks, int64(10))
	require.Less(t, errs, 150, "most queries must answer")
}

// tsbsQueryData is TSBS-shaped cpu data: hosts host_0..host_2, the 10
// fields as cpu_<field> every 10 s for 3 h from base, integer values.
func tsbsQueryData(base time.Time) []testSeries {
	var out []testSeries
	for h := range 3 {
		for f, field := range tsbsFields {
			s := testSeries{labels: series.FromStrings("__name__", "cpu_"+field, "hostname", fmt.Sprintf("host_%d", h), "region", "eu")}
			for i := range 3 * 360 {
				s.ts = append(s.ts, base.Add(time.Duration(i)*10*time.Second).UnixNano())
				s.vals = append(s.vals, float64((i*7+f*13+h*31)%100))
			}
			out = append(out, s)
		}
	}
	return out
}

// TestMetricsQLNamesTSBS: the multi-field queries TSBS writes for
// VictoriaMetrics fail in plain PromQL with "vector cannot contain metrics
// with the same labelset" and, in MetricsQL-names mode, answer one series
// per field (and host), named, with the optimizer on and off alike; a
// single-field query answers the named series too.
func TestMetricsQLNamesTSBS(t *testing.T) {
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	db := openDB(t, 24*hour)
	load(t, db, tsbsQueryData(base))
	plain := newTestAPI(t, db, Options{})
	names := newTestAPI(t, db, Options{MetricsQLNames: true})
	baseline := newTestAPI(t, db, Options{MetricsQLNames: true, DisableOptimizer: true})
	f5 := strings.Join(tsbsFields[:5], "|")
	cases := []struct {
		q     string
		names int // distinct __name__ values in the answer
		hosts bool
	}{
		{`max(max_over_time({__name__=~"cpu_(` + f5 + `)", hostname="host_1"}[1m])) by (__name__)`, 5, false},
		{`max(max_over_time({__name__=~'cpu_(` + f5 + `)', hostname=~'host_0|host_2'}[1m])) by (__name__)`, 5, false},
		{`avg(avg_over_time({__name__=~'cpu_(` + f5 + `)'}[1h])) by (__name__, hostname)`, 5, true},
		{`max(max_over_time(cpu_usage_user{hostname='host_2'}[1m])) by (__name__)`, 1, false},
		{`avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`, 1, true},
	}
	params := url.Values{"start": {strconv.FormatInt(base.Add(time.Hour).Unix(), 10)},
		"end": {strconv.FormatInt(base.Add(2*time.Hour).Unix(), 10)}, "step": {"60"}}
	for _, c := range cases {
		params.Set("query", c.q)
		if c.names > 1 {
			r := get(t, plain.URL, "/api/v1/query_range", params)
			require.Equal(t, "error", r.Status, c.q)
			require.Contains(t, r.Error, "vector cannot contain metrics with the same labelset", c.q)
		}
		got := queryMatrix(t, names.URL, params)
		requireSameMatrix(t, c.q+" (optimizer off)", queryMatrix(t, baseline.URL, params), got)
		seen := map[string]bool{}
		for _, s := range got {
			require.NotEmpty(t, s.Metric["__name__"], "%s: %v", c.q, s.Metric)
			seen[s.Metric["__name__"]] = true
			want := 1
			if c.hosts {
				want = 2
				require.NotEmpty(t, s.Metric["hostname"], c.q)
			}
			require.Len(t, s.Metric, want, "%s: %v", c.q, s.Metric)
			require.Len(t, s.Values, 61, c.q)
		}
		require.Len(t, seen, c.names, c.q)
		want := c.names
		if c.hosts {
			want *= 3
		}
		require.Len(t, got, want, c.q)
	}
	// Plain PromQL's answers to the single-field forms have no name.
	params.Set("query", cases[3].q)
	r := queryMatrix(t, plain.URL, params)
	require.Len(t, r, 1)
	require.Empty(t, r[0].Metric)
}

// TestMetricsQLNamesCompareWithPrometheus measures what MetricsQL-names
// mode changes in plain PromQL: over the queries of
// TestCompareWithPrometheus, its answers equal Prometheus 2.42's except
// that the calls of avg/min/max/quantile_over_time keep the metric name;
// with it removed, those answers are equal too.
func TestMetricsQLNamesCompareWithPrometheus(t *testing.T) {
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	data := compareData(base)
	promURL := startPrometheus(t, data)
	db := openDB(t, 24*hour)
	load(t, db, data)
	ours := newTestAPI(t, db, Options{MetricsQLNames: true})
	baseline := newTestAPI(t, db, Options{MetricsQLNames: true, DisableOptimizer: true})
	start := base.Add(time.Hour + 20*time.Second)
	end := base.Add(2*time.Hour + 50*time.Minute + 20*time.Second)
	at := strconv.FormatInt(base.Add(2*time.Hour+20*time.Second).Unix(), 10)
	var named []string
	for _, q := range compareQueries {
		q = strings.ReplaceAll(q, "%AT%", at)
		params := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)},
			"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}
		want := queryMatrix(t, promURL, params)
		for _, srv := range []string{ours.URL, baseline.URL} {
			got := queryMatrix(t, srv, params)
			kept := false
			for i := range got {
				if got[i].Metric["__name__"] != "" && (i >= len(want) || want[i].Metric["__name__"] == "") {
					kept = true
				}
			}
			if !kept {
				requireSameMatrix(t, q, want, got)
				continue
			}
			keeps := false
			for fn := range keepNameFuncs {
				keeps = keeps || strings.Contains(q, fn+"(")
			}
			require.True(t, keeps, "%s: a name kept without a name-keeping function", q)
			for i := range got {
				delete(got[i].Metric, "__name__")
			}
			slices.SortFunc(got, func(a, b matrixSeries) int { return strings.Compare(fmt.Sprint(a.Metric), fmt.Sprint(b.Metric)) })
			requireSameMatrix(t, q+" (name removed)", want, got)
			if srv == ours.URL {
				named = append(named, q)
			}
		}
	}
	t.Logf("%d of %d queries answer with the metric name kept: %q", len(named), len(compareQueries), named)
	require.Len(t, named, 6)
}

// FuzzKeepNames: whatever query parses still parses after the name-keeping
// rewrite (the text Prepare hands the engine), and prints back the same.
func FuzzKeepNames(f *testing.F) {
	for _, q := range compareQueries {
		f.Add(q)
	}
	f.Add(`max(max_over_time({__name__=~'cpu_(usage_user|usage_system)', hostname='host_3'}[1m])) by (__name__)`)
	f.Add(`avg(avg_over_time(cpu_usage_user{}[1h] offset -5m @ start())) by (__name__, hostname)`)
	f.Add(`quantile_over_time(0.5, x[5m:1m]) + min_over_time(y[1h])`)
	f.Fuzz(func(t *testing.T, q string) {
		p := parser.NewParser(parser.Options{})
		expr, err := p.ParseExpr(q)
		if err != nil {
			return
		}
		out, _ := keepNames(expr)
		s := out.String()
		again, err := p.ParseExpr(s)
		if err != nil {
			t.Fatalf("%q rewritten to %q, which does not parse: %v", q, s, err)
		}
		if again.String() != s {
			t.Fatalf("%q rewritten to %q, which prints as %q", q, s, again.String())
		}
	})
}

// TestMetricsQLNamesKeeperDropped: over a call pushed down with its name,
// the name keeper (MetricsQL names) is left out of the rewritten query
// (it is the identity there); over a call the engine evaluates it stays.
func TestMetricsQLNamesKeeperDropped(t *testing.T) {
	db := openDB(t, 24*hour)
	a, err := NewAdapter(db, Options{MetricsQLNames: true})
	require.NoError(t, err)
	end := time.Unix(1_700_006_400, 0)
	for _, c := range []struct{ q, want string }{
		{`max(max_over_time({__name__=~"cpu_(a|b)", hostname="h"}[1m])) by (__name__)`, `max by (__name__) ({__lightning_pushdown__="0"})`},
		{`avg(avg_over_time(cpu_a[1h])) by (__name__, hostname)`, `avg by (__name__, hostname) ({__lightning_pushdown__="0"})`},
		{`label_replace(max_over_time(cpu_a[1m]), "__name__", "$1", "__name__", "(.+)")`, `{__lightning_pushdown__="0"}`},
		{`max_over_time(rate(cpu_a[1m])[10m:])`, `max_over_time(rate(cpu_a[1m])[10m:])`},
		{`quantile_over_time(0.5, cpu_a[1m])`, `label_replace(quantile_over_time(0.5, cpu_a[1m]), "__name__", "$1", "__name__", "(.+)")`},
	} {
		_, qs := a.Prepare(nil, c.q, end, end.Add(time.Hour), time.Minute)
		require.Equal(t, c.want, qs, c.q)
	}
}
