package downsample

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

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

// A tier stores a record as one sample in each of NumFields series: the
// raw series' labels plus FieldLabel naming the field. A query reads only
// the fields its function needs (max_over_time: meta and max), each
// series compresses like the raw values it summarizes, and the sample of
// an interval ending at end (ms) is at RecordTime(end).

// Field is one stored aggregate of a record.
type Field uint8

// The fields. Meta packs Count, Resets and SumExact; Times packs FirstT
// and LastT as offsets in the interval (intervals are at most a day).
const (
	FieldMeta Field = iota
	FieldMax
	FieldMin
	FieldSum
	FieldTimes
	FieldFirst
	FieldLast
	FieldResetSum
	NumFields
)

// FieldLabel is the label naming a field series' field.
const FieldLabel = "__rollup__"

var fieldNames = [NumFields]string{"meta", "max", "min", "sum", "times", "first", "last", "resets"}

func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return fmt.Sprintf("field(%d)", uint8(f))
}

// packBase exceeds every count and offset of an interval of at most a
// day at one sample per millisecond, and packBase^2 < 2^53.
const packBase = 86_400_001

// MaxInterval is the longest tier interval.
const MaxInterval = 24 * time.Hour

// RecordTime returns the timestamp (ns) of the samples of the record
// ending at end (ms): the last nanosecond before the millisecond end, so
// that a record stays in the partition of its interval.
func RecordTime(end int64) int64 { return end*1e6 - 1 }

// RecordRange returns the ns range [minT, maxT] holding the records of the
// intervals that end in (lo, hi] ms.
func RecordRange(lo, hi int64) (minT, maxT int64) { return lo * 1e6, hi*1e6 - 1 }

// RecordsHolding returns the ns range of the record timestamps of the
// intervals of length iv that hold raw samples in [minT, maxT] (ns): what a
// deletion of those samples removes from the tier. A sample at the first
// millisecond of [minT, maxT] that is a multiple of iv ends an interval
// whose record is a nanosecond before it (RecordTime), so the range starts
// before minT.
func RecordsHolding(minT, maxT int64, iv time.Duration) (lo, hi int64) {
	ivms := iv.Milliseconds()
	lo, hi = math.MinInt64, math.MaxInt64
	if minT > math.MinInt64/2 {
		lo = RecordTime(IntervalEnd(series.FloorDiv(minT, 1e6), ivms))
	}
	if maxT < math.MaxInt64/2 {
		hi = RecordTime(IntervalEnd(series.FloorDiv(maxT, 1e6), ivms))
	}
	return lo, hi
}

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

// FieldSeries appends to dst the canonical labels of field f's series of
// the raw series canonical.
func FieldSeries(dst, canonical []byte, f Field) []byte {
	// FieldLabel sorts before any label not starting with "__" and
	// after "__name__"; insert it in its place.
	inserted := false
	_ = series.ForEachCanonical(canonical, func(name, value []byte) error {
		if !inserted && string(name) > FieldLabel {
			dst = appendPair(dst, FieldLabel, f.String())
			inserted = true
		}
		dst = appendPair(dst, string(name), string(value))
		return nil
	})
	if !inserted {
		dst = appendPair(dst, FieldLabel, f.String())
	}
	return dst
}

func appendPair(dst []byte, name, value string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// RawSeries returns the canonical labels of a field series without
// FieldLabel, and its field; ok is false for a series without one.
func RawSeries(dst, canonical []byte) (raw []byte, f Field, ok bool) {
	_ = series.ForEachCanonical(canonical, func(name, value []byte) error {
		if string(name) == FieldLabel {
			for i, n := range fieldNames {
				if n == string(value) {
					f, ok = Field(i), true
				}
			}
			return nil
		}
		dst = appendPair(dst, string(name), string(value))
		return nil
	})
	return dst, f, ok
}

// AppendBatch adds the field series of the raw series canonical, with
// recs of intervals iv (ms) long, to b.
func AppendBatch(b *series.Batch, canonical []byte, recs []Record, iv int64) {
	var buf []byte
	for f := range NumFields {
		buf = FieldSeries(buf[:0], canonical, f)
		b.AddCanonical(buf, series.TypeFloat)
		for i := range recs {
			b.AppendFloat(RecordTime(recs[i].End), FieldValue(&recs[i], f, iv))
		}
	}
}

// FieldValue returns field f of r, whose interval is iv (ms) long.
func FieldValue(r *Record, f Field, iv int64) float64 {
	switch f {
	case FieldMeta:
		m := float64(r.Count) + float64(r.Resets)*packBase
		if !r.SumExact {
			m = -m
		}
		return m
	case FieldMax:
		return r.Max
	case FieldMin:
		return r.Min
	case FieldSum:
		return r.Sum
	case FieldTimes:
		return float64(r.FirstT-(r.End-iv))*packBase + float64(r.End-r.LastT)
	case FieldFirst:
		return r.First
	case FieldLast:
		return r.Last
	case FieldResetSum:
		return r.ResetSum
	}
	return math.NaN()
}

// DecodeField reads field f of records from a field series' samples ts
// (ns, ascending) and raw float values, intervals iv (ms) long. Into an
// empty recs (the first field read) it appends a record per sample, with
// FirstT and LastT the interval's bounds until FieldTimes is read and
// Count 1 (at least one sample) until FieldMeta is; with recs it sets
// field f of them, which must be of the same intervals. Anything else is
// ErrCorruptRecord.
func DecodeField(recs []Record, f Field, ts []int64, raws []uint64, iv int64) ([]Record, error) {
	if len(raws) < len(ts) {
		return recs, fmt.Errorf("%w: %d values for %d timestamps", ErrCorruptRecord, len(raws), len(ts))
	}
	if len(recs) == 0 {
		recs = slices.Grow(recs, len(ts))
		for _, t := range ts {
			end := series.FloorDiv(t+1, 1e6)
			if t != RecordTime(end) || end%iv != 0 {
				return recs, fmt.Errorf("%w: %s sample at %d ns is not at an interval's end", ErrCorruptRecord, f, t)
			}
			recs = append(recs, Record{End: end, Count: 1, FirstT: end - iv + 1, LastT: end})
		}
	} else {
		if len(ts) != len(recs) {
			return recs, fmt.Errorf("%w: %d %s samples for %d records", ErrCorruptRecord, len(ts), f, len(recs))
		}
		for i, t := range ts {
			if t != RecordTime(recs[i].End) {
				return recs, fmt.Errorf("%w: %s sample at %d ns where the record ends %d ms", ErrCorruptRecord, f, t, recs[i].End)
			}
		}
	}
	return recs, setFields(recs, f, raws[:len(ts)], iv)
}

// setFields sets field f of recs from raws, one loop per field: a query
// of a tier decodes a field of every record it reads (docs/downsampling.md
// "Figures").
func setFields(recs []Record, f Field, raws []uint64, iv int64) error {
	switch f {
	case FieldMax:
		for i := range recs {
			recs[i].Max = math.Float64frombits(raws[i])
		}
	case FieldMin:
		for i := range recs {
			recs[i].Min = math.Float64frombits(raws[i])
		}
	case FieldSum:
		for i := range recs {
			recs[i].Sum = math.Float64frombits(raws[i])
		}
	case FieldFirst:
		for i := range recs {
			recs[i].First = math.Float64frombits(raws[i])
		}
	case FieldLast:
		for i := range recs {
			recs[i].Last = math.Float64frombits(raws[i])
		}
	case FieldResetSum:
		for i := range recs {
			recs[i].ResetSum = math.Float64frombits(raws[i])
		}
	default: // meta and times are checked
		for i := range recs {
			if err := setField(&recs[i], f, math.Float64frombits(raws[i]), iv); err != nil {
				return err
			}
		}
	}
	return nil
}

// setMeta sets Count, Resets and SumExact from a meta value.
func setMeta(r *Record, v float64, iv int64) error {
	m := math.Abs(v)
	if !(m >= 1 && m < packBase*packBase) || float64(int64(m)) != m {
		return fmt.Errorf("%w: meta %v of the interval ending %d ms", ErrCorruptRecord, v, r.End)
	}
	resets, count := int64(m)/packBase, int64(m)%packBase // integers: exact
	if count < 1 || count > iv || resets >= count {
		return fmt.Errorf("%w: meta %v of the interval ending %d ms", ErrCorruptRecord, v, r.End)
	}
	r.Count, r.Resets, r.SumExact = int(count), int(resets), v > 0
	return nil
}

func setField(r *Record, f Field, v float64, iv int64) error {
	switch f {
	case FieldMeta:
		return setMeta(r, v, iv)
	case FieldMax:
		r.Max = v
	case FieldMin:
		r.Min = v
	case FieldSum:
		r.Sum = v
	case FieldTimes:
		if !(v >= 0 && v < packBase*packBase) || float64(int64(v)) != v {
			return fmt.Errorf("%w: times %v of the interval ending %d ms", ErrCorruptRecord, v, r.End)
		}
		first, last := r.End-iv+int64(v)/packBase, r.End-int64(v)%packBase
		if first <= r.End-iv || first > last || last > r.End {
			return fmt.Errorf("%w: times %v of the interval ending %d ms", ErrCorruptRecord, v, r.End)
		}
		r.FirstT, r.LastT = first, last
	case FieldFirst:
		r.First = v
	case FieldLast:
		r.Last = v
	case FieldResetSum:
		r.ResetSum = v
	default:
		return fmt.Errorf("%w: unknown field %d", ErrCorruptRecord, f)
	}
	return nil
}
