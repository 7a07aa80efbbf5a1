package downsample

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// FuzzDecodeField: any timestamps and values decode as a meta field and
// then a times field into records or ErrCorruptRecord, never a panic; the
// records that decode encode back to the same samples.
func FuzzDecodeField(f *testing.F) {
	recs := Aggregate(nil, []int64{1, 5, 1200, 1300}, []float64{1, 0.5, 3, math.NaN()}, 1000)
	var b series.Batch
	AppendBatch(&b, series.FromStrings("__name__", "m").AppendCanonical(nil), recs, 1000)
	_, _, ts, meta := b.Series(int(FieldMeta))
	_, _, _, times := b.Series(int(FieldTimes))
	f.Add(encodeSamples(ts, meta), encodeSamples(ts, times))
	f.Add(encodeSamples(ts[:1], meta[:1]), encodeSamples(ts[:1], times[1:]))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, metaData, timesData []byte) {
		ts, meta := decodeSamples(metaData)
		recs, err := DecodeField(nil, FieldMeta, ts, meta, 1000)
		if err != nil || len(recs) == 0 { // no records: the times would be read as a first field
			return
		}
		tts, times := decodeSamples(timesData)
		if recs, err = DecodeField(recs, FieldTimes, tts, times, 1000); err != nil {
			return
		}
		for i := range recs {
			if v := FieldValue(&recs[i], FieldMeta, 1000); math.Float64bits(v) != meta[i] {
				t.Fatalf("meta %v encodes as %v", math.Float64frombits(meta[i]), v)
			}
			if v := FieldValue(&recs[i], FieldTimes, 1000); math.Float64bits(v) != times[i] {
				t.Fatalf("times %v encodes as %v", math.Float64frombits(times[i]), v)
			}
			if RecordTime(recs[i].End) != ts[i] {
				t.Fatalf("record at %d ns ends at %d ms", ts[i], recs[i].End)
			}
		}
	})
}

func decodeSamples(data []byte) ([]int64, []uint64) {
	var ts []int64
	var raws []uint64
	for len(data) >= 16 {
		ts = append(ts, int64(binary.LittleEndian.Uint64(data)))
		raws = append(raws, binary.LittleEndian.Uint64(data[8:]))
		data = data[16:]
	}
	return ts, raws
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
