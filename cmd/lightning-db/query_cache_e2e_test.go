package main

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQueryCacheBudgetE2E: query.cache_bytes bounds the query caches and
// /metrics reports them: the budget and each cache's share, the bytes and
// entries held (never above the share), hits after a repeated query over
// data in segments, and evictions when the windows do not fit.
func TestQueryCacheBudgetE2E(t *testing.T) {
	base := time.Now().Add(-15 * time.Hour).Truncate(time.Hour)
	d := newTSBSE2EData(base, 9, 14*360)
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("query:\n  cache_bytes: 32768\n"), 0o644))
	p := startServer(t, dir, "--config", cfg, "--metricsql-names")
	for _, body := range d.lineProtocol() {
		resp, err := http.Post(p.url("/write?db=tsbs"), "text/plain", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	p.stop() // flushes the memtable: windows over segments are final, so cached
	p = startServer(t, dir, "--config", cfg, "--metricsql-names")
	require.Equal(t, 32768.0, metricValue(t, p, "lightningdb_query_cache_budget_bytes"))
	require.Equal(t, 28672.0, metricValue(t, p, `lightningdb_query_cache_share_bytes{cache="window"}`))
	require.Equal(t, 4096.0, metricValue(t, p, `lightningdb_query_cache_share_bytes{cache="postings"}`))
	query := func(q string, start time.Time) {
		a := apiCall(t, p, "/api/v1/query_range", url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)},
			"end": {strconv.FormatInt(start.Add(12*time.Hour).Unix(), 10)}, "step": {"3600"}}, false)
		require.Equal(t, http.StatusOK, a.code, "%.300s", a.body)
	}
	one := `avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`
	query(one, base.Add(time.Hour))
	require.Zero(t, metricValue(t, p, `lightningdb_query_cache_hits_total{cache="window"}`))
	query(one, base.Add(time.Hour))
	require.Equal(t, 9.0, metricValue(t, p, `lightningdb_query_cache_hits_total{cache="window"}`), "9 hosts' windows found")
	require.Equal(t, 9.0*13, metricValue(t, p, `lightningdb_query_cache_entries{cache="window"}`))
	require.NotZero(t, metricValue(t, p, `lightningdb_query_cache_hits_total{cache="postings"}`))
	require.Equal(t, 2.0, metricValue(t, p, "lightningdb_query_direct_total"), "avg by (__name__, hostname): direct aggregation")
	// All ten fields' windows (90 series x 13 x 32 bytes and more) do not
	// fit in 28 KiB: evicted, never above the share.
	query(`avg(avg_over_time({__name__=~'cpu_.*'}[1h])) by (__name__, hostname)`, base.Add(2*time.Hour))
	require.NotZero(t, metricValue(t, p, `lightningdb_query_cache_evictions_total{cache="window"}`))
	for _, c := range []string{"window", "postings"} {
		held := metricValue(t, p, `lightningdb_query_cache_bytes{cache="`+c+`"}`)
		require.Positive(t, held, c)
		require.LessOrEqual(t, held, metricValue(t, p, `lightningdb_query_cache_share_bytes{cache="`+c+`"}`), c)
	}
}
