package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTSBSInfluxQLForms: the tsbs-influxql mix writes each of TSBS's 15
// cpu-only types as tsbs_generate_queries --format=influx does, and every
// target, Lightning DB included, is sent InfluxQL in that mix.
func TestTSBSInfluxQLForms(t *testing.T) {
	t0 := time.Date(2016, 1, 1, 3, 0, 0, 0, time.UTC)
	one := QueryInstance{Hosts: []string{"host_35"}, Start: t0, End: t0.Add(time.Hour)}
	two := QueryInstance{Hosts: []string{"host_1", "host_2"}, Start: t0, End: t0.Add(12 * time.Hour)}
	all := QueryInstance{Start: t0, End: t0.Add(12 * time.Hour)}
	want := map[string]struct {
		q    QueryInstance
		form string
	}{
		"single-groupby-1-1-1":  {one, `SELECT max(usage_user) from cpu where (hostname = 'host_35') and time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T04:00:00Z' group by time(1m)`},
		"single-groupby-5-8-1":  {two, `SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) from cpu where (hostname = 'host_1' or hostname = 'host_2') and time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T15:00:00Z' group by time(1m)`},
		"cpu-max-all-1":         {one, `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (hostname = 'host_35') and time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T04:00:00Z' group by time(1m)`},
		"double-groupby-1":      {all, `SELECT mean(usage_user) from cpu where time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T15:00:00Z' group by time(1h),hostname`},
		"high-cpu-1":            {one, `SELECT * from cpu where usage_user > 90.0 and (hostname = 'host_35') and time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T04:00:00Z'`},
		"high-cpu-all":          {all, `SELECT * from cpu where usage_user > 90.0  and time >= '2016-01-01T03:00:00Z' and time < '2016-01-01T15:00:00Z'`},
		"lastpoint":             {all, `SELECT * from cpu group by "hostname" order by time desc limit 1`},
		"groupby-orderby-limit": {one, `SELECT max(usage_user) from cpu WHERE time < '2016-01-01T04:00:00Z' group by time(1m) limit 5`},
	}
	shapes, err := QueryMixShapes(MixTSBSInfluxQL)
	require.NoError(t, err)
	require.Len(t, shapes, 15)
	for _, s := range shapes {
		if w, ok := want[s.Name]; ok {
			require.Equal(t, w.form, s.InfluxQL(w.q), s.Name)
		}
		for _, q := range s.Instances(1, 5, 100, t0, t0.Add(24*time.Hour)) {
			require.False(t, q.End.After(t0.Add(24*time.Hour)), s.Name)
			require.Len(t, q.Hosts, s.Hosts, s.Name)
		}
	}
	ldb := &Target{Kind: LightningDB, QueryLang: PromQL}
	require.Equal(t, InfluxQL, queryLang(MixTSBSInfluxQL, ldb))
	require.Equal(t, PromQL, queryLang(MixTSBS, ldb))
}
