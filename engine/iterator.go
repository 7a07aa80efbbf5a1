package engine

import (
	"math"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
)

// sampleBuf holds samples: timestamps, raw values and, for strings, the
// bytes that raw values (off<<32|len) point into.
type sampleBuf struct {
	typ  series.ValueType
	ts   []int64
	vals []uint64
	strs []byte
}

func (b *sampleBuf) reset() {
	b.typ = 0
	b.ts, b.vals, b.strs = b.ts[:0], b.vals[:0], b.strs[:0]
}

// Iterator walks the samples of one series in time order, duplicates
// resolved to the newest source (segments by sequence, then immutable
// memtables, then the active one). It owns its buffers and its block
// decoder and is reused by passing it back to Select or by a SeriesSet, so
// a reader that reuses one iterator allocates nothing per sample. An
// Iterator is not safe for concurrent use.
//
// A damaged segment block (checksum mismatch or undecodable) is skipped:
// the iterator holds the samples of every other block and source, and Err
// returns a *CorruptionError naming the file and block offset.
type Iterator struct {
	sampleBuf
	i   int
	err error

	scratch sampleBuf // runs of the sources, before merging
	runs    []int     // end of each run in scratch
	heads   []int
	dec     encoding.Decoder
	strTmp  [][]byte
}

func (it *Iterator) reset() {
	it.sampleBuf.reset()
	it.i = -1
	it.err = nil
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

// Timestamps returns every timestamp the iterator holds, ascending. The
// slice aliases the iterator and is valid until it is reused.
func (it *Iterator) Timestamps() []int64 { return it.ts }

// RawValues returns every raw value the iterator holds, parallel to
// Timestamps (strings: off<<32|len, see AtString). Valid until reuse.
func (it *Iterator) RawValues() []uint64 { return it.vals }

// Err returns the error met while reading, if any: a *CorruptionError for
// a damaged block that was skipped.
func (it *Iterator) Err() error { return it.err }
