package encoding

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// tsbsCPU generates data shaped like the Time Series Benchmark Suite's
// cpu-only use case: every host has 10 fields (usage_user ... usage_guest_nice),
// each a random walk clamped to [0, 100] that starts uniformly in [0, 100]
// and moves by a standard normal step every 10 s (TSBS's
// ClampedRandomWalk(0, 100, ND(0, 1))). The fields are integer-valued, as
// the issue asks: the walk is kept in float64 and each sample is its rounded
// value.
type tsbsCPU struct {
	hosts, samples int
}

const (
	tsbsFields   = 10
	tsbsInterval = 10 * sec
	tsbsStart    = int64(1451606400) * sec // 2016-01-01, TSBS's default start
	// blockHeaderBytes is the per-block allowance for what the segment
	// writer stores around a block: series ID, min and max time, CRC.
	blockHeaderBytes = 16
)

func (c tsbsCPU) series() int { return c.hosts * tsbsFields }

// fill writes series s (host s/10, field s%10) into ts and vals.
func (c tsbsCPU) fill(s int, ts []int64, vals []float64) {
	rng := rand.New(rand.NewPCG(uint64(s), 0x75b5))
	v := rng.Float64() * 100
	for i := range c.samples {
		ts[i] = tsbsStart + int64(i)*tsbsInterval
		vals[i] = math.Round(v)
		v = min(max(v+rng.NormFloat64(), 0), 100)
	}
}

// tsbsSize encodes every series of c in blocks of block samples and returns
// the bytes per sample, including blockHeaderBytes per block.
func tsbsSize(t testing.TB, c tsbsCPU, block int, typ series.ValueType) float64 {
	var e Encoder
	ts := make([]int64, c.samples)
	vals := make([]float64, c.samples)
	raw := make([]uint64, c.samples)
	var buf []byte
	total := 0
	for s := range c.series() {
		c.fill(s, ts, vals)
		for i, v := range vals {
			if typ == series.TypeFloat {
				raw[i] = math.Float64bits(v)
			} else {
				raw[i] = uint64(int64(v))
			}
		}
		for lo := 0; lo < c.samples; lo += block {
			hi := min(lo+block, c.samples)
			var err error
			buf, err = e.AppendTimestamps(buf[:0], ts[lo:hi])
			if err == nil {
				buf, err = e.AppendValues(buf, typ, raw[lo:hi])
			}
			if err != nil {
				t.Fatal(err)
			}
			total += len(buf) + blockHeaderBytes
		}
	}
	return float64(total) / float64(c.series()*c.samples)
}

// TestTSBSSize holds the compression targets of issue 3 on a slice of the
// benchmark data (every host is statistically alike, so 10 hosts stand for
// 100 or 1000).
func TestTSBSSize(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      tsbsCPU
		block  int
		target float64
	}{
		{"24h whole-day blocks", tsbsCPU{10, 8640}, 8640, 0.33},
		{"24h 2048-sample blocks", tsbsCPU{10, 8640}, 2048, 0.33},
		{"24h 1024-sample blocks", tsbsCPU{10, 8640}, 1024, 0.33},
		{"6h whole blocks", tsbsCPU{10, 2160}, 2160, 0.45},
	} {
		for _, typ := range []series.ValueType{series.TypeFloat, series.TypeInt} {
			got := tsbsSize(t, tc.c, tc.block, typ)
			t.Logf("%s, %s: %.4f bytes/sample", tc.name, typ, got)
			if got > tc.target {
				t.Errorf("%s, %s: %.4f bytes/sample, target %.2f", tc.name, typ, got, tc.target)
			}
		}
	}
}
