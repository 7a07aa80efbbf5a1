package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestReadTokenSeesOnlyItsDatabase: a read token limited to db="a" sees
// only db="a" in every read path (PromQL instant, range and aggregated
// queries, series, labels, label values, export, remote read) and gets
// 403 for status/tsdb, which covers every series; a write token limited
// to db="a" writes there and nowhere else, by line protocol or remote
// write.
func TestReadTokenSeesOnlyItsDatabase(t *testing.T) {
	dir := t.TempDir()
	file, sec, _ := writeTokens(t, dir,
		tokenSpec{name: "admin", scopes: []string{"admin"}},
		tokenSpec{name: "ra", scopes: []string{"read"}, dbs: []string{"a"}},
		tokenSpec{name: "rh2", scopes: []string{"read"}, match: []string{`{host="h2"}`}},
		tokenSpec{name: "wa", scopes: []string{"write"}, dbs: []string{"a"}},
		tokenSpec{name: "aa", scopes: []string{"admin"}, dbs: []string{"a"}})
	p := startServer(t, t.TempDir(), "--token-file", file)
	defer p.stop()
	now := time.Now().Unix()
	for _, db := range []string{"a", "b"} {
		code, body := call(t, nil, http.MethodPost, p.url("/write?precision=s&db="+db), sec["admin"], nil)
		require.Equal(t, 204, code, body) // an empty body is a valid write
		lines := fmt.Sprintf("cpu,host=h1 value=1 %d\ncpu,host=h2 value=2 %d\n", now-30, now-30)
		code, body = postWith(t, sec["admin"], p.url("/write?precision=s&db="+db), lines)
		require.Equal(t, 204, code, body)
	}
	ra := tokenClient(sec["ra"])
	get := func(c *http.Client, path string, form url.Values) string {
		resp, err := c.Get(p.url(path) + "?" + form.Encode())
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, "%s: %s", path, b)
		return string(b)
	}
	onlyA := func(what, body string) {
		t.Helper()
		if !strings.Contains(body, `"a"`) || strings.Contains(body, `"b"`) {
			t.Errorf("%s with the db=a token: %s", what, body)
		}
	}
	ts := fmt.Sprint(now)
	onlyA("query", get(ra, "/api/v1/query", url.Values{"query": {"cpu_value"}, "time": {ts}}))
	onlyA("aggregated query", get(ra, "/api/v1/query", url.Values{"query": {"sum by (db) (cpu_value)"}, "time": {ts}}))
	onlyA("rate query", get(ra, "/api/v1/query", url.Values{"query": {"sum by (db) (count_over_time(cpu_value[5m]))"}, "time": {ts}}))
	onlyA("range query", get(ra, "/api/v1/query_range", url.Values{"query": {"cpu_value"}, "start": {fmt.Sprint(now - 120)}, "end": {ts}, "step": {"15"}}))
	onlyA("aggregated range query", get(ra, "/api/v1/query_range", url.Values{"query": {"sum by (db) (count_over_time(cpu_value[2m]))"},
		"start": {fmt.Sprint(now - 120)}, "end": {ts}, "step": {"15"}}))
	onlyA("range query with a subquery", get(ra, "/api/v1/query_range", url.Values{"query": {"max by (db) (max_over_time(sum by (db, host) (cpu_value)[2m:15s]))"},
		"start": {fmt.Sprint(now - 120)}, "end": {ts}, "step": {"15"}}))
	if body := get(ra, "/api/v1/query", url.Values{"query": {`cpu_value{db="b"}`}, "time": {ts}}); !strings.Contains(body, `"result":[]`) {
		t.Errorf("db=b asked for explicitly: %s", body)
	}
	onlyA("series", get(ra, "/api/v1/series", url.Values{"match[]": {"cpu_value"}}))
	onlyA("label values", get(ra, "/api/v1/label/db/values", nil))
	onlyA("export", get(ra, "/api/v1/export", url.Values{"match[]": {`{__name__=~".+"}`}}))
	onlyA("export of everything", get(ra, "/api/v1/export", nil))
	if body := get(tokenClient(sec["rh2"]), "/api/v1/label/host/values", nil); body != `{"status":"success","data":["h2"]}`+"\n" && !strings.Contains(body, `["h2"]`) {
		t.Errorf("label values with the host=h2 token: %s", body)
	}
	for _, path := range []string{"/api/v1/status/tsdb", "/api/v1/metadata"} {
		if code, body := call(t, nil, http.MethodGet, p.url(path), sec["ra"], nil); code != 403 {
			t.Errorf("%s with a limited token: %d %s", path, code, body)
		}
	}
	if code, body := call(t, nil, http.MethodPost, p.url("/query"), sec["aa"], url.Values{"q": {"DROP DATABASE b"}}); code != 403 {
		t.Errorf("DROP DATABASE b with an admin token limited to db=a: %d %s", code, body)
	}
	// Snapshots copy every series and import writes any series.
	for _, path := range []string{"/api/v1/admin/tsdb/snapshot", "/snapshot/create", "/api/v1/import"} {
		if code, body := call(t, nil, http.MethodPost, p.url(path), sec["aa"], nil); code != 403 || !strings.Contains(body, "unlimited admin token") {
			t.Errorf("%s with an admin token limited to db=a: %d %s", path, code, body)
		}
	}

	if got := remoteReadDBs(t, p, sec["ra"], (now-120)*1000, now*1000); !slices.Equal(got, []string{"a", "a"}) {
		t.Errorf("remote read with the db=a token: dbs %v", got)
	}

	// InfluxQL (/query): the same limits in SELECT and SHOW.
	iql := func(token, db, stmt string) string {
		t.Helper()
		return get(tokenClient(token), "/query", url.Values{"db": {db}, "q": {stmt}})
	}
	if body := iql(sec["ra"], "a", "SELECT value FROM cpu"); !strings.Contains(body, `"values"`) {
		t.Errorf("InfluxQL SELECT on db=a with the db=a token: %s", body)
	}
	for _, stmt := range []string{"SELECT value FROM cpu", "SHOW SERIES", "SHOW MEASUREMENTS", "SHOW TAG VALUES WITH KEY = host"} {
		if body := iql(sec["ra"], "b", stmt); strings.Contains(body, `"values"`) || strings.Contains(body, "cpu") {
			t.Errorf("InfluxQL %q on db=b with the db=a token: %s", stmt, body)
		}
	}
	if body := iql(sec["rh2"], "a", "SHOW TAG VALUES WITH KEY = host"); !strings.Contains(body, "h2") || strings.Contains(body, "h1") {
		t.Errorf("InfluxQL SHOW TAG VALUES with the host=h2 token: %s", body)
	}
	if body := iql(sec["rh2"], "a", "SELECT value FROM cpu GROUP BY host"); !strings.Contains(body, `"h2"`) || strings.Contains(body, `"h1"`) {
		t.Errorf("InfluxQL SELECT with the host=h2 token: %s", body)
	}
	if body := iql(sec["ra"], "", "SHOW DATABASES"); !strings.Contains(body, `["a"]`) || strings.Contains(body, `["b"]`) {
		t.Errorf("SHOW DATABASES with the db=a token: %s", body)
	}

	// Writes: db=a only.
	if code, body := postWith(t, sec["wa"], p.url("/write?db=a"), "mem value=1\n"); code != 204 {
		t.Errorf("write to db=a with the db=a token: %d %s", code, body)
	}
	if code, body := postWith(t, sec["wa"], p.url("/write?db=b"), "mem value=1\n"); code != 403 {
		t.Errorf("write to db=b with the db=a token: %d %s", code, body)
	}
	wr := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw"}, {Name: "db", Value: "b"}},
		Samples: []prompb.Sample{{Timestamp: now * 1000, Value: 1}}}}}
	data, err := wr.Marshal()
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodPost, p.url("/api/v1/write"), bytes.NewReader(s2.EncodeSnappy(nil, data)))
	req.Header.Set("Authorization", "Bearer "+sec["wa"])
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("remote write of db=b with the db=a token: %d", resp.StatusCode)
	}

	// An admin token limited to db=a deletes within db=a only.
	if code, body := call(t, nil, http.MethodPost, p.url("/api/v1/admin/tsdb/delete_series"), sec["aa"], url.Values{"match[]": {"cpu_value"}}); code != 204 {
		t.Errorf("delete_series with an admin token limited to db=a: %d %s", code, body)
	}
	body := get(tokenClient(sec["admin"]), "/api/v1/query", url.Values{"query": {"count by (db) (cpu_value)"}, "time": {ts}})
	if strings.Contains(body, `"a"`) || !strings.Contains(body, `"b"`) {
		t.Errorf("cpu_value after the db=a admin deleted it: %s", body)
	}
}

// postWith posts body with the token as `Authorization: Token` (InfluxDB 2).
func postWith(t *testing.T, token, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// remoteReadDBs remote-reads cpu_value with the token and returns the db
// label of each series.
func remoteReadDBs(t *testing.T, p *proc, token string, start, end int64) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, p.url("/api/v1/read"),
		bytes.NewReader(readRequestBody(t, "cpu_value", start, end, prompb.ReadRequest_SAMPLES)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(body))
	raw, err := s2.Decode(nil, body)
	require.NoError(t, err)
	var rr prompb.ReadResponse
	require.NoError(t, rr.Unmarshal(raw))
	var dbs []string
	for _, ts := range rr.Results[0].Timeseries {
		for _, l := range ts.Labels {
			if l.Name == "db" {
				dbs = append(dbs, l.Value)
			}
		}
	}
	slices.Sort(dbs)
	return dbs
}
