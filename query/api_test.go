package query

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/lightningdb/lightningdb/series"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tsbs.env.db != nil { // built by the benchmarks
		tsbs.env.db.Close()
		os.RemoveAll(tsbs.env.dir)
	}
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

const hour = int64(time.Hour)

// smallData: 4 hosts x 2 metrics over 48 h at 1 min, so two 24 h partitions;
// host h3 reports only on the first day.
func smallData(t0 int64) []testSeries {
	var out []testSeries
	for h := range 4 {
		for _, name := range []string{"cpu_usage", "mem_used"} {
			s := testSeries{labels: series.FromStrings("__name__", name, "host", fmt.Sprintf("h%d", h), "dc", []string{"eu", "us"}[h%2])}
			n := 48 * 60
			if h == 3 {
				n = 24 * 60
			}
			for i := range n {
				s.ts = append(s.ts, t0+int64(i)*int64(time.Minute))
				s.vals = append(s.vals, float64(h*1000+i%100)+0.25)
			}
			out = append(out, s)
		}
	}
	return out
}

func secs(ns int64) string { return strconv.FormatFloat(float64(ns)/1e9, 'f', -1, 64) }

func TestQueryAndRangeQuery(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9 // a day boundary in UTC
	load(t, db, smallData(t0))
	srv := newTestAPI(t, db, Options{})

	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {`cpu_usage{host="h1"}`}, "time": {secs(t0 + 10*int64(time.Minute))}})
	require.Equal(t, http.StatusOK, r.code, r.Error)
	require.JSONEq(t, `{"resultType":"vector","result":[{"metric":{"__name__":"cpu_usage","dc":"us","host":"h1"},"value":[1700007000,"1010.25"]}]}`, string(r.Data))

	r = postForm(t, srv.URL, "/api/v1/query_range", url.Values{"query": {`sum by (dc) (cpu_usage)`},
		"start": {secs(t0)}, "end": {secs(t0 + 2*int64(time.Minute))}, "step": {"60"}})
	require.Equal(t, http.StatusOK, r.code, r.Error)
	require.JSONEq(t, `{"resultType":"matrix","result":[
		{"metric":{"dc":"eu"},"values":[[1700006400,"2000.5"],[1700006460,"2002.5"],[1700006520,"2004.5"]]},
		{"metric":{"dc":"us"},"values":[[1700006400,"4000.5"],[1700006460,"4002.5"],[1700006520,"4004.5"]]}]}`, string(r.Data))

	// Scalar and empty results.
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"1+1"}, "time": {"4"}})
	require.JSONEq(t, `{"resultType":"scalar","result":[4,"2"]}`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"nothing_here"}, "time": {"4"}})
	require.JSONEq(t, `{"resultType":"vector","result":[]}`, string(r.Data))
}

func TestLookbackDelta(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, []testSeries{{labels: series.FromStrings("__name__", "sparse"), ts: []int64{t0}, vals: []float64{7}}})
	srv := newTestAPI(t, db, Options{LookbackDelta: 10 * time.Minute})
	at := secs(t0 + 8*int64(time.Minute))
	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {"sparse"}, "time": {at}})
	require.Contains(t, string(r.Data), `"7"`, "server default lookback 10m sees a sample 8m old")
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"sparse"}, "time": {at}, "lookback_delta": {"5m"}})
	require.JSONEq(t, `{"resultType":"vector","result":[]}`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"sparse"}, "time": {secs(t0 + 20*int64(time.Minute))}, "lookback_delta": {"30m"}})
	require.Contains(t, string(r.Data), `"7"`)
}

func TestErrors(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	srv := newTestAPI(t, db, Options{MaxSeries: 3, MaxSamples: 200})
	rng := func(q, step string) url.Values {
		return url.Values{"query": {q}, "start": {secs(t0)}, "end": {secs(t0 + hour)}, "step": {step}}
	}
	for _, tc := range []struct {
		path   string
		params url.Values
		code   int
		typ    string
		msg    string
	}{
		{"/api/v1/query", url.Values{"query": {"sum("}}, 400, "bad_data", "parse error"},
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, 400, "bad_data", `invalid parameter "time"`},
		{"/api/v1/query_range", rng("up", "0"), 400, "bad_data", "zero or negative query resolution step"},
		{"/api/v1/query_range", rng("up", "0.1"), 400, "bad_data", "exceeded maximum resolution of 11,000 points"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, 400, "bad_data", "end timestamp must not be before start time"},
		{"/api/v1/query", url.Values{"query": {"cpu_usage"}, "time": {secs(t0)}}, 422, "execution", "query selects too many series: 4 series selected, the limit is 3"},
		{"/api/v1/query_range", url.Values{"query": {`cpu_usage{host="h1"}`}, "start": {secs(t0)}, "end": {secs(t0 + 10*hour)}, "step": {"60"}}, 422, "execution", "query reads too many samples"},
		{"/api/v1/query", url.Values{"query": {"up"}, "timeout": {"-1"}}, 400, "bad_data", "timeout must be positive"},
		{"/api/v1/series", url.Values{}, 400, "bad_data", "no match[] parameter provided"},
		{"/api/v1/label/%FF/values", url.Values{}, 400, "bad_data", "invalid label name"},
		{"/api/v1/format_query", url.Values{"query": {"foo{"}}, 400, "bad_data", `invalid parameter "query"`},
	} {
		r := get(t, srv.URL, tc.path, tc.params)
		require.Equal(t, "error", r.Status, tc.path)
		require.Equal(t, tc.code, r.code, "%s %v: %s", tc.path, tc.params, r.Error)
		require.Equal(t, tc.typ, r.ErrorType)
		require.Contains(t, r.Error, tc.msg)
	}
	// Under the limits, the same server answers.
	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {`cpu_usage{host="h1"}`}, "time": {secs(t0)}})
	require.Equal(t, 200, r.code, r.Error)
}

func TestTimeout(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	srv := newTestAPI(t, db, Options{Timeout: time.Nanosecond})
	r := get(t, srv.URL, "/api/v1/query", url.Values{"query": {"cpu_usage"}, "time": {secs(t0)}})
	require.Equal(t, 503, r.code, r.Error)
	require.Equal(t, "timeout", r.ErrorType)
}

func TestMetadataEndpoints(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	srv := newTestAPI(t, db, Options{})

	r := get(t, srv.URL, "/api/v1/labels", nil)
	require.JSONEq(t, `["__name__","dc","host"]`, string(r.Data))
	r = postForm(t, srv.URL, "/api/v1/labels", url.Values{"match[]": {`{host="h1"}`}, "limit": {"2"}})
	require.JSONEq(t, `["__name__","dc"]`, string(r.Data))
	require.Equal(t, []string{"results truncated due to limit"}, r.Warnings)
	r = get(t, srv.URL, "/api/v1/label/host/values", nil)
	require.JSONEq(t, `["h0","h1","h2","h3"]`, string(r.Data))
	// Second day only: h3 stopped reporting at the end of day one.
	r = get(t, srv.URL, "/api/v1/label/host/values", url.Values{"start": {secs(t0 + 30*hour)}, "end": {secs(t0 + 40*hour)}})
	require.JSONEq(t, `["h0","h1","h2"]`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/label/U__host/values", url.Values{"match[]": {`mem_used{dc="eu"}`}})
	require.JSONEq(t, `["h0","h2"]`, string(r.Data))
	r = postForm(t, srv.URL, "/api/v1/series", url.Values{"match[]": {`{__name__!="",dc="us"}`}, "limit": {"40000"}})
	require.JSONEq(t, `[{"__name__":"cpu_usage","dc":"us","host":"h1"},{"__name__":"cpu_usage","dc":"us","host":"h3"},
		{"__name__":"mem_used","dc":"us","host":"h1"},{"__name__":"mem_used","dc":"us","host":"h3"}]`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/metadata", nil)
	require.JSONEq(t, `{}`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/query_exemplars", url.Values{"query": {"test"}})
	require.JSONEq(t, `[]`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/format_query", url.Values{"query": {"sum(rate(x[5m]))by(a)"}})
	require.JSONEq(t, `"sum by (a) (rate(x[5m]))"`, string(r.Data))
	r = get(t, srv.URL, "/api/v1/status/buildinfo", nil)
	var bi map[string]any
	require.NoError(t, json.Unmarshal(r.Data, &bi))
	require.NotContains(t, bi, "features")
	require.Contains(t, bi, "version")
	r = get(t, srv.URL, "/api/v1/status/tsdb", nil)
	var st TSDBStatus
	require.NoError(t, json.Unmarshal(r.Data, &st))
	require.EqualValues(t, 8, st.HeadStats.NumSeries)
	require.Equal(t, []TSDBStat{{"cpu_usage", 4}, {"mem_used", 4}}, st.SeriesCountByMetricName)
	// date=: the second day's partition only (h3 stopped on day one), and
	// VictoriaMetrics' topN for limit.
	day2 := time.Unix(0, t0+30*hour).UTC().Format(time.DateOnly)
	r = get(t, srv.URL, "/api/v1/status/tsdb", url.Values{"date": {day2}, "topN": {"1"}})
	st = TSDBStatus{}
	require.NoError(t, json.Unmarshal(r.Data, &st))
	require.EqualValues(t, 6, st.HeadStats.NumSeries)
	require.Equal(t, []TSDBStat{{"cpu_usage", 3}}, st.SeriesCountByMetricName)
	r = get(t, srv.URL, "/api/v1/status/tsdb", url.Values{"date": {"2023-13-01"}})
	require.Equal(t, 400, r.code)
	require.Contains(t, r.Error, "want YYYY-MM-DD")

	resp, err := http.Post(srv.URL+"/api/v1/label/host/values", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
