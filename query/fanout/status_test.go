package fanout

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/remote"
)

func TestMergeTSDBStatus(t *testing.T) {
	a := TSDBStatus{
		HeadStats:               TSDBHeadStats{NumSeries: 3, NumLabelPairs: 4, MinTime: 100, MaxTime: 200},
		SeriesCountByMetricName: []TSDBStat{{"up", 2}, {"cpu", 1}},
	}
	b := TSDBStatus{
		HeadStats:               TSDBHeadStats{NumSeries: 2, NumLabelPairs: 3, MinTime: 50, MaxTime: 150},
		SeriesCountByMetricName: []TSDBStat{{"cpu", 2}, {"mem", 1}},
	}
	empty := TSDBStatus{} // a peer with no data: its 0, 0 range is left out
	rs := []result[TSDBStatus]{{val: a}, {val: empty}, {val: b}}
	got := mergeTSDBStatus(rs, 2)
	require.Equal(t, TSDBHeadStats{NumSeries: 5, NumLabelPairs: 7, MinTime: 50, MaxTime: 200}, got.HeadStats)
	require.Equal(t, []TSDBStat{{"cpu", 3}, {"up", 2}}, got.SeriesCountByMetricName)
	require.Equal(t, []TSDBStat{}, got.LabelValueCountByLabelName)
	// Ties in name order.
	require.Equal(t, []TSDBStat{{"a", 2}, {"b", 2}, {"c", 1}}, sumTop([]TSDBStat{{"c", 1}, {"b", 2}, {"a", 1}, {"a", 1}}, 0))
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
