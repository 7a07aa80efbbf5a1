package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rangeResult is a query_range answer with its explain.
type rangeResult struct {
	Result   json.RawMessage
	Selects  []map[string]any
	Warnings []string
}

func (p *proc) queryRange(q string, start, end time.Time, step time.Duration) rangeResult {
	p.t.Helper()
	v := url.Values{"query": {q}, "start": {fmt.Sprint(start.Unix())}, "end": {fmt.Sprint(end.Unix())},
		"step": {fmt.Sprint(step.Seconds())}, "explain": {"1"}}
	resp, err := p.get("/api/v1/query_range?" + v.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status   string   `json:"status"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
		Data     struct {
			Result  json.RawMessage `json:"result"`
			Explain struct {
				Selects []map[string]any `json:"selects"`
			} `json:"explain"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		p.t.Fatalf("%s: %v %s", q, err, r.Error)
	}
	return rangeResult{r.Data.Result, r.Data.Explain.Selects, r.Warnings}
}

// TestDownsampleE2E writes six days of old samples to a server whose
// config rolls {db="factory"} up into 5m and 1h tiers after 2h, waits for
// the builder, and checks through the HTTP API that aligned queries read
// the tier (explain names it) and answer exactly what the same queries
// evaluated on raw samples answer (a regex name matcher is not pushed
// down: PromQL folds the raw samples itself). The build takes a day per
// step and tier; the server is SIGKILLed twice as soon as a restart has
// written records, mid-build: the build resumes, and the answers and
// record counts are the same after a clean restart (no interval twice).
func TestDownsampleE2E(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "..", "downsample.yaml")
	yaml := `downsample:
  check_interval: 100ms
  build_step: 1h
  rules:
    - match: '{db="factory"}'
      tiers:
        - {after: 2h, interval: 5m, retention: 30d}
        - {after: 2h, interval: 1h}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := now.Add(-6 * 24 * time.Hour).Truncate(time.Hour)
	var body strings.Builder
	for h := range 4 {
		counter := 0
		for i, ts := 0, base; ts.Before(now.Add(-time.Hour)); i, ts = i+1, ts.Add(30*time.Second+time.Duration(h)*time.Millisecond) {
			counter += (i*7 + h) % 13
			if i%997 == 500 {
				counter = 3 // a reset
			}
			fmt.Fprintf(&body, "m,db=factory,host=h%d v=%g %d\n", h, float64((i*31+h)%100)/8, ts.UnixNano())
			fmt.Fprintf(&body, "req,db=factory,host=h%d total=%di %d\n", h, counter, ts.UnixNano())
			fmt.Fprintf(&body, "o,db=other,host=h%d v=%d %d\n", h, i%50, ts.UnixNano())
		}
	}
	p := startServer(t, dir, "--config", cfg)
	resp, err := http.Post(p.url("/write"), "text/plain", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	p.stop() // flushes: rollups are built from sealed (flushed) data
	p = startServer(t, dir, "--config", cfg)
	target := now.Add(-2 * time.Hour).Truncate(time.Hour)
	built := func(p *proc) bool {
		return p.metricValue(`lightningdb_rollup_built_through_seconds{tier="1h"}`) >= float64(target.Unix()) &&
			p.metricValue(`lightningdb_rollup_built_through_seconds{tier="5m"}`) >= float64(target.Unix())
	}
	// Kill as soon as the build has saved progress since the start: with
	// an fsynced state file per hour of data, usually mid-build.
	progress := func(p *proc) float64 {
		return p.metricValue(`lightningdb_rollup_built_through_seconds{tier="5m"}`)
	}
	for i := range 2 {
		if built(p) {
			break
		}
		from := progress(p)
		poll(t, 20*time.Second, 10*time.Millisecond, func() string {
			if progress(p) > from {
				return ""
			}
			return fmt.Sprintf("no build progress past %v; log:\n%s", from, p.log)
		})
		mid := !built(p)
		p.kill()
		p = startServer(t, dir, "--config", cfg)
		t.Logf("kill %d: mid-build %v; the restart resumes from %v", i+1, mid, time.Unix(int64(progress(p)), 0).UTC())
	}
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="1h"}`, float64(target.Unix()))
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="5m"}`, float64(target.Unix()))

	start, end := base.Add(3*time.Hour), target.Add(-time.Hour)
	cases := []struct {
		q, ref, tier string
		step         time.Duration
	}{
		{`sum by (host) (max_over_time(m_v[1h]))`, `sum by (host) (max_over_time({__name__=~"m_v"}[1h]))`, "tier 1h", time.Hour},
		{`max by (db) (rate(req_total[2h]))`, `max by (db) (rate({__name__=~"req_total"}[2h]))`, "tier 1h", time.Hour},
		{`increase(req_total[3h])`, `increase({__name__=~"req_total"}[3h])`, "tier 1h", 2 * time.Hour},
		{`count_over_time(m_v[15m])`, `count_over_time({__name__=~"m_v"}[15m])`, "tier 5m", 5 * time.Minute},
		{`min_over_time(o_v[1h])`, `min_over_time({__name__=~"o_v"}[1h])`, "tier 1h", time.Hour}, // not covered: raw
		{`max_over_time(m_v[7m])`, `max_over_time({__name__=~"m_v"}[7m])`, "raw: ", 5 * time.Minute},
	}
	records := map[string]float64{}
	check := func(p *proc, round int) {
		t.Helper()
		for _, c := range cases {
			got, want := p.queryRange(c.q, start, end, c.step), p.queryRange(c.ref, start, end, c.step)
			if string(got.Result) != string(want.Result) || len(got.Result) < 10 {
				t.Fatalf("%s: rollups answered\n%s\nraw answered\n%s", c.q, got.Result, want.Result)
			}
			why, _ := got.Selects[0]["rollup"].(string)
			if !strings.HasPrefix(why, c.tier) {
				t.Errorf("%s: explain rollup %q, want %s...", c.q, why, c.tier)
			}
			n, _ := got.Selects[0]["rollupRecords"].(float64)
			if round == 0 {
				records[c.q] = n
			} else if records[c.q] != n {
				t.Errorf("%s: %v records after a restart, %v before", c.q, n, records[c.q])
			}
			if len(got.Warnings) != 0 {
				t.Errorf("%s: warnings %v", c.q, got.Warnings)
			}
		}
	}
	check(p, 0)
	if records[cases[0].q] == 0 || records[cases[4].q] != 0 {
		t.Fatalf("records read: %v", records)
	}
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	check(p, 1)
}

// TestDownsampleRetentionE2E: retention applies to raw data and to each
// tier separately. Rollups are built from 76 hours of samples; then the
// server restarts with raw retention 20h: the 5m tier (retention 26h) has
// no record of a day older than that left, the 1h tier (no retention)
// has, and an
// aligned query over the expired hours answers from the 1h rollups what
// the raw samples answered before, with a warning that raw data expired.
func TestDownsampleRetentionE2E(t *testing.T) {
	dir := t.TempDir()
	ds := `downsample:
  check_interval: 100ms
  rules:
    - match: '{db="factory"}'
      tiers:
        - {after: 2h, interval: 5m, retention: 26h}
        - {after: 2h, interval: 1h}
`
	cfg := filepath.Join(dir, "..", "downsample.yaml")
	if err := os.WriteFile(cfg, []byte(ds), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := now.Add(-76 * time.Hour).Truncate(time.Hour)
	var body strings.Builder
	for h := range 3 {
		for i, ts := 0, base; ts.Before(now.Add(-time.Hour)); i, ts = i+1, ts.Add(time.Minute) {
			fmt.Fprintf(&body, "m,db=factory,host=h%d v=%d %d\n", h, (i*17+h)%91, ts.UnixNano())
		}
	}
	p := startServer(t, dir, "--config", cfg)
	resp, err := http.Post(p.url("/write"), "text/plain", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	resp.Body.Close()
	p.stop() // flushes: rollups are built from sealed (flushed) data
	p = startServer(t, dir, "--config", cfg)
	target := now.Add(-2 * time.Hour).Truncate(time.Hour)
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="1h"}`, float64(target.Unix()))
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="5m"}`, float64(target.Unix()))
	q := `sum by (host) (max_over_time(m_v[1h]))`
	start, end := base.Add(time.Hour), base.Add(8*time.Hour)
	want := p.queryRange(`sum by (host) (max_over_time({__name__=~"m_v"}[1h]))`, start, end, time.Hour)
	p.stop()

	if err := os.WriteFile(cfg, []byte(ds+"retention:\n  default: 20h\n  check_interval: 100ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startServer(t, dir, "--config", cfg)
	waitMetric(t, p, "lightningdb_retention_dropped_samples_total", 1)
	got := p.queryRange(q, start, end, time.Hour)
	if string(got.Result) != string(want.Result) || len(want.Result) < 10 {
		t.Fatalf("after raw expiry the 1h rollups answered\n%s\nraw answered before\n%s", got.Result, want.Result)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "have expired") {
		t.Fatalf("warnings %q", got.Warnings)
	}
	// The 5m tier's records of a day partition older than 26h are gone
	// (the 5m tier's partitions are a day: an eighth of 26h, at least a
	// day); the 1h tier has them.
	day := now.Add(-26 * time.Hour).Truncate(24 * time.Hour).Add(-24 * time.Hour) // the partition before the cutoff's
	five := p.queryRange(`max_over_time(m_v[5m])`, day.Add(time.Hour), day.Add(3*time.Hour), 5*time.Minute)
	if why, _ := five.Selects[0]["rollup"].(string); !strings.HasPrefix(why, "tier 5m") {
		t.Fatalf("5m query: explain rollup %q", why)
	}
	if n := five.Selects[0]["rollupRecords"]; n != nil || string(five.Result) != "[]" {
		t.Fatalf("5m tier past its retention: %v records, %s", n, five.Result)
	}
	if n, _ := got.Selects[0]["rollupRecords"].(float64); n < 3*7 {
		t.Fatalf("1h tier: %v records", n)
	}
	if raw := p.queryRange(`sum by (host) (max_over_time({__name__=~"m_v"}[1h]))`, start, end, time.Hour); string(raw.Result) == string(want.Result) {
		t.Fatalf("raw samples did not expire: %s", raw.Result)
	}
}

// TestDeleteReachesRollupsE2E: a deletion removes the rollup records of
// the deleted samples too, through delete_series and InfluxQL alike;
// otherwise aligned queries, which read the tiers, would still show the
// deleted series.
func TestDeleteReachesRollupsE2E(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "..", "downsample-delete.yaml")
	yaml := `downsample:
  check_interval: 100ms
  rules:
    - match: '{db="factory"}'
      tiers:
        - {after: 2h, interval: 1h}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := now.Add(-2 * 24 * time.Hour).Truncate(time.Hour)
	var body strings.Builder
	for h := range 3 {
		for i, ts := 0, base; ts.Before(now.Add(-time.Hour)); i, ts = i+1, ts.Add(time.Minute) {
			fmt.Fprintf(&body, "m,db=factory,host=h%d v=%d %d\n", h, (i*31+h)%100, ts.UnixNano())
		}
	}
	p := startServer(t, dir, "--config", cfg)
	if code, reply := write(t, p, "db=factory", body.String()); code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, reply)
	}
	p.stop() // flushes: rollups are built from sealed data
	p = startServer(t, dir, "--config", cfg)
	target := now.Add(-2 * time.Hour).Truncate(time.Hour)
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="1h"}`, float64(target.Unix()))

	start, end := base.Add(2*time.Hour), target.Add(-time.Hour)
	hosts := func() string {
		t.Helper()
		got := p.queryRange(`max by (host) (max_over_time(m_v[1h]))`, start, end, time.Hour)
		if why, _ := got.Selects[0]["rollup"].(string); !strings.HasPrefix(why, "tier 1h") {
			t.Fatalf("explain rollup %q, want the 1h tier", why)
		}
		ref := p.queryRange(`max by (host) (max_over_time({__name__=~"m_v"}[1h]))`, start, end, time.Hour)
		if string(got.Result) != string(ref.Result) {
			t.Fatalf("rollups answered\n%s\nraw answered\n%s", got.Result, ref.Result)
		}
		var res []struct {
			Metric map[string]string `json:"metric"`
		}
		if err := json.Unmarshal(got.Result, &res); err != nil {
			t.Fatal(err)
		}
		var hs []string
		for _, r := range res {
			hs = append(hs, r.Metric["host"])
		}
		return strings.Join(hs, ",")
	}
	if got := hosts(); got != "h0,h1,h2" {
		t.Fatalf("hosts before the deletions: %q", got)
	}
	resp, err := http.PostForm(p.url("/api/v1/admin/tsdb/delete_series"), url.Values{"match[]": {`m_v{host="h0"}`}})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete_series: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := hosts(); got != "h1,h2" {
		t.Fatalf("hosts after delete_series of h0: %q", got)
	}
	resp, err = http.PostForm(p.url("/query"), url.Values{"db": {"factory"}, "q": {`DROP SERIES FROM m WHERE host='h1'`}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("DROP SERIES: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := hosts(); got != "h2" {
		t.Fatalf("hosts after DROP SERIES of h1: %q", got)
	}
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	if got := hosts(); got != "h2" {
		t.Fatalf("hosts after a restart: %q", got)
	}
	p.stop()
}
