package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
)

// procState is the state letter of /proc/<pid>/stat (T: stopped).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err.Error()
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+3 > len(b) {
		return "?"
	}
	return string(b[i+2 : i+3])
}

// freeze stops p with SIGSTOP, waits until the kernel says it is
// stopped, and resumes it when the test ends; thaw resumes it sooner.
func freeze(t *testing.T, p *proc) (thaw func()) {
	t.Helper()
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	poll(t, 5*time.Second, 10*time.Millisecond, func() string {
		if st := procState(pid); st != "T" {
			return "peer not stopped, state " + st
		}
		return ""
	})
	return func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
}

// remoteReadBody sends a remote read and returns the status and the answer.
func remoteReadBody(t *testing.T, p *proc, body []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(p.url("/api/v1/read"), "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// fanAnswer is a Prometheus API answer.
type fanAnswer struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

// apiGet calls path on p with params and decodes the answer.
func apiGet(t *testing.T, p *proc, path string, params url.Values) (int, fanAnswer) {
	t.Helper()
	resp, err := http.Get(p.url(path) + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a fanAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s %v: %d %s: %v", path, params, resp.StatusCode, b, err)
	}
	return resp.StatusCode, a
}

// fanData is the fixture: 9 hosts (cpu_usage, cpu_req) spread over three
// peers by host, and shared_temp split over peers 0 and 1 with 120
// timestamps in common. all holds everything.
func fanData(base time.Time) (peers [3]string, all string) {
	var b [3]strings.Builder
	var a strings.Builder
	for h := range 9 {
		for k := range 360 {
			ts := base.Add(time.Duration(k) * 10 * time.Second).UnixNano()
			line := fmt.Sprintf("cpu,host=h%d,region=r%d usage=%g,req=%di %d\n", h, h%2, float64(h*7+k%13)+0.25, k*(h+1), ts)
			b[h%3].WriteString(line)
			a.WriteString(line)
		}
	}
	for k := range 360 {
		ts := base.Add(time.Duration(k) * 10 * time.Second).UnixNano()
		line := fmt.Sprintf("shared,site=x temp=%g %d\n", 20+float64(k%17)/4, ts)
		if k < 240 {
			b[0].WriteString(line)
		}
		if k >= 120 {
			b[1].WriteString(line)
		}
		a.WriteString(line)
	}
	return [3]string{b[0].String(), b[1].String(), b[2].String()}, a.String()
}

// startFanout starts three peers with a third of the data each, one server
// with all of it, and a query node over the three (peer timeout 2s).
func startFanout(t *testing.T) (peers [3]*proc, all, qn *proc, base time.Time) {
	t.Helper()
	base = time.Now().Truncate(time.Minute).Add(-2 * time.Hour)
	parts, whole := fanData(base)
	var urls []string
	for i := range peers {
		peers[i] = startServer(t, t.TempDir())
		writeLines(t, peers[i], "fan", parts[i])
		urls = append(urls, "http://"+peers[i].addr)
	}
	all = startServer(t, t.TempDir())
	writeLines(t, all, "fan", whole)
	cfg := filepath.Join(t.TempDir(), "query.yaml")
	writeFile(t, cfg, "cluster:\n  query_peers: ["+strings.Join(urls, ", ")+"]\n  query_peer_timeout: 2s\n")
	qn = startServer(t, t.TempDir(), "--config", cfg)
	return peers, all, qn, base
}

// normResult turns a query answer's data into comparable form: metric
// (as sorted JSON) -> points, values as floats.
func normResult(t *testing.T, raw json.RawMessage) (string, map[string][][2]float64) {
	t.Helper()
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	var items []struct {
		Metric map[string]string `json:"metric"`
		Value  []any             `json:"value"`
		Values [][]any           `json:"values"`
	}
	if err := json.Unmarshal(d.Result, &items); err != nil {
		t.Fatalf("result %s: %v", d.Result, err)
	}
	out := map[string][][2]float64{}
	for _, it := range items {
		k, _ := json.Marshal(it.Metric)
		pts := it.Values
		if it.Value != nil {
			pts = [][]any{it.Value}
		}
		for _, p := range pts {
			v, _ := strconv.ParseFloat(p[1].(string), 64)
			out[string(k)] = append(out[string(k)], [2]float64{p[0].(float64), v})
		}
	}
	return d.ResultType, out
}

func sameResult(a, b map[string][][2]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, pa := range a {
		pb, ok := b[k]
		if !ok || len(pa) != len(pb) {
			return false
		}
		for i := range pa {
			if pa[i][0] != pb[i][0] || math.Abs(pa[i][1]-pb[i][1]) > 1e-9*math.Max(1, math.Abs(pa[i][1])) {
				return false
			}
		}
	}
	return true
}

// TestFanoutMatchesSingleNode: a query node over three peers holding a
// third of the data each answers PromQL, series, labels and label values
// exactly as one server holding everything; a frozen (SIGSTOP) peer gives
// a warning within the peer timeout, or a 422 with partial_response=false;
// thawed, the answers are complete again; a killed peer gives a warning.
func TestFanoutMatchesSingleNode(t *testing.T) {
	peers, all, qn, base := startFanout(t)
	end := base.Add(59*time.Minute + 50*time.Second)
	sec := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	exprs := []string{
		`sum by (region) (cpu_usage)`,
		`sum(rate(cpu_req[5m]))`,
		`rate(cpu_req{host=~"h[0-4]"}[5m])`,
		`topk(3, cpu_usage)`,
		`count(cpu_usage)`,
		`shared_temp`,
		`count_over_time(shared_temp[1h])`,
		`max by (host) (max_over_time(cpu_usage[5m]))`,
		`sum by (region) (increase(cpu_req[10m])) / on (region) count by (region) (cpu_req)`,
		// Evaluated by the peers and merged (distribute.go).
		`max by (region) (max_over_time(cpu_usage[5m]))`,
		`max(max_over_time({__name__=~"cpu_usage|shared_temp"}[10m])) by (__name__)`,
		`min(min_over_time(shared_temp[30m]))`,
		`(min without (host) (min_over_time(cpu_usage{host!="h3"}[1m] offset 5m)))`,
	}
	t.Run("promql", func(t *testing.T) {
		for _, e := range exprs {
			for _, kind := range []string{"query", "query_range"} {
				params := url.Values{"query": {e}, "time": {sec(end)}}
				if kind == "query_range" {
					params = url.Values{"query": {e}, "start": {sec(base.Add(5 * time.Minute))}, "end": {sec(end)}, "step": {"60"}}
				}
				cw, want := apiGet(t, all, "/api/v1/"+kind, params)
				cg, got := apiGet(t, qn, "/api/v1/"+kind, params)
				if cw != 200 || cg != 200 || len(got.Warnings) > 0 {
					t.Fatalf("%s %s: single %d %s, fan-out %d %s %v", kind, e, cw, want.Error, cg, got.Error, got.Warnings)
				}
				tw, rw := normResult(t, want.Data)
				tg, rg := normResult(t, got.Data)
				if tw != tg || len(rw) == 0 || !sameResult(rw, rg) {
					t.Errorf("%s %s:\nsingle  %s\nfan-out %s", kind, e, want.Data, got.Data)
				}
			}
		}
	})
	t.Run("metadata", func(t *testing.T) {
		for _, c := range []struct {
			path   string
			params url.Values
		}{
			{"/api/v1/series", url.Values{"match[]": {"cpu_usage", `{__name__=~"shared.*"}`}}},
			{"/api/v1/series", url.Values{"match[]": {`{db="fan"}`}, "start": {sec(base)}, "end": {sec(end)}}},
			{"/api/v1/labels", nil},
			{"/api/v1/labels", url.Values{"match[]": {"shared_temp"}}},
			{"/api/v1/label/host/values", nil},
			{"/api/v1/label/__name__/values", url.Values{"match[]": {`{region="r1"}`}}},
			{"/api/v1/label/host/values", url.Values{"limit": {"4"}}},
		} {
			cw, want := apiGet(t, all, c.path, c.params)
			cg, got := apiGet(t, qn, c.path, c.params)
			var dw, dg any
			json.Unmarshal(want.Data, &dw)
			json.Unmarshal(got.Data, &dg)
			if cw != 200 || cg != 200 || !reflect.DeepEqual(dw, dg) || !slices.Equal(want.Warnings, got.Warnings) {
				t.Errorf("%s %v:\nsingle  %d %s %v\nfan-out %d %s %v", c.path, c.params, cw, want.Data, want.Warnings, cg, got.Data, got.Warnings)
			}
		}
	})
	t.Run("remote read", func(t *testing.T) {
		startMs, endMs := base.UnixMilli(), end.UnixMilli()
		for _, m := range []string{"cpu_usage", "shared_temp"} {
			want := normalize(remoteReadSamples(t, all, m, startMs, endMs))
			if got := normalize(remoteReadSamples(t, qn, m, startMs, endMs)); got != want || want == "" {
				t.Errorf("remote read SAMPLES %s:\nsingle  %s\nfan-out %s", m, want, got)
			}
			body := readRequestBody(t, m, startMs, endMs, prompb.ReadRequest_STREAMED_XOR_CHUNKS)
			cw, want2 := remoteReadBody(t, all, body)
			cg, got2 := remoteReadBody(t, qn, body)
			if cw != 200 || cg != 200 || len(want2) == 0 || !bytes.Equal(want2, got2) {
				t.Errorf("remote read STREAMED_XOR_CHUNKS %s: single %d, %d bytes; fan-out %d, %d bytes", m, cw, len(want2), cg, len(got2))
			}
		}
	})
	t.Run("influxql", func(t *testing.T) { // more in influxfan_e2e_test.go
		q := url.Values{"db": {"fan"}, "q": {"SELECT last(usage) FROM cpu"}}
		cw, want := influxGet(t, all, q, "")
		cg, got := influxGet(t, qn, q, "")
		if cw != 200 || cg != cw || got != want {
			t.Fatalf("InfluxQL: single node %d %s, query node %d %s", cw, want, cg, got)
		}
	})
	count := url.Values{"query": {"count(cpu_usage)"}, "time": {sec(end)}}
	countIs := func(a fanAnswer) string {
		_, r := normResult(t, a.Data)
		for _, pts := range r {
			return strconv.FormatFloat(pts[0][1], 'g', -1, 64)
		}
		return "none"
	}
	t.Run("frozen peer", func(t *testing.T) {
		thaw := freeze(t, peers[1])
		start := time.Now()
		code, a := apiGet(t, qn, "/api/v1/query", count)
		took := time.Since(start)
		if code != 200 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], peers[1].addr) || countIs(a) != "6" {
			t.Fatalf("frozen peer: %d %s warnings %v count %s", code, a.Error, a.Warnings, countIs(a))
		}
		if took > 8*time.Second {
			t.Errorf("frozen peer: answered after %v, peer timeout 2s", took)
		}
		t.Logf("frozen peer: answered in %v with %q", took, a.Warnings[0])
		deny := url.Values{"partial_response": {"false"}}
		for k, v := range count {
			deny[k] = v
		}
		code, a = apiGet(t, qn, "/api/v1/query", deny)
		if code != http.StatusUnprocessableEntity || a.ErrorType != "execution" || !strings.Contains(a.Error, peers[1].addr) {
			t.Fatalf("partial_response=false: %d %s %s", code, a.ErrorType, a.Error)
		}
		if code, b := remoteReadBody(t, qn, readRequestBody(t, "cpu_usage", base.UnixMilli(), end.UnixMilli(), prompb.ReadRequest_SAMPLES)); code != http.StatusServiceUnavailable || !bytes.Contains(b, []byte(peers[1].addr)) {
			t.Fatalf("remote read with a frozen peer: %d %s", code, b)
		}
		pushed := url.Values{"query": {"max(max_over_time(cpu_usage[5m]))"}, "time": {sec(end)}}
		code, a = apiGet(t, qn, "/api/v1/query", pushed)
		// The peers were asked the query itself (/api/v1/query), not for samples.
		if code != 200 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], peers[1].addr+"/api/v1/query?") {
			t.Fatalf("pushed-down query with a frozen peer: %d %s %v", code, a.Error, a.Warnings)
		}
		pushed.Set("partial_response", "false")
		if code, a = apiGet(t, qn, "/api/v1/query", pushed); code != http.StatusUnprocessableEntity {
			t.Fatalf("pushed-down query, partial_response=false, frozen peer: %d %v", code, a.Warnings)
		}
		code, a = apiGet(t, qn, "/api/v1/labels", nil)
		if code != 200 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], peers[1].addr) {
			t.Fatalf("labels with a frozen peer: %d %v", code, a.Warnings)
		}
		code, a = apiGet(t, qn, "/api/v1/series", url.Values{"match[]": {"cpu_usage"}, "partial_response": {"false"}})
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("series, partial_response=false, frozen peer: %d %v", code, a.Warnings)
		}
		thaw()
		code, a = apiGet(t, qn, "/api/v1/query", count)
		if code != 200 || len(a.Warnings) != 0 || countIs(a) != "9" {
			t.Fatalf("thawed peer: %d warnings %v count %s", code, a.Warnings, countIs(a))
		}
	})
	t.Run("killed peer", func(t *testing.T) {
		peers[2].kill()
		code, a := apiGet(t, qn, "/api/v1/query", count)
		if code != 200 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], peers[2].addr) || countIs(a) != "6" {
			t.Fatalf("killed peer: %d warnings %v count %s", code, a.Warnings, countIs(a))
		}
		t.Logf("killed peer: %q", a.Warnings[0])
		resp, err := http.Get(qn.url("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			fmt.Sprintf(`lightningdb_fanout_peer_requests_total{peer="http://%s",result="unavailable"}`, peers[2].addr),
			fmt.Sprintf(`lightningdb_fanout_peer_requests_total{peer="http://%s",result="ok"}`, peers[0].addr),
			"lightningdb_fanout_partial_answers_total ", "lightningdb_fanout_partial_refused_total ",
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// TestFanoutPeerToken: peers with authentication on answer a query node
// that sends cluster.query_peer_bearer_token_file's token; without it the
// query fails (422 naming the peer's 401), never a silently empty answer.
func TestFanoutPeerToken(t *testing.T) {
	peer := startServer(t, t.TempDir(), "--auth-tokens", "s3cret")
	ts := time.Now().Add(-time.Minute).UnixNano()
	writeLines(t, peer, "fan&u=x&p=s3cret", fmt.Sprintf("cpu,host=a usage=1 %d\ncpu,host=b usage=2 %d\n", ts, ts))
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	writeFile(t, tokenFile, "s3cret\n")
	peers := "cluster:\n  query_peers: [http://" + peer.addr + "]\n"
	withToken := filepath.Join(dir, "with.yaml")
	writeFile(t, withToken, peers+"  query_peer_bearer_token_file: "+tokenFile+"\n")
	without := filepath.Join(dir, "without.yaml")
	writeFile(t, without, peers)
	count := url.Values{"query": {"count(cpu_usage)"}}
	qn := startServer(t, t.TempDir(), "--config", withToken)
	for _, path := range []string{"/api/v1/query", "/api/v1/labels"} {
		if code, a := apiGet(t, qn, path, count); code != 200 || len(a.Warnings) > 0 {
			t.Fatalf("%s with the token: %d %s %v", path, code, a.Error, a.Warnings)
		}
	}
	if code, a := apiGet(t, qn, "/api/v1/query", count); !strings.Contains(string(a.Data), `"2"`) {
		t.Fatalf("count with the token: %d %s", code, a.Data)
	}
	qn.stop()
	qn = startServer(t, t.TempDir(), "--config", without)
	if code, a := apiGet(t, qn, "/api/v1/query", count); code != http.StatusUnprocessableEntity || !strings.Contains(a.Error, "401") {
		t.Fatalf("without the token: %d %s", code, a.Error)
	}
}

// TestFanoutLimitedToken: a token limited to host="h2" on a query node
// sees only h2 in every path: PromQL (also a query the peers would
// evaluate whole), series, labels, label values and remote read.
func TestFanoutLimitedToken(t *testing.T) {
	peerA, peerB := startServer(t, t.TempDir()), startServer(t, t.TempDir())
	ts := time.Now().Add(-time.Minute).UnixNano()
	writeLines(t, peerA, "fan", fmt.Sprintf("cpu,host=h1 usage=1 %d\ncpu,host=h2 usage=2 %d\n", ts, ts))
	writeLines(t, peerB, "fan", fmt.Sprintf("cpu,host=h3 usage=3 %d\ncpu,host=h2 usage=2 %d\n", ts, ts))
	dir := t.TempDir()
	file, sec, _ := writeTokens(t, dir, tokenSpec{name: "rh2", scopes: []string{"read"}, match: []string{`{host="h2"}`}})
	cfg := filepath.Join(dir, "q.yaml")
	writeFile(t, cfg, "cluster:\n  query_peers: [http://"+peerA.addr+", http://"+peerB.addr+"]\n")
	qn := startServer(t, t.TempDir(), "--config", cfg, "--token-file", file)
	for _, c := range []struct {
		path   string
		params url.Values
		want   string
	}{
		{"/api/v1/query", url.Values{"query": {"count(cpu_usage)"}}, `"1"]`},
		{"/api/v1/query", url.Values{"query": {"max(max_over_time(cpu_usage[5m]))"}}, `"2"]`},
		{"/api/v1/query", url.Values{"query": {"cpu_usage"}}, `"host":"h2"`},
		{"/api/v1/series", url.Values{"match[]": {"cpu_usage"}}, `"host":"h2"`},
		{"/api/v1/label/host/values", nil, `["h2"]`},
		{"/api/v1/labels", url.Values{"match[]": {`{host=~"h1|h3"}`}}, `[]`},
		{"/query", url.Values{"db": {"fan"}, "q": {"SELECT usage, host FROM cpu"}}, `2,"h2"]`}, // typed answers carry the scope too
		{"/api/v1/export", url.Values{"match[]": {"cpu_usage"}}, `"host":"h2"`},
		{"/api/v1/export", nil, `"host":"h2"`},
	} {
		code, body := call(t, nil, http.MethodGet, qn.url(c.path), sec["rh2"], c.params)
		if code != 200 || !strings.Contains(body, c.want) || strings.Contains(body, "h1") || strings.Contains(body, "h3") {
			t.Errorf("%s %v with the host=h2 token: %d %s, want %s", c.path, c.params, code, body, c.want)
		}
	}
	// Statistics and metadata cover every series: refused, as on a single node.
	for _, path := range []string{"/api/v1/status/tsdb", "/api/v1/metadata"} {
		if code, body := call(t, nil, http.MethodGet, qn.url(path), sec["rh2"], nil); code != http.StatusForbidden {
			t.Errorf("%s with the host=h2 token: %d %s, want 403", path, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, qn.url("/api/v1/read"), bytes.NewReader(readRequestBody(t, "cpu_usage", 0, time.Now().UnixMilli(), prompb.ReadRequest_SAMPLES)))
	req.Header.Set("Authorization", "Bearer "+sec["rh2"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	raw, err := s2.Decode(nil, b)
	if resp.StatusCode != 200 || err != nil || !bytes.Contains(raw, []byte("h2")) || bytes.Contains(raw, []byte("h1")) || bytes.Contains(raw, []byte("h3")) {
		t.Errorf("remote read with the host=h2 token: %d %q", resp.StatusCode, raw)
	}
}
