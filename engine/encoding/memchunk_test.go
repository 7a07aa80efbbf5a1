package encoding

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

func memChunkCases() (tss [][]int64, valss [][]uint64) {
	r := rand.New(rand.NewPCG(1, 2))
	add := func(ts []int64, vals []uint64) { tss, valss = append(tss, ts), append(valss, vals) }
	add([]int64{0}, []uint64{0})
	add([]int64{math.MinInt64, math.MaxInt64}, []uint64{math.MaxUint64, 0})
	add([]int64{-5, -4, 1 << 40, 1<<40 + 1, 1<<62 + 7}, []uint64{1, 1, 1, 2, math.Float64bits(math.NaN())})
	for _, step := range []int64{1, 1000, 1e9, 1e10, 3e10, 1 << 40} {
		for _, jitter := range []int64{0, 3, 1 << 12, 1 << 22, 1 << 34, 1 << 50} {
			ts := make([]int64, 240)
			vals := make([]uint64, 240)
			t := int64(1_700_000_000_000_000_000)
			for i := range ts {
				t += step
				ts[i] = t
				if jitter > 0 {
					ts[i] += r.Int64N(jitter)
				}
				switch i % 3 {
				case 0:
					vals[i] = uint64(r.IntN(100))
				case 1:
					vals[i] = math.Float64bits(r.Float64() * 100)
				default:
					vals[i] = r.Uint64()
				}
			}
			slices.Sort(ts)
			ts = slices.Compact(ts)
			add(ts, vals[:len(ts)])
		}
	}
	return tss, valss
}

func TestMemChunkRoundTrip(t *testing.T) {
	tss, valss := memChunkCases()
	for _, float := range []bool{false, true} {
		for i, ts := range tss {
			vals := valss[i]
			b := AppendMemChunk([]byte{0xAA}, float, ts, vals)
			if b[0] != 0xAA {
				t.Fatalf("case %d: prefix overwritten", i)
			}
			gotT, gotV, err := DecodeMemChunk([]int64{-1}, nil, b[1:], len(ts), float)
			if err != nil {
				t.Fatalf("float %v case %d: %v", float, i, err)
			}
			if !slices.Equal(gotT[1:], ts) || !slices.Equal(gotV, vals) {
				t.Fatalf("float %v case %d: round trip differs\n got %v %v\nwant %v %v", float, i, gotT[1:], gotV, ts, vals)
			}
			// Truncation never panics and is reported.
			for cut := range len(b) - 1 {
				if _, _, err := DecodeMemChunk(nil, nil, b[1:1+cut], len(ts), float); err == nil {
					t.Fatalf("float %v case %d: %d bytes of %d decoded without error", float, i, cut, len(b)-1)
				}
			}
		}
	}
}

// TestMemChunkSize pins the size of a regular series (TSBS cpu shaped):
// a byte a timestamp and one or two a value.
func TestMemChunkSize(t *testing.T) {
	c := tsbsCPU{1, 8640}
	ts := make([]int64, c.samples)
	vals := make([]float64, c.samples)
	c.fill(0, ts, vals)
	for _, float := range []bool{false, true} {
		raw := make([]uint64, len(vals))
		for i, v := range vals {
			raw[i] = uint64(int64(v))
			if float {
				raw[i] = math.Float64bits(v)
			}
		}
		var size int
		for lo := 0; lo < len(ts); lo += 224 {
			hi := min(lo+224, len(ts))
			size += len(AppendMemChunk(nil, float, ts[lo:hi], raw[lo:hi]))
		}
		perSample := float64(size) / float64(len(ts))
		t.Logf("float %v: %.2f bytes/sample", float, perSample)
		if limit := map[bool]float64{false: 3, true: 8}[float]; perSample > limit {
			t.Fatalf("float %v: %.2f bytes/sample, want at most %.0f (raw is 16)", float, perSample, limit)
		}
	}
}

func FuzzMemChunk(f *testing.F) {
	tss, valss := memChunkCases()
	for i := range tss[:8] {
		f.Add(AppendMemChunk(nil, i%2 == 0, tss[i], valss[i]), uint16(len(tss[i])), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, src []byte, n uint16, float bool) {
		ts, vals, err := DecodeMemChunk(nil, nil, src, int(n), float)
		if err != nil {
			return
		}
		if len(ts) != int(n) || len(vals) != int(n) {
			t.Fatalf("decoded %d/%d samples, want %d", len(ts), len(vals), n)
		}
		if n == 0 {
			return
		}
		// Whatever decodes re-encodes to a chunk that decodes the same.
		again := AppendMemChunk(nil, float, ts, vals)
		ts2, vals2, err := DecodeMemChunk(nil, nil, again, int(n), float)
		if err != nil || !slices.Equal(ts, ts2) || !slices.Equal(vals, vals2) {
			t.Fatalf("re-encoded chunk differs: %v", err)
		}
	})
}

func BenchmarkMemChunk(b *testing.B) {
	c := tsbsCPU{1, 8640}
	ts := make([]int64, c.samples)
	vals := make([]float64, c.samples)
	c.fill(0, ts, vals)
	for _, typ := range valueTypes {
		raw := make([]uint64, len(vals))
		for i, v := range vals {
			raw[i] = math.Float64bits(v)
			if typ == series.TypeInt {
				raw[i] = uint64(int64(v))
			}
		}
		const chunk = 224
		b.Run(fmt.Sprintf("encode/%s", typ), func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				for lo := 0; lo < len(ts); lo += chunk {
					hi := min(lo+chunk, len(ts))
					buf = AppendMemChunk(buf[:0], typ == series.TypeFloat, ts[lo:hi], raw[lo:hi])
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(ts))/b.Elapsed().Seconds(), "samples/s")
		})
		var chunks [][]byte
		for lo := 0; lo < len(ts); lo += chunk {
			hi := min(lo+chunk, len(ts))
			chunks = append(chunks, AppendMemChunk(nil, typ == series.TypeFloat, ts[lo:hi], raw[lo:hi]))
		}
		b.Run(fmt.Sprintf("decode/%s", typ), func(b *testing.B) {
			dt := make([]int64, 0, chunk)
			dv := make([]uint64, 0, chunk)
			b.ReportAllocs()
			for b.Loop() {
				for i, c := range chunks {
					n := min(chunk, len(ts)-i*chunk)
					var err error
					if dt, dv, err = DecodeMemChunk(dt[:0], dv[:0], c, n, typ == series.TypeFloat); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)*float64(len(ts))/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
