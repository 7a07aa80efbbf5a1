package main

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// FuzzExportTime: export's start and end never panic, always land in the
// stored range, and an accepted time reads back the same from RFC 3339.
func FuzzExportTime(f *testing.F) {
	for _, s := range []string{"", "0", "9223372036.854775808", "-9223372036.854775809", "1e300", "-1e300", "NaN", "Inf",
		"1700000000.123", "2023-11-14T22:13:20.123456789Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := exportTime(s, math.MinInt64)
		if err != nil || s == "" {
			return
		}
		require.True(t, series.InRange(ns), "%q -> %d outside the stored range", s, ns)
		back, err := exportTime(time.Unix(0, ns).UTC().Format(time.RFC3339Nano), 0)
		require.NoError(t, err)
		require.Equal(t, ns, back, "%q", s)
	})
}
