package downsample

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// FuzzDecodeRecords: any timestamps and values decode into records or
// ErrCorruptRecord, never a panic; records that decode encode back to the
// same samples.
func FuzzDecodeRecords(f *testing.F) {
	recs := Aggregate(nil, []int64{1, 5, 1200, 1300}, []float64{1, 0.5, 3, math.NaN()}, 1000)
	var b series.Batch
	AppendBatch(&b, series.FromStrings("__name__", "m").AppendCanonical(nil), recs)
	_, _, ts, raws := b.Series(0)
	f.Add(encodeSamples(ts, raws))
	f.Add(encodeSamples(ts[:5], raws[:5]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ts []int64
		var raws []uint64
		for len(data) >= 16 {
			ts = append(ts, int64(binary.LittleEndian.Uint64(data)))
			raws = append(raws, binary.LittleEndian.Uint64(data[8:]))
			data = data[16:]
		}
		got, err := DecodeRecords(nil, ts, raws)
		if err != nil {
			return
		}
		var b series.Batch
		AppendBatch(&b, series.FromStrings("__name__", "m").AppendCanonical(nil), got)
		_, _, ts2, _ := b.Series(0)
		if len(ts2) != len(ts) {
			t.Fatalf("%d records from %d samples encode to %d", len(got), len(ts), len(ts2))
		}
		for i := range ts {
			if ts[i] != ts2[i] {
				t.Fatalf("sample %d at %d encodes at %d", i, ts[i], ts2[i])
			}
		}
	})
}

func encodeSamples(ts []int64, raws []uint64) []byte {
	var out []byte
	for i := range ts {
		out = binary.LittleEndian.AppendUint64(out, uint64(ts[i]))
		out = binary.LittleEndian.AppendUint64(out, raws[i])
	}
	return out
}

// FuzzCompile: any rule text compiles or fails with an error, never a
// panic, and a compiled interval is usable.
func FuzzCompile(f *testing.F) {
	f.Add(`{db="factory"}`, "7d", "5m", "1y")
	f.Add(`{a=~"x.*"}`, "0", "1h", "")
	f.Add(`{`, "x", "7m", "INF")
	f.Fuzz(func(t *testing.T, match, after, interval, keep string) {
		r, err := Config{Rules: []RuleConfig{{Match: match, Tiers: []TierConfig{{After: after, Interval: interval, Retention: keep}}}}}.Compile()
		if err != nil {
			return
		}
		for _, d := range r.Intervals() {
			if d < 1e9 || IntervalEnd(12345678, d.Milliseconds())%d.Milliseconds() != 0 {
				t.Fatalf("interval %s", d)
			}
		}
	})
}
