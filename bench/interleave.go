package bench

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The interleaved query mix (Config.QueryInterleave, --query-interleave).
// On a machine shared with other work, running one target's whole mix and
// then the next one's measures each under a different load; here every
// target that loaded the query data set is started on it, and each query
// instance is sent to every target in turn (one query in flight, as in the
// sequential mix), so that all of them meet the same load. Each target's
// peak RSS and CPU time are those of its process over the whole
// interleaved phase.

// keepQueryData moves the data dir t's workload w loaded (t stopped) aside
// for the interleaved mix, so that later workloads, which start from a
// fresh dir, leave it alone.
func keepQueryData(t *Target, w Workload, r *Result) {
	dir := filepath.Join(t.dir, t.Name+"-query-data")
	if err := os.RemoveAll(dir); err != nil {
		r.Note = "keep query data: " + err.Error()
		return
	}
	if err := os.Rename(t.dataDir, dir); err != nil {
		r.Note = "keep query data: " + err.Error()
		return
	}
	t.queryData, t.queryWorkload = dir, w.Name
}

// RunQueriesInterleaved runs the query mix on every target that kept its
// query data (RunTarget with QueryInterleave), interleaved query by
// query, and returns one "queries" result per target.
func RunQueriesInterleaved(ctx context.Context, c *Config, targets []*Target) []Result {
	var ts []*Target
	var out []Result
	cpu0 := map[*Target]float64{}
	for _, t := range targets {
		if t.queryData == "" {
			continue
		}
		r := Result{Target: t.Name, Workload: "queries",
			Note: "data loaded by " + t.queryWorkload + ", servers restarted, queries interleaved across targets"}
		t.dataDir = t.queryData
		if err := t.Start(ctx, 5*time.Minute); err != nil {
			r.Status = "error: " + err.Error()
			out = append(out, r)
			continue
		}
		defer func() { _ = t.Stop(time.Minute) }()
		ResetPeakRSS(t.PID())
		cpu0[t], _ = ProcCPUSeconds(t.PID())
		ts = append(ts, t)
	}
	shapes, err := QueryMixShapes(c.QueryMix)
	if err != nil {
		for _, t := range ts {
			out = append(out, Result{Target: t.Name, Workload: "queries", Status: "error: " + err.Error()})
		}
		return out
	}
	res := make([]Result, len(ts))
	for k, t := range ts {
		res[k] = Result{Target: t.Name, Workload: "queries", Status: "ok",
			Note: "data loaded by " + t.queryWorkload + ", servers restarted, queries interleaved across targets"}
	}
	client := &http.Client{Timeout: 60 * time.Second}
	defer client.CloseIdleConnections()
	dataEnd := c.Start.Add(time.Duration(c.Scale.Steps) * c.Scale.Interval)
	start := time.Now()
	for i, s := range shapes {
		qs := s.Instances(c.Seed+uint64(i), c.Scale.Queries, c.Scale.Hosts, c.Start, dataEnd)
		qrs := make([]QueryResult, len(ts))
		lats := make([][]time.Duration, len(ts))
		for k := range ts {
			qrs[k] = QueryResult{Shape: s.Name, TSBS: s.TSBS}
		}
		deadline := time.Now().Add(c.MaxPhase)
		for _, q := range qs {
			if ctx.Err() != nil || c.MaxPhase > 0 && time.Now().After(deadline) {
				break
			}
			for k, t := range ts {
				if qrs[k].Unsupported == "" {
					runQuery(ctx, client, t.BaseURL(), t.QueryLang, s, q, &qrs[k], &lats[k])
				}
			}
		}
		for k := range ts {
			qrs[k].Latency = Summarize(lats[k])
			res[k].addQueries(qrs[k])
		}
	}
	for k, t := range ts {
		r := &res[k]
		r.Seconds = time.Since(start).Seconds()
		r.CPUSeconds, _ = ProcCPUSeconds(t.PID())
		r.CPUSeconds -= cpu0[t]
		r.PeakRSS, _ = ProcPeakRSS(t.PID())
		if r.Status == "ok" && r.Requests == 0 {
			r.Status = "error: every query failed"
		}
	}
	return append(out, res...)
}

// addQueries adds one shape's results to r, a "queries" result.
func (r *Result) addQueries(q QueryResult) {
	r.Queries = append(r.Queries, q)
	r.Requests += q.Latency.N
	r.Errors += q.Errors
	if q.Unsupported != "" && r.Status == "ok" {
		r.Status = q.Unsupported
	}
	if q.FirstError != "" && r.FirstError == "" {
		r.FirstError = q.FirstError
	}
}
