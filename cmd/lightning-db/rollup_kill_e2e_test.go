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

// TestRollupBuildKillE2E SIGKILLs the server during a rollup build with
// deletions on both sides of the build's progress, and checks after the
// restart that the rollups answer what the raw samples answer and that
// nothing deleted came back. The 1h tier is built first (rules build their
// tiers in order); once it is built past the marker, a sample of h1 at
// an hour's end with a value no other sample has, the marker is deleted
// (its interval's record must go from the built 1h tier and from the 5m
// tier, not built yet), and h0 is deleted over ten whole hours; the server
// is killed as soon as the 5m build has saved progress after that. A
// deletion that starts at an interval's end used to leave that interval's
// record in the tiers: the marker came back in the 1h rollups.
func TestRollupBuildKillE2E(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "..", "rollup-kill.yaml")
	yaml := `downsample:
  check_interval: 100ms
  build_step: 1h
  rules:
    - match: '{db="factory"}'
      tiers:
        - {after: 2h, interval: 1h}
        - {after: 2h, interval: 5m}
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := now.Add(-4 * 24 * time.Hour).Truncate(time.Hour)
	marker := base.Add(5 * time.Hour)
	var body strings.Builder
	for h := range 3 {
		for i, ts := 0, base; ts.Before(now.Add(-time.Hour)); i, ts = i+1, ts.Add(30*time.Second) {
			v := float64((i*31+h)%100) / 4
			if h == 1 && ts.Equal(marker) {
				v = 1e6
			}
			fmt.Fprintf(&body, "m,db=factory,host=h%d v=%g %d\n", h, v, ts.UnixNano())
		}
	}
	p := startServer(t, dir, "--config", cfg)
	if code, reply := write(t, p, "", body.String()); code != http.StatusNoContent {
		t.Fatalf("write: %d %s", code, reply)
	}
	p.stop() // flushes: rollups are built from sealed data
	p = startServer(t, dir, "--config", cfg)

	built := func(tier string) float64 {
		return p.metricValue(`lightningdb_rollup_built_through_seconds{tier="` + tier + `"}`)
	}
	poll(t, 30*time.Second, 5*time.Millisecond, func() string {
		if built("1h") > float64(marker.Unix()) {
			return ""
		}
		return fmt.Sprintf("1h tier built through %v; log:\n%s", built("1h"), p.log)
	})
	if built("5m") != 0 {
		t.Logf("the 5m tier started before the deletions, built through %v", time.Unix(int64(built("5m")), 0).UTC())
	}
	deleteSeries(t, p, `m_v{host="h1"}`, marker, marker)                                                  // an interval's end
	deleteSeries(t, p, `m_v{host="h0"}`, base.Add(30*time.Hour+time.Millisecond), base.Add(40*time.Hour)) // whole intervals
	from := built("5m")
	poll(t, 30*time.Second, 5*time.Millisecond, func() string {
		if built("5m") > from {
			return ""
		}
		return fmt.Sprintf("no 5m build progress past %v; log:\n%s", from, p.log)
	})
	target := now.Add(-2 * time.Hour).Truncate(time.Hour)
	at := built("5m")
	p.kill()
	t.Logf("killed with the 5m tier built through %v (mid-build: %v)", time.Unix(int64(at), 0).UTC(), at < float64(target.Unix()))

	p = startServer(t, dir, "--config", cfg)
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="1h"}`, float64(target.Unix()))
	waitMetric(t, p, `lightningdb_rollup_built_through_seconds{tier="5m"}`, float64(target.Unix()))
	rollupKillCheck(t, p, base, target, marker)
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	rollupKillCheck(t, p, base, target, marker)
	p.stop()
}

// deleteSeries deletes the samples of match over [start, end] through
// delete_series.
func deleteSeries(t *testing.T, p *proc, match string, start, end time.Time) {
	t.Helper()
	resp, err := http.PostForm(p.url("/api/v1/admin/tsdb/delete_series"), url.Values{"match[]": {match},
		"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}})
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete_series %s: %v %v", match, resp, err)
	}
	resp.Body.Close()
}

// rollupKillCheck: aligned queries over h0 and h2 read the tiers and
// answer what PromQL answers on the raw samples (h0's deleted hours
// included: none); the marker is in no answer of the tiers or of the raw
// data.
func rollupKillCheck(t *testing.T, p *proc, base, target, marker time.Time) {
	t.Helper()
	start, end := base.Add(time.Hour), target.Add(-time.Hour)
	for _, c := range []struct {
		q, ref, tier string
		step         time.Duration
	}{
		{`max_over_time(m_v{host!="h1"}[1h])`, `max_over_time({__name__=~"m_v",host!="h1"}[1h])`, "tier 1h", time.Hour},
		{`sum_over_time(m_v{host!="h1"}[2h])`, `sum_over_time({__name__=~"m_v",host!="h1"}[2h])`, "tier 1h", time.Hour},
		{`count_over_time(m_v{host!="h1"}[15m])`, `count_over_time({__name__=~"m_v",host!="h1"}[15m])`, "tier 5m", 5 * time.Minute},
	} {
		got, want := p.queryRange(c.q, start, end, c.step), p.queryRange(c.ref, start, end, c.step)
		if string(got.Result) != string(want.Result) || len(got.Result) < 10 {
			t.Fatalf("%s: rollups answered\n%.2000s\nraw answered\n%.2000s", c.q, got.Result, want.Result)
		}
		if why, _ := got.Selects[0]["rollup"].(string); !strings.HasPrefix(why, c.tier) {
			t.Errorf("%s: explain rollup %q, want %s...", c.q, why, c.tier)
		}
	}
	// h0's deleted hours are gone from the raw data (and so, by the
	// equality above, from the tiers).
	h0 := p.queryRange(`count_over_time({__name__=~"m_v",host="h0"}[1h])`, base.Add(31*time.Hour), base.Add(40*time.Hour), time.Hour)
	if string(h0.Result) != "[]" {
		t.Errorf("h0's deleted hours answer %s", h0.Result)
	}
	for _, c := range []struct {
		q, tier string
		step    time.Duration
	}{
		{`max_over_time(m_v{host="h1"}[1h])`, "tier 1h", time.Hour},
		{`max_over_time(m_v{host="h1"}[5m])`, "tier 5m", 5 * time.Minute},
		{`max_over_time({__name__=~"m_v",host="h1"}[5m])`, "raw", 5 * time.Minute},
	} {
		got := p.queryRange(c.q, marker.Add(-2*time.Hour), marker.Add(2*time.Hour), c.step)
		if why, _ := got.Selects[0]["rollup"].(string); !strings.HasPrefix(why, c.tier) {
			t.Errorf("%s: explain rollup %q, want %s...", c.q, why, c.tier)
		}
		var res []struct {
			Values [][2]any `json:"values"`
		}
		if err := json.Unmarshal(got.Result, &res); err != nil || len(res) != 1 || len(res[0].Values) == 0 {
			t.Fatalf("%s: %s (%v)", c.q, got.Result, err)
		}
		for _, v := range res[0].Values {
			if v[1] == "1000000" {
				t.Errorf("%s: the deleted marker is back at %v", c.q, v[0])
			}
		}
	}
}
