package query

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestUnionPushdownIdentical: random unions of label_replace'd
// *_over_time, rate and increase calls (2 to 5 branches, mixed functions, metrics, ranges
// and offsets; instant and range queries) give bit-identical results
// with union pushdown and with plain Prometheus evaluation (pushdown
// off), bare (an instant query's order included) and under the
// aggregations whose result does not depend on the order of the union's
// series, which for range queries is a Go map's in Prometheus
// (pushdown_union.go). And the union is one select.
func TestUnionPushdownIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 6))
	db, t0 := pushdownTestDB(t, rng)
	on, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2})
	require.NoError(t, err)
	off, err := NewAdapter(db, Options{Parallelism: 2, ParallelMinSeries: 2, DisablePushdown: true})
	require.NoError(t, err)
	ng := newTestEngine()
	funcs := []string{"max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time"}
	ranges := []string{"45s", "7m", "1h", "90m", "3h"}
	wraps := []string{"%s", "avg by (host, field) (%s)", "max by (host) (%s)", "min by (field) (%s)",
		"count by (field) (%s)", "sum by (host, field) (%s)", "(%s) * 2", "count(%s)"}
	for i := range 200 {
		n := 2 + rng.IntN(4)
		parts := make([]string, n)
		for k := range parts {
			metric := []string{"g", "c_total"}[rng.IntN(2)]
			fn := funcs[rng.IntN(len(funcs))]
			if metric == "c_total" && rng.IntN(3) == 0 {
				fn = []string{"rate", "increase"}[rng.IntN(2)]
			}
			sel := fmt.Sprintf("%s{host=~\"h[0-%d]\"}[%s]", metric, rng.IntN(4), ranges[rng.IntN(len(ranges))])
			if rng.IntN(4) == 0 {
				sel += fmt.Sprintf(" offset %dm", rng.IntN(90)-30)
			}
			val := fmt.Sprintf("f%d", k)
			if k == 1 && rng.IntN(4) == 0 {
				val = "" // removes the label
			}
			parts[k] = fmt.Sprintf(`label_replace(%s(%s), "field", %q, "", "")`, fn, sel, val)
		}
		q := fmt.Sprintf(wraps[i%len(wraps)], strings.Join(parts, " or "))
		start, end, step := randomEvalTimes(rng, t0)
		got, tr, gotAnnos := evalQuery(t, ng, on.Prepare, q, start, end, step)
		want, _, wantAnnos := evalQuery(t, ng, off.Prepare, q, start, end, step)
		requireIdenticalMatrix(t, want, got, "%s start=%s end=%s step=%s", q, start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano), step)
		require.Equal(t, wantAnnos, gotAnnos, q)
		require.Len(t, tr.Selects, 1, q)
		require.Contains(t, tr.Selects[0].Pushdown, fmt.Sprintf("union of %d", n), q)
	}
}

// TestUnionRewriteApplies: what the union rewrite takes and leaves.
func TestUnionRewriteApplies(t *testing.T) {
	db := openDB(t, 24*hour)
	a, err := NewAdapter(db, Options{})
	require.NoError(t, err)
	lr := func(sel, val string) string {
		return fmt.Sprintf(`label_replace(avg_over_time(%s[1h]), "field", %q, "", "")`, sel, val)
	}
	for _, c := range []struct {
		q     string
		union bool
	}{
		{lr("a", "x") + " or " + lr("b", "y"), true},
		{"avg by (field) (" + lr("a", "x") + " or (" + lr("b", "y") + " or " + lr("c", "z") + "))", true},
		{lr("a", "x") + " or " + lr("a", "y"), true},
		{lr("a", "x") + " or " + lr("b", "x"), false},                                             // same constant
		{lr("a", "x") + " or ignoring(field) " + lr("b", "y"), false},                             // matching labels
		{lr("a", "x") + " or " + `label_replace(avg_over_time(b[1h]), "f2", "y", "", "")`, false}, // other label
		{lr("a", "x") + " or " + `label_replace(avg_over_time(b[1h]), "field", "$1", "", "")`, false},
		{lr("a", "x") + " or " + `label_replace(avg_over_time(b[1h]), "field", "y", "host", "(.*)")`, false},
		{lr("a", "x") + " or " + `label_replace(avg_over_time(b[1h]), "__type__", "y", "", "")`, false},
		{lr("a", "x") + " or " + lr(`{__name__=~"b|c"}`, "y"), false}, // no single name
		{lr("a", "x") + " or " + `label_replace(rate(b[1h]), "field", "y", "", "")`, false},
		{lr("a", "x") + " or b", false},
		{"max_over_time((" + lr("a", "x") + " or " + lr("b", "y") + ")[1h:5m])", false}, // subquery
	} {
		tr := &Trace{}
		_, qs := a.Prepare(tr, c.q, time.Unix(1e6, 0), time.Unix(1e6+3600, 0), time.Minute)
		n := strings.Count(qs, pushdownLabel)
		if c.union {
			require.Equal(t, 1, n, "%s -> %s", c.q, qs)
			require.NotContains(t, qs, " or ", c.q)
		} else {
			require.Contains(t, qs, " or ", "%s -> %s", c.q, qs)
		}
	}
}

// TestUnionFallback: when label_replace makes two series of one branch
// equal, Prometheus merges them or fails the query; the union select
// gives way and the API evaluates the query as written: the same answers
// (or error) as with pushdown off. A series that already has the label
// but stays unique keeps the union.
func TestUnionFallback(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	minute := int64(time.Minute)
	span := func(ls series.Labels, from, to int64, v float64) testSeries {
		s := testSeries{labels: ls}
		for ts := from; ts < to; ts += minute {
			s.ts = append(s.ts, t0+ts)
			s.vals = append(s.vals, v+float64(ts/minute%7))
		}
		return s
	}
	load(t, db, []testSeries{
		span(series.FromStrings("__name__", "m", "host", "h0"), 0, 8*hour, 1),
		span(series.FromStrings("__name__", "m", "host", "h1", "field", "old"), 0, 8*hour, 2), // unique after the replace
		span(series.FromStrings("__name__", "n", "host", "h0"), 0, 8*hour, 3),
		// Equal once field is set: apart in time (merged), then both.
		span(series.FromStrings("__name__", "n", "host", "h2", "field", "a"), 0, 2*hour, 4),
		span(series.FromStrings("__name__", "n", "host", "h2", "field", "b"), 3*hour, 8*hour, 5),
	})
	on := newTestAPI(t, db, Options{})
	off := newTestAPI(t, db, Options{DisablePushdown: true})
	q := `label_replace(max_over_time(m[30m]), "field", "m", "", "") or label_replace(avg_over_time(n%s[30m]), "field", "n", "", "")`
	for _, c := range []struct {
		sel        string
		from, to   int64
		union, err bool
	}{
		{`{host!="h2"}`, 0, 8 * hour, true, false}, // m{field="old"} becomes field="m": unique
		{"", 0, 2 * hour, false, false},            // merged: h2 field=a only
		{"", 4 * hour, 8 * hour, false, false},     // merged: h2 field=b only
		{"", 0, 8 * hour, false, false},            // merged across the gap
		{"", 1 * hour, 5 * hour, false, false},
	} {
		query := fmt.Sprintf(q, c.sel)
		params := url.Values{"query": {query}, "start": {secs(t0 + c.from)}, "end": {secs(t0 + c.to)}, "step": {"600"}, "explain": {"1"}}
		r := get(t, on.URL, "/api/v1/query_range", params)
		want := get(t, off.URL, "/api/v1/query_range", params)
		require.Equal(t, want.code, r.code, "%s: %s", query, r.Error)
		require.Equal(t, want.Error, r.Error, query)
		if want.code != 200 {
			continue
		}
		res, ex := explainQuery(t, on.URL, params)
		ref, _ := explainQuery(t, off.URL, params)
		require.JSONEq(t, string(ref), string(res), query)
		require.Equal(t, c.union, len(ex.Selects) == 1, "%s: %d selects", query, len(ex.Selects))
	}
	// Both series of n{host="h2"} in one window: Prometheus fails.
	load(t, db, []testSeries{span(series.FromStrings("__name__", "n", "host", "h2", "field", "b"), 90*60*1e9, 2*hour, 6)})
	params := url.Values{"query": {fmt.Sprintf(q, "")}, "start": {secs(t0)}, "end": {secs(t0 + 8*hour)}, "step": {"600"}}
	r := get(t, on.URL, "/api/v1/query_range", params)
	want := get(t, off.URL, "/api/v1/query_range", params)
	require.Equal(t, 422, want.code, want.Error)
	require.Equal(t, want.code, r.code)
	require.Equal(t, want.Error, r.Error)
}
