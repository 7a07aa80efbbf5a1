package query

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// compareData generates 3 h of scrapes every 15 s, offset 3.7 s from the
// minute so that no query time or range boundary (all whole seconds
// ending in :20) falls on a sample: Prometheus 3 (our engine) excludes a
// sample exactly at the left boundary of a range and Prometheus 2.42 (the
// reference) includes it, a documented change that is not what we test.
func compareData(base time.Time) []testSeries {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 3 * 60 * 4
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = base.Add(3700*time.Millisecond + time.Duration(i)*15*time.Second).UnixNano()
	}
	var out []testSeries
	add := func(ls series.Labels, gen func(i int, prev float64) float64) {
		s := testSeries{labels: ls, ts: ts, vals: make([]float64, n)}
		prev := 0.0
		for i := range n {
			prev = gen(i, prev)
			s.vals[i] = prev
		}
		out = append(out, s)
	}
	for h := range 6 {
		kv := []string{"__name__", "cpu_usage", "host", fmt.Sprintf("h%d", h), "region", []string{"eu", "us"}[h%2]}
		if h < 4 {
			kv = append(kv, "env", "prod")
		}
		start := float64(10 + 13*h)
		add(series.FromStrings(kv...), func(i int, prev float64) float64 {
			if i == 0 {
				return start
			}
			return math.Round((prev+rng.Float64()*4-2)*100) / 100
		})
	}
	for h := range 3 {
		for _, m := range []string{"GET", "POST"} {
			for _, c := range []string{"200", "500"} {
				reset := h == 1 && m == "GET" && c == "200"
				add(series.FromStrings("__name__", "http_requests_total", "host", fmt.Sprintf("h%d", h), "method", m, "code", c),
					func(i int, prev float64) float64 {
						if reset && i == 300 {
							return 1
						}
						return prev + float64(rng.IntN(10))
					})
			}
		}
	}
	for h := range 2 {
		host := fmt.Sprintf("h%d", h)
		counts := make([]float64, 4)
		for b, le := range []string{"0.1", "0.5", "1", "+Inf"} {
			add(series.FromStrings("__name__", "req_duration_seconds_bucket", "host", host, "le", le), func(i int, prev float64) float64 {
				if b == 0 {
					// Draw this step's increments for all buckets, cumulatively.
					inc := 0.0
					for k := range counts {
						inc += float64(rng.IntN(5))
						counts[k] = inc
					}
				}
				return prev + counts[b]
			})
		}
	}
	return out
}

// writeOpenMetrics writes data in the OpenMetrics text format for
// promtool tsdb create-blocks-from openmetrics (timestamps in seconds).
func writeOpenMetrics(t *testing.T, path string, data []testSeries) {
	var sb strings.Builder
	for _, s := range data {
		name := s.labels.Get("__name__")
		var lb []string
		for _, l := range s.labels {
			if l.Name != "__name__" {
				lb = append(lb, fmt.Sprintf("%s=%q", l.Name, l.Value))
			}
		}
		prefix := name + "{" + strings.Join(lb, ",") + "} "
		for i, t := range s.ts {
			ms := t / 1e6
			fmt.Fprintf(&sb, "%s%s %d.%03d\n", prefix, strconv.FormatFloat(s.vals[i], 'g', -1, 64), ms/1000, ms%1000)
		}
	}
	sb.WriteString("# EOF\n")
	require.NoError(t, os.WriteFile(path, []byte(sb.String()), 0o644))
}

// startPrometheus builds TSDB blocks from data with promtool and serves
// them with a Prometheus that scrapes nothing, on a loopback port.
func startPrometheus(t *testing.T, data []testSeries) string {
	prom, err1 := exec.LookPath("prometheus")
	promtool, err2 := exec.LookPath("promtool")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("prometheus and promtool are required in CI (apt-get install prometheus): %v %v", err1, err2)
		}
		t.Skip("prometheus/promtool not installed (apt-get install prometheus); skipping the comparison with the real Prometheus")
	}
	dir := t.TempDir()
	om := filepath.Join(dir, "data.om")
	writeOpenMetrics(t, om, data)
	tsdb := filepath.Join(dir, "tsdb")
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", om, tsdb).CombinedOutput()
	require.NoError(t, err, "promtool: %s", out)
	cfg := filepath.Join(dir, "prometheus.yml")
	// No scrape_configs: Prometheus does not even scrape itself.
	require.NoError(t, os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1h\n"), 0o644))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+tsdb, "--web.listen-address="+addr,
		"--storage.tsdb.retention.time=3650d", "--log.level=warn")
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30s: %v\n%s", err, logs.String())
		}
		// A real prometheus process: its readiness has no event to wait
		// on but /-/ready, polled with a short pause within the deadline.
		time.Sleep(100 * time.Millisecond)
	}
}

// compareQueries covers selectors, every matcher type, rate and friends,
// the _over_time family, aggregations, topk, histogram_quantile, binary
// operators with vector matching, offset, @ and subqueries. %AT% is a time
// inside the data for @.
var compareQueries = []string{
	`cpu_usage`,
	`cpu_usage{host="h1"}`,
	`cpu_usage{host!="h1"}`,
	`cpu_usage{host=~"h[12]|h5"}`,
	`cpu_usage{host!~"h[12]"}`,
	`cpu_usage{env=""}`,
	`cpu_usage{env!="",region="eu"}`,
	`{__name__=~"cpu_.*",host="h3"}`,
	`{__name__=~"http_requests_total|cpu_usage",host="h0",code!~"5.."}`,
	`rate(http_requests_total[5m])`,
	`irate(http_requests_total[5m])`,
	`increase(http_requests_total{code="200"}[10m])`,
	`increase(http_requests_total[1h])`,
	`rate(req_duration_seconds_bucket[30m] offset 15m)`,
	`resets(http_requests_total[30m])`,
	`delta(cpu_usage[5m])`,
	`idelta(cpu_usage[5m])`,
	`deriv(cpu_usage[10m])`,
	`avg_over_time(cpu_usage[5m])`,
	`min_over_time(cpu_usage[5m])`,
	`max_over_time(cpu_usage[10m])`,
	`sum_over_time(cpu_usage[5m])`,
	`count_over_time(cpu_usage[7m])`,
	`quantile_over_time(0.9, cpu_usage[10m])`,
	`stddev_over_time(cpu_usage[10m])`,
	`stdvar_over_time(cpu_usage[10m])`,
	`last_over_time(cpu_usage[5m])`,
	`changes(cpu_usage[5m])`,
	`sum by (region) (cpu_usage)`,
	`avg without (host) (cpu_usage)`,
	`max by (region, env) (cpu_usage)`,
	`min without (host, env) (cpu_usage)`,
	`count by (method) (http_requests_total)`,
	`stddev by (region) (cpu_usage)`,
	`quantile by (region) (0.75, cpu_usage)`,
	`sum by (host) (rate(http_requests_total[5m]))`,
	`topk(2, cpu_usage)`,
	`bottomk(2, avg_over_time(cpu_usage[5m]))`,
	`topk by (region) (1, cpu_usage)`,
	`histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))`,
	`histogram_quantile(0.5, sum by (le, host) (rate(req_duration_seconds_bucket[10m])))`,
	`cpu_usage > 30`,
	`cpu_usage > bool 30`,
	`rate(http_requests_total[5m]) * 60`,
	`http_requests_total / ignoring(code) group_left sum without (code) (http_requests_total)`,
	`sum by (host) (http_requests_total) / on(host) group_left(region) cpu_usage`,
	`cpu_usage and on(host) (sum by (host) (rate(http_requests_total[5m])) > 0)`,
	`cpu_usage or http_requests_total{method="GET",code="200"}`,
	`cpu_usage unless cpu_usage{region="eu"}`,
	`cpu_usage offset 10m`,
	`rate(http_requests_total[5m] offset 30m)`,
	`cpu_usage @ %AT%`,
	`sum(rate(http_requests_total[5m] @ %AT%))`,
	`max_over_time(rate(http_requests_total[1m])[10m:1m])`,
	`avg_over_time(cpu_usage[5m:])`,
	`min_over_time(sum by (region) (cpu_usage)[15m:2m] offset 5m)`,
	`abs(delta(cpu_usage[5m])) + clamp_max(cpu_usage, 50)`,
	`label_replace(cpu_usage, "zone", "$1", "region", "(.*)")`,
	`avg by (host, field) (label_replace(avg_over_time(cpu_usage[10m]), "field", "cpu", "", "") or label_replace(max_over_time(http_requests_total{code="200"}[10m]), "field", "req", "", ""))`,
	`label_replace(min_over_time(cpu_usage{env="prod"}[5m]), "field", "min", "", "") or label_replace(count_over_time(cpu_usage[7m]), "field", "n", "", "") or label_replace(sum_over_time(cpu_usage[5m] offset 10m), "field", "", "", "")`,
	`timestamp(cpu_usage{host="h0"})`,
	`absent(nonexistent_metric)`,
	`vector(1) + scalar(sum(cpu_usage{host="h0"}))`,
}

type matrixSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

func queryMatrix(t *testing.T, base string, params url.Values) []matrixSeries {
	t.Helper()
	r := get(t, base, "/api/v1/query_range", params)
	require.Equal(t, "success", r.Status, "%s: %s %s", base, r.ErrorType, r.Error)
	var d struct {
		ResultType string         `json:"resultType"`
		Result     []matrixSeries `json:"result"`
	}
	require.NoError(t, json.Unmarshal(r.Data, &d))
	require.Equal(t, "matrix", d.ResultType)
	slices.SortFunc(d.Result, func(a, b matrixSeries) int { return strings.Compare(fmt.Sprint(a.Metric), fmt.Sprint(b.Metric)) })
	return d.Result
}

func requireSameMatrix(t *testing.T, q string, want, got []matrixSeries) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: series count", q)
	for i := range want {
		require.Equal(t, want[i].Metric, got[i].Metric, "%s: labels", q)
		require.Equal(t, len(want[i].Values), len(got[i].Values), "%s %v: points", q, want[i].Metric)
		for j, wp := range want[i].Values {
			gp := got[i].Values[j]
			require.Equal(t, wp[0], gp[0], "%s %v: timestamp of point %d", q, want[i].Metric, j)
			wv, _ := strconv.ParseFloat(wp[1].(string), 64)
			gv, _ := strconv.ParseFloat(gp[1].(string), 64)
			same := wv == gv || (math.IsNaN(wv) && math.IsNaN(gv)) ||
				math.Abs(wv-gv) <= 1e-9*math.Max(math.Abs(wv), math.Abs(gv))
			require.True(t, same, "%s %v at %v: want %v, got %v", q, want[i].Metric, wp[0], wv, gv)
		}
	}
}

// TestCompareWithPrometheus loads the same data into Prometheus 2.42 and
// Lightning DB and requires equal range query results (1e-9 relative).
func TestCompareWithPrometheus(t *testing.T) {
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	data := compareData(base)
	promURL := startPrometheus(t, data)

	db := openDB(t, 24*hour)
	load(t, db, data)
	ours := newTestAPI(t, db, Options{})
	baseline := newTestAPI(t, db, Options{DisableOptimizer: true})

	start := base.Add(time.Hour + 20*time.Second)
	end := base.Add(2*time.Hour + 50*time.Minute + 20*time.Second)
	at := strconv.FormatInt(base.Add(2*time.Hour+20*time.Second).Unix(), 10)
	for _, q := range compareQueries {
		q = strings.ReplaceAll(q, "%AT%", at)
		params := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)},
			"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}
		want := queryMatrix(t, promURL, params)
		if !strings.HasPrefix(q, "absent") {
			require.NotEmpty(t, want, "%s: the reference returned nothing; the case tests nothing", q)
		}
		requireSameMatrix(t, q, want, queryMatrix(t, ours.URL, params))
		requireSameMatrix(t, q+" (optimizer off)", want, queryMatrix(t, baseline.URL, params))
	}
}
