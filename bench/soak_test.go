package bench

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// soakRun builds a result of n samples a minute apart whose RSS, goroutines
// and fds follow the given functions of the sample's index.
func soakRun(n int, rss func(i int) int64, gor, fds func(i int) int64) *SoakResult {
	r := &SoakResult{Streams: []StreamTotal{{Name: "lp"}, {Name: "query"}}}
	for i := range n {
		r.Samples = append(r.Samples, SoakSample{
			At: time.Duration(i) * time.Minute, RSS: rss(i), Goroutines: gor(i), FDs: fds(i), WAL: 8 << 20,
		})
	}
	return r
}

func constant(v int64) func(int) int64 { return func(int) int64 { return v } }

func TestJudgeSoak(t *testing.T) {
	flat := soakRun(31, constant(100<<20), constant(40), constant(50))
	if v := Judge(flat, DefaultBounds); !v.Pass || !strings.Contains(v.Checks[len(v.Checks)-1], "RSS +0.00 MB/min") {
		t.Fatalf("flat run failed: %v", v.Checks)
	}
	cases := map[string]*SoakResult{
		"rss grows":      soakRun(31, func(i int) int64 { return int64(100+5*i) << 20 }, constant(40), constant(50)),
		"goroutine leak": soakRun(31, constant(100<<20), func(i int) int64 { return int64(40 + 2*i) }, constant(50)),
		"fd leak":        soakRun(31, constant(100<<20), constant(40), func(i int) int64 { return int64(50 + 3*i) }),
	}
	exited := soakRun(31, constant(100<<20), constant(40), constant(50))
	exited.ServerExited = true
	cases["server exited"] = exited
	errs := soakRun(31, constant(100<<20), constant(40), constant(50))
	errs.Streams[0].Errors = 1
	cases["client error"] = errs
	rejected := soakRun(31, constant(100<<20), constant(40), constant(50))
	rejected.Samples[30].Rejected = 3
	cases["server rejected"] = rejected
	for name, r := range cases {
		if v := Judge(r, DefaultBounds); v.Pass {
			t.Errorf("%s: passed: %v", name, v.Checks)
		}
	}
	// A short run judges errors only: its warm-up is not growth.
	short := soakRun(3, func(i int) int64 { return int64(20+40*i) << 20 }, constant(40), constant(50))
	for i := range short.Samples {
		short.Samples[i].At = time.Duration(i) * 10 * time.Second
	}
	if v := Judge(short, DefaultBounds); !v.Pass || !strings.Contains(strings.Join(v.Checks, "\n"), "not judged") {
		t.Fatalf("short run: %v %v", v.Pass, v.Checks)
	}
}

func TestAtSteps(t *testing.T) {
	var ss []SoakSample
	for i := range 25 { // every 5 s for 2 min
		ss = append(ss, SoakSample{At: time.Duration(i)*5*time.Second + 30*time.Millisecond})
	}
	rows := AtSteps(ss, time.Minute)
	if len(rows) != 3 || rows[1].At.Round(time.Second) != time.Minute || rows[2].At.Round(time.Second) != 2*time.Minute {
		t.Fatalf("rows %v", rows)
	}
}

func TestParseMetricsText(t *testing.T) {
	m := ParseMetricsText([]byte(`# HELP go_goroutines x
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.5e+07
lightningdb_x_rejected_total{reason="a b}"} 2
lightningdb_x_rejected_total{reason="c"} 3
`))
	if m["go_goroutines"] != 42 || m["go_memstats_heap_inuse_bytes"] != 1.5e7 || m["lightningdb_x_rejected_total"] != 5 {
		t.Fatalf("parsed %v", m)
	}
}

func TestSoakCursorSkipsAhead(t *testing.T) {
	start := time.Unix(1000, 0)
	c := &cursor{next: start, step: 100 * time.Millisecond}
	st := &StreamStats{}
	if ts := c.due(start.Add(250*time.Millisecond), st, 5); len(ts) != 3 || st.Offered.Load() != 15 {
		t.Fatalf("due %v offered %d", ts, st.Offered.Load())
	}
	// Ten seconds late: the cursor skips ahead and counts what it skipped.
	ts := c.due(start.Add(10*time.Second+250*time.Millisecond), st, 5)
	if len(ts) == 0 || len(ts) > int(soakMaxBehind/c.step)+1 || st.Skipped.Load() == 0 {
		t.Fatalf("late: %d due, %d skipped", len(ts), st.Skipped.Load())
	}
	if st.Offered.Load() != st.Skipped.Load()+int64(3+len(ts))*5 {
		t.Fatalf("offered %d != skipped %d + sent", st.Offered.Load(), st.Skipped.Load())
	}
}

func TestSoakFleetChurns(t *testing.T) {
	start := time.Unix(0, 0)
	f := soakFleet{name: "s", slots: 10, start: start, lifetime: time.Minute}
	changed := 0
	for slot := range f.slots {
		if f.gen(slot, start) != f.gen(slot, start.Add(30*time.Second)) {
			changed++
		}
	}
	if changed != 5 { // staggered evenly: half the slots turn over in half a lifetime
		t.Fatalf("%d of 10 slots changed generation in half a lifetime", changed)
	}
}

func TestSoakReportAndSVG(t *testing.T) {
	r := soakRun(31, constant(100<<20), constant(40), constant(50))
	r.Verdict = Judge(r, DefaultBounds)
	var md, svg bytes.Buffer
	r.WriteMarkdown(&md, "head\n", "x.svg")
	if !strings.Contains(md.String(), "| 30m0s |") || !strings.Contains(md.String(), "![soak curves](x.svg)") ||
		!strings.Contains(md.String(), "**PASS**") {
		t.Fatalf("markdown:\n%s", md.String())
	}
	if err := r.WriteSVG(&svg, "t <&>"); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&svg)
	polylines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed XML: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != len(soakPanels) {
		t.Fatalf("%d curves, want %d", polylines, len(soakPanels))
	}
}

// TestSoakSmoke builds the server and soaks it for a few seconds: every
// stream must get answers, the vital signs must be read, and the verdict
// must pass (a short run judges errors only).
func TestSoakSmoke(t *testing.T) {
	ctx := t.Context()
	target := lightningTarget(t)
	res, err := RunSoak(ctx, target, SoakOptions{Duration: 5 * time.Second, Every: time.Second, Rate: 5000, Progress: func(s string) { t.Log(s) }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verdict.Pass {
		t.Fatalf("verdict: %v", res.Verdict.Checks)
	}
	for _, s := range res.Streams {
		if s.Requests == 0 {
			t.Errorf("stream %s got no answer", s.Name)
		}
	}
	last := res.Samples[len(res.Samples)-1]
	if last.RSS == 0 || last.Goroutines == 0 || last.FDs == 0 || last.Series == 0 || last.MetricsErr != "" {
		t.Fatalf("vital signs not read: %+v", last)
	}
}
