package bench

import (
	"bytes"
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestChurnFleet checks the churn-RSS series: Live series at every step,
// Live/Lifetime born at every later step, each series born once and never
// seen again after its slot moves on, and steps() covering n series.
func TestChurnFleet(t *testing.T) {
	f := churnFleet{live: 20, lifetime: 5}
	steps := f.steps(100)
	if steps != 21 { // 20 at step 0, 4 a step after: 20 + 20*4 = 100
		t.Fatalf("steps(100) = %d, want 21", steps)
	}
	seen := map[string]int{} // id -> last step seen
	var p Point
	var created int
	for step := range steps {
		b := f.body(0, f.live, step, int64(step), &p)
		if b.Samples != f.live {
			t.Fatalf("step %d: %d samples", step, b.Samples)
		}
		if want := f.births(step); b.Series != want {
			t.Fatalf("step %d: body says %d born, births() %d", step, b.Series, want)
		}
		if step > 0 && b.Series != f.live/f.lifetime {
			t.Fatalf("step %d: %d born, want %d", step, b.Series, f.live/f.lifetime)
		}
		created += b.Series
		live := map[string]bool{}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b.Data)), "\n") {
			key := strings.Fields(line)[0]
			if last, ok := seen[key]; ok && last != step-1 {
				t.Fatalf("step %d: series %s came back after step %d", step, key, last)
			}
			seen[key] = step
			live[key] = true
		}
		if len(live) != f.live {
			t.Fatalf("step %d: %d distinct series, want %d", step, len(live), f.live)
		}
	}
	if len(seen) != created || created != 100 {
		t.Fatalf("distinct series %d, counted born %d, want 100", len(seen), created)
	}
	// Fewer series than live: one step.
	if n := f.steps(5); n != 1 {
		t.Fatalf("steps(5) = %d, want 1", n)
	}
}

func TestParseMetricsSeries(t *testing.T) {
	text := `# HELP vm_cache_entries Entries.
# TYPE vm_cache_entries gauge
vm_cache_entries{type="storage/tsid"} 2000000
vm_cache_entries{type="storage/hour_metric_ids"} 17
lightningdb_engine_series 20000
go_memstats_heap_inuse_bytes 1.5e+07 1700000000000
weird{path="/a b}"} 3

bad_value abc
`
	m := ParseMetricsSeries([]byte(text))
	want := map[string]float64{
		`vm_cache_entries{type="storage/tsid"}`:            2_000_000,
		`vm_cache_entries{type="storage/hour_metric_ids"}`: 17,
		"lightningdb_engine_series":                        20_000,
		"go_memstats_heap_inuse_bytes":                     15_000_000,
		`weird{path="/a b}"}`:                              3,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}
	if len(m) != len(want) {
		t.Errorf("parsed %d series, want %d: %v", len(m), len(want), m)
	}
}

func TestNiceStep(t *testing.T) {
	for in, want := range map[int64]int64{0: 1, 1: 1, 3: 5, 10: 10, 11: 20, 100_000: 100_000, 120_000: 200_000, 499: 500} {
		if got := niceStep(in); got != want {
			t.Errorf("niceStep(%d) = %d, want %d", in, got, want)
		}
	}
}

// churnRunOf is a run of n samples, 1 s apart, 10,000 series created per
// sample, whose RSS follows rss(i).
func churnRunOf(label string, n int, rss func(i int) int64) ChurnRun {
	r := ChurnRun{Label: label, Elapsed: time.Duration(n) * time.Second, Acked: int64(n) * 20_000}
	for i := range n {
		r.Samples = append(r.Samples, ChurnSample{
			At: time.Duration(i) * time.Second, Created: int64(i) * 10_000, Samples: int64(i) * 20_000,
			RSS: rss(i), Peak: rss(i) + 1<<20, Series: int64(min(i*10_000, 200_000)),
		})
	}
	return r
}

func TestChurnReport(t *testing.T) {
	rep := &ChurnReport{
		Options: ChurnDefaults(ChurnRSSOptions{Series: 1_000_000}),
		Runs: []ChurnRun{
			churnRunOf("grows", 101, func(i int) int64 { return int64(50+i) << 20 }),
			churnRunOf("flat", 101, func(int) int64 { return 80 << 20 }),
		},
	}
	if g := rep.Runs[0].Growth(); math.Abs(g-10<<20) > 1e-3 { // 1 MB a sample, 10,000 series a sample
		t.Fatalf("growth %v, want 10 MB per 100 k", g)
	}
	if g := rep.Runs[1].Growth(); g != 0 {
		t.Fatalf("flat growth %v", g)
	}
	if g := (&ChurnRun{}).Growth(); !math.IsNaN(g) {
		t.Fatalf("empty run growth %v, want NaN", g)
	}
	// A sawtooth around a flat level fits a slope near zero.
	saw := churnRunOf("saw", 101, func(i int) int64 { return int64(100+40*(i%5)/4) << 20 })
	if g := saw.Growth(); math.Abs(g) > 0.5*(1<<20) {
		t.Fatalf("sawtooth growth %.2f MB per 100 k, want about 0", g/(1<<20))
	}
	rep.Runs[1].ServerExited, rep.Runs[1].ServerLog = true, strconv.Quote("panic: boom\ngoroutine 1\n")
	var md bytes.Buffer
	rep.WriteMarkdown(&md, "HEADER\n", "x.svg")
	out := md.String()
	for _, want := range []string{
		"HEADER", "![RSS against series created](x.svg)",
		"| grows | 1000000 | 101 | 20.0 k |", "| 10.0 | ",
		// the 50 k row: sample 5 of each run
		"| 50.0 k | 55 | 56 | 50000 | 20.0 k | 80 | 81 | 50000 | 20.0 k |",
		"| 1.00 M | 150 | 151 | 200000 |",
		"| flat (**server died**) |", "its log:\n\n```\npanic: boom\ngoroutine 1\n```",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if rows := strings.Count(out, "\n| ") - strings.Count(out, "\n| run") - 2; rows < 20 || rows > 23 {
		t.Errorf("%d table rows", rows)
	}
	var svg bytes.Buffer
	if err := rep.WriteSVG(&svg, "t <&>"); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("svg is not well-formed XML: %v", err)
	}
	// Per run: RSS, peak (dashed) and series.
	if n := strings.Count(svg.String(), "<polyline"); n != 6 {
		t.Fatalf("%d polylines, want 6", n)
	}
	if !strings.Contains(svg.String(), ">flat</text>") {
		t.Fatal("svg has no legend")
	}
}

func TestCrashExcerpt(t *testing.T) {
	log := "level=WARN msg=x\nunexpected fault address 0x7f\nfatal error: fault\n[signal SIGSEGV]\n\ngoroutine 102 [running]:\nengine.(*DB).unheld()\n" + strings.Repeat("goroutine dump\n", 100)
	got := crashExcerpt([]byte(log), 80)
	if !strings.HasPrefix(got, "unexpected fault address 0x7f\nfatal error: fault\n") || len(got) != 80 {
		t.Fatalf("excerpt %q", got)
	}
	if got := crashExcerpt([]byte("panic: boom\nmain.go:1\n"), 100); got != "panic: boom\nmain.go:1\n" {
		t.Fatalf("panic at the start: %q", got)
	}
	if got := crashExcerpt([]byte("a\nb\nlast words"), 5); got != "words" {
		t.Fatalf("no crash: %q, want the tail", got)
	}
}

// TestChurnReportSkipsDeadReadings: readings taken after the server died
// (zeros) are not the run's last word.
func TestChurnReportSkipsDeadReadings(t *testing.T) {
	r := churnRunOf("died", 11, func(i int) int64 { return int64(100+i) << 20 })
	r.Samples = append(r.Samples, ChurnSample{At: 11 * time.Second, Created: 110_000, MetricsErr: "no such process", Series: -1})
	if end := r.last(); end.RSS != 110<<20 || end.Created != 100_000 {
		t.Fatalf("last = %+v", end)
	}
	if _, ok := r.at(105_000); ok {
		t.Fatal("at() returned a dead reading")
	}
}

// TestChurnRSSSmoke builds the server and runs a churn of a few seconds
// against it: every series must be created and acknowledged, and every
// reading must have read the server.
func TestChurnRSSSmoke(t *testing.T) {
	ctx := t.Context()
	target := lightningTarget(t)
	o := ChurnRSSOptions{Series: 6000, Live: 1000, Lifetime: 5, Interval: 200 * time.Millisecond, Every: 500 * time.Millisecond,
		BatchLines: 400, MaxDuration: time.Minute, Progress: func(s string) { t.Log(s) }}
	run, err := RunChurnRSS(ctx, target, o, "smoke")
	if err != nil {
		t.Fatal(err)
	}
	if run.Created != 6000 || run.Acked != run.Offered || run.Offered != 26*1000 || run.Errors != 0 || run.Truncated || run.ServerExited {
		t.Fatalf("run: created %d, acked %d of %d, errors %d (%s), truncated %v, exited %v",
			run.Created, run.Acked, run.Offered, run.Errors, run.FirstError, run.Truncated, run.ServerExited)
	}
	if len(run.Samples) < 5 {
		t.Fatalf("%d samples", len(run.Samples))
	}
	for _, s := range run.Samples {
		if s.RSS == 0 || s.Peak < s.RSS || s.HeapInuse == 0 || s.Series < 0 || s.MetricsErr != "" {
			t.Fatalf("reading not complete: %+v", s)
		}
	}
	if end := run.last(); end.Created != 6000 || end.Series != 6000 {
		t.Fatalf("last reading: created %d, server holds %d series, want 6000 and 6000", end.Created, end.Series)
	}
	if !strings.Contains(run.Config, "default: 1m0s") {
		t.Fatalf("config: %s", run.Config)
	}
}
