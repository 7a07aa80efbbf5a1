package engine

import (
	"context"
	"math"
	"testing"

	"github.com/lightningdb/lightningdb/series"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestOpenRegistererOnce: a second engine open with the same registerer is
// an error (not a panic) that leaves the first one's metrics in place; a
// closed engine's registerer serves the next Open.
func TestOpenRegistererOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{Registerer: reg})
	_, err := Open(t.TempDir(), Options{Registerer: reg})
	require.ErrorContains(t, err, "register engine metrics")
	requireGathered(t, reg, "engine_series", true)
	require.NoError(t, db.Close())
	requireGathered(t, reg, "engine_series", false)

	db2, err := Open(dir, Options{Registerer: reg})
	require.NoError(t, err)
	requireGathered(t, reg, "engine_series", true)
	require.NoError(t, db2.Close())
}

func requireGathered(t *testing.T, reg *prometheus.Registry, name string, want bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == name
	}
	require.Equal(t, want, found, "%s gathered", name)
}

// TestSegmentGauges: engine_segments and engine_segment_bytes follow the
// live segment set: zero before a flush, Stats' figures after each.
func TestSegmentGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	db := mustOpen(t, t.TempDir(), Options{Registerer: reg})
	defer db.Close()
	gauges := func() (float64, float64) {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		var n, b float64 = -1, -1
		for _, mf := range mfs {
			switch mf.GetName() {
			case "engine_segments":
				n = mf.GetMetric()[0].GetGauge().GetValue()
			case "engine_segment_bytes":
				b = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return n, b
	}
	n, b := gauges()
	require.Equal(t, 0.0, n)
	require.Equal(t, 0.0, b)
	for i := range 2 {
		appendOne(t, db, labels("m", "k", "v"), series.TypeFloat, int64(i+1)*1e9, math.Float64bits(1.5))
		require.NoError(t, db.Flush(context.Background()))
		st := db.Stats()
		n, b = gauges()
		require.Greater(t, st.Segments, 0)
		require.Equal(t, float64(st.Segments), n)
		require.Equal(t, float64(st.SegmentBytes), b)
	}
}
