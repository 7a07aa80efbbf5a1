package encoding

import (
	"fmt"
	"math"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// Benchmarks on the TSBS cpu-only shape (see tsbs_test.go). Run with
//
//	go test -run '^$' -bench . -benchtime 3x ./engine/encoding/
//
// BenchmarkTSBSSize reports B/sample over the whole data set (timestamps,
// values and a 16-byte header per block). BenchmarkDecode reports full-scan
// decode speed in samples/s on one goroutine.

var tsbsConfigs = []struct {
	name   string
	c      tsbsCPU
	blocks []int
}{
	{"hosts=100/24h", tsbsCPU{100, 8640}, []int{8640, 2048, 1024}},
	{"hosts=1000/6h", tsbsCPU{1000, 2160}, []int{2160, 1024}},
}

var valueTypes = []series.ValueType{series.TypeFloat, series.TypeInt}

func BenchmarkTSBSSize(b *testing.B) {
	for _, cfg := range tsbsConfigs {
		for _, block := range cfg.blocks {
			for _, typ := range valueTypes {
				name := fmt.Sprintf("%s/block=%d/%s", cfg.name, block, typ)
				b.Run(name, func(b *testing.B) {
					var size float64
					for b.Loop() {
						size = tsbsSize(b, cfg.c, block, typ)
					}
					b.ReportMetric(size, "B/sample")
					b.ReportMetric(float64(cfg.c.series()*cfg.c.samples), "samples")
				})
			}
		}
	}
}

// encodedBlocks encodes the first nSeries series of c in blocks of block
// samples and returns the encoded blocks (timestamps then values) and the
// sample count.
func encodedBlocks(b *testing.B, c tsbsCPU, nSeries, block int, typ series.ValueType) ([][]byte, int) {
	var e Encoder
	ts := make([]int64, c.samples)
	vals := make([]float64, c.samples)
	raw := make([]uint64, c.samples)
	var out [][]byte
	for s := range nSeries {
		c.fill(s, ts, vals)
		for i, v := range vals {
			raw[i] = math.Float64bits(v)
			if typ == series.TypeInt {
				raw[i] = uint64(int64(v))
			}
		}
		for lo := 0; lo < c.samples; lo += block {
			hi := min(lo+block, c.samples)
			buf, err := e.AppendTimestamps(nil, ts[lo:hi])
			if err == nil {
				buf, err = e.AppendValues(buf, typ, raw[lo:hi])
			}
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, buf)
		}
	}
	return out, nSeries * c.samples
}

func BenchmarkEncode(b *testing.B) {
	c := tsbsCPU{1, 8640}
	for _, block := range []int{8640, 1024} {
		for _, typ := range valueTypes {
			b.Run(fmt.Sprintf("block=%d/%s", block, typ), func(b *testing.B) {
				ts := make([]int64, c.samples)
				vals := make([]float64, c.samples)
				raw := make([]uint64, c.samples)
				c.fill(0, ts, vals)
				for i, v := range vals {
					raw[i] = math.Float64bits(v)
					if typ == series.TypeInt {
						raw[i] = uint64(int64(v))
					}
				}
				var e Encoder
				buf := make([]byte, 0, 64<<10)
				b.SetBytes(int64(16 * c.samples))
				b.ReportAllocs()
				for b.Loop() {
					for lo := 0; lo < c.samples; lo += block {
						hi := min(lo+block, c.samples)
						buf, _ = e.AppendTimestamps(buf[:0], ts[lo:hi])
						buf, _ = e.AppendValues(buf, typ, raw[lo:hi])
					}
				}
				b.ReportMetric(float64(b.N)*float64(c.samples)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	c := tsbsCPU{10, 8640} // 100 series, 864,000 samples
	for _, block := range []int{8640, 1024} {
		for _, typ := range valueTypes {
			b.Run(fmt.Sprintf("block=%d/%s", block, typ), func(b *testing.B) {
				blocks, samples := encodedBlocks(b, c, c.series(), block, typ)
				var d Decoder
				ts := make([]int64, 0, block)
				vals := make([]uint64, 0, block)
				encoded := 0
				for _, blk := range blocks {
					encoded += len(blk)
				}
				b.SetBytes(int64(16 * samples))
				b.ReportAllocs()
				for b.Loop() {
					for _, blk := range blocks {
						var err error
						ts, blk, err = d.DecodeTimestamps(ts[:0], blk)
						if err != nil {
							b.Fatal(err)
						}
						vals, _, err = d.DecodeValues(vals[:0], typ, blk)
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N)*float64(samples)/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(encoded)/float64(samples), "B/sample")
			})
		}
	}
}
