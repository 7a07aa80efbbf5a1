package downsample

import (
	"fmt"
	"math"

	"github.com/lightningdb/lightningdb/series"
)

// Record is one series' aggregates over one interval (End-I, End] (ms,
// left-open like PromQL's range windows), computed over PromQL's view of
// its samples: float values, one sample per millisecond (the last),
// staleness markers dropped.
type Record struct {
	End           int64 // ms, the end of the interval
	Count         int
	FirstT, LastT int64 // ms, the first and last sample
	// Min and Max fold the values in time order as min_over_time and
	// max_over_time do (NaN is kept only if every value is NaN).
	Min, Max float64
	// Sum is the plain sum in time order; SumExact says every value is an
	// integer and their magnitudes add up below ExactSumBound, so that any
	// order of addition (Prometheus' Kahan sum included) gives these bits.
	Sum      float64
	SumExact bool
	// First and Last are the first and last values.
	First, Last float64
	// Resets counts the counter resets inside the interval as rate sees
	// them (a value below the one before it, NaN included) and ResetSum
	// adds the values before them, in time order.
	Resets   int
	ResetSum float64
}

// ExactSumBound bounds the magnitudes of a SumExact record's values
// (engine.ExactSumBound: the query layer adds up to 1023 such sums exactly).
const ExactSumBound = 1 << 43

// RecordFields is how many samples store one Record in a tier.
const RecordFields = 11

// recordTime returns the timestamp (ns) of field k of the record ending at
// end (ms): the fields take the last RecordFields nanoseconds before the
// millisecond end, so a record never straddles a partition boundary (a
// multiple of a millisecond) and stays in millisecond end-1.
func recordTime(end int64, k int) int64 { return end*1e6 - RecordFields + int64(k) }

// RecordRange returns the ns range [minT, maxT] holding the records of the
// intervals that end in (lo, hi] ms.
func RecordRange(lo, hi int64) (minT, maxT int64) { return lo * 1e6, hi*1e6 - 1 }

// IntervalEnd returns the end (ms) of the interval of length iv (ms) that
// holds t (ms): the least multiple of iv at or after t.
func IntervalEnd(t, iv int64) int64 {
	q := t / iv
	if t%iv > 0 {
		q++
	}
	return q * iv
}

// Aggregate appends to dst the records of the samples ts (ms, ascending,
// unique) and vs, one per interval of length iv (ms) holding samples.
func Aggregate(dst []Record, ts []int64, vs []float64, iv int64) []Record {
	for i := 0; i < len(ts); {
		end := IntervalEnd(ts[i], iv)
		j := i + 1
		for j < len(ts) && ts[j] <= end {
			j++
		}
		dst = append(dst, aggregate(end, ts[i:j], vs[i:j]))
		i = j
	}
	return dst
}

func aggregate(end int64, ts []int64, vs []float64) Record {
	r := Record{End: end, Count: len(ts), FirstT: ts[0], LastT: ts[len(ts)-1],
		Min: vs[0], Max: vs[0], First: vs[0], Last: vs[len(vs)-1], SumExact: true}
	var mag float64
	prev := vs[0]
	for i, v := range vs {
		if v > r.Max || math.IsNaN(r.Max) {
			r.Max = v
		}
		if v < r.Min || math.IsNaN(r.Min) {
			r.Min = v
		}
		r.Sum += v
		if v != math.Trunc(v) {
			r.SumExact = false
		}
		mag += math.Abs(v)
		if i > 0 && v < prev {
			r.Resets++
			r.ResetSum += prev
		}
		prev = v
	}
	if !(mag < ExactSumBound) {
		r.SumExact = false
	}
	return r
}

// AppendBatch adds series canonical (a float series) with recs to b.
func AppendBatch(b *series.Batch, canonical []byte, recs []Record) {
	b.AddCanonical(canonical, series.TypeFloat)
	for i := range recs {
		r := &recs[i]
		exact := 0.0
		if r.SumExact {
			exact = 1
		}
		f := [RecordFields]float64{exact, float64(r.Count), float64(r.FirstT), float64(r.LastT),
			r.Min, r.Max, r.Sum, r.First, r.Last, float64(r.Resets), r.ResetSum}
		for k, v := range f {
			b.AppendFloat(recordTime(r.End, k), v)
		}
	}
}

// DecodeRecords appends to dst the records of a tier series' samples ts
// (ns, ascending) and their raw float values. A record missing a field,
// or a field out of its range, is ErrCorruptRecord.
func DecodeRecords(dst []Record, ts []int64, raws []uint64) ([]Record, error) {
	if len(raws) < len(ts) {
		return dst, fmt.Errorf("%w: %d values for %d timestamps", ErrCorruptRecord, len(raws), len(ts))
	}
	for i := 0; i < len(ts); i += RecordFields {
		if i+RecordFields > len(ts) {
			return dst, fmt.Errorf("%w: %d samples left at %d", ErrCorruptRecord, len(ts)-i, ts[i])
		}
		end := floorDiv(ts[i]+RecordFields, 1e6)
		var f [RecordFields]float64
		for k := range f {
			if ts[i+k] != recordTime(end, k) {
				return dst, fmt.Errorf("%w: field %d of the interval ending %d ms at %d ns", ErrCorruptRecord, k, end, ts[i+k])
			}
			f[k] = math.Float64frombits(raws[i+k])
		}
		r, err := fromFields(end, &f)
		if err != nil {
			return dst, err
		}
		dst = append(dst, r)
	}
	return dst, nil
}

func fromFields(end int64, f *[RecordFields]float64) (Record, error) {
	r := Record{End: end, SumExact: f[0] == 1, Count: int(f[1]), FirstT: int64(f[2]), LastT: int64(f[3]),
		Min: f[4], Max: f[5], Sum: f[6], First: f[7], Last: f[8], Resets: int(f[9]), ResetSum: f[10]}
	ok := (f[0] == 0 || f[0] == 1) && f[1] >= 1 && f[1] <= 1<<40 && f[1] == math.Trunc(f[1]) &&
		f[9] >= 0 && f[9] < f[1] && f[9] == math.Trunc(f[9]) &&
		float64(r.FirstT) == f[2] && float64(r.LastT) == f[3] && r.FirstT <= r.LastT && r.LastT <= end
	if !ok {
		return Record{}, fmt.Errorf("%w: bad fields in the interval ending %d ms", ErrCorruptRecord, end)
	}
	return r, nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
