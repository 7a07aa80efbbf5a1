package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// serverCPU returns the server process's CPU time (user + system).
func serverCPU(t testing.TB, p *proc) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// BenchmarkUITimeToFirstChart loads the query page in headless Chromium
// with a shared URL for a range query of 10 series x 1,000 steps (10,000
// points) and waits until the chart is drawn: the time a user waits for a
// first chart, page and assets included (a fresh page each time, the
// assets revalidated). It reports the server's CPU per load.
//
//	go test -run '^$' -bench BenchmarkUITimeToFirstChart -benchtime 20x ./cmd/lightning-db
func BenchmarkUITimeToFirstChart(b *testing.B) {
	p := startServer(b, b.TempDir())
	defer p.stop()
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-1000 * time.Minute)
	var sb strings.Builder
	for m := range 1001 {
		ts := start.Add(time.Duration(m) * time.Minute).UnixNano()
		for s := range 10 {
			fmt.Fprintf(&sb, "bench,s=%d v=%d %d\n", s, (m*7+s*13)%100, ts)
		}
	}
	writeLines(b, p, "b", sb.String())
	br := newBrowser(b)
	url := p.url(fmt.Sprintf("/#/query?q=bench_v&from=%d&to=%d&step=60&tab=graph", start.Unix(), end.Unix()))
	drawn := `document.querySelector(".u-legend") !== null && document.querySelectorAll(".u-legend .u-series").length === 11`
	br.do(b, "warm up", chromedp.Navigate(url), waitJS(drawn))
	cpu0 := serverCPU(b, p)
	b.ResetTimer()
	for range b.N {
		br.do(b, "load", chromedp.Navigate("about:blank"), chromedp.Navigate(url), waitJS(drawn))
	}
	b.StopTimer()
	b.ReportMetric(float64(serverCPU(b, p)-cpu0)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/load")
}
