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

// influxResult is one statement's result of /query.
type influxResult struct {
	Series   json.RawMessage `json:"series"`
	Messages []struct {
		Level, Text string
	} `json:"messages"`
	Error string `json:"error"`
}

// influxQL runs q on db factory as Grafana does (epoch=ms) and returns
// its one result and the body.
func influxQL(t *testing.T, p *proc, q string) (influxResult, string) {
	t.Helper()
	code, body := influxGet(t, p, url.Values{"db": {"factory"}, "epoch": {"ms"}, "q": {q}}, "")
	var r struct{ Results []influxResult }
	if err := json.Unmarshal([]byte(body), &r); code != http.StatusOK || err != nil || len(r.Results) != 1 || r.Results[0].Error != "" {
		t.Fatalf("%s: %d %s", q, code, body)
	}
	return r.Results[0], body
}

// TestInfluxQLRollupsE2E: a server rolls {db="factory"} up into a 1h tier;
// a Grafana-style GROUP BY time(1h) statement reads the tier (EXPLAIN
// names it) and answers what raw data answers (the same statement with a
// WHERE on a field, which reads raw samples). Once retention has dropped
// the raw data it answers the same from the rollups, with a warning
// message, and after a restart the measurement and host that only the
// tier still holds are listed by SHOW and read by SELECT.
func TestInfluxQLRollupsE2E(t *testing.T) {
	dir := t.TempDir()
	ds := `downsample:
  check_interval: 100ms
  rules:
    - match: '{db="factory"}'
      tiers:
        - {after: 2h, interval: 1h}
`
	cfg := filepath.Join(dir, "..", "influxql-rollups.yaml")
	if err := os.WriteFile(cfg, []byte(ds), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := now.Add(-76 * time.Hour).Truncate(time.Hour)
	var body strings.Builder
	for i, ts := 0, base; ts.Before(now.Add(-time.Hour)); i, ts = i+1, ts.Add(time.Minute) {
		for h := range 3 { // h0 on the hours: records split at window ends
			fmt.Fprintf(&body, "m,host=h%d v=%di,f=%g %d\n", h, (i*17+h)%91, float64((i*7+h)%40)/4, ts.Add(time.Duration(h)*time.Second).UnixNano())
		}
		if ts.Before(base.Add(24 * time.Hour)) { // only the first day: gone from raw data later
			fmt.Fprintf(&body, "m,host=h9 v=%di,f=1 %d\n", i%50, ts.Add(20*time.Second).UnixNano())
			fmt.Fprintf(&body, "old,host=x v=%d %d\n", i%7, ts.Add(30*time.Second).UnixNano())
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

	from, to := base.Add(time.Hour), base.Add(30*time.Hour-time.Millisecond)
	span := fmt.Sprintf(`time >= %dms and time <= %dms`, from.UnixMilli(), to.UnixMilli())
	grafana := `SELECT mean("v"), max("v"), sum("f"), count("v") FROM "m" WHERE ` + span + ` GROUP BY time(1h), "host" fill(null)`
	rawQ := `SELECT mean("v"), max("v"), sum("f"), count("v") FROM "m" WHERE ` + span + ` AND "v" >= 0 GROUP BY time(1h), "host" fill(null)`
	oldQ := `SELECT mean("v") FROM "old" WHERE ` + span + ` GROUP BY time(2h) fill(none)`
	want, wantBody := influxQL(t, p, grafana)
	if raw, _ := influxQL(t, p, rawQ); string(raw.Series) != string(want.Series) || !strings.Contains(string(want.Series), `"h9"`) {
		t.Fatalf("with raw data, rollups answered\n%s\nraw samples answered\n%s", want.Series, raw.Series)
	}
	if strings.Contains(wantBody, "messages") {
		t.Fatalf("messages while raw data exists: %s", wantBody)
	}
	if _, plan := influxQL(t, p, "EXPLAIN "+grafana); !strings.Contains(plan, "ROLLUP: tier 1h: GROUP BY time(1h0m0s)") {
		t.Fatalf("explain: %s", plan)
	}
	wantOld, _ := influxQL(t, p, oldQ)
	p.stop()

	if err := os.WriteFile(cfg, []byte(ds+"retention:\n  default: 20h\n  check_interval: 100ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startServer(t, dir, "--config", cfg)
	waitMetric(t, p, "lightningdb_retention_dropped_samples_total", 1)
	got, _ := influxQL(t, p, grafana)
	if string(got.Series) != string(want.Series) {
		t.Fatalf("after raw expiry the rollups answered\n%s\nraw data answered before\n%s", got.Series, want.Series)
	}
	if len(got.Messages) != 1 || got.Messages[0].Level != "warning" || !strings.Contains(got.Messages[0].Text, "have expired; mean(v), max(v), sum(f), count(v) answered there from the 1h rollups only") {
		t.Fatalf("messages %+v", got.Messages)
	}
	if code, b := influxGet(t, p, url.Values{"db": {"factory"}, "epoch": {"ms"}, "chunked": {"true"}, "q": {grafana}}, ""); code != http.StatusOK ||
		strings.Count(b, `"messages":[{"level":"warning"`) != 1 {
		t.Fatalf("chunked: %d %.300s", code, b)
	}
	if raw, _ := influxQL(t, p, rawQ); string(raw.Series) == string(want.Series) {
		t.Fatalf("raw samples did not expire: %s", raw.Series)
	}
	p.stop()

	// The restart forgets catalog entries without series; the tier holds
	// old's and h9's.
	p = startServer(t, dir, "--config", cfg)
	for q, w := range map[string]string{
		`SHOW MEASUREMENTS`:                      `[["m"],["old"]]`,
		`SHOW TAG VALUES FROM m WITH KEY = host`: `["host","h9"]`,
	} {
		if _, b := influxQL(t, p, q); !strings.Contains(b, w) {
			t.Errorf("%s: %s, want %s", q, b, w)
		}
	}
	if old, _ := influxQL(t, p, oldQ); string(old.Series) != string(wantOld.Series) || len(old.Messages) != 1 {
		t.Errorf("old from the tier: %s %+v\nwant %s", old.Series, old.Messages, wantOld.Series)
	}
}
