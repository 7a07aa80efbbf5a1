package main

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/prompb"
)

// TestFanoutInfluxQL: a query node over three peers holding a third of the
// data each answers InfluxQL (aggregates GROUP BY time and a tag, raw
// selects with a tag condition, SHOW statements) with the same JSON as
// one server holding everything; a frozen (SIGSTOP) peer gives a warning
// message naming it, and partial_response=false an error; writes, deletes
// and DDL are refused.
func TestFanoutInfluxQL(t *testing.T) {
	peers, all, qn, base := startFanout(t)
	// Measurement cpu_usage, field idle is stored as cpu_usage_idle, as
	// cpu's field usage_idle would be: only the catalog tells them apart.
	extra := fmt.Sprintf("cpu_usage,host=h0 idle=5 %d\ncpu_usage,host=h1 idle=7 %d\n", base.UnixNano(), base.Add(time.Minute).UnixNano())
	writeLines(t, peers[0], "fan", extra)
	writeLines(t, all, "fan", extra)
	// Every value type the engine stores, with nanosecond timestamps (two
	// points of a series 300 ns apart, in one millisecond), integers past
	// 2^53 and series split over the peers.
	for i, lines := range typedLines(base) {
		writeLines(t, peers[i], "fan", lines)
		writeLines(t, all, "fan", lines)
	}
	from := base.Format(time.RFC3339)
	to := base.Add(time.Hour).Format(time.RFC3339)
	where := " WHERE time >= '" + from + "' AND time < '" + to + "'"
	stmts := []string{
		`SELECT mean(usage), max(usage), count(req) FROM cpu` + where + ` GROUP BY time(10m), region`,
		`SELECT max(req) FROM cpu` + where + ` GROUP BY time(15m), host fill(none)`,
		`SELECT mean(temp), count(temp) FROM shared` + where + ` GROUP BY time(5m)`,
		`SELECT usage, req, host FROM cpu WHERE host = 'h4' AND time >= '` + from + `' AND time < '` + base.Add(10*time.Minute).Format(time.RFC3339) + `'`,
		`SELECT * FROM shared WHERE site = 'x' AND time > now() - 3h AND time < now()`,
		`SELECT last(usage) FROM cpu GROUP BY host`,
		`SELECT count(usage) FROM /c.u/`,
		`SELECT * FROM cpu_usage`,
		`SELECT count(usage) FROM cpu, cpu_usage WHERE time > '` + base.Add(-time.Hour).Format(time.RFC3339) + `'`,
		`SELECT * FROM dev`,
		`SELECT status, up, big, u, temp FROM dev WHERE host = 'h1' AND time >= '` + from + `'`,
		`SELECT last(status), last(big), last(u), last(up), last(temp) FROM dev GROUP BY host`,
		`SELECT first(status), max(big), min(u), count(up) FROM dev` + where + ` GROUP BY time(10m)`,
		`SELECT count(status), count(big), count(u), count(up), count(temp) FROM dev`,
		`SELECT distinct(status) FROM dev`,
		`SELECT mode(status) FROM dev GROUP BY host`,
		`SELECT temp FROM dev WHERE status = 'ok' AND up = true`,
		`SHOW FIELD KEYS FROM dev`,
		`SHOW MEASUREMENTS`,
		`SHOW TAG KEYS`,
		`SHOW TAG KEYS FROM cpu`,
		`SHOW TAG VALUES WITH KEY = host`,
		`SHOW TAG VALUES FROM cpu WITH KEY IN (region, host) WHERE region = 'r1'`,
		`SHOW FIELD KEYS`,
		`SHOW SERIES`,
		`SHOW SERIES FROM shared`,
	}
	for _, s := range stmts {
		for _, epoch := range []string{"", "ms", "ns"} {
			params := url.Values{"db": {"fan"}, "q": {s}}
			if epoch != "" {
				params.Set("epoch", epoch)
			}
			cw, want := influxGet(t, all, params, "")
			cg, got := influxGet(t, qn, params, "")
			if cw != 200 || !strings.Contains(want, `"series"`) {
				t.Fatalf("single node: %s: %d %s", s, cw, want)
			}
			if cg != cw || got != want {
				t.Errorf("%s (epoch %q):\nsingle  %d %.600s\nfan-out %d %.600s", s, epoch, cw, want, cg, got)
			}
		}
	}
	// A statement naming the database of its source, a db-less one, an
	// unknown database, a known one without the measurement.
	for _, params := range []url.Values{
		{"q": {`SELECT count(usage) FROM fan.autogen.cpu`}},
		{"q": {`SELECT count(usage) FROM cpu`}},
		{"db": {"nosuch"}, "q": {`SELECT count(usage) FROM cpu`}},
		{"db": {"fan"}, "q": {`SELECT count(usage) FROM nosuch`}},
		{"db": {"fan"}, "q": {`SHOW TAG VALUES FROM nosuch WITH KEY = host`}},
		{"q": {`SHOW DATABASES`}},
	} {
		cw, want := influxGet(t, all, params, "")
		if cg, got := influxGet(t, qn, params, ""); cg != cw || got != want {
			t.Errorf("%v:\nsingle  %d %s\nfan-out %d %s", params, cw, want, cg, got)
		}
	}

	// Cost against the single node (logged, not asserted: the machine is
	// shared): median of 15 runs.
	for _, s := range stmts[:3:3] {
		med := func(p *proc) time.Duration {
			var ds []time.Duration
			for range 15 {
				start := time.Now()
				influxGet(t, p, url.Values{"db": {"fan"}, "q": {s}}, "")
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		single, fan := med(all), med(qn)
		t.Logf("median: single node %v, query node %v (%.1fx): %.60s", single, fan, float64(fan)/float64(single), s)
	}

	t.Run("refused", func(t *testing.T) {
		for _, s := range []string{`DELETE FROM cpu`, `DROP MEASUREMENT cpu`, `DROP SERIES FROM cpu`, `DROP DATABASE fan`,
			`CREATE RETENTION POLICY one ON fan DURATION 1d REPLICATION 1`, `DROP RETENTION POLICY autogen ON fan`} {
			code, body := influxGet(t, qn, url.Values{"db": {"fan"}, "q": {s}}, "")
			if !strings.Contains(body, "not served by a query node") || strings.Contains(body, `"series"`) {
				t.Errorf("%s on the query node: %d %s", s, code, body)
			}
			t.Logf("%s: %d %s", s, code, body)
		}
		resp, err := http.Post(qn.url("/write?db=fan"), "text/plain", strings.NewReader("cpu,host=zz usage=1\n"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("write on the query node: %d, want 403", resp.StatusCode)
		}
		code, body := remoteWrite(t, qn, prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "x"}}, Samples: []prompb.Sample{{Timestamp: 1, Value: 1}}})
		if code != http.StatusForbidden || !strings.Contains(body, "query node") {
			t.Errorf("remote write on the query node: %d %s, want 403", code, body)
		}
	})

	t.Run("limit", func(t *testing.T) {
		cfg := filepath.Join(t.TempDir(), "query.yaml")
		writeFile(t, cfg, "query:\n  max_samples: 1000\ncluster:\n  query_peers: [http://"+peers[0].addr+", http://"+peers[1].addr+"]\n")
		small := startServer(t, t.TempDir(), "--config", cfg)
		code, body := influxGet(t, small, url.Values{"db": {"fan"}, "q": {`SELECT count(usage) FROM cpu`}}, "")
		if !strings.Contains(body, `"error":`) || !strings.Contains(body, "1000") || strings.Contains(body, `"series"`) {
			t.Fatalf("past query.max_samples: %d %s", code, body)
		}
		t.Logf("past query.max_samples: %d %s", code, body)
		code, body = influxGet(t, small, url.Values{"db": {"fan"}, "q": {`SELECT count(temp) FROM shared WHERE time < '` + base.Add(5*time.Minute).Format(time.RFC3339) + `'`}}, "")
		if !strings.Contains(body, `,30]`) {
			t.Fatalf("within query.max_samples: %d %s", code, body)
		}
	})

	count := url.Values{"db": {"fan"}, "q": {`SELECT count(usage) FROM cpu` + where}}
	t.Run("frozen peer", func(t *testing.T) {
		thaw := freeze(t, peers[2])
		start := time.Now()
		code, body := influxGet(t, qn, count, "")
		took := time.Since(start)
		// h2, h5, h8 are on peer 2: 6 hosts x 360 samples are left.
		if code != 200 || !strings.Contains(body, `"messages":[{"level":"warning","text":"fanout: node `) ||
			!strings.Contains(body, peers[2].addr) || !strings.Contains(body, `,2160]`) {
			t.Fatalf("frozen peer: %d %s", code, body)
		}
		if took > 10*time.Second {
			t.Errorf("frozen peer: answered after %v, peer timeout 2s", took)
		}
		t.Logf("frozen peer: answered in %v: %s", took, body)
		deny := url.Values{"partial_response": {"false"}}
		for k, v := range count {
			deny[k] = v
		}
		code, body = influxGet(t, qn, deny, "")
		if !strings.Contains(body, `"error":"partial response denied`) || !strings.Contains(body, peers[2].addr) || strings.Contains(body, `"series"`) {
			t.Fatalf("frozen peer, partial_response=false: %d %s", code, body)
		}
		t.Logf("partial_response=false: %d %s", code, body)
		thaw()
		_, want := influxGet(t, all, count, "")
		if _, got := influxGet(t, qn, count, ""); got != want {
			t.Errorf("thawed: single %s, fan-out %s", want, got)
		}
	})
}

// TestFanoutInfluxQLCluster: in a NATS cluster, a node with roles
// [ingest, query] takes line protocol (its catalog learns the fields) and
// answers InfluxQL over the storage nodes, as measurement and field.
func TestFanoutInfluxQLCluster(t *testing.T) {
	needNATSServer(t)
	nats := startNATSCluster(t, 3)
	urls := natsURLs(nats)
	var storage []*proc
	for i := range 3 {
		storage = append(storage, clusterNode(t, t.TempDir(), fmt.Sprintf("s%d", i+1), urls, "storage", 16))
	}
	iq := clusterNode(t, t.TempDir(), "iq", urls, "ingest, query", 16)
	waitClusterComplete(t, iq, "s1", "s2", "s3")
	waitApplied(t, storage...)
	var b strings.Builder
	for k := range 20 {
		for i := range 5 {
			fmt.Fprintf(&b, "clu,host=h%d v=%d,w=%di %d\n", k, k*10+i, i, int64(1_700_000_000+i)*int64(time.Second))
		}
	}
	resp := post(t, iq.url("/write?db=c"), "text/plain", []byte(b.String()), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()
	want := `{"results":[{"statement_id":0,"series":[{"name":"clu","columns":["time","count","sum"],"values":[[0,100,200]]}]}]}`
	poll(t, 30*time.Second, 100*time.Millisecond, func() string {
		_, got := influxGet(t, iq, url.Values{"db": {"c"}, "epoch": {"s"}, "q": {`SELECT count(v), sum(w) FROM clu`}}, "")
		if got != want {
			return "query node: " + got
		}
		return ""
	})
	_, got := influxGet(t, iq, url.Values{"db": {"c"}, "q": {`SHOW FIELD KEYS`}}, "")
	if got != `{"results":[{"statement_id":0,"series":[{"name":"clu","columns":["fieldKey","fieldType"],"values":[["v","float"],["w","integer"]]}]}]}` {
		t.Errorf("SHOW FIELD KEYS on the cluster query node: %s", got)
	}

	// A query-only node parses no line protocol: it learns that
	// cpu_load_short_term is measurement cpu_load, field short_term (not
	// cpu_load_short, term) from the catalog bucket the ingest node put
	// it in, and answers as the ingest node does.
	q := clusterNode(t, t.TempDir(), "q", urls, "query", 16)
	b.Reset()
	for k := range 4 {
		fmt.Fprintf(&b, "cpu_load,host=h%d short_term=%d,long_term=%di %d\n", k, k, 10*k, int64(1_700_000_000+k)*int64(time.Second))
	}
	resp = post(t, iq.url("/write?db=c"), "text/plain", []byte(b.String()), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()
	for _, st := range []struct{ q, want string }{
		{`SELECT sum(short_term), sum(long_term) FROM cpu_load`,
			`{"results":[{"statement_id":0,"series":[{"name":"cpu_load","columns":["time","sum","sum_1"],"values":[[0,6,60]]}]}]}`},
		{`SHOW FIELD KEYS FROM cpu_load`,
			`{"results":[{"statement_id":0,"series":[{"name":"cpu_load","columns":["fieldKey","fieldType"],"values":[["long_term","integer"],["short_term","float"]]}]}]}`},
		{`SHOW MEASUREMENTS`,
			`{"results":[{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["clu"],["cpu_load"]]}]}]}`},
	} {
		poll(t, 30*time.Second, 100*time.Millisecond, func() string {
			for _, n := range []*proc{iq, q} {
				if _, got := influxGet(t, n, url.Values{"db": {"c"}, "epoch": {"s"}, "q": {st.q}}, ""); got != st.want {
					return fmt.Sprintf("%s on %s: %s", st.q, n.url(""), got)
				}
			}
			return ""
		})
	}

	// The rest of the API on both query nodes: export (the same lines,
	// every series once, integers as integers), status/tsdb (each series
	// once: no partition moved) and metadata, which the node that
	// received the remote write shares through the metadata bucket.
	exp := url.Values{"match[]": {`{db="c"}`}}
	c1, l1, w1, b1 := exportLines(t, iq, exp)
	c2, l2, w2, _ := exportLines(t, q, exp)
	if c1 != 200 || c2 != 200 || len(w1)+len(w2) > 0 || len(l1) != 48 || !slices.Equal(l1, l2) || !strings.Contains(b1, `"__name__":"clu_w","db":"c","host":"h7"},"type":"integer","values":[0,1,2,3,4]`) {
		t.Errorf("export on the cluster's query nodes: %d %d lines %v, %d %d lines %v: %.400s", c1, len(l1), w1, c2, len(l2), w2, b1)
	}
	for _, n := range []*proc{iq, q} {
		code, a := apiGet(t, n, "/api/v1/status/tsdb", nil)
		if st := decodeStatus(t, a.Data); code != 200 || st.HeadStats.NumSeries != 48 || st.SeriesCountByMetricName["clu_v"] != 20 {
			t.Errorf("status/tsdb on %s: %d %s", n.url(""), code, a.Data)
		}
	}
	writeMetadata(t, iq, prompb.MetricMetadata{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "clu_v", Help: "V."})
	poll(t, 30*time.Second, 100*time.Millisecond, func() string {
		for _, n := range []*proc{iq, q, storage[0]} {
			want := `{"clu_v":[{"type":"gauge","help":"V.","unit":""}]}` // a storage node: its own store
			if code, a := apiGet(t, n, "/api/v1/metadata", url.Values{"metric": {"clu_v"}}); code != 200 || string(a.Data) != want || len(a.Warnings) > 0 {
				return fmt.Sprintf("metadata on %s: %d %s %v, want %s", n.url(""), code, a.Data, a.Warnings, want)
			}
		}
		return ""
	})
}

// typedLines returns line protocol for three peers: measurement dev with
// a string, a boolean, an integer past 2^53, an unsigned past 2^63 and a
// float field, at nanosecond timestamps; host h0's and h1's series are
// each split over the three peers, and every fifth point has a twin 300
// ns later.
func typedLines(base time.Time) [3]string {
	var out [3]strings.Builder
	statuses := []string{"ok", "warn", `de"gr\\aded`, "ok, mostly"}
	for k := range 30 {
		ts := base.Add(time.Duration(k)*time.Minute).UnixNano() + int64(k)*1001 + 7
		line := func(ts int64, k int) string {
			return fmt.Sprintf("dev,host=h%d status=%q,up=%t,big=%di,u=%du,temp=%g %d\n", k%2,
				statuses[k%len(statuses)], k%3 != 0, int64(1)<<53+int64(k), uint64(1)<<63+uint64(k)*3, 20+float64(k)/8, ts)
		}
		out[k%3].WriteString(line(ts, k))
		if k%5 == 0 {
			out[(k+1)%3].WriteString(line(ts+300, k+2))
		}
	}
	return [3]string{out[0].String(), out[1].String(), out[2].String()}
}
