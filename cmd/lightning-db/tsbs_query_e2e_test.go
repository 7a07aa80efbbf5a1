package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tsbsE2EFields are TSBS's cpu fields in its order; F5 is the first five.
var tsbsE2EFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

// tsbsE2EData is TSBS-shaped cpu data kept for computing expected answers:
// vals[host][field][i] at base + i*10s.
type tsbsE2EData struct {
	base  time.Time
	hosts int
	n     int
	vals  [][][]float64
}

// lineProtocol returns the data as TSBS's cpu lines (integer random walks
// in [0, 100] with the TSBS host tags), in bodies of at most 2,000 lines.
func (d *tsbsE2EData) lineProtocol() [][]byte {
	var bodies [][]byte
	var b bytes.Buffer
	lines := 0
	for i := range d.n {
		ts := d.base.Add(time.Duration(i) * 10 * time.Second).UnixNano()
		for h := range d.hosts {
			fmt.Fprintf(&b, "cpu,hostname=host_%d,region=eu-west-1,datacenter=eu-west-1a,rack=%d,os=Ubuntu16.04LTS,arch=x64,team=SF,service=%d,service_version=0,service_environment=production ", h, h%4, h%3)
			for f, field := range tsbsE2EFields {
				if f > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%s=%di", field, int64(d.vals[h][f][i]))
			}
			fmt.Fprintf(&b, " %d\n", ts)
			if lines++; lines == 2000 {
				bodies, lines = append(bodies, bytes.Clone(b.Bytes())), 0
				b.Reset()
			}
		}
	}
	if b.Len() > 0 {
		bodies = append(bodies, b.Bytes())
	}
	return bodies
}

func newTSBSE2EData(base time.Time, hosts, n int) *tsbsE2EData {
	rng := rand.New(rand.NewPCG(17, 17))
	d := &tsbsE2EData{base: base, hosts: hosts, n: n, vals: make([][][]float64, hosts)}
	for h := range hosts {
		d.vals[h] = make([][]float64, len(tsbsE2EFields))
		for f := range tsbsE2EFields {
			vs := make([]float64, n)
			v := float64(rng.IntN(101))
			for i := range vs {
				v = math.Min(100, math.Max(0, v+float64(rng.IntN(11)-5)))
				vs[i] = v
			}
			d.vals[h][f] = vs
		}
	}
	return d
}

// tsbsE2EQuery is one of the 11 TSBS cpu query types as TSBS writes it for
// VictoriaMetrics, with what the test needs to compute its answer.
type tsbsE2EQuery struct {
	name       string
	query      string
	rng, step  time.Duration
	fields     []int // field indexes read
	hosts      []int // hosts read
	window     time.Duration
	avgPerHost bool // avg(avg_over_time(...)) by (__name__, hostname); else max(max_over_time) by (__name__)
}

func tsbsE2EQueries() []tsbsE2EQuery {
	f := func(k int) ([]int, string) {
		idx := make([]int, k)
		names := make([]string, k)
		for i := range k {
			idx[i], names[i] = i, tsbsE2EFields[i]
		}
		return idx, strings.Join(names, "|")
	}
	f1, _ := f(1)
	f5, f5s := f(5)
	f10, f10s := f(10)
	h8 := []int{0, 1, 2, 3, 4, 5, 6, 7}
	h8s := "host_0|host_1|host_2|host_3|host_4|host_5|host_6|host_7"
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	return []tsbsE2EQuery{
		{"single-groupby-1-1-1", `max(max_over_time(cpu_usage_user{hostname='host_3'}[1m])) by (__name__)`, time.Hour, time.Minute, f1, []int{3}, time.Minute, false},
		{"single-groupby-1-1-12", `max(max_over_time(cpu_usage_user{hostname='host_3'}[1m])) by (__name__)`, 12 * time.Hour, time.Minute, f1, []int{3}, time.Minute, false},
		{"single-groupby-1-8-1", `max(max_over_time(cpu_usage_user{hostname=~'` + h8s + `'}[1m])) by (__name__)`, time.Hour, time.Minute, f1, h8, time.Minute, false},
		{"single-groupby-5-1-1", `max(max_over_time({__name__=~'cpu_(` + f5s + `)', hostname='host_3'}[1m])) by (__name__)`, time.Hour, time.Minute, f5, []int{3}, time.Minute, false},
		{"single-groupby-5-1-12", `max(max_over_time({__name__=~'cpu_(` + f5s + `)', hostname='host_3'}[1m])) by (__name__)`, 12 * time.Hour, time.Minute, f5, []int{3}, time.Minute, false},
		{"single-groupby-5-8-1", `max(max_over_time({__name__=~'cpu_(` + f5s + `)', hostname=~'` + h8s + `'}[1m])) by (__name__)`, time.Hour, time.Minute, f5, h8, time.Minute, false},
		{"cpu-max-all-1", `max(max_over_time({__name__=~'cpu_(` + f10s + `)', hostname='host_3'}[1h])) by (__name__)`, 8 * time.Hour, time.Hour, f10, []int{3}, time.Hour, false},
		{"cpu-max-all-8", `max(max_over_time({__name__=~'cpu_(` + f10s + `)', hostname=~'` + h8s + `'}[1h])) by (__name__)`, 8 * time.Hour, time.Hour, f10, h8, time.Hour, false},
		{"double-groupby-1", `avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour, f1, all, time.Hour, true},
		{"double-groupby-5", `avg(avg_over_time({__name__=~'cpu_(` + f5s + `)'}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour, f5, all, time.Hour, true},
		{"double-groupby-all", `avg(avg_over_time({__name__=~'cpu_(` + f10s + `)'}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour, f10, all, time.Hour, true},
	}
}

// expected computes q's answer from the data: per output series (its
// labels as "name" or "name,host"), the value at each step from start.
func (d *tsbsE2EData) expected(q tsbsE2EQuery, start time.Time) map[string][]float64 {
	out := map[string][]float64{}
	steps := int(q.rng/q.step) + 1
	for k := range steps {
		hi := start.Add(time.Duration(k) * q.step)
		lo := hi.Add(-q.window) // the window is (lo, hi]
		first := int(lo.Sub(d.base)/(10*time.Second)) + 1
		last := int(hi.Sub(d.base) / (10 * time.Second))
		for _, f := range q.fields {
			name := "cpu_" + tsbsE2EFields[f]
			mx := math.Inf(-1)
			for _, h := range q.hosts {
				sum, cnt := 0.0, 0
				for i := max(first, 0); i <= min(last, d.n-1); i++ {
					mx = math.Max(mx, d.vals[h][f][i])
					sum += d.vals[h][f][i]
					cnt++
				}
				if q.avgPerHost {
					key := fmt.Sprintf("%s,host_%d", name, h)
					out[key] = append(out[key], sum/float64(cnt))
				}
			}
			if !q.avgPerHost {
				out[name] = append(out[name], mx)
			}
		}
	}
	return out
}

// TestTSBSQueriesE2E: TSBS-shaped cpu data (9 hosts, 10 fields, 14 h at
// 10 s) written as line protocol to /write; every one of the 11 TSBS cpu
// query types, exactly as TSBS writes them for VictoriaMetrics
// (__name__=~ alternations, single quotes, by (__name__)), sent as
// query_range at TSBS's range and step to a server started with
// --metricsql-names, answers 200 with one named series per field (and
// host) holding the values computed from the data written; without the
// flag the multi-field types fail as they did before.
func TestTSBSQueriesE2E(t *testing.T) {
	base := time.Now().Add(-15 * time.Hour).Truncate(time.Hour)
	d := newTSBSE2EData(base, 9, 14*360)
	dir := t.TempDir()
	p := startServer(t, dir, "--metricsql-names")
	for _, body := range d.lineProtocol() {
		resp, err := http.Post(p.url("/write?db=tsbs"), "text/plain", bytes.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
	}
	// Each query starts at a random whole minute (seeded) that keeps its
	// first window and its range inside the data.
	rng := rand.New(rand.NewPCG(5, 5))
	for _, q := range tsbsE2EQueries() {
		room := 14*time.Hour - q.rng - q.window - time.Minute
		start := base.Add(q.window + time.Minute + time.Duration(rng.Int64N(int64(room/time.Minute)))*time.Minute)
		got := tsbsE2EQueryRange(t, p, q, start)
		want := d.expected(q, start)
		require.Len(t, got, len(want), "%s: series", q.name)
		for key, vs := range want {
			g, ok := got[key]
			require.True(t, ok, "%s: no series %s; got %v", q.name, key, slices.Collect(mapKeys(got)))
			require.Len(t, g, len(vs), "%s %s: points", q.name, key)
			for i := range vs {
				require.InDelta(t, vs[i], g[i], 1e-9*math.Max(1, math.Abs(vs[i])), "%s %s: point %d", q.name, key, i)
			}
		}
	}
	// The same server without the flag: plain PromQL names.
	p.stop()
	p = startServer(t, dir)
	q := tsbsE2EQueries()[3]
	a := apiCall(t, p, "/api/v1/query_range", tsbsE2EParams(q, base.Add(2*time.Hour)), false)
	requireRefused(t, a, http.StatusUnprocessableEntity, "vector cannot contain metrics with the same labelset")
}

func mapKeys(m map[string][]float64) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func tsbsE2EParams(q tsbsE2EQuery, start time.Time) url.Values {
	return url.Values{"query": {q.query}, "start": {strconv.FormatInt(start.Unix(), 10)},
		"end": {strconv.FormatInt(start.Add(q.rng).Unix(), 10)}, "step": {strconv.Itoa(int(q.step.Seconds()))}}
}

// tsbsE2EQueryRange runs q and returns its series by "name" or
// "name,host", requiring 200 and exactly those labels.
func tsbsE2EQueryRange(t *testing.T, p *proc, q tsbsE2EQuery, start time.Time) map[string][]float64 {
	t.Helper()
	a := apiCall(t, p, "/api/v1/query_range", tsbsE2EParams(q, start), false)
	require.Equal(t, http.StatusOK, a.code, "%s: %.500s", q.name, a.body)
	var r struct {
		Data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &r))
	out := map[string][]float64{}
	for _, s := range r.Data.Result {
		key := s.Metric["__name__"]
		labels := 1
		if q.avgPerHost {
			key += "," + s.Metric["hostname"]
			labels = 2
		}
		require.Len(t, s.Metric, labels, "%s: labels %v", q.name, s.Metric)
		for _, v := range s.Values {
			f, err := strconv.ParseFloat(v[1].(string), 64)
			require.NoError(t, err)
			out[key] = append(out[key], f)
		}
	}
	return out
}

// TestMetricsQLNamesConfig: MetricsQL names are off by default and turned
// on by query.metricsql_names in the file or by --metricsql-names, which
// wins over the file.
func TestMetricsQLNamesConfig(t *testing.T) {
	cfg, err := loadConfig(nil)
	require.NoError(t, err)
	require.False(t, cfg.Query.MetricsQLNames)
	file := t.TempDir() + "/c.yaml"
	require.NoError(t, os.WriteFile(file, []byte("query:\n  metricsql_names: true\n"), 0o644))
	cfg, err = loadConfig([]string{"--config", file})
	require.NoError(t, err)
	require.True(t, cfg.Query.MetricsQLNames)
	cfg, err = loadConfig([]string{"--config", file, "--metricsql-names=false"})
	require.NoError(t, err)
	require.False(t, cfg.Query.MetricsQLNames)
	cfg, err = loadConfig([]string{"--metricsql-names"})
	require.NoError(t, err)
	require.True(t, cfg.Query.MetricsQLNames)
}
