package engine

import (
	"math"

	"github.com/lightningdb/lightningdb/series"
)

// Iterator walks the samples of one series in time order, duplicates
// resolved. It owns its buffers and is reused by passing it back to Select,
// so a reader that reuses one iterator allocates nothing per sample. An
// Iterator is not safe for concurrent use.
type Iterator struct {
	typ  series.ValueType
	ts   []int64
	vals []uint64
	strs []byte
	i    int
}

func (it *Iterator) reset() {
	it.typ = 0
	it.ts, it.vals, it.strs = it.ts[:0], it.vals[:0], it.strs[:0]
	it.i = -1
}

// Next advances to the next sample and reports whether there is one.
func (it *Iterator) Next() bool {
	it.i++
	return it.i < len(it.ts)
}

// Len returns the number of samples the iterator holds in all.
func (it *Iterator) Len() int { return len(it.ts) }

// Type returns the series' value type (0 when the range held no samples).
func (it *Iterator) Type() series.ValueType { return it.typ }

// At returns the current timestamp and raw value (see series.FloatBits).
func (it *Iterator) At() (int64, uint64) { return it.ts[it.i], it.vals[it.i] }

// AtFloat returns the current sample as float64, PromQL's view of every
// numeric type; strings read as NaN.
func (it *Iterator) AtFloat() (int64, float64) {
	if it.typ == series.TypeString {
		return it.ts[it.i], math.NaN()
	}
	return it.ts[it.i], series.AsFloat64(it.typ, it.vals[it.i])
}

// AtString returns the current string sample. The bytes alias the iterator
// and are valid until it is reused.
func (it *Iterator) AtString() (int64, []byte) {
	v := it.vals[it.i]
	off, n := v>>32, v&math.MaxUint32
	return it.ts[it.i], it.strs[off : off+n]
}

// Err returns the error that ended the iteration, if any.
func (it *Iterator) Err() error { return nil }
