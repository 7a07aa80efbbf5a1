package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
)

// svgPanel is one curve of the soak chart.
type svgPanel struct {
	title string
	unit  string
	value func(SoakSample) float64
}

var soakPanels = []svgPanel{
	{"RSS", "MB", func(s SoakSample) float64 { return mb(s.RSS) }},
	{"Go heap in use", "MB", func(s SoakSample) float64 { return mb(s.HeapInuse) }},
	{"goroutines", "", func(s SoakSample) float64 { return float64(s.Goroutines) }},
	{"open file descriptors", "", func(s SoakSample) float64 { return float64(s.FDs) }},
	{"WAL size", "MB", func(s SoakSample) float64 { return mb(s.WAL) }},
	{"data dir size", "MB", func(s SoakSample) float64 { return mb(s.Data) }},
	{"series (lightningdb_engine_series)", "", func(s SoakSample) float64 { return float64(s.Series) }},
}

// Chart geometry, in SVG user units.
const (
	svgW, svgPanelH   = 760, 150
	svgLeft, svgRight = 70, 20
	svgTop, svgBottom = 24, 28
	svgPlotW          = svgW - svgLeft - svgRight
	svgPlotH          = svgPanelH - svgTop - svgBottom
)

// WriteSVG draws each vital sign against time, one panel under the
// other, as a plain SVG document.
func (r *SoakResult) WriteSVG(w io.Writer, title string) error {
	var b strings.Builder
	h := len(soakPanels)*svgPanelH + 30
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", svgW, h, svgW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", svgLeft, html.EscapeString(title))
	end := time.Duration(1)
	if n := len(r.Samples); n > 0 {
		end = max(r.Samples[n-1].At, time.Second)
	}
	for i, p := range soakPanels {
		writePanel(&b, r.Samples, p, 30+i*svgPanelH, end)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writePanel(b *strings.Builder, ss []SoakSample, p svgPanel, y0 int, end time.Duration) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		v := p.value(s)
		lo, hi = min(lo, v), max(hi, v)
	}
	if len(ss) == 0 {
		lo, hi = 0, 1
	}
	lo = min(lo, 0) // the axis starts at zero: growth is read against it
	if hi <= lo {
		hi = lo + 1
	}
	top, bottom := y0+svgTop, y0+svgTop+svgPlotH
	label := p.title
	if p.unit != "" {
		label += " (" + p.unit + ")"
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", svgLeft, top-6, html.EscapeString(label))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", svgLeft, top, svgPlotW, svgPlotH)
	for k := 0; k <= 2; k++ { // y grid: 0, half, max
		v := lo + (hi-lo)*float64(k)/2
		y := bottom - svgPlotH*k/2
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eee"/><text x="%d" y="%d" text-anchor="end">%s</text>`+"\n",
			svgLeft, y, svgLeft+svgPlotW, y, svgLeft-4, y+4, trimNum(v))
	}
	writeTimeAxis(b, bottom, end)
	var pts []string
	for _, s := range ss {
		x := float64(svgLeft) + float64(svgPlotW)*float64(s.At)/float64(end)
		y := float64(bottom) - float64(svgPlotH)*(p.value(s)-lo)/(hi-lo)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="#1f6feb" stroke-width="1.5" points="%s"/>`+"\n", strings.Join(pts, " "))
}

// writeTimeAxis labels the x axis in minutes (seconds for short runs).
func writeTimeAxis(b *strings.Builder, bottom int, end time.Duration) {
	step, unit := 5*time.Minute, time.Minute
	switch {
	case end < 3*time.Minute:
		step, unit = 10*time.Second, time.Second
	case end < 15*time.Minute:
		step = time.Minute
	}
	suffix := map[time.Duration]string{time.Minute: " min", time.Second: " s"}[unit]
	for t := time.Duration(0); t <= end; t += step {
		x := svgLeft + int(float64(svgPlotW)*float64(t)/float64(end))
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/><text x="%d" y="%d" text-anchor="middle">%d%s</text>`+"\n",
			x, bottom, x, bottom+4, x, bottom+16, int(t/unit), suffix)
	}
}

func trimNum(v float64) string {
	if v == math.Trunc(v) || math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
