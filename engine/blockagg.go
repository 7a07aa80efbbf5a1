package engine

import (
	"encoding/binary"
	"math"

	"github.com/lightningdb/lightningdb/series"
)

// BlockFlags describe a block's samples as PromQL sees them (float64
// values, millisecond timestamps); they tell a reader when the block's
// aggregates may stand in for its samples.
type BlockFlags uint8

const (
	// BlockStale: a value is Prometheus' staleness marker (a special NaN
	// that PromQL drops from ranges).
	BlockStale BlockFlags = 1 << iota
	// BlockDupMs: two samples fall in the same millisecond (PromQL reads
	// them as one).
	BlockDupMs
	// BlockSumExact: every value is an integer and the sum of their
	// magnitudes is below ExactSumBound (2^43), so Sum and every partial
	// sum are exact whatever the order of addition, and up to 1024 such
	// blocks still add up exactly (below 2^53).
	BlockSumExact
	// BlockReset: a value is lower than the one before it (a counter
	// reset), NaNs aside.
	BlockReset
)

// staleNaNBits is Prometheus' staleness marker (model/value.StaleNaN).
const staleNaNBits = 0x7ff0000000000002

// ExactSumBound bounds the magnitudes of a BlockSumExact block's values.
const ExactSumBound = 1 << 43

// BlockAgg holds the aggregates of one block of a numeric series, over
// PromQL's view of its values (series.AsFloat64).
type BlockAgg struct {
	Flags BlockFlags
	// Min and Max fold the values in time order the way PromQL's
	// min_over_time and max_over_time do: NaN is ignored unless every
	// value is NaN, and of equal values (0 and -0) the first is kept.
	Min, Max float64
	// Sum is the sum in time order; exact only with BlockSumExact.
	Sum float64
	// First and Last are the values of the first and last samples.
	First, Last float64
}

// blockAggSize is the encoded size of a BlockAgg: flags and five float64.
const blockAggSize = 1 + 5*8

// computeBlockAgg returns the aggregates of a block of a numeric series:
// ts ascending, vals raw.
func computeBlockAgg(typ series.ValueType, ts []int64, vals []uint64) BlockAgg {
	var a BlockAgg
	first := series.AsFloat64(typ, vals[0])
	a.Min, a.Max, a.First = first, first, first
	exact := true
	var mag float64
	prev := math.NaN()
	for i, raw := range vals {
		v := series.AsFloat64(typ, raw)
		if math.Float64bits(v) == staleNaNBits {
			a.Flags |= BlockStale
		}
		if i > 0 && floorMs(ts[i]) == floorMs(ts[i-1]) {
			a.Flags |= BlockDupMs
		}
		if v < prev {
			a.Flags |= BlockReset
		}
		if !math.IsNaN(v) {
			prev = v
		}
		if v > a.Max || math.IsNaN(a.Max) {
			a.Max = v
		}
		if v < a.Min || math.IsNaN(a.Min) {
			a.Min = v
		}
		a.Sum += v
		if exact {
			mag += math.Abs(v)
			exact = v == math.Trunc(v) && mag < ExactSumBound
		}
	}
	if exact {
		a.Flags |= BlockSumExact
	}
	a.Last = series.AsFloat64(typ, vals[len(vals)-1])
	return a
}

// floorMs floors a nanosecond timestamp to its millisecond.
func floorMs(t int64) int64 {
	ms := t / 1e6
	if t%1e6 < 0 {
		ms--
	}
	return ms
}

func appendBlockAgg(b []byte, a BlockAgg) []byte {
	b = append(b, byte(a.Flags))
	for _, f := range [...]float64{a.Min, a.Max, a.Sum, a.First, a.Last} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// readBlockAgg decodes an aggregate written by appendBlockAgg.
func (r *segReader) blockAgg() BlockAgg {
	if r.err != nil || r.off+blockAggSize > len(r.b) {
		if r.err == nil {
			r.err = errSegAggTruncated
		}
		return BlockAgg{}
	}
	b := r.b[r.off : r.off+blockAggSize]
	r.off += blockAggSize
	f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[1+8*i:])) }
	return BlockAgg{Flags: BlockFlags(b[0]), Min: f(0), Max: f(1), Sum: f(2), First: f(3), Last: f(4)}
}
