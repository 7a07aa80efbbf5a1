package query

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"
)

// TestProjection: a pushed-down call under an aggregation by G returns its
// series with only the labels of G when they stay distinct, and with all
// of them when two would collide; either way the answers are bit for bit
// those of pushdown off, in MetricsQL-names mode and in plain PromQL.
func TestProjection(t *testing.T) {
	base := time.Unix(1_700_006_400, 0)
	db := openDB(t, 24*hour)
	load(t, db, tsbsQueryData(base))
	require.NoError(t, db.Flush(context.Background()))
	start, end := base.Add(time.Hour), base.Add(3*time.Hour)
	for _, c := range []struct {
		q       string
		names   bool
		labels  []string // of the select's first series; nil: all
		ngroups int
	}{
		{`avg(avg_over_time(cpu_usage_user{}[1h])) by (__name__, hostname)`, true, []string{"__name__", "hostname"}, 3},
		{`avg(avg_over_time({__name__=~'cpu_(usage_user|usage_idle)'}[1h])) by (__name__, hostname)`, true, []string{"__name__", "hostname"}, 6},
		{`max(max_over_time({__name__=~'cpu_(usage_user|usage_idle)', hostname='host_1'}[1m])) by (__name__)`, true, []string{"__name__"}, 2},
		{`max(max_over_time({__name__=~'cpu_(usage_user|usage_idle)'}[1m])) by (__name__)`, true, nil, 2}, // 3 hosts per name
		{`avg by (hostname) (avg_over_time(cpu_usage_user[1h]))`, false, []string{"hostname"}, 3},
		{`sum by (region) (sum_over_time(cpu_usage_user[1h]))`, false, nil, 1},
		{`count(count_over_time(cpu_usage_user{hostname="host_2"}[10m]))`, false, []string{}, 1},
		{`topk(1, max_over_time(cpu_usage_user[1h]))`, false, []string{"hostname", "region"}, 1},
	} {
		on, err := NewAdapter(db, Options{MetricsQLNames: c.names})
		require.NoError(t, err)
		off, err := NewAdapter(db, Options{MetricsQLNames: c.names, DisablePushdown: true})
		require.NoError(t, err)
		ng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
			EnableDelayedNameRemoval: c.names})
		for _, step := range []time.Duration{time.Minute, time.Hour} {
			want, _, _ := evalQuery(t, ng, off.Prepare, c.q, start, end, step)
			got, _, _ := evalQuery(t, ng, on.Prepare, c.q, start, end, step)
			requireIdenticalMatrix(t, want, got, "%s step %s", c.q, step)
			require.Len(t, got, c.ngroups, c.q)
		}
		qa, qs := on.Prepare(nil, c.q, start, end, time.Minute)
		require.Contains(t, qs, pushdownLabel, c.q)
		qr, err := qa.Querier(start.UnixMilli()-hour/1e6, end.UnixMilli())
		require.NoError(t, err)
		set := qr.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, pushdownLabel, "0"))
		require.True(t, set.Next(), c.q)
		var names []string
		set.At().Labels().Range(func(l labels.Label) { names = append(names, l.Name) })
		if c.labels == nil {
			require.Contains(t, names, "region", "%s: all labels", c.q)
		} else {
			require.Equal(t, fmt.Sprint(c.labels), fmt.Sprint(names), c.q)
		}
		require.NoError(t, qr.Close())
	}
}
