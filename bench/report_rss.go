package bench

import (
	"fmt"
	"io"
)

// writeQueryRSS prints each target's peak RSS during the query mix (the
// server restarted on the loaded data, every shape's queries one after the
// other) and over the load plus the queries (the larger of that and the
// peak while the data set the queries read was written), with Lightning
// DB's ratio to each peer: issue #17's memory figures.
func (r *Report) writeQueryRSS(w io.Writer) {
	type rss struct{ queries, run int64 }
	var targets []string
	by := map[string]*rss{}
	for _, x := range r.Results {
		if x.Workload != "queries" || x.PeakRSS == 0 {
			continue
		}
		targets = append(targets, x.Target)
		by[x.Target] = &rss{queries: x.PeakRSS, run: x.PeakRSS}
	}
	for _, x := range r.Results {
		if wl, ok := WorkloadByName(x.Workload); ok && wl.QueryData && by[x.Target] != nil {
			by[x.Target].run = max(by[x.Target].run, x.PeakRSS)
		}
	}
	if len(targets) == 0 {
		return
	}
	fmt.Fprintln(w, "Peak RSS, MB: during the query mix, and over the load plus the queries (ratio: Lightning DB ÷ target):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | queries | load + queries | ratio, queries | ratio, load + queries |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|")
	l := by[LightningDB]
	for _, t := range targets {
		x := by[t]
		qr, rr := "", ""
		if l != nil {
			qr, rr = ratio(float64(l.queries), float64(x.queries)), ratio(float64(l.run), float64(x.run))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %s |\n", t, mb(x.queries), mb(x.run), qr, rr)
	}
	fmt.Fprintln(w)
}
