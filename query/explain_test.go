package query

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
)

func explainQuery(t *testing.T, base string, params url.Values) (json.RawMessage, *Trace) {
	t.Helper()
	params.Set("explain", "1")
	r := get(t, base, "/api/v1/query_range", params)
	require.Equal(t, "success", r.Status, r.Error)
	var d struct {
		Result  json.RawMessage `json:"result"`
		Explain *Trace          `json:"explain"`
	}
	require.NoError(t, json.Unmarshal(r.Data, &d))
	return d.Result, d.Explain
}

// TestExplainShowsPruning: over two 24 h partitions, a query on the second
// day touches one partition and fewer series (h3 stopped on day one) than
// the same query over both days, and than the optimizer-off baseline, with
// the same result.
func TestExplainShowsPruning(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	srv := newTestAPI(t, db, Options{})
	off := newTestAPI(t, db, Options{DisableOptimizer: true})

	q := `max by (host) (cpu_usage{dc=~"eu|us", host!="h0"})`
	narrow := url.Values{"query": {q}, "start": {secs(t0 + 30*hour)}, "end": {secs(t0 + 31*hour)}, "step": {"60"}}
	wide := url.Values{"query": {q}, "start": {secs(t0 + 1*hour)}, "end": {secs(t0 + 31*hour)}, "step": {"600"}}

	res, ex := explainQuery(t, srv.URL, narrow)
	require.True(t, ex.Optimizer)
	require.Len(t, ex.Selects, 1)
	s := ex.Selects[0]
	require.Equal(t, 2, s.PartitionsTotal)
	require.Len(t, s.Partitions, 1, "only the second day's partition")
	require.Equal(t, 2, s.Series, "h1, h2: h0 excluded by the matcher, h3 pruned with day one")
	require.Equal(t, int64(2*65), ex.Samples, "1 h and the 5 min lookback (left-open) per series")
	require.Equal(t, []MatcherStep{
		{Matcher: `__name__="cpu_usage"`, Op: "intersect", Series: 3},
		{Matcher: `dc=~"eu|us"`, Op: "intersect", Series: 6},
		{Matcher: `host!="h0"`, Op: "subtract", Series: 4},
	}, s.MatcherPlan)
	require.Contains(t, ex.Stages, "evalTotalTime")

	resOff, exOff := explainQuery(t, off.URL, narrow)
	require.False(t, exOff.Optimizer)
	require.Len(t, exOff.Selects[0].Partitions, 2, "no pruning with the optimizer off")
	require.Equal(t, 3, exOff.Selects[0].Series)
	require.JSONEq(t, string(resOff), string(res))

	_, exWide := explainQuery(t, srv.URL, wide)
	require.Len(t, exWide.Selects[0].Partitions, 2)
	require.Equal(t, 3, exWide.Selects[0].Series)

	// The repeated dashboard query resolves its matchers from the cache.
	_, again := explainQuery(t, srv.URL, narrow)
	require.True(t, again.Selects[0].Partitions[0].Cached)
	require.False(t, s.Partitions[0].Cached)
}

// TestParallelDecodeKeepsOrder: many series decoded by several workers
// come back in the order asked for and identical to a serial decode.
func TestParallelDecodeKeepsOrder(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	var data []testSeries
	for h := range 50 {
		data = append(data, smallData(t0+int64(h)*int64(time.Second))...)
	}
	for i := range data {
		data[i].labels = append(data[i].labels[:0:0], data[i].labels...)
		data[i].labels[1].Value += string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	load(t, db, data)
	par := newTestAPI(t, db, Options{Parallelism: 4, ParallelMinSeries: 2})
	ser := newTestAPI(t, db, Options{Parallelism: 1})
	params := url.Values{"query": {`cpu_usage`}, "start": {secs(t0)}, "end": {secs(t0 + 40*hour)}, "step": {"3600"}}
	a, ex := explainQuery(t, par.URL, params)
	require.Equal(t, 4, ex.Selects[0].Workers)
	b, exSer := explainQuery(t, ser.URL, params)
	require.Equal(t, 1, exSer.Selects[0].Workers)
	require.JSONEq(t, string(b), string(a))
}

// TestExplainShowsPushdown: over flushed segments (blocks of 100 samples),
// max_over_time over 6 h windows at a 6 h step takes whole blocks from their aggregates:
// explain names the pushdown and far fewer samples are decoded than with
// pushdown off, for the same result.
func TestExplainShowsPushdown(t *testing.T) {
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone, PartitionDuration: 24 * hour, BlockSamples: 100})
	require.NoError(t, err)
	defer db.Close()
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	require.NoError(t, db.Flush(context.Background()))
	on := newTestAPI(t, db, Options{})
	off := newTestAPI(t, db, Options{DisablePushdown: true})
	params := url.Values{"query": {`max by (dc) (max_over_time(cpu_usage[6h]))`},
		"start": {secs(t0 + 12*hour)}, "end": {secs(t0 + 48*hour)}, "step": {"21600"}}
	res, ex := explainQuery(t, on.URL, params)
	resOff, exOff := explainQuery(t, off.URL, params)
	require.JSONEq(t, string(resOff), string(res))
	require.Len(t, ex.Selects, 1)
	s := ex.Selects[0]
	require.Contains(t, s.Pushdown, "max_over_time evaluated in storage")
	require.Equal(t, `max_over_time(cpu_usage[6h])`, s.Selector)
	require.Greater(t, s.BlocksAggregated, int64(50))
	require.Empty(t, exOff.Selects[0].Pushdown)
	require.Less(t, ex.Samples*3, exOff.Samples, "pushdown decodes under a third of the samples")
	t.Logf("samples decoded: %d with pushdown, %d without; %s", ex.Samples, exOff.Samples, s.Pushdown)
}
