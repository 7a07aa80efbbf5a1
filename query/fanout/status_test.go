package fanout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/remote"
)

func TestMergeTSDBStatus(t *testing.T) {
	a := query.TSDBStatus{
		HeadStats:               query.TSDBHeadStats{NumSeries: 3, NumLabelPairs: 4, MinTime: 100, MaxTime: 200},
		SeriesCountByMetricName: []query.TSDBStat{{Name: "up", Value: 2}, {Name: "cpu", Value: 1}},
	}
	b := query.TSDBStatus{
		HeadStats:               query.TSDBHeadStats{NumSeries: 2, NumLabelPairs: 3, MinTime: 50, MaxTime: 150},
		SeriesCountByMetricName: []query.TSDBStat{{Name: "cpu", Value: 2}, {Name: "mem", Value: 1}},
	}
	empty := query.TSDBStatus{} // a peer with no data: its 0, 0 range is left out
	rs := []result[query.TSDBStatus]{{val: a}, {val: empty}, {val: b}}
	got := mergeTSDBStatus(rs, 2)
	require.Equal(t, query.TSDBHeadStats{NumSeries: 5, NumLabelPairs: 7, MinTime: 50, MaxTime: 200}, got.HeadStats)
	require.Equal(t, []query.TSDBStat{{Name: "cpu", Value: 3}, {Name: "up", Value: 2}}, got.SeriesCountByMetricName)
	require.Equal(t, []query.TSDBStat{}, got.LabelValueCountByLabelName)
	// Ties in name order.
	require.Equal(t, []query.TSDBStat{{Name: "a", Value: 2}, {Name: "b", Value: 2}, {Name: "c", Value: 1}}, sumTop([]query.TSDBStat{{Name: "c", Value: 1}, {Name: "b", Value: 2}, {Name: "a", Value: 1}, {Name: "a", Value: 1}}, 0))
}

func TestMergeMetadata(t *testing.T) {
	c := remote.MetricMetadata{Type: "counter", Help: "Requests."}
	g := remote.MetricMetadata{Type: "gauge", Help: "Temperature."}
	g2 := remote.MetricMetadata{Type: "gauge", Help: "Temperature here."}
	all := []map[string][]remote.MetricMetadata{
		nil, // no local store
		{"req": {c}, "temp": {g}},
		{"temp": {g, g2}, "up": {g}},
	}
	require.Equal(t, map[string][]remote.MetricMetadata{"req": {c}, "temp": {g, g2}, "up": {g}}, mergeMetadata(all, 0))
	require.Equal(t, map[string][]remote.MetricMetadata{"req": {c}, "temp": {g, g2}}, mergeMetadata(all, 2))
}
