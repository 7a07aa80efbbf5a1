package main

import (
	"encoding/json"
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

// FuzzExportFloat: a float in an export line is written as encoding/json
// writes it (the line is streamed value by value, not encoded whole).
func FuzzExportFloat(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1.5, 1e-7, 1e-6, 1e20, 1e21, 5e-324, math.MaxFloat64, 1e-10, -3e-100, math.NaN(), math.Inf(-1)} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		v := math.Float64frombits(bits)
		got := string(appendJSONFloat(nil, v))
		if word, ok := floatWord(v); ok {
			require.True(t, math.IsNaN(v) || math.IsInf(v, 0), "%v", v)
			require.NotEmpty(t, word)
			return
		}
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), got)
	})
}
