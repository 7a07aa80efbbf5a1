package engine

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/lightningdb/lightningdb/engine/encoding"
)

// Block aggregates, segment version 3: the five values as decimals where
// they are exactly decimals of one scale (integer-valued data: one to three
// bytes each instead of eight):
//
//	flags (1) | uvarint(mask | k<<5) | per value in the order min, max,
//	sum, first, last: mask bit i set: varint m (value = m / 10^k exactly,
//	encoding.Decimal), clear: float64 bits (8, little endian)
//
// Version 2 stores flags and the five float64 (appendBlockAgg).

var errSegAggScale = errors.New("block aggregates: bad decimal scale or mask")

// appendBlockAggV3 appends a in the version 3 layout.
func appendBlockAggV3(b []byte, a BlockAgg) []byte {
	vals := [...]float64{a.Min, a.Max, a.Sum, a.First, a.Last}
	k, mask := aggScale(vals)
	b = append(b, byte(a.Flags))
	b = binary.AppendUvarint(b, uint64(mask|k<<5))
	for i, f := range vals {
		if mask&(1<<i) != 0 {
			m, _ := encoding.Decimal(math.Float64bits(f), k)
			b = binary.AppendVarint(b, m)
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
	}
	return b
}

// aggScale returns the decimal scale at which the values take the fewest
// bytes (the smallest such), and the mask of the values that are exact
// decimals at it.
func aggScale(vals [5]float64) (k, mask int) {
	best := math.MaxInt
	var buf [binary.MaxVarintLen64]byte
	for s := range 16 {
		m, size := 0, 0
		for i, f := range vals {
			if d, ok := encoding.Decimal(math.Float64bits(f), s); ok {
				m |= 1 << i
				size += binary.PutVarint(buf[:], d)
			} else {
				size += 8
			}
		}
		if size < best {
			k, mask, best = s, m, size
		}
	}
	return k, mask
}

// blockAggV3 decodes an aggregate written by appendBlockAggV3.
func (r *segReader) blockAggV3() BlockAgg {
	flags := r.byte()
	mk := r.uvarint()
	k, mask := int(mk>>5), int(mk&31)
	if r.err == nil && k > 15 {
		r.err = errSegAggScale
	}
	var vals [5]float64
	for i := range vals {
		if r.err != nil {
			return BlockAgg{}
		}
		if mask&(1<<i) != 0 {
			vals[i] = math.Float64frombits(encoding.DecimalBits(r.varintSigned(), k))
			continue
		}
		if r.off+8 > len(r.b) {
			r.err = errSegAggTruncated
			return BlockAgg{}
		}
		vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
		r.off += 8
	}
	if r.err != nil {
		return BlockAgg{}
	}
	return BlockAgg{Flags: BlockFlags(flags), Min: vals[0], Max: vals[1], Sum: vals[2], First: vals[3], Last: vals[4]}
}
