package query

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// newMeteredAPI serves the API over an empty engine with opts, its
// metrics on the returned registry.
func newMeteredAPI(t *testing.T, opts Options) (*httptest.Server, *prometheus.Registry) {
	t.Helper()
	a, err := NewAdapter(openDB(t, 0), opts)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	NewAPI(a, APIOptions{Registerer: reg}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, reg
}

func rejectedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "query_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no query_rejected_total{reason=%q}", reason)
	return 0
}

func TestQueryPoints(t *testing.T) {
	t0 := time.Unix(1_700_006_400, 0)
	for _, tc := range []struct {
		query      string
		start, end time.Time
		step       time.Duration
		want       int64
	}{
		{"up", t0, t0, 0, 1},
		{"up", t0, t0.Add(time.Hour), time.Minute, 61},
		{"max_over_time(up[1h:1m])", t0, t0, 0, 1 + 60},
		{"max_over_time(up[1h:])", t0, t0, 0, 1 + 60}, // the default subquery step, 1m
		{"max_over_time(vector(1)[1y:1ms])", t0, t0, 0, 1 + 365*24*3600*1000},
		// A range query widens the subquery's grid by its own range.
		{"max_over_time(up[1h:1m])", t0, t0.Add(time.Hour), time.Minute, 61 + 120},
		// Nested: the inner grid covers the outer's widened range.
		{"max_over_time(max_over_time(up[10m:1m])[1h:10m])", t0, t0, 0, 1 + 6 + 60},
		// @ fixes a subquery's grid to one window whatever the range.
		{"max_over_time(up[1h:1m] @ 1700006400)", t0, t0.Add(24 * time.Hour), time.Minute, 1441 + 60},
		{"max_over_time(up[1h:1m] @ start())", t0, t0.Add(24 * time.Hour), time.Minute, 1441 + 60},
		{"max_over_time(up[290y:1ms])", t0, t0, 0, 1 + 290*365*24*3600*1000},
	} {
		t.Run(tc.query, func(t *testing.T) {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(tc.query)
			require.NoError(t, err)
			require.Equal(t, tc.want, queryPoints(expr, tc.start, tc.end, tc.step, time.Minute))
		})
	}
}

// TestQueryPointsMatchesEngine checks the subquery grid against what the
// engine evaluates: count_over_time over a subquery counts its steps.
func TestQueryPointsMatchesEngine(t *testing.T) {
	srv, _ := newMeteredAPI(t, Options{})
	for _, q := range []string{"count_over_time(vector(1)[1h:1m])", "count_over_time(vector(1)[1h:7m] offset 3m)", "count_over_time(vector(1)[1h1s:1m])"} {
		for _, ts := range []int64{1_700_006_400, 1_700_006_401} {
			r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {q}, "time": {strconv.FormatInt(ts, 10)}})
			require.Equal(t, http.StatusOK, r.code, r.Error)
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
			require.NoError(t, err)
			n := queryPoints(expr, time.Unix(ts, 0), time.Unix(ts, 0), 0, time.Minute) - 1
			require.Contains(t, string(r.Data), `"`+strconv.FormatInt(n, 10)+`"`, "%s at %d: %s", q, ts, r.Data)
		}
	}
}

// TestMaxPoints: a subquery of more steps than the limit is refused before
// the engine allocates its step statistics (16 bytes a step: issue #14's
// [1y:1ms] asked for 252 GB and killed the process).
func TestMaxPoints(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{})
	for _, q := range []string{
		"max_over_time(vector(1)[2h:1ms])",
		"max_over_time(vector(1)[1y:1ms])",
		// The inner grid covers the outer's 10 days plus its own 2.
		"max_over_time(max_over_time(vector(1)[2d:1s])[10d:1h])",
	} {
		r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {q}})
		require.Equal(t, http.StatusUnprocessableEntity, r.code, "%s: %s", q, r.Error)
		require.Contains(t, r.Error, "the limit is 1000000 (query.max_points)")
	}
	r := get(t, srv.URL, "/api/v1/query_range", url.Values{"query": {"max_over_time(vector(1)[1d:100ms])"}, "start": {"0"}, "end": {"86400"}, "step": {"60"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.code, r.Error)
	require.Equal(t, 4.0, rejectedCount(t, reg, "points"))
	// Within the limit it is evaluated: as an instant query, the same
	// subquery is 864,001 steps.
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"max_over_time(vector(1)[1d:100ms])"}})
	require.Equal(t, http.StatusOK, r.code, r.Error)
}

// TestMaxSamplesInMemoryBoundsSubqueries: with the points limit off, the
// engine's in-memory samples limit still stops a subquery's result.
func TestMaxSamplesInMemoryBoundsSubqueries(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{MaxPoints: -1, MaxSamplesInMemory: 100_000})
	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {"max_over_time(vector(1)[1h:10ms])"}})
	require.Equal(t, http.StatusUnprocessableEntity, r.code, r.Error)
	require.Contains(t, r.Error, "query processing would load too many samples into memory")
	require.Equal(t, 1.0, rejectedCount(t, reg, "samples_in_memory"))
}

// TestMaxQueryLength: every endpoint that takes PromQL refuses an
// expression over the limit before parsing it; one at the limit passes.
func TestMaxQueryLength(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{MaxQueryLength: 1000})
	long := "1" + strings.Repeat("+1", 500)    // 1001 bytes
	atLimit := "1" + strings.Repeat("+1", 499) // 999 bytes
	sel := `{a="` + strings.Repeat("x", 1000) + `"}`
	for _, tc := range []struct {
		path   string
		params url.Values
	}{
		{"/api/v1/query", url.Values{"query": {long}}},
		{"/api/v1/query_range", url.Values{"query": {long}, "start": {"0"}, "end": {"60"}, "step": {"15"}}},
		{"/api/v1/format_query", url.Values{"query": {long}}},
		{"/api/v1/query_exemplars", url.Values{"query": {long}}},
		{"/api/v1/series", url.Values{"match[]": {sel}}},
		{"/api/v1/labels", url.Values{"match[]": {sel}}},
		{"/api/v1/label/a/values", url.Values{"match[]": {sel}}},
	} {
		r := get(t, srv.URL, tc.path, tc.params)
		require.Equal(t, http.StatusBadRequest, r.code, "%s: %s", tc.path, r.Error)
		require.Contains(t, r.Error, "the limit is 1000 (query.max_query_length)", tc.path)
	}
	require.Equal(t, 7.0, rejectedCount(t, reg, "query_length"))
	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {atLimit}})
	require.Equal(t, http.StatusOK, r.code, r.Error)
	require.Contains(t, string(r.Data), `"500"`)
}

// TestEmptyMatchersRefused: a match[] whose matchers all match the empty
// string would list every series; Prometheus refuses it with 400.
func TestEmptyMatchersRefused(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{})
	n := 0
	for _, sel := range []string{`{}`, `{a=""}`, `{a=~".*"}`, `{a!~".+"}`, `{a=~".*", b=""}`} {
		for _, path := range []string{"/api/v1/series", "/api/v1/labels", "/api/v1/label/a/values"} {
			r := get(t, srv.URL, path, url.Values{"match[]": {`{__name__="ok"}`, sel}})
			require.Equal(t, http.StatusBadRequest, r.code, "%s %s: %s", path, sel, r.Error)
			require.Contains(t, r.Error, "match[] must contain at least one non-empty matcher")
			n++
		}
	}
	require.Equal(t, float64(n), rejectedCount(t, reg, "empty_matchers"))
	for _, sel := range []string{`{a!=""}`, `{a=~".+"}`, `{a=~".*", b="x"}`, `up`} {
		r := get(t, srv.URL, "/api/v1/series", url.Values{"match[]": {sel}})
		require.Equal(t, http.StatusOK, r.code, "%s: %s", sel, r.Error)
	}
}

// TestQueryTimeoutInEvaluation: the server's timeout stops an evaluation
// that would run far longer (503, counted).
func TestQueryTimeoutInEvaluation(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{Timeout: 200 * time.Millisecond})
	t0 := time.Now()
	r := get(t, srv.URL, "/api/v1/query_range", slowQuery())
	require.Equal(t, http.StatusServiceUnavailable, r.code, r.Error)
	require.Less(t, time.Since(t0), 5*time.Second)
	require.Equal(t, 1.0, rejectedCount(t, reg, "timeout"))
}

// slowQuery is a range query that evaluates for seconds in little memory:
// 500 terms at 11,000 steps (about 10 s on a 2-core machine).
func slowQuery() url.Values {
	return url.Values{"query": {"time()" + strings.Repeat("+time()", 499)}, "start": {"0"}, "end": {"10999"}, "step": {"1"}}
}

// TestQueryStopsWhenClientGoes: a client that disconnects mid-evaluation
// ends the query: the engine's gauge of running queries drops to 0 long
// before the query would have finished.
func TestQueryStopsWhenClientGoes(t *testing.T) {
	srv, reg := newMeteredAPI(t, Options{})
	running := func() float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "prometheus_engine_queries" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/query_range?"+slowQuery().Encode(), nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return running() == 1 }, 10*time.Second, time.Millisecond, "the query never started")
	cancel()
	require.Error(t, <-done)
	t0 := time.Now()
	require.Eventually(t, func() bool { return running() == 0 }, 3*time.Second, time.Millisecond,
		"the query kept running after its client went away")
	t.Logf("query stopped %v after the client went away", time.Since(t0))
}
