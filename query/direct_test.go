package query

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDirectAggregationIdentical: random range queries of the form
// op by (G) (fn(sel[r])) — the eight aggregations direct evaluation takes,
// groupings that keep the series apart and groupings that do not, every
// pushdown function, offsets, over data with NaNs, staleness markers,
// same-millisecond samples, segments and the memtable — answer byte for
// byte as the engine over undecoded samples (pushdown off), in plain
// PromQL and in MetricsQL-names mode; and many are answered directly.
func TestDirectAggregationIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 5))
	db, t0 := pushdownTestDB(t, rng)
	ops := []string{"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar"}
	groups := []string{"(host)", "(__name__, host)", "(host, __name__)", "(__name__)", "()", "(dc)", "(host, dc)"}
	funcs := []string{"max_over_time", "min_over_time", "sum_over_time", "count_over_time", "avg_over_time", "last_over_time", "rate", "increase", "delta"}
	for _, names := range []bool{false, true} {
		on, err := NewAdapter(db, Options{MetricsQLNames: names})
		require.NoError(t, err)
		onSrv := newTestAPIAdapter(t, on)
		offSrv := newTestAPI(t, db, Options{MetricsQLNames: names, DisablePushdown: true})
		for i := range 300 {
			metric := []string{`g`, `c_total`, `fc_total`}[rng.IntN(3)]
			if names && rng.IntN(2) == 0 {
				metric = `{__name__=~"g|fc_total"}`
			}
			sel := metric
			if m := fmt.Sprintf(`host=~"h[0-%d]"`, rng.IntN(4)); sel[0] == '{' {
				sel = sel[:len(sel)-1] + "," + m + "}"
			} else {
				sel += "{" + m + "}"
			}
			sel += "[" + []string{"45s", "7m", "1h", "90m"}[rng.IntN(4)] + "]"
			if rng.IntN(4) == 0 {
				sel += fmt.Sprintf(" offset %dm", rng.IntN(90)-30)
			}
			q := fmt.Sprintf("%s by %s (%s(%s))", ops[rng.IntN(len(ops))], groups[rng.IntN(len(groups))], funcs[(i+rng.IntN(2))%len(funcs)], sel)
			if rng.IntN(5) == 0 {
				q = "(" + q + ")"
			}
			start, end, step := randomEvalTimes(rng, t0)
			if step == 0 {
				step = time.Minute
			}
			params := url.Values{"query": {q}, "start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', -1, 64)},
				"end": {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', -1, 64)}, "step": {step.String()}}
			want, got := rawGet(t, offSrv.URL, params), rawGet(t, onSrv.URL, params)
			require.Equal(t, want, got, "names=%v %s %v", names, q, params)
		}
		t.Logf("names=%v: %d of 300 answered directly", names, on.direct.Load())
		require.Greater(t, on.direct.Load(), int64(60))
	}
}

func rawGet(t *testing.T, base string, params url.Values) string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query_range?" + params.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return fmt.Sprint(resp.StatusCode, " ", string(b))
}

// TestDirectAggregationTimeout: a direct aggregation past the request's
// timeout answers 503 timeout, as the engine does (whose own check of a
// deadline that has passed may come after its timer fires: not compared
// here).
func TestDirectAggregationTimeout(t *testing.T) {
	base := time.Unix(1_700_006_400, 0)
	db := openDB(t, 24*hour)
	load(t, db, tsbsQueryData(base))
	a, err := NewAdapter(db, Options{MetricsQLNames: true})
	require.NoError(t, err)
	on := newTestAPIAdapter(t, a)
	off := newTestAPI(t, db, Options{MetricsQLNames: true, DisablePushdown: true})
	params := url.Values{"query": {`avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`},
		"start": {strconv.FormatInt(base.Add(time.Hour).Unix(), 10)}, "end": {strconv.FormatInt(base.Add(3*time.Hour).Unix(), 10)},
		"step": {"60"}, "timeout": {"0.000001"}}
	r := get(t, on.URL, "/api/v1/query_range", params)
	require.Equal(t, http.StatusServiceUnavailable, r.code, r.Error)
	require.Equal(t, "timeout", r.ErrorType)
	require.Zero(t, a.direct.Load())
	params.Del("timeout")
	require.Equal(t, rawGet(t, off.URL, params), rawGet(t, on.URL, params))
	require.Equal(t, int64(1), a.direct.Load())
}
