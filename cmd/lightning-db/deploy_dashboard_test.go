package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// grafanaPanel is the part of a Grafana panel the test reads.
type grafanaPanel struct {
	Title   string         `json:"title"`
	Type    string         `json:"type"`
	Targets []grafanaQuery `json:"targets"`
	Panels  []grafanaPanel `json:"panels"` // a collapsed row's panels
}

type grafanaQuery struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

// dashboardExprs reads deploy/grafana/lightning-db.json and returns every
// target's PromQL by "panel/refId", with Grafana's variables replaced as
// Grafana would for "all instances" ($instance) and a 1s scrape interval
// ($__rate_interval: four scrapes and more), and the instance variable's
// metric (label_values(METRIC, instance)).
func dashboardExprs(t *testing.T) (exprs map[string]string, instanceMetric string) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/grafana/lightning-db.json")
	require.NoError(t, err)
	var d struct {
		UID        string         `json:"uid"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	require.Equal(t, "lightning-db", d.UID)
	repl := strings.NewReplacer("$__rate_interval", "10s", "$instance", ".+")
	exprs = map[string]string{}
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
			for _, q := range p.Targets {
				key := p.Title + "/" + q.RefID
				require.NotContains(t, exprs, key, "duplicate refId")
				require.NotEmpty(t, q.Expr, key)
				require.Contains(t, q.Expr, `instance=~"$instance"`, "%s: every selector should follow the instance variable", key)
				exprs[key] = repl.Replace(q.Expr)
				require.NotContains(t, exprs[key], "$", "%s: a variable the test does not replace", key)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Name == "instance" {
			_, err := fmt.Sscanf(v.Definition, "label_values(%s", &instanceMetric)
			require.NoError(t, err, v.Definition)
			instanceMetric = strings.TrimSuffix(instanceMetric, ",")
		}
	}
	require.NotEmpty(t, instanceMetric, "no instance variable")
	return exprs, instanceMetric
}

// instantQuery runs expr at now against a Prometheus API and returns its
// values ("" and an error message when it failed).
func instantQuery(base, expr string) ([]float64, string) {
	resp, err := http.PostForm(base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	var out struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err.Error()
	}
	var vs []float64
	for _, r := range out.Data.Result {
		var v float64
		s, _ := r.Value[1].(string)
		if _, err := fmt.Sscan(s, &v); err != nil {
			v = math.NaN() // "NaN", "+Inf" parse; anything else is wrong
		}
		vs = append(vs, v)
	}
	return vs, ""
}

// missingData returns, sorted, the expressions that return no sample or
// only NaN (a histogram with no observation in the window) from base.
func missingData(base string, exprs map[string]string) []string {
	var bad []string
	for key, e := range exprs {
		vs, msg := instantQuery(base, e)
		ok := false
		for _, v := range vs {
			ok = ok || !math.IsNaN(v)
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("%s: %s -> %v %s", key, e, vs, msg))
		}
	}
	sort.Strings(bad)
	return bad
}

// TestGrafanaDashboard evaluates every query of deploy/grafana/lightning-db.json
// against the server's own metrics: Debian's Prometheus scrapes a real
// server every second while the test writes line protocol, publishes MQTT
// (QoS 1), runs queries and forces flushes; each expression must then
// return a sample that is not NaN, from Prometheus and from Lightning DB
// itself, which Prometheus remote-writes the scraped metrics to (the
// dashboard works on either data source).
func TestGrafanaDashboard(t *testing.T) {
	bins := needBinaries(t, "prometheus")
	exprs, instanceMetric := dashboardExprs(t)
	cfg := filepath.Join(t.TempDir(), "ldb.yaml")
	// Small flushes, so that flush and segment figures move within seconds.
	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  memtable_flush_bytes: 4096\n"), 0o644))
	p := startServer(t, t.TempDir(), "--config", cfg)
	prom := startPrometheus(t, bins[0], fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: lightningdb
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s
    queue_config: {batch_send_deadline: 1s}
`, p.addr, p.url("/api/v1/write")))

	o := paho.NewClientOptions().AddBroker("tcp://" + mqttAddrOf(p)).SetClientID("dash").SetAutoReconnect(false)
	mc := paho.NewClient(o)
	tok := mc.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	defer mc.Disconnect(100)

	// Load until the checks pass: writes over line protocol and MQTT, and
	// queries, every 100 ms (rates need samples in each window).
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			var lp strings.Builder
			for s := range 20 {
				fmt.Fprintf(&lp, "dash,host=h%d v=%d,w=%d.5\n", s, i, i)
			}
			if resp, err := http.Post(p.url("/write?db=dash"), "text/plain", strings.NewReader(lp.String())); err == nil {
				resp.Body.Close()
			}
			mc.Publish("plant/line", 1, false, fmt.Sprintf("m,device=d1 t=%d", i)).WaitTimeout(5 * time.Second)
			if resp, err := http.Get(p.url("/api/v1/query?query=" + url.QueryEscape("sum(rate(dash_v[10s]))"))); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	// The instance variable lists the server.
	poll(t, 30*time.Second, 250*time.Millisecond, func() string {
		resp, err := http.Get(prom + "/api/v1/label/instance/values?match[]=" + url.QueryEscape(instanceMetric))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var out struct{ Data []string }
		json.NewDecoder(resp.Body).Decode(&out)
		if len(out.Data) == 1 && out.Data[0] == p.addr {
			return ""
		}
		return fmt.Sprintf("instance values of %s: %v", instanceMetric, out.Data)
	})
	poll(t, 30*time.Second, 250*time.Millisecond, func() string {
		if n := p.metricValue("lightningdb_engine_flushes_total"); n < 2 {
			return fmt.Sprintf("%v flushes", n)
		}
		return ""
	})
	for name, base := range map[string]string{"prometheus": prom, "lightning-db": "http://" + p.addr} {
		var bad []string
		poll(t, 40*time.Second, 500*time.Millisecond, func() string {
			bad = missingData(base, exprs)
			if len(bad) == 0 {
				return ""
			}
			return fmt.Sprintf("%s: %d of %d dashboard queries return no data:\n%s", name, len(bad), len(exprs), strings.Join(bad, "\n"))
		})
		t.Logf("%s: all %d dashboard queries return data", name, len(exprs))
	}
}
