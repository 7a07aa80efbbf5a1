package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value such that at least p% of the
// values are less than or equal to it. It returns 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 || p <= 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Latency summarizes request latencies.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summarize sorts d in place and returns its percentiles in milliseconds.
func Summarize(d []time.Duration) Latency {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
	l := Latency{N: len(d)}
	if len(d) == 0 {
		return l
	}
	l.P50 = ms(Percentile(d, 50))
	l.P90 = ms(Percentile(d, 90))
	l.P99 = ms(Percentile(d, 99))
	l.Max = ms(d[len(d)-1])
	return l
}

// Ratio returns a/b, or NaN when either is missing (zero, negative or
// NaN): a ratio against a figure that was not measured means nothing.
func Ratio(a, b float64) float64 {
	if !(a > 0) || !(b > 0) {
		return math.NaN()
	}
	return a / b
}
