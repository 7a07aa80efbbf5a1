package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeNames is a fixed nameSource that counts its calls.
type fakeNames struct {
	calls  map[string]int
	labels map[string][]string // metric ("" for any) -> label names
	values map[string][]string // label + "/" + metric -> values
}

func newFakeNames() *fakeNames {
	return &fakeNames{
		calls: map[string]int{},
		labels: map[string][]string{
			"":                    {"__name__", "host", "job", "region"},
			"http_requests_total": {"__name__", "code", "job"},
		},
		values: map[string][]string{
			"job/":                     {"api", "apiserver", "node"},
			"job/http_requests_total":  {"api", "apiserver"},
			"host/":                    {`we"ird`, "alpha"},
			"code/http_requests_total": {"200", "500"},
		},
	}
}

func (f *fakeNames) MetricNames(context.Context) ([]string, error) {
	f.calls["metrics"]++
	return []string{"http_requests_total", "http_request_duration_seconds", "node_load1", "up"}, nil
}

func (f *fakeNames) LabelNames(_ context.Context, metric string) ([]string, error) {
	f.calls["labels"]++
	return f.labels[metric], nil
}

func (f *fakeNames) LabelValues(_ context.Context, label, metric string) ([]string, error) {
	f.calls["values"]++
	return f.values[label+"/"+metric], nil
}

func (f *fakeNames) Measurements(_ context.Context, db string) ([]string, error) {
	f.calls["measurements"]++
	if db != "demo" {
		return nil, nil
	}
	return []string{"cpu", "cpu_load", "mem"}, nil
}

// complete runs Do at the end of line and returns the completed lines.
func complete(c *completer, line string) []string {
	cands, n := c.Do([]rune(line), len([]rune(line)))
	var out []string
	for _, cand := range cands {
		out = append(out, string([]rune(line)[:len([]rune(line))-n])+string([]rune(line)[len([]rune(line))-n:])+string(cand))
	}
	return out
}

func TestCompletePromQL(t *testing.T) {
	c := newCompleter(newFakeNames(), time.Minute)
	for _, tc := range []struct {
		line string
		want []string // the lines after choosing each candidate
	}{
		{"http_req", []string{"http_request_duration_seconds", "http_requests_total"}},
		{"up", []string{"up"}},
		{"rate(http_requests_t", []string{"rate(http_requests_total"}},
		{"sum(rate(node_l", []string{"sum(rate(node_load1"}},
		{"absent_over", []string{"absent_over_time"}},
		{"up + no", []string{"up + node_load1"}},
		// label names after { and , (of the selector's metric)
		{"http_requests_total{", []string{"http_requests_total{__name__", "http_requests_total{code", "http_requests_total{job"}},
		{`http_requests_total{code="200", j`, []string{`http_requests_total{code="200", job`}},
		{"{re", []string{"{region"}},
		// label values inside quotes, closed after the value
		{`http_requests_total{job="api`, []string{`http_requests_total{job="api"`, `http_requests_total{job="apiserver"`}},
		{`http_requests_total{job=~"n`, nil}, // node is not a value of this metric
		{`{job!="n`, []string{`{job!="node"`}},
		{`{host="we`, []string{`{host="we\"ird"`}},
		{`{host='we`, []string{`{host='we"ird'`}},
		// grouping label lists
		{"sum by (j", []string{"sum by (job"}},
		{"sum without (host, re", []string{"sum without (host, region"}},
		// nothing fits: a range, a number, a string, after a value, a comment
		{"rate(up[5", nil},
		{"up offset 5", nil},
		{`label_replace(up, "ds`, nil},
		{"up ", nil},
		{"up # u", nil},
		{`{job="api"} `, nil},
		// backslash commands
		{`\inf`, []string{`\influxql`}},
		{`\r`, []string{`\range`}},
	} {
		got := complete(c, tc.line)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestCompleteInfluxQL(t *testing.T) {
	src := newFakeNames()
	c := newCompleter(src, time.Minute)
	c.lang, c.db = langInfluxQL, "demo"
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"SELECT * FROM cp", []string{"SELECT * FROM cpu", "SELECT * FROM cpu_load"}},
		{"select mean(v) from m", []string{"select mean(v) from mem"}},
		{"SHOW TAG KEYS FROM ", []string{"SHOW TAG KEYS FROM cpu", "SHOW TAG KEYS FROM cpu_load", "SHOW TAG KEYS FROM mem"}},
		{"SHOW MEAS", []string{"SHOW MEASUREMENT", "SHOW MEASUREMENTS"}},
		{"sel", []string{"select"}},
		{"SEL", []string{"SELECT"}},
	} {
		if got := complete(c, tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
		}
	}
	if src.calls["measurements"] != 1 {
		t.Errorf("SHOW MEASUREMENTS asked %d times, want 1 (cached)", src.calls["measurements"])
	}
}

// TestCompleteCacheTTL: lists come from the cache until they are ttl old,
// then from the server again; a list per metric and label.
func TestCompleteCacheTTL(t *testing.T) {
	src := newFakeNames()
	c := newCompleter(src, 10*time.Second)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	complete(c, "up")
	complete(c, "node")
	if src.calls["metrics"] != 1 {
		t.Fatalf("metric names fetched %d times within the TTL", src.calls["metrics"])
	}
	now = now.Add(10 * time.Second)
	complete(c, "up")
	if src.calls["metrics"] != 2 {
		t.Fatalf("metric names fetched %d times after the TTL, want 2", src.calls["metrics"])
	}
	complete(c, `{job="a`)
	complete(c, `http_requests_total{job="a`)
	complete(c, `http_requests_total{job="b`)
	if src.calls["values"] != 2 {
		t.Fatalf("label values fetched %d times, want 2 (one list per metric)", src.calls["values"])
	}
}

// TestCompleteMidLine: completion looks at the text before the cursor.
func TestCompleteMidLine(t *testing.T) {
	c := newCompleter(newFakeNames(), time.Minute)
	line := []rune("sum(node_l) by (job)")
	cands, n := c.Do(line, len("sum(node_l"))
	if n != len("node_l") || len(cands) != 1 || string(cands[0]) != "oad1" {
		t.Fatalf("got %q, %d", cands, n)
	}
	if cands, _ := c.Do(line, len(line)+1); cands != nil {
		t.Fatalf("pos past the end: %q", cands)
	}
}

// FuzzCompletion: any line and cursor completes without panicking, and
// every candidate continues the word before the cursor.
func FuzzCompletion(f *testing.F) {
	for _, s := range []string{`http_requests_total{job="api`, "sum by (j", `{a="\"`, "rate(x[5m", "SELECT * FROM c", `\r`, "{{\"'`", "é{é=\"é"} {
		f.Add(s, len(s), false)
	}
	f.Fuzz(func(t *testing.T, line string, pos int, influx bool) {
		c := newCompleter(newFakeNames(), time.Minute)
		if influx {
			c.lang, c.db = langInfluxQL, "demo"
		}
		rs := []rune(line)
		cands, n := c.Do(rs, pos)
		if pos < 0 || pos > len(rs) {
			if cands != nil {
				t.Fatalf("candidates for pos %d of %d runes", pos, len(rs))
			}
			return
		}
		if n < 0 || n > pos {
			t.Fatalf("word length %d before pos %d", n, pos)
		}
		if len(cands) > maxCandidates {
			t.Fatalf("%d candidates", len(cands))
		}
		word := string(rs[pos-n : pos])
		for _, cand := range cands {
			if got := word + string(cand); !known[got] {
				t.Fatalf("%q at %d: completed to %q, which is no name", line, pos, got)
			}
		}
	})
}

// known is every text the fake names can complete to.
var known = func() map[string]bool {
	f := newFakeNames()
	m := map[string]bool{}
	add := func(names []string, suffix string) {
		for _, n := range names {
			m[n+suffix] = true
			m[strings.ToLower(n)+suffix] = true
		}
	}
	ms, _ := f.MetricNames(context.Background())
	add(ms, "")
	add(promKeywords(), "")
	add(influxKeywords, "")
	add(commandNames(), "")
	ms, _ = f.Measurements(context.Background(), "demo")
	add(ms, "")
	for _, l := range f.labels {
		add(l, "")
	}
	for _, v := range f.values {
		for _, q := range []rune{'"', '\'', '`'} {
			add(quoteValues(v, q), string(q))
		}
	}
	return m
}()
