package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTSBSQueryForms: the TSBS mix writes each of the 11 types exactly as
// issue #17's table (TSBS's victoriametrics output) does, at its range
// and step, and every instance lies inside the data.
func TestTSBSQueryForms(t *testing.T) {
	f5 := "usage_user|usage_system|usage_idle|usage_nice|usage_iowait"
	f10 := f5 + "|usage_irq|usage_softirq|usage_steal|usage_guest|usage_guest_nice"
	h8 := []string{"host_1", "host_2", "host_3", "host_4", "host_5", "host_6", "host_7", "host_8"}
	h8s := strings.Join(h8, "|")
	one := QueryInstance{Hosts: []string{"host_35"}}
	eight := QueryInstance{Hosts: h8}
	want := map[string]struct {
		q            QueryInstance
		form         string
		window, step time.Duration
	}{
		"single-groupby-1-1-1":  {one, `max(max_over_time(cpu_usage_user{hostname='host_35'}[1m])) by (__name__)`, time.Hour, time.Minute},
		"single-groupby-1-1-12": {one, `max(max_over_time(cpu_usage_user{hostname='host_35'}[1m])) by (__name__)`, 12 * time.Hour, time.Minute},
		"single-groupby-1-8-1":  {eight, `max(max_over_time(cpu_usage_user{hostname=~'` + h8s + `'}[1m])) by (__name__)`, time.Hour, time.Minute},
		"single-groupby-5-1-1":  {one, `max(max_over_time({__name__=~'cpu_(` + f5 + `)', hostname='host_35'}[1m])) by (__name__)`, time.Hour, time.Minute},
		"single-groupby-5-1-12": {one, `max(max_over_time({__name__=~'cpu_(` + f5 + `)', hostname='host_35'}[1m])) by (__name__)`, 12 * time.Hour, time.Minute},
		"single-groupby-5-8-1":  {eight, `max(max_over_time({__name__=~'cpu_(` + f5 + `)', hostname=~'` + h8s + `'}[1m])) by (__name__)`, time.Hour, time.Minute},
		"cpu-max-all-1":         {one, `max(max_over_time({__name__=~'cpu_(` + f10 + `)', hostname='host_35'}[1h])) by (__name__)`, 8 * time.Hour, time.Hour},
		"cpu-max-all-8":         {eight, `max(max_over_time({__name__=~'cpu_(` + f10 + `)', hostname=~'` + h8s + `'}[1h])) by (__name__)`, 8 * time.Hour, time.Hour},
		"double-groupby-1":      {QueryInstance{}, `avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour},
		"double-groupby-5":      {QueryInstance{}, `avg(avg_over_time({__name__=~'cpu_(` + f5 + `)'}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour},
		"double-groupby-all":    {QueryInstance{}, `avg(avg_over_time({__name__=~'cpu_(` + f10 + `)'}[1h])) by (__name__, hostname)`, 12 * time.Hour, time.Hour},
	}
	require.Len(t, TSBSQueryShapes, len(want))
	dataStart := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dataEnd := dataStart.Add(13 * time.Hour)
	for _, s := range TSBSQueryShapes {
		w, ok := want[s.Name]
		require.True(t, ok, s.Name)
		require.Equal(t, w.form, s.PromQL(w.q), s.Name)
		require.Equal(t, w.window, s.Window, s.Name)
		require.Equal(t, w.step, s.Step, s.Name)
		for _, q := range s.Instances(7, 50, 10, dataStart, dataEnd) {
			require.False(t, q.Start.Before(dataStart), s.Name)
			require.False(t, q.End.After(dataEnd), s.Name)
			require.Len(t, q.Hosts, s.Hosts, s.Name)
		}
	}
	shapes, err := QueryMixShapes(MixAll)
	require.NoError(t, err)
	require.Len(t, shapes, len(QueryShapes)+len(TSBSQueryShapes))
	_, err = QueryMixShapes("tsbs2")
	require.ErrorContains(t, err, `query mix "tsbs2"`)
}

// TestQueryRSSTable: the memory table gives each target's peak RSS during
// the queries and over load plus queries (the larger of the two phases),
// and Lightning DB's ratios.
func TestQueryRSSTable(t *testing.T) {
	r := &Report{Results: []Result{
		{Target: LightningDB, Workload: "lp-v1", PeakRSS: 90 << 20},
		{Target: LightningDB, Workload: "queries", PeakRSS: 40 << 20},
		{Target: "victoriametrics", Workload: "lp-v1", PeakRSS: 300 << 20},
		{Target: "victoriametrics", Workload: "iot-lp", PeakRSS: 900 << 20}, // not the queries' data
		{Target: "victoriametrics", Workload: "queries", PeakRSS: 80 << 20},
	}}
	var b strings.Builder
	r.writeQueryRSS(&b)
	require.Contains(t, b.String(), "| lightningdb | 40 | 90 | 1.00 | 1.00 |")
	require.Contains(t, b.String(), "| victoriametrics | 80 | 300 | 0.50 | 0.30 |")
}

// TestQueriesInterleaved: with QueryInterleave, RunTarget keeps the data
// the first query workload loaded (a later one starts from a fresh dir)
// and RunQueriesInterleaved restarts the server on it and runs the TSBS
// mix: every type answered, none empty, peak RSS measured.
func TestQueriesInterleaved(t *testing.T) {
	tg := lightningTarget(t)
	tg.MetricsQLNames = true
	c := &Config{Seed: 1, Start: time.Now().Truncate(time.Hour).Add(-20 * time.Hour), Scale: SmokeScale,
		Workloads: []string{"lp-v1", "rw1-500x10"}, QueryMix: MixTSBS, QueryInterleave: true,
		MaxPhase: time.Minute, SettleMax: 5 * time.Second, Log: slog.New(slog.DiscardHandler)}
	for _, r := range RunTarget(context.Background(), c, tg) {
		require.Equal(t, "ok", r.Status, r.Workload)
		require.NotEqual(t, "queries", r.Workload)
	}
	res := RunQueriesInterleaved(context.Background(), c, []*Target{tg})
	require.Len(t, res, 1)
	require.Equal(t, "ok", res[0].Status, res[0].FirstError)
	require.Len(t, res[0].Queries, len(TSBSQueryShapes))
	for _, q := range res[0].Queries {
		require.Equal(t, SmokeScale.Queries, q.Latency.N, q.Shape)
		require.Zero(t, q.Empty, q.Shape)
	}
	require.Positive(t, res[0].PeakRSS)
}
