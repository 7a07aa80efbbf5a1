package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// MixTSBSInfluxQL is the query mix of issue #18's figures: TSBS's 15
// cpu-only query types exactly as tsbs_generate_queries --format=influx
// writes them (its databases/influx/devops.go), sent in InfluxQL to /query
// on every target, Lightning DB included.
const MixTSBSInfluxQL = "tsbs-influxql"

// tsbsIQLKind is which of TSBS's InfluxQL query builders a shape uses.
type tsbsIQLKind int

const (
	iqlNone          tsbsIQLKind = iota
	iqlGroupByTime               // single-groupby-*: max per minute of F fields for H hosts
	iqlMaxAll                    // cpu-max-all-*: max of all fields per minute for H hosts
	iqlDoubleGroupBy             // double-groupby-*: mean per hour and host
	iqlLastPoint                 // lastpoint: the last row of every host
	iqlHighCPU                   // high-cpu-*: rows with usage_user > 90
	iqlOrderByLimit              // groupby-orderby-limit: 5 minute maxima before a random end
)

// TSBSInfluxQLShapes are the shapes of MixTSBSInfluxQL. Ranges are TSBS's
// (MaxAllDuration 8 h, DoubleGroupByDuration and HighCPUDuration 12 h);
// Step only aligns the drawn windows, the group-by interval is in the
// query text as TSBS writes it (cpu-max-all groups by 1m there).
var TSBSInfluxQLShapes = []QueryShape{
	iqlShape("single-groupby-1-1-1", iqlGroupByTime, 1, 1, time.Hour),
	iqlShape("single-groupby-1-1-12", iqlGroupByTime, 1, 1, 12*time.Hour),
	iqlShape("single-groupby-1-8-1", iqlGroupByTime, 8, 1, time.Hour),
	iqlShape("single-groupby-5-1-1", iqlGroupByTime, 1, 5, time.Hour),
	iqlShape("single-groupby-5-1-12", iqlGroupByTime, 1, 5, 12*time.Hour),
	iqlShape("single-groupby-5-8-1", iqlGroupByTime, 8, 5, time.Hour),
	iqlShape("cpu-max-all-1", iqlMaxAll, 1, 10, 8*time.Hour),
	iqlShape("cpu-max-all-8", iqlMaxAll, 8, 10, 8*time.Hour),
	iqlShape("double-groupby-1", iqlDoubleGroupBy, 0, 1, 12*time.Hour),
	iqlShape("double-groupby-5", iqlDoubleGroupBy, 0, 5, 12*time.Hour),
	iqlShape("double-groupby-all", iqlDoubleGroupBy, 0, 10, 12*time.Hour),
	iqlShape("high-cpu-1", iqlHighCPU, 1, 10, 12*time.Hour),
	iqlShape("high-cpu-all", iqlHighCPU, 0, 10, 12*time.Hour),
	iqlShape("lastpoint", iqlLastPoint, 0, 10, 0),
	iqlShape("groupby-orderby-limit", iqlOrderByLimit, 0, 1, time.Hour),
}

func iqlShape(name string, kind tsbsIQLKind, hosts, fields int, window time.Duration) QueryShape {
	return QueryShape{Name: name, TSBS: "influx form", Hosts: hosts, Fields: fields,
		Window: window, Step: time.Minute, Mean: kind == iqlDoubleGroupBy, iql: kind}
}

// tsbsInfluxQL is TSBS's influx form of s for q: hostnames OR-ed in
// parentheses, times as RFC 3339 strings, TSBS's lower-case keywords.
func (s QueryShape) tsbsInfluxQL(q QueryInstance) string {
	start, end := q.Start.UTC().Format(time.RFC3339), q.End.UTC().Format(time.RFC3339)
	hosts := make([]string, len(q.Hosts))
	for i, h := range q.Hosts {
		hosts[i] = fmt.Sprintf("hostname = '%s'", h)
	}
	where := "(" + strings.Join(hosts, " or ") + ")"
	aggs := func(fn, sep string) string {
		sel := make([]string, s.Fields)
		for i, f := range cpuFields[:s.Fields] {
			sel[i] = fmt.Sprintf("%s(%s)", fn, f)
		}
		return strings.Join(sel, sep)
	}
	switch s.iql {
	case iqlGroupByTime:
		return fmt.Sprintf("SELECT %s from cpu where %s and time >= '%s' and time < '%s' group by time(1m)", aggs("max", ", "), where, start, end)
	case iqlMaxAll:
		return fmt.Sprintf("SELECT %s from cpu where %s and time >= '%s' and time < '%s' group by time(1m)", aggs("max", ","), where, start, end)
	case iqlDoubleGroupBy:
		return fmt.Sprintf("SELECT %s from cpu where time >= '%s' and time < '%s' group by time(1h),hostname", aggs("mean", ", "), start, end)
	case iqlLastPoint:
		return `SELECT * from cpu group by "hostname" order by time desc limit 1`
	case iqlHighCPU:
		hw := ""
		if len(q.Hosts) > 0 {
			hw = "and " + where
		}
		return fmt.Sprintf("SELECT * from cpu where usage_user > 90.0 %s and time >= '%s' and time < '%s'", hw, start, end)
	case iqlOrderByLimit:
		return fmt.Sprintf("SELECT max(usage_user) from cpu WHERE time < '%s' group by time(1m) limit 5", end)
	}
	return ""
}

// queryLang is the language t answers the query mix in: InfluxQL for
// every target in MixTSBSInfluxQL, its own otherwise.
func queryLang(mix string, t *Target) QueryLang {
	if mix == MixTSBSInfluxQL {
		return InfluxQL
	}
	return t.QueryLang
}

// writeQueryRatios prints, per query shape, Lightning DB's p50 and p99
// divided by each peer's (below 1: Lightning DB is faster), and whether
// the p50 ratio meets issue #18's target of at most 0.5.
func (r *Report) writeQueryRatios(w io.Writer) {
	byTarget := map[string]map[string]QueryResult{}
	var peers, shapes []string
	for _, x := range r.Results {
		if x.Workload != "queries" || len(x.Queries) == 0 {
			continue
		}
		m := map[string]QueryResult{}
		for _, q := range x.Queries {
			m[q.Shape] = q
			if x.Target == LightningDB {
				shapes = append(shapes, q.Shape)
			}
		}
		byTarget[x.Target] = m
		if x.Target != LightningDB {
			peers = append(peers, x.Target)
		}
	}
	if byTarget[LightningDB] == nil || len(peers) == 0 {
		return
	}
	fmt.Fprintln(w, "Query latency ratios, Lightning DB ÷ peer (below 1: Lightning DB faster; target p50 ≤ 0.5):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| query shape | peer | p50 ratio | p99 ratio | p50 ≤ 0.5 |")
	fmt.Fprintln(w, "|---|---|--:|--:|---|")
	for _, s := range shapes {
		l := byTarget[LightningDB][s]
		for _, p := range peers {
			q, ok := byTarget[p][s]
			if !ok || q.Latency.N == 0 || l.Latency.N == 0 || q.Latency.P50 == 0 || q.Latency.P99 == 0 {
				fmt.Fprintf(w, "| %s | %s | | | n/a |\n", s, p)
				continue
			}
			r50, r99 := l.Latency.P50/q.Latency.P50, l.Latency.P99/q.Latency.P99
			meets := "no"
			if r50 <= 0.5 {
				meets = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %.2f | %.2f | %s |\n", s, p, r50, r99, meets)
		}
	}
	fmt.Fprintln(w)
}
