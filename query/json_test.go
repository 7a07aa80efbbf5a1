package query

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

// TestMatrixJSONIdentical: the hand-written matrix answer is byte for byte
// json.Marshal's, for odd labels (escapes, HTML, UTF-8), special floats,
// negative and fractional timestamps, series sharing timestamps (or all
// but one), empty series and matrices, explain,
// warnings and infos; histograms fall back to json.Marshal.
func TestMatrixJSONIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "a", "host_1", `q"uote`, `back\slash`, "<b>&amp;</b>", "tab\tnl\n", "é ü 日本", "\u2028", "\x7f", "\xff", "a<b", "x>", "__name__", "zz"}
	floats := []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-7, 1e21, 123456789.123, math.NaN(), math.Inf(1), math.Inf(-1), 5e-324, math.MaxFloat64, 1.0 / 3}
	for iter := range 3000 {
		var m promql.Matrix
		if iter%7 != 0 {
			m = promql.Matrix{}
		}
		for range r.IntN(5) {
			b := labels.NewScratchBuilder(0)
			for _, i := range r.Perm(len(strs))[:r.IntN(4)] {
				b.Add(strs[i], strs[r.IntN(len(strs))])
			}
			b.Sort()
			s := promql.Series{Metric: b.Labels()}
			for range r.IntN(4) {
				ts := r.Int64N(4e12) - 1e12
				switch r.IntN(5) {
				case 0:
					ts = int64(r.IntN(3) - 1)
				case 1:
					ts -= ts % 1000 // whole seconds, negative too
				case 2:
					ts = []int64{math.MaxInt64 - math.MaxInt64%1000, math.MinInt64 + 808, 1000, -1000, 1<<53 - 1<<53%1000, 9e15, 9007199254741000, -9007199254741000}[r.IntN(8)]
				}
				v := floats[r.IntN(len(floats))]
				if r.IntN(2) == 0 {
					v = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
				}
				s.Floats = append(s.Floats, promql.FPoint{T: ts, F: v})
			}
			if len(m) > 0 && r.IntN(2) == 0 {
				// The previous series' timestamps at the same positions (a
				// range query's grid), one of them sometimes changed.
				prev := m[len(m)-1].Floats
				for j := range min(len(prev), len(s.Floats)) {
					s.Floats[j].T = prev[j].T
				}
				if len(s.Floats) > 0 && r.IntN(3) == 0 {
					s.Floats[r.IntN(len(s.Floats))].T += 1000
				}
			}
			if r.IntN(40) == 0 {
				s.Histograms = []promql.HPoint{{T: 1000, H: &histogram.FloatHistogram{Count: 1, Sum: 2}}}
			}
			m = append(m, s)
		}
		qd := &queryData{ResultType: parser.ValueTypeMatrix, Result: m}
		if iter%5 == 0 {
			qd.Explain = &Trace{Optimizer: true, Series: int64(iter)}
		}
		resp := &response{Status: "success", Data: qd}
		if iter%3 == 0 {
			resp.Warnings = []string{"w<1>", "w2"}
		}
		if iter%4 == 0 {
			resp.Infos = []string{"info \"x\""}
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := appendMatrixResponse(nil, resp)
		if err != nil {
			t.Fatal(err)
		}
		hist := false
		for _, s := range m {
			hist = hist || len(s.Histograms) > 0
		}
		if ok == hist {
			t.Fatalf("fast path taken: %v with histograms: %v", ok, hist)
		}
		if ok && !bytes.Equal(got, want) {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	}
	// Not a matrix, or an error: json.Marshal.
	for _, resp := range []*response{
		{Status: "success", Data: &queryData{ResultType: parser.ValueTypeVector, Result: promql.Vector{}}},
		{Status: "error", ErrorType: "bad_data", Error: "x", Data: &queryData{ResultType: parser.ValueTypeMatrix, Result: promql.Matrix{}}},
		{Status: "success", Data: []string{"a"}},
	} {
		if _, ok, _ := appendMatrixResponse(nil, resp); ok {
			t.Fatalf("fast path for %+v", resp)
		}
	}
}

// TestAppendValueIdentical: appendValue writes the bytes of
// strconv.FormatFloat(v, 'f', -1, 64) for integers (small, near 2^53 on
// both sides, signed zeros), fractions, NaN, infinities and random bit
// patterns.
func TestAppendValueIdentical(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 57, 100, 1e15, -1e15, 1 << 52, 1<<53 - 1, -(1<<53 - 1),
		1 << 53, -(1 << 53), 1<<53 + 2, 1e21, 1e22, 0.5, -0.5, 47.291666666666664, 1e-7,
		math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64}
	rng := rand.New(rand.NewPCG(3, 5))
	for range 100_000 {
		vals = append(vals, math.Float64frombits(rng.Uint64()), float64(rng.Int64N(1<<54)-1<<53), float64(rng.IntN(201)-100)/float64(1+rng.IntN(8)))
	}
	for _, v := range vals {
		require.Equal(t, strconv.FormatFloat(v, 'f', -1, 64), string(appendValue(nil, v)), "%b", v)
	}
}
