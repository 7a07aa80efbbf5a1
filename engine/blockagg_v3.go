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
//	flags (1) | uvarint(mask | k<<5 | rel<<9) | per value in the order
//	min, max, sum, first, last: mask bit i set: varint m (value = m / 10^k
//	exactly, encoding.Decimal), clear: float64 bits (8, little endian).
//	With rel set, max, first and last (all in the mask, as min) are
//	uvarint(m - m_min) instead: one byte for a block of values 0..100.
//
// Version 2 stores flags and the five float64 (appendBlockAgg).

var errSegAggScale = errors.New("block aggregates: bad decimal scale or mask")

// appendBlockAggV3 appends a in the version 3 layout.
func appendBlockAggV3(b []byte, a BlockAgg) []byte {
	vals := [...]float64{a.Min, a.Max, a.Sum, a.First, a.Last}
	k, mask := aggScale(vals)
	var m [5]int64
	for i, f := range vals {
		if mask&(1<<i) != 0 {
			m[i], _ = encoding.Decimal(math.Float64bits(f), k)
		}
	}
	rel := mask&aggRelMask == aggRelMask && m[1] >= m[0] && m[3] >= m[0] && m[4] >= m[0]
	mk := uint64(mask | k<<5)
	if rel {
		mk |= 1 << 9
	}
	b = append(b, byte(a.Flags))
	b = binary.AppendUvarint(b, mk)
	for i, f := range vals {
		switch {
		case rel && i != 0 && i != 2:
			b = binary.AppendUvarint(b, uint64(m[i]-m[0]))
		case mask&(1<<i) != 0:
			b = binary.AppendVarint(b, m[i])
		default:
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
		}
	}
	return b
}

// aggRelMask is min, max, first and last: the values stored relative to
// min when all are decimals no smaller than it.
const aggRelMask = 1 | 1<<1 | 1<<3 | 1<<4

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
	k, mask, rel := int(mk>>5&15), int(mk&31), mk>>9&1 == 1
	if r.err == nil && (mk>>10 != 0 || rel && mask&aggRelMask != aggRelMask) {
		r.err = errSegAggScale
	}
	var vals [5]float64
	var mMin int64
	for i := range vals {
		if r.err != nil {
			return BlockAgg{}
		}
		switch {
		case rel && i != 0 && i != 2:
			vals[i] = math.Float64frombits(encoding.DecimalBits(mMin+int64(r.uvarint()), k))
		case mask&(1<<i) != 0:
			m := r.varintSigned()
			if i == 0 {
				mMin = m
			}
			vals[i] = math.Float64frombits(encoding.DecimalBits(m, k))
		default:
			if r.off+8 > len(r.b) {
				r.err = errSegAggTruncated
				return BlockAgg{}
			}
			vals[i] = math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
			r.off += 8
		}
	}
	if r.err != nil {
		return BlockAgg{}
	}
	return BlockAgg{Flags: BlockFlags(flags), Min: vals[0], Max: vals[1], Sum: vals[2], First: vals[3], Last: vals[4]}
}
