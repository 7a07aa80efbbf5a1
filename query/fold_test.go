package query

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/util/kahansum"
)

// refFold is Prometheus' funcSumOverTime / funcAvgOverTime over vs, sample
// by sample (Kahan sum; the mean switches to the incremental form on
// overflow).
func refFold(fn string, vs []float64) float64 {
	var sum, c, mean float64
	incr := false
	for i, v := range vs {
		n := float64(i + 1)
		if fn == "sum_over_time" {
			sum, c = kahansum.Inc(v, sum, c)
			continue
		}
		if n == 1 {
			sum = v
			continue
		}
		if !incr {
			s, cc := kahansum.Inc(v, sum, c)
			if !math.IsInf(s, 0) {
				sum, c = s, cc
				continue
			}
			incr = true
			mean, c = sum/(n-1), c/(n-1)
		}
		q := (n - 1) / n
		mean, c = kahansum.Inc(v/n, q*mean, q*c)
	}
	n := float64(len(vs))
	switch {
	case fn == "sum_over_time" && math.IsInf(sum, 0):
		return sum
	case fn == "sum_over_time":
		return sum + c
	case incr:
		return mean + c
	}
	return sum/n + c/n
}

// TestFoldExactSum: folding slices through addAll (with its plain-sum fast
// path for integers) gives the bits of Prometheus' sample-by-sample
// arithmetic, for integers, -0, values near 2^53, fractions, NaN and ±Inf,
// whatever the slices' boundaries.
func TestFoldExactSum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	gen := func() float64 {
		switch r.IntN(12) {
		case 0:
			return math.Copysign(0, -1)
		case 1:
			return float64(r.Int64N(1<<53)) * float64(1-2*r.IntN(2))
		case 2:
			return r.Float64()*10 - 5
		case 3:
			if r.IntN(20) == 0 {
				return math.NaN()
			}
			if r.IntN(20) == 0 {
				return math.Inf(1 - 2*r.IntN(2))
			}
			return 1e300
		case 4:
			return 1 << 52
		}
		return float64(r.IntN(201) - 100)
	}
	fast := 0
	for iter := range 20000 {
		vs := make([]float64, 1+r.IntN(40))
		mode := iter % 4 // 0: small integers only; others mixed
		for i := range vs {
			if mode == 0 {
				vs[i] = float64(r.IntN(201) - 100)
				if r.IntN(30) == 0 {
					vs[i] = math.Copysign(0, -1)
				}
			} else {
				vs[i] = gen()
			}
		}
		for _, fn := range []string{"sum_over_time", "avg_over_time"} {
			want := refFold(fn, vs)
			f := fold{fn: fn}
			for rest := vs; len(rest) > 0; {
				k := 1 + r.IntN(len(rest))
				probe := f
				if probe.addExact(rest[:k]) {
					fast++
				}
				f.addAll(rest[:k])
				rest = rest[k:]
			}
			got, ok, err := f.result()
			if err != nil || !ok || math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s(%v) = %v (%x), want %v (%x)", fn, vs, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		}
	}
	if fast < 10000 {
		t.Fatalf("fast path taken %d times only", fast)
	}
}

// TestNsToMs: floor division by 10^6 on both sides of 0.
func TestNsToMs(t *testing.T) {
	for _, c := range []struct{ ns, ms int64 }{
		{0, 0}, {1, 0}, {999999, 0}, {1e6, 1}, {1795626000123456789, 1795626000123},
		{-1, -1}, {-1e6, -1}, {-1e6 - 1, -2}, {math.MaxInt64, math.MaxInt64 / 1000000}, {math.MinInt64, math.MinInt64/1000000 - 1},
	} {
		if got := nsToMs(c.ns); got != c.ms {
			t.Fatalf("nsToMs(%d) = %d, want %d", c.ns, got, c.ms)
		}
	}
}
