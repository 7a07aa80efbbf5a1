package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionE2E writes four databases with old and recent samples,
// then restarts the server with retention rules from the config (a and d:
// 30 days) and from CREATE RETENTION POLICY on /query (b: 7 days), waits
// for the background enforcement on /metrics, and checks through
// /api/v1/export that the expired samples are gone and the rest kept,
// also after another restart.
func TestRetentionE2E(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	old, older, recent := now.Add(-40*24*time.Hour), now.Add(-50*24*time.Hour), now.Add(-time.Hour)
	p := startServer(t, dir)
	var body strings.Builder
	for _, db := range []string{"a", "b", "c"} {
		fmt.Fprintf(&body, "m,db=%s v=1 %d\nm,db=%s v=2 %d\n", db, old.UnixNano(), db, recent.UnixNano())
	}
	fmt.Fprintf(&body, "m,db=d v=1 %d\n", older.UnixNano())
	resp, err := http.Post(p.url("/write"), "text/plain", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	p.stop() // flushes: every sample is in a segment

	cfg := filepath.Join(dir, "..", "retention.yaml")
	yaml := "retention:\n  check_interval: 100ms\n  databases:\n    a: 30d\n    d: 30d\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startServer(t, dir, "--config", cfg)
	got := influxQuery(t, p, `CREATE RETENTION POLICY "week" ON "b" DURATION 7d REPLICATION 1 DEFAULT`)
	if got != `{"results":[{"statement_id":0}]}` {
		t.Fatalf("CREATE RETENTION POLICY: %s", got)
	}
	// a's rule may be enforced before the policy for b exists: wait for
	// all three expired samples (a and b old: rewrites; d: a whole drop).
	waitMetric(t, p, "lightningdb_retention_dropped_samples_total", 3)
	waitMetric(t, p, "lightningdb_retention_rewrites_total", 1)
	waitMetric(t, p, "lightningdb_retention_dropped_partitions_total", 1)
	check := func(p *proc) {
		t.Helper()
		want := map[string]int{"m_v{db=a}": 1, "m_v{db=b}": 1, "m_v{db=c}": 2}
		ex := p.export(`{__name__=~"m.*"}`)
		for k, n := range want {
			if len(ex[k].Timestamps) != n {
				t.Errorf("%s: %d samples %v, want %d", k, len(ex[k].Timestamps), ex[k].Timestamps, n)
			}
		}
		if e, ok := ex["m_v{db=d}"]; ok && len(e.Timestamps) > 0 {
			t.Errorf("db d expired but exported: %v", e.Timestamps)
		}
	}
	check(p)
	if v := p.metricValue("lightningdb_retention_dropped_samples_total"); v != 3 {
		t.Errorf("dropped samples %v, want 3 (a, b old; d)", v)
	}
	p.stop()

	p = startServer(t, dir, "--config", cfg)
	check(p)
	got = influxQuery(t, p, `SHOW RETENTION POLICIES ON "b"`)
	want := `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],` +
		`"values":[["autogen","0s","168h0m0s",1,false],["week","168h0m0s","24h0m0s",1,true]]}]}]}`
	if got != want {
		t.Fatalf("SHOW RETENTION POLICIES after restart:\n got %s\nwant %s", got, want)
	}
	// The restored policy applies: an old sample of b written now does not
	// outlive the flush at shutdown; one of c (kept for ever) does.
	late := fmt.Sprintf("m,db=b v=9 %d\nm,db=c v=9 %d\n", old.Add(time.Hour).UnixNano(), old.Add(time.Hour).UnixNano())
	resp, err = http.Post(p.url("/write"), "text/plain", strings.NewReader(late))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	defer p.stop()
	ex := p.export(`{__name__="m_v"}`)
	if n, m := len(ex["m_v{db=b}"].Timestamps), len(ex["m_v{db=c}"].Timestamps); n != 1 || m != 3 {
		t.Fatalf("after the late write and a restart: b has %d samples (want 1), c %d (want 3)", n, m)
	}
}

// influxQuery posts q to /query and returns the body without its newline.
func influxQuery(t *testing.T, p *proc, q string) string {
	t.Helper()
	resp, err := http.PostForm(p.url("/query"), url.Values{"q": {q}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("query %q: %d %s", q, resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// waitMetric polls /metrics until name reaches at least min, for 20 s.
func waitMetric(t *testing.T, p *proc, name string, min float64) {
	t.Helper()
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		if v := p.metricValue(name); v < min {
			return fmt.Sprintf("%s = %v after 20 s, want >= %v; log:\n%s", name, v, min, p.log)
		}
		return ""
	})
}

// TestRetentionKill SIGKILLs the server at varying moments while it
// enforces retention (a whole-partition drop and a rewrite per kill
// cycle), then checks that kept data is all there and expired data does
// not come back.
func TestRetentionKill(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	const nSeries = 200
	p := startServer(t, dir)
	var body strings.Builder
	for s := range nSeries {
		for d := 40; d <= 44; d++ { // five old partitions: a and c mixed
			ts := now.Add(-time.Duration(d) * 24 * time.Hour).UnixNano()
			fmt.Fprintf(&body, "m,db=a,s=%d v=%d %d\nm,db=c,s=%d v=%d %d\n", s, d, ts, s, d, ts)
		}
		fmt.Fprintf(&body, "m,db=a,s=%d v=1 %d\nm,db=c,s=%d v=1 %d\n", s, now.UnixNano(), s, now.UnixNano())
		fmt.Fprintf(&body, "m,db=x,s=%d v=1 %d\n", s, now.Add(-60*24*time.Hour).UnixNano()) // a partition of x alone
	}
	resp, err := http.Post(p.url("/write"), "text/plain", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	p.stop()
	cfg := filepath.Join(dir, "..", "retention.yaml")
	yaml := "retention:\n  check_interval: 20ms\n  databases:\n    a: 30d\n    x: 30d\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	// Kill points: after the first samples went (a drop or a rewrite
	// installed, other rewrites pending or running), as soon as ready (the
	// first run racing the kill), after a run.
	for i, event := range []string{"lightningdb_retention_dropped_samples_total", "", "lightningdb_retention_runs_total"} {
		p = startServer(t, dir, "--config", cfg)
		if event != "" {
			waitMetric(t, p, event, 1)
		}
		p.kill()
		t.Logf("kill %d at %q", i, event)
	}
	p = startServer(t, dir, "--config", cfg)
	defer p.stop()
	var ex map[string]exported
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		ex = p.export(`{__name__="m_v"}`)
		for k, e := range ex {
			if strings.Contains(k, "db=a") && len(e.Timestamps) != 1 || strings.Contains(k, "db=x") && len(e.Timestamps) > 0 {
				return fmt.Sprintf("after 20 s, %s holds %d samples: want 1 for db=a, none for db=x", k, len(e.Timestamps))
			}
		}
		return ""
	})
	var a, c int
	for k, e := range ex {
		switch {
		case strings.Contains(k, "db=a"):
			a++
			if len(e.Timestamps) != 1 {
				t.Errorf("%s: %d samples, want only the recent one", k, len(e.Timestamps))
			}
		case strings.Contains(k, "db=c"):
			c++
			if len(e.Timestamps) != 6 {
				t.Errorf("%s: %d samples, want 6 (kept for ever)", k, len(e.Timestamps))
			}
		case strings.Contains(k, "db=x") && len(e.Timestamps) > 0:
			t.Errorf("%s: expired samples came back: %v", k, e.Timestamps)
		}
	}
	if a != nSeries || c != nSeries {
		t.Fatalf("%d series of a and %d of c exported, want %d each", a, c, nSeries)
	}
}
