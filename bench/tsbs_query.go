package bench

import (
	"fmt"
	"strings"
	"time"
)

// The TSBS query mix (--query-mix tsbs): the 11 cpu-only query types as
// tsbs_generate_queries --format=victoriametrics writes them (issue #17's
// table), sent as query_range at TSBS's range and step. Fields are
// selected with a __name__ regex, label values in single quotes, grouped
// by (__name__): MetricsQL keeps the name of max_over_time and
// avg_over_time, plain PromQL fails these queries ("vector cannot contain
// metrics with the same labelset"), so Lightning DB runs with
// --metricsql-names in this mix.
var TSBSQueryShapes = []QueryShape{
	tsbsShape("single-groupby-1-1-1", 1, 1, time.Hour, time.Minute),
	tsbsShape("single-groupby-1-1-12", 1, 1, 12*time.Hour, time.Minute),
	tsbsShape("single-groupby-1-8-1", 8, 1, time.Hour, time.Minute),
	tsbsShape("single-groupby-5-1-1", 1, 5, time.Hour, time.Minute),
	tsbsShape("single-groupby-5-1-12", 1, 5, 12*time.Hour, time.Minute),
	tsbsShape("single-groupby-5-8-1", 8, 5, time.Hour, time.Minute),
	tsbsShape("cpu-max-all-1", 1, 10, 8*time.Hour, time.Hour),
	tsbsShape("cpu-max-all-8", 8, 10, 8*time.Hour, time.Hour),
	tsbsShape("double-groupby-1", 0, 1, 12*time.Hour, time.Hour),
	tsbsShape("double-groupby-5", 0, 5, 12*time.Hour, time.Hour),
	tsbsShape("double-groupby-all", 0, 10, 12*time.Hour, time.Hour),
}

func tsbsShape(name string, hosts, fields int, window, step time.Duration) QueryShape {
	return QueryShape{Name: name, TSBS: "victoriametrics form", Hosts: hosts, Fields: fields,
		Window: window, Step: step, Mean: hosts == 0, TSBSForm: true}
}

// Query mixes (Config.QueryMix).
const (
	MixLabelReplace = "label-replace" // QueryShapes, the default
	MixTSBS         = "tsbs"          // TSBSQueryShapes
	MixAll          = "all"           // both
)

// QueryMixShapes returns the shapes of mix, or an error naming the mixes.
func QueryMixShapes(mix string) ([]QueryShape, error) {
	switch mix {
	case "", MixLabelReplace:
		return QueryShapes, nil
	case MixTSBS:
		return TSBSQueryShapes, nil
	case MixAll:
		return append(append([]QueryShape(nil), QueryShapes...), TSBSQueryShapes...), nil
	case MixTSBSInfluxQL:
		return TSBSInfluxQLShapes, nil
	}
	return nil, fmt.Errorf("query mix %q: want %s, %s, %s or %s", mix, MixLabelReplace, MixTSBS, MixAll, MixTSBSInfluxQL)
}

// tsbsPromQL is TSBS's victoriametrics form of s for q (TSBS'
// getSelectClause and its GroupByTime, MaxAllCPU and GroupByTimeAndPrimaryTag).
func (s QueryShape) tsbsPromQL(q QueryInstance) string {
	fields := strings.Join(cpuFields[:s.Fields], "|")
	var hosts string
	switch len(q.Hosts) {
	case 0:
	case 1:
		hosts = fmt.Sprintf("hostname='%s'", q.Hosts[0])
	default:
		hosts = fmt.Sprintf("hostname=~'%s'", strings.Join(q.Hosts, "|"))
	}
	var sel string
	switch {
	case s.Fields == 1:
		sel = fmt.Sprintf("cpu_%s{%s}", fields, hosts)
	case hosts == "":
		sel = fmt.Sprintf("{__name__=~'cpu_(%s)'}", fields)
	default:
		sel = fmt.Sprintf("{__name__=~'cpu_(%s)', %s}", fields, hosts)
	}
	win := promDuration(s.Step)
	if s.Mean {
		return fmt.Sprintf("avg(avg_over_time(%s[%s])) by (__name__, hostname)", sel, win)
	}
	return fmt.Sprintf("max(max_over_time(%s[%s])) by (__name__)", sel, win)
}
