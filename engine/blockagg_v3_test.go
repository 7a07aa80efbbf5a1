package engine

import (
	"encoding/binary"
	"math"
	"testing"
)

func aggCases() []BlockAgg {
	nan := math.Float64frombits(0x7ff8000000000abc)
	return []BlockAgg{
		{},
		{Flags: BlockSumExact, Min: 0, Max: 100, Sum: 432_000, First: 37, Last: 99},
		{Flags: BlockReset, Min: 21.37, Max: 23.01, Sum: 31_234.567891234, First: 21.5, Last: 22.99},
		{Min: math.Copysign(0, -1), Max: math.Inf(1), Sum: math.Inf(-1), First: nan, Last: math.Float64frombits(staleNaNBits)},
		{Flags: BlockStale | BlockDupMs, Min: -1 << 63, Max: 1 << 63, Sum: 1 << 53, First: 1<<53 + 2, Last: math.SmallestNonzeroFloat64},
		{Min: 1e-15, Max: 0.1, Sum: 1.0 / 3, First: 123456789.123, Last: -0.001},
		{Min: math.MaxFloat64, Max: -math.MaxFloat64, Sum: 5e-324, First: 1e300, Last: 1e-300},
		{Min: 5, Max: 3, Sum: 1, First: 2, Last: 9}, // not relative to min: max and first below it
		{Min: -1 << 62, Max: 1 << 62, Sum: 0, First: -1 << 62, Last: 1 << 52},
	}
}

// TestBlockAggV3RoundTrip: every aggregate reads back bit for bit (NaN
// payloads, -0, ±Inf, values beyond 2^53), integer-valued ones in a
// fraction of version 2's 41 bytes, and every truncation is an error.
func TestBlockAggV3RoundTrip(t *testing.T) {
	for i, a := range aggCases() {
		b := appendBlockAggV3([]byte{0xee}, a)
		r := segReader{b: b, off: 1}
		got := r.blockAggV3()
		if r.err != nil || !sameAgg(got, a) || r.off != len(b) {
			t.Fatalf("case %d: %+v -> %+v (err %v, %d of %d bytes)", i, a, got, r.err, r.off, len(b))
		}
		for n := 1; n < len(b); n++ {
			r := segReader{b: b[:n], off: 1}
			if r.blockAggV3(); r.err == nil {
				t.Fatalf("case %d: truncated to %d bytes: no error", i, n)
			}
		}
	}
	if n := len(appendBlockAggV3(nil, aggCases()[1])); n > 10 {
		t.Fatalf("integer aggregates take %d bytes, want at most 10", n)
	}
	if n := len(appendBlockAggV3(nil, aggCases()[2])); n > 22 {
		t.Fatalf("2-decimal aggregates take %d bytes, want at most 22", n)
	}
}

// FuzzBlockAggV3 round-trips five arbitrary float64 bit patterns and feeds
// arbitrary bytes to the decoder: no panic, no read past the end.
func FuzzBlockAggV3(f *testing.F) {
	for _, a := range aggCases() {
		f.Add(appendBlockAggV3(nil, a))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := segReader{b: data}
		r.blockAggV3()
		if r.err == nil && r.off > len(data) {
			t.Fatalf("read %d of %d bytes", r.off, len(data))
		}
		if len(data) < 41 {
			return
		}
		u := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(data[1+8*i:])) }
		a := BlockAgg{Flags: BlockFlags(data[0]), Min: u(0), Max: u(1), Sum: u(2), First: u(3), Last: u(4)}
		r = segReader{b: appendBlockAggV3(nil, a)}
		if got := r.blockAggV3(); r.err != nil || !sameAgg(got, a) {
			t.Fatalf("%+v -> %+v (%v)", a, got, r.err)
		}
	})
}
