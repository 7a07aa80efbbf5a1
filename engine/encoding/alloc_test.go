package encoding

import (
	"math"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestDecodeAllocs guards the zero-allocation decode path: a warmed Decoder
// decoding into slices with room allocates nothing. (huff0 keeps a small
// sync.Pool buffer that a GC may drop, so the bound is below one allocation
// per run rather than exactly zero.)
func TestDecodeAllocs(t *testing.T) {
	c := tsbsCPU{1, 8640}
	ts := make([]int64, c.samples)
	vals := make([]float64, c.samples)
	c.fill(0, ts, vals)
	raw := make([]uint64, c.samples)
	for i, v := range vals {
		raw[i] = math.Float64bits(v)
	}
	var e Encoder
	blk, _ := e.AppendTimestamps(nil, ts)
	blk, _ = e.AppendValues(blk, series.TypeFloat, raw)
	strs, _ := e.AppendStrings(nil, stringCases()["states"])

	var d Decoder
	tsOut := make([]int64, 0, c.samples)
	valOut := make([]uint64, 0, c.samples)
	strOut := make([][]byte, 0, 4096)
	run := func() {
		got, rest, err := d.DecodeTimestamps(tsOut[:0], blk)
		if err != nil || len(got) != c.samples {
			t.Fatal(err)
		}
		if _, _, err = d.DecodeValues(valOut[:0], series.TypeFloat, rest); err != nil {
			t.Fatal(err)
		}
		if _, _, err = d.DecodeStrings(strOut[:0], strs); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(50, run); a >= 1 {
		t.Errorf("decode allocates %.2f times per block", a)
	}
}
