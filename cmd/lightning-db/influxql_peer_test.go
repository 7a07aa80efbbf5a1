package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// influxPeer is a running InfluxDB 1.x (Debian's influxd) on loopback, the
// reference the InfluxQL tests compare Lightning DB with.
type influxPeer struct {
	addr    string
	logPath string // influxd's stdout and stderr
}

// log returns influxd's output so far.
func (p *influxPeer) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *influxPeer) url(path string) string { return "http://" + p.addr + path }

// startInfluxd starts influxd with a config in a temp dir (meta, data and
// WAL there; HTTP and RPC on free loopback ports; no reporting, no
// self-monitoring) and waits until /ping answers 204. It skips the test
// with the reason when influxd is not installed (CI installs the Debian
// package influxdb, .ci/run).
func startInfluxd(t *testing.T) *influxPeer {
	t.Helper()
	bin, err := exec.LookPath("influxd")
	if err != nil {
		t.Skip("influxd (InfluxDB 1.x, Debian package influxdb) is not installed: the InfluxQL comparison needs it as the reference")
	}
	dir := t.TempDir()
	addrs := freeAddrs(t, 2)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = %q
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, addrs[1], filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), addrs[0])
	confPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &influxPeer{addr: addrs[0], logPath: filepath.Join(dir, "influxd.log")}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "-config", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	poll(t, 30*time.Second, 50*time.Millisecond, func() string {
		select {
		case <-exited:
			t.Fatalf("influxd exited before it was ready; log:\n%s", p.log())
		default:
		}
		resp, err := http.Get(p.url("/ping"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return ""
			}
		}
		return fmt.Sprintf("influxd did not answer /ping; log:\n%s", p.log())
	})
	return p
}

// iqlRequest is one /query request sent alike to both servers.
type iqlRequest struct {
	q      string
	params url.Values // besides q; db is added when absent
	post   bool       // q in a form body instead of the URL
	header http.Header
}

// iqlAnswer is a server's answer to an iqlRequest.
type iqlAnswer struct {
	status int
	header http.Header
	body   []byte
}

// queryIQL sends r to base (a server's root URL) with db as the default
// database.
func queryIQL(t testing.TB, base, db string, r iqlRequest) iqlAnswer {
	t.Helper()
	v := url.Values{}
	for k, vs := range r.params {
		v[k] = vs
	}
	if _, ok := v["db"]; !ok && db != "" {
		v.Set("db", db)
	}
	var req *http.Request
	var err error
	if r.post {
		req, err = http.NewRequest(http.MethodPost, base+"/query?"+v.Encode(), strings.NewReader(url.Values{"q": {r.q}}.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		v.Set("q", r.q)
		req, err = http.NewRequest(http.MethodGet, base+"/query?"+v.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	c := &http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("query %q at %s: %v", r.q, base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("query %q at %s: read: %v", r.q, base, err)
	}
	return iqlAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// writeLP posts line protocol to /write?db=db (precision ns) and fails
// the test unless the server answers 204.
func writeLP(t testing.TB, base, db string, body []byte) {
	t.Helper()
	resp, err := http.Post(base+"/write?db="+url.QueryEscape(db), "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("write to %s: %d %s", base, resp.StatusCode, b)
	}
}

// iqlResponse is /query's JSON body, numbers kept as written so that an
// integer (5) and a float (5.5, 5e+06) stay apart.
type iqlResponse struct {
	Results []iqlResult `json:"results"`
	Error   string      `json:"error"`
}

type iqlResult struct {
	StatementID int         `json:"statement_id"`
	Series      []iqlSeries `json:"series"`
	Error       string      `json:"error"`
	Partial     bool        `json:"partial"`
}

type iqlSeries struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
	Partial bool              `json:"partial"`
}

// decodeIQL decodes a /query body; a chunked answer (one JSON object per
// chunk) decodes as the concatenation of its chunks' results.
func decodeIQL(body []byte) (iqlResponse, error) {
	var out iqlResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	for {
		var r iqlResponse
		err := dec.Decode(&r)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out.Results = append(out.Results, r.Results...)
		out.Error += r.Error
	}
}

// diffIQL compares Lightning DB's answer with InfluxDB's and returns the
// first difference ("" when they agree): HTTP status, top-level and
// per-statement errors, series order, names, tags, columns, row counts,
// and each cell by type (string, bool, null, integer or float literal)
// and value (floats to a relative 1e-9).
func diffIQL(ldb, ref iqlAnswer) string {
	if ldb.status != ref.status {
		return fmt.Sprintf("HTTP status: lightning-db %d, influxdb %d", ldb.status, ref.status)
	}
	l, errL := decodeIQL(ldb.body)
	r, errR := decodeIQL(ref.body)
	if errR != nil {
		return "influxdb answer is not JSON: " + errR.Error()
	}
	if errL != nil {
		return "lightning-db answer is not JSON: " + errL.Error()
	}
	if l.Error != r.Error {
		return fmt.Sprintf("error: lightning-db %q, influxdb %q", l.Error, r.Error)
	}
	if len(l.Results) != len(r.Results) {
		return fmt.Sprintf("results: lightning-db %d, influxdb %d", len(l.Results), len(r.Results))
	}
	for i := range r.Results {
		if d := diffResult(l.Results[i], r.Results[i]); d != "" {
			return fmt.Sprintf("results[%d]: %s", i, d)
		}
	}
	return ""
}

func diffResult(l, r iqlResult) string {
	switch {
	case l.StatementID != r.StatementID:
		return fmt.Sprintf("statement_id: lightning-db %d, influxdb %d", l.StatementID, r.StatementID)
	case l.Error != r.Error:
		return fmt.Sprintf("error: lightning-db %q, influxdb %q", l.Error, r.Error)
	case l.Partial != r.Partial:
		return fmt.Sprintf("partial: lightning-db %v, influxdb %v", l.Partial, r.Partial)
	case len(l.Series) != len(r.Series):
		return fmt.Sprintf("series: lightning-db %d %s, influxdb %d %s", len(l.Series), seriesNames(l.Series), len(r.Series), seriesNames(r.Series))
	}
	for i := range r.Series {
		if d := diffSeries(l.Series[i], r.Series[i]); d != "" {
			return fmt.Sprintf("series[%d] (%s): %s", i, seriesID(r.Series[i]), d)
		}
	}
	return ""
}

func seriesID(s iqlSeries) string {
	keys := make([]string, 0, len(s.Tags))
	for k, v := range s.Tags {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	return s.Name + "{" + strings.Join(keys, ",") + "}"
}

func seriesNames(ss []iqlSeries) string {
	var out []string
	for _, s := range ss[:min(len(ss), 6)] {
		out = append(out, seriesID(s))
	}
	if len(ss) > 6 {
		out = append(out, "…")
	}
	return "[" + strings.Join(out, " ") + "]"
}

func diffSeries(l, r iqlSeries) string {
	switch {
	case seriesID(l) != seriesID(r) || (l.Tags == nil) != (r.Tags == nil):
		return fmt.Sprintf("name/tags: lightning-db %s (tags present %v), influxdb %s (tags present %v)",
			seriesID(l), l.Tags != nil, seriesID(r), r.Tags != nil)
	case strings.Join(l.Columns, ",") != strings.Join(r.Columns, ","):
		return fmt.Sprintf("columns: lightning-db %q, influxdb %q", l.Columns, r.Columns)
	case l.Partial != r.Partial:
		return fmt.Sprintf("partial: lightning-db %v, influxdb %v", l.Partial, r.Partial)
	case len(l.Values) != len(r.Values):
		return fmt.Sprintf("rows: lightning-db %d, influxdb %d (first rows: lightning-db %v, influxdb %v)",
			len(l.Values), len(r.Values), l.Values[:min(3, len(l.Values))], r.Values[:min(3, len(r.Values))])
	}
	l.Values, r.Values = sameTimeSorted(l.Values), sameTimeSorted(r.Values)
	for i := range r.Values {
		if len(l.Values[i]) != len(r.Values[i]) {
			return fmt.Sprintf("row %d: lightning-db %v, influxdb %v", i, l.Values[i], r.Values[i])
		}
		for j := range r.Values[i] {
			if d := diffCell(l.Values[i][j], r.Values[i][j]); d != "" {
				return fmt.Sprintf("row %d column %q: %s (rows: lightning-db %v, influxdb %v)", i, r.Columns[j], d, l.Values[i], r.Values[i])
			}
		}
	}
	return ""
}

// sameTimeSorted returns rows with each run of equal times (column 0)
// sorted by the rest of the row: InfluxDB 1.6 merges the points of
// several series into one output series in an order it does not define
// for points with the same time, so only the set of such rows is
// compared.
func sameTimeSorted(rows [][]any) [][]any {
	out := slices.Clone(rows)
	key := func(row []any) string { return fmt.Sprint(row) }
	for i := 0; i < len(out); {
		j := i + 1
		for j < len(out) && len(out[j]) > 0 && len(out[i]) > 0 && out[j][0] == out[i][0] {
			j++
		}
		if j-i > 1 {
			slices.SortStableFunc(out[i:j], func(a, b []any) int { return strings.Compare(key(a), key(b)) })
		}
		i = j
	}
	return out
}

// diffCell compares two JSON values: same kind, and numbers written alike
// as integers or floats, equal to a relative 1e-9.
func diffCell(l, r any) string {
	kind := func(v any) string {
		switch x := v.(type) {
		case nil:
			return "null"
		case string:
			return "string"
		case bool:
			return "bool"
		case json.Number:
			if strings.ContainsAny(x.String(), ".eE") {
				return "float"
			}
			return "integer"
		}
		return fmt.Sprintf("%T", v)
	}
	if kind(l) != kind(r) && !roundingNoise(l, r) {
		return fmt.Sprintf("type: lightning-db %s %v, influxdb %s %v", kind(l), l, kind(r), r)
	}
	switch x := r.(type) {
	case json.Number:
		y := l.(json.Number)
		if kind(r) == "integer" && kind(l) == "integer" {
			if x.String() != y.String() {
				return fmt.Sprintf("value: lightning-db %s, influxdb %s", y, x)
			}
			return ""
		}
		a, _ := strconv.ParseFloat(y.String(), 64)
		b, _ := strconv.ParseFloat(x.String(), 64)
		if a != b && abs(a-b) > 1e-9*max(abs(a), abs(b)) {
			return fmt.Sprintf("value: lightning-db %s, influxdb %s", y, x)
		}
	case string, bool:
		if l != r {
			return fmt.Sprintf("value: lightning-db %v, influxdb %v", l, r)
		}
	}
	return ""
}

// roundingNoise reports whether l and r are a float that is integral
// written as an integer ("11", Go's encoding of 11.0) and a float within
// a relative 1e-9 of it that is not integral (10.999999999999998): two
// ways of summing the same floats, not an integer against a float.
func roundingNoise(l, r any) bool {
	a, okA := l.(json.Number)
	b, okB := r.(json.Number)
	if !okA || !okB {
		return false
	}
	x, errX := strconv.ParseFloat(a.String(), 64)
	y, errY := strconv.ParseFloat(b.String(), 64)
	if errX != nil || errY != nil || x == y {
		return false
	}
	return abs(x-y) <= 1e-9*max(abs(x), abs(y))
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
