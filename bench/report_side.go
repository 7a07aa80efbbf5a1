package bench

import (
	"fmt"
	"io"
	"strings"
)

// writeQuerySideBySide prints one row per query shape with every target's
// p50 and p99 (ms) side by side, and errors where a target had any: the
// table issue #17 asks for per TSBS type.
func (r *Report) writeQuerySideBySide(w io.Writer) {
	var targets []string
	var shapes []string
	byKey := map[[2]string]QueryResult{}
	for _, x := range r.Results {
		if x.Workload != "queries" || len(x.Queries) == 0 {
			continue
		}
		targets = append(targets, x.Target)
		for _, q := range x.Queries {
			if _, seen := byKey[[2]string{"", q.Shape}]; !seen {
				shapes = append(shapes, q.Shape)
				byKey[[2]string{"", q.Shape}] = QueryResult{}
			}
			byKey[[2]string{x.Target, q.Shape}] = q
		}
	}
	if len(targets) < 2 {
		return
	}
	head, rule := "| query shape |", "|---|"
	for _, t := range targets {
		head += fmt.Sprintf(" %s p50 ms | %s p99 ms |", t, t)
		rule += "--:|--:|"
	}
	fmt.Fprintln(w, "Query latency side by side (one query in flight; errors: failed queries of the run):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for _, s := range shapes {
		row := []string{s}
		for _, t := range targets {
			q, ok := byKey[[2]string{t, s}]
			switch {
			case !ok || q.Unsupported != "":
				row = append(row, "", "")
			case q.Latency.N == 0:
				row = append(row, fmt.Sprintf("%d errors", q.Errors), "")
			case q.Errors > 0:
				row = append(row, fmt.Sprintf("%.2f (%d errors)", q.Latency.P50, q.Errors), fmt.Sprintf("%.2f", q.Latency.P99))
			default:
				row = append(row, fmt.Sprintf("%.2f", q.Latency.P50), fmt.Sprintf("%.2f", q.Latency.P99))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
	r.writeQueryRSS(w)
}
