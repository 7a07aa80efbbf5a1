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
)

type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

func promCall(t *testing.T, method, u string, form url.Values) (int, promResponse) {
	t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = http.PostForm(u, form)
	} else {
		resp, err = http.Get(u + "?" + form.Encode())
	}
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: content type %q, body %s", method, u, ct, body)
	}
	var r promResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("%s %s: %v: %s", method, u, err, body)
	}
	return resp.StatusCode, r
}

// TestGrafanaRequestSequence replays what Grafana's Prometheus data source
// sends (health check, build info, labels, metric names, series with
// limit=40000, exemplar probe, metadata, query_range by POST form) against
// the real binary, with data written over line protocol, then checks a
// per-query limit from the configuration file.
func TestGrafanaRequestSequence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lightning.yaml")
	if err := os.WriteFile(cfg, []byte("query:\n  max_series: 5\n  lookback_delta: 10m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, filepath.Join(dir, "data"), "--config", cfg)

	const t0 = 1_700_000_000
	var lines strings.Builder
	for i := range 60 {
		for h := range 8 {
			fmt.Fprintf(&lines, "cpu,host=h%d usage_idle=%d,usage_user=%d.5 %d\n", h, 90-h-i%7, h+i%5, t0+i*60)
		}
	}
	resp := post(t, p.url("/write?db=grafana&precision=s"), "text/plain", []byte(lines.String()), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()
	api := p.url("/api/v1")
	rng := url.Values{"start": {fmt.Sprint(t0)}, "end": {fmt.Sprint(t0 + 3600)}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range rng {
			v[k] = vs
		}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	steps := []struct {
		method, path string
		form         url.Values
		want         string // data, JSON
	}{
		{"GET", "/query", url.Values{"query": {"1+1"}, "time": {"4"}}, `{"resultType":"scalar","result":[4,"2"]}`},
		{"GET", "/labels", with(), `["__name__","db","host"]`},
		{"GET", "/label/__name__/values", with("limit", "40000"), `["cpu_usage_idle","cpu_usage_user"]`},
		{"GET", "/label/host/values", with("match[]", `cpu_usage_idle{host=~"h[0-2]"}`), `["h0","h1","h2"]`},
		{"GET", "/series", with("match[]", `cpu_usage_user{host=~"h[01]"}`, "limit", "40000"),
			`[{"__name__":"cpu_usage_user","db":"grafana","host":"h0"},{"__name__":"cpu_usage_user","db":"grafana","host":"h1"}]`},
		{"GET", "/query_exemplars", with("query", "test"), `[]`},
		{"GET", "/metadata", nil, `{}`},
		{"POST", "/query_range", with("query", `sum by (host) (cpu_usage_user{host=~"h[01]"})`, "step", "1200"),
			`{"resultType":"matrix","result":[
				{"metric":{"host":"h0"},"values":[[1700000000,"0.5"],[1700001200,"0.5"],[1700002400,"0.5"],[1700003600,"4.5"]]},
				{"metric":{"host":"h1"},"values":[[1700000000,"1.5"],[1700001200,"1.5"],[1700002400,"1.5"],[1700003600,"5.5"]]}]}`},
		// lookback_delta 10m from the configuration: the last sample is at
		// t0+3540, so t0+3540+9m still has a value.
		{"GET", "/query", url.Values{"query": {`cpu_usage_idle{host="h7"}`}, "time": {fmt.Sprint(t0 + 3540 + 540)}},
			`{"resultType":"vector","result":[{"metric":{"__name__":"cpu_usage_idle","db":"grafana","host":"h7"},"value":[1700004080,"80"]}]}`},
	}
	for _, s := range steps {
		code, r := promCall(t, s.method, api+s.path, s.form)
		if code != http.StatusOK || r.Status != "success" {
			t.Fatalf("%s %s: %d %s %s", s.method, s.path, code, r.ErrorType, r.Error)
		}
		if !jsonEqual(t, s.want, string(r.Data)) {
			t.Fatalf("%s %s:\nwant %s\ngot  %s", s.method, s.path, s.want, r.Data)
		}
	}
	code, r := promCall(t, "GET", api+"/status/buildinfo", nil)
	if code != 200 || strings.Contains(string(r.Data), "features") || !strings.Contains(string(r.Data), `"version"`) {
		t.Fatalf("buildinfo: %d %s", code, r.Data)
	}
	code, r = promCall(t, "GET", api+"/status/tsdb", nil)
	if code != 200 || !strings.Contains(string(r.Data), `"numSeries":16`) {
		t.Fatalf("tsdb status: %d %s", code, r.Data)
	}
	// max_series 5 from the file: 8 series is past it.
	code, r = promCall(t, "POST", api+"/query_range", with("query", `cpu_usage_idle`, "step", "60"))
	if code != http.StatusUnprocessableEntity || r.ErrorType != "execution" || !strings.Contains(r.Error, "too many series") {
		t.Fatalf("series limit: %d %s %s", code, r.ErrorType, r.Error)
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("bad JSON %s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}
