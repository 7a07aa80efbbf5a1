package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// ChurnReport is a churn-RSS comparison: one run per server (or binary),
// on the same churn.
type ChurnReport struct {
	Options ChurnRSSOptions `json:"options"`
	Runs    []ChurnRun      `json:"runs"`
}

// at returns the first sample of r whose Created is at least c, and
// whether there is one.
func (r *ChurnRun) at(c int64) (ChurnSample, bool) {
	for _, s := range r.Samples {
		if s.Created >= c && s.read() {
			return s, true
		}
	}
	return ChurnSample{}, false
}

// last is r's final sample that read the server (zero when none did).
func (r *ChurnRun) last() ChurnSample {
	for i := len(r.Samples) - 1; i >= 0; i-- {
		if r.Samples[i].read() {
			return r.Samples[i]
		}
	}
	return ChurnSample{}
}

// read reports whether the sample read the server's memory: a reading
// taken after the server died holds zeros, which the report leaves out.
func (s ChurnSample) read() bool { return s.RSS > 0 }

// Growth is RSS growth over the second half of the run, in bytes per
// 100,000 series created: the least-squares slope of RSS against series
// created over the samples past half the series (a sawtooth of flushes and
// partition drops averages out). NaN when the run has too few samples.
func (r *ChurnRun) Growth() float64 {
	half := r.last().Created / 2
	var n, sx, sy, sxx, sxy float64
	for _, s := range r.Samples {
		if s.Created < half || s.Created == 0 || !s.read() {
			continue
		}
		x, y := float64(s.Created), float64(s.RSS)
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	den := n*sxx - sx*sx
	if n < 2 || den <= 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den * 1e5
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten (at least 1).
func niceStep(x int64) int64 {
	if x <= 1 {
		return 1
	}
	p := int64(1)
	for p*10 <= x {
		p *= 10
	}
	for _, m := range []int64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// maxCreated is the largest series count any run reached.
func (rep *ChurnReport) maxCreated() int64 {
	var n int64
	for i := range rep.Runs {
		n = max(n, rep.Runs[i].last().Created)
	}
	return n
}

// WriteMarkdown writes the settings, the summary per run and the table at
// fixed steps of series created (about 20 rows); svg names the chart to
// link ("" for none).
func (rep *ChurnReport) WriteMarkdown(w io.Writer, header, svg string) {
	fmt.Fprint(w, header)
	o := rep.Options
	rate := float64(o.Live) / o.Interval.Seconds()
	fmt.Fprintf(w, "Churn: %d series created in all, %d live at once; each series gets one sample every %s for %d steps (%s), then its slot moves to a new series (slots staggered): %s samples/s and %s new series/s offered, line protocol, %d lines per request, %d connections; sample timestamps are the wall-clock time each step is due. Sampled every %s.\n\n",
		o.Series, o.Live, o.Interval, o.Lifetime, time.Duration(o.Lifetime)*o.Interval, si(rate), si(rate/float64(o.Lifetime)), o.BatchLines, o.Conns, o.Every)
	for _, r := range rep.Runs {
		fmt.Fprintf(w, "- **%s**: `%s`; series held: `%s`", r.Label, r.Binary, r.SeriesMetric)
		if r.Command != "" {
			fmt.Fprintf(w, "; run by `%s` at %s", r.Command, r.Started.Format(time.RFC3339))
		}
		fmt.Fprint(w, "; config:\n\n")
		fmt.Fprintf(w, "  ```\n  %s\n  ```\n\n", strings.ReplaceAll(strings.TrimSpace(r.Config), "\n", "\n  "))
	}
	if svg != "" {
		fmt.Fprintf(w, "![RSS against series created](%s)\n\n", svg)
	}
	rep.writeSummary(w)
	rep.writeCurveTable(w)
}

func (rep *ChurnReport) writeSummary(w io.Writer) {
	fmt.Fprintln(w, "| run | series created | elapsed s | samples/s acked | max lag s | errors | RSS MB at 25 % / 50 % / 100 % | peak RSS (VmHWM) MB | RSS growth, 2nd half (fit), MB per 100 k series | series held at end | heap in use at end MB | server CPU s |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var notes []string
	for i := range rep.Runs {
		r := &rep.Runs[i]
		end := r.last()
		var q []string
		for _, f := range []int64{4, 2} {
			s, _ := r.at(end.Created / f)
			q = append(q, fmt.Sprintf("%.0f", mb(s.RSS)))
		}
		q = append(q, fmt.Sprintf("%.0f", mb(end.RSS)))
		status := ""
		if r.Truncated {
			status = " (cut by the time bound)"
		}
		if r.ServerExited {
			status += " (**server died**)"
		}
		fmt.Fprintf(w, "| %s%s | %d | %.0f | %s | %.1f | %d | %s | %.0f | %.1f | %d | %.0f | %.0f |\n",
			r.Label, status, end.Created, r.Elapsed.Seconds(), si(float64(r.Acked)/max(r.Elapsed.Seconds(), 1e-9)),
			r.MaxLag.Seconds(), r.Errors, strings.Join(q, " / "), mb(end.Peak), r.Growth()/(1<<20), end.Series,
			mb(end.HeapInuse), end.CPU)
		if r.FirstError != "" {
			notes = append(notes, fmt.Sprintf("%s: first error: %s", r.Label, cell(r.FirstError)))
		}
		if r.ServerLog != "" {
			notes = append(notes, fmt.Sprintf("%s: the server died during the run; its log:\n\n```\n%s\n```", r.Label, unquoteLog(r.ServerLog)))
		}
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintf(w, "%s\n\n", n)
	}
}

// unquoteLog undoes Target.LogTail's quoting (kept as is when it fails).
func unquoteLog(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return strings.TrimSpace(u)
	}
	return s
}

// writeCurveTable writes, at fixed steps of series created, each run's
// RSS, peak RSS, series held and acknowledged samples/s since the row
// before.
func (rep *ChurnReport) writeCurveTable(w io.Writer) {
	n := rep.maxCreated()
	step := niceStep(n / 20)
	head, rule := "| series created |", "|--:|"
	for _, r := range rep.Runs {
		head += fmt.Sprintf(" %s RSS MB | peak MB | series held | samples/s |", r.Label)
		rule += "--:|--:|--:|--:|"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	prev := make([]ChurnSample, len(rep.Runs))
	for c := step; c <= n+step-1; c += step {
		row := fmt.Sprintf("| %s |", si(float64(min(c, n))))
		for i := range rep.Runs {
			s, ok := rep.Runs[i].at(min(c, n))
			if !ok {
				row += " | | | |"
				continue
			}
			rate := ""
			if dt := (s.At - prev[i].At).Seconds(); dt > 0 {
				rate = si(float64(s.Samples-prev[i].Samples) / dt)
			}
			prev[i] = s
			row += fmt.Sprintf(" %.0f | %.0f | %d | %s |", mb(s.RSS), mb(s.Peak), s.Series, rate)
		}
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
}

// axisNum labels a y tick: k and M past 10,000.
func axisNum(v float64) string {
	if v >= 1e4 {
		return strings.ReplaceAll(si(v), " ", "")
	}
	return trimNum(v)
}

// churnPanelH is the height of the RSS panel: taller than the others, so
// that flat curves stay readable beside a growing one.
const churnPanelH = 300

// churnColors are the runs' curve colours, in order.
var churnColors = []string{"#1f6feb", "#d1242f", "#2da44e", "#8250df", "#bf8700"}

// WriteSVG draws RSS (solid) and peak RSS (dashed) against series
// created, and below it the series each server holds, one curve per run.
func (rep *ChurnReport) WriteSVG(w io.Writer, title string) error {
	var b strings.Builder
	legendH := 18 * len(rep.Runs)
	h := 30 + legendH + churnPanelH + svgPanelH + 10
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", svgW, h, svgW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	for i, r := range rep.Runs {
		y := 36 + 18*i
		c := churnColors[i%len(churnColors)]
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/><text x="%d" y="%d">%s</text>`+"\n",
			svgLeft, y-4, svgLeft+24, y-4, c, svgLeft+30, y, html.EscapeString(r.Label))
	}
	xmax := float64(max(rep.maxCreated(), 1))
	y0 := 30 + legendH
	rep.panel(&b, y0, churnPanelH-svgTop-svgBottom, xmax, "RSS in MB (VmRSS solid, peak VmHWM dashed) against series created", func(s ChurnSample) float64 { return mb(s.RSS) },
		func(s ChurnSample) float64 { return mb(s.Peak) })
	rep.panel(&b, y0+churnPanelH, svgPlotH, xmax, "series the server holds in memory, against series created", func(s ChurnSample) float64 { return float64(max(s.Series, 0)) }, nil)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// panel draws one panel: value (and dashed, when not nil) of every run
// against series created.
func (rep *ChurnReport) panel(b *strings.Builder, y0, plotH int, xmax float64, label string, value, dashed func(ChurnSample) float64) {
	hi := 1.0
	for _, r := range rep.Runs {
		for _, s := range r.Samples {
			hi = max(hi, value(s))
			if dashed != nil {
				hi = max(hi, dashed(s))
			}
		}
	}
	top, bottom := y0+svgTop, y0+svgTop+plotH
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", svgLeft, top-6, html.EscapeString(label))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgLeft, top, svgPlotW, plotH)
	for k := 0; k <= 4; k++ {
		y := bottom - plotH*k/4
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eee"/><text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
			svgLeft, y, svgLeft+svgPlotW, y, svgLeft-4, y+4, axisNum(hi*float64(k)/4))
	}
	step := niceStep(int64(xmax / 8))
	for c := int64(0); float64(c) <= xmax; c += step {
		x := svgLeft + int(float64(svgPlotW)*float64(c)/xmax)
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/><text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n",
			x, bottom, x, bottom+4, x, bottom+16, strings.ReplaceAll(si(float64(c)), " ", ""))
	}
	for i, r := range rep.Runs {
		c := churnColors[i%len(churnColors)]
		line := func(f func(ChurnSample) float64, extra string) {
			var pts []string
			for _, s := range r.Samples {
				if !s.read() {
					continue
				}
				x := float64(svgLeft) + float64(svgPlotW)*float64(s.Created)/xmax
				y := float64(bottom) - float64(plotH)*f(s)/hi
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", c, extra, strings.Join(pts, " "))
		}
		line(value, "")
		if dashed != nil {
			line(dashed, ` stroke-dasharray="4 3"`)
		}
	}
}
