package encoding

import (
	"encoding/binary"
	"math"
)

// The integer body is the workhorse under every numeric codec. It holds n
// values (n is stored by the caller) as their two's complement bits and
// round-trips any uint64 sequence, because all arithmetic wraps.
//
//	hdr byte: order (bits 0-1) | packer (bits 4-5)
//	order 0: zigzag varint base (signed minimum); residual_i = v_i - base
//	order 1: zigzag varint v_0;                   residual_i = zigzag(v_i - v_(i-1))
//	order 2: zigzag varint v_0, zigzag varint d_1; residual_i = zigzag(dod_i)
//	then the n-order residuals, packed as the packer says (see residuals.go).
const (
	maxOrder = 2
	// constantHeader is the header of an order-0 body with zero residuals:
	// every value equals the base.
	constantHeader = 0
)

// appendInts appends the integer body of vals, choosing the order and the
// packer that give the fewest bytes.
func (e *Encoder) appendInts(dst []byte, vals []uint64) []byte {
	if len(vals) == 0 {
		return dst
	}
	start := len(dst)
	dst = e.appendOrder(dst, vals, 0)
	for order := 1; order <= maxOrder && order < len(vals); order++ {
		if len(dst)-start <= 2 {
			break // constant already: header and a one-byte base
		}
		e.cand = e.appendOrder(e.cand[:0], vals, order)
		if len(e.cand) < len(dst)-start {
			dst = append(dst[:start], e.cand...)
		}
	}
	return dst
}

// appendOrder appends vals as an integer body of the given order.
func (e *Encoder) appendOrder(dst []byte, vals []uint64, order int) []byte {
	n := len(vals)
	e.res = grow(e.res, n-order)
	res := e.res[:n-order]
	hdr := len(dst)
	dst = append(dst, 0)
	switch order {
	case 0:
		base := int64(math.MaxInt64)
		for _, v := range vals {
			base = min(base, int64(v))
		}
		for i, v := range vals {
			res[i] = v - uint64(base)
		}
		dst = appendVarint(dst, uint64(base))
	case 1:
		dst = appendVarint(dst, vals[0])
		for i := 1; i < n; i++ {
			res[i-1] = zigzag(vals[i] - vals[i-1])
		}
	case 2:
		dst = appendVarint(dst, vals[0])
		dst = appendVarint(dst, vals[1]-vals[0])
		for i := 2; i < n; i++ {
			res[i-2] = zigzag(vals[i] - 2*vals[i-1] + vals[i-2])
		}
	}
	dst, kind := e.appendResiduals(dst, res)
	dst[hdr] = byte(order) | kind<<4
	return dst
}

// decodeInts fills dst (its length is the sample count) from an integer
// body.
func (d *Decoder) decodeInts(dst []uint64, r *reader) { d.decodeIntsAs(dst, false, r) }

// decodeIntsAs is decodeInts that, with asFloat set, may also convert the
// values to float64 bits in the same pass; it reports whether it did.
func (d *Decoder) decodeIntsAs(dst []uint64, asFloat bool, r *reader) (converted bool) {
	n := len(dst)
	if n == 0 {
		return false
	}
	hdr := r.byte("integer header")
	order, kind := int(hdr&3), hdr>>4
	if hdr&^0x33 != 0 || order > maxOrder || order >= n && order > 0 {
		r.fail("integer header")
		return false
	}
	switch order {
	case 0:
		base := r.varint("integer base")
		d.unpackResiduals(dst, kind, r)
		for i := range dst {
			dst[i] += base
		}
	case 1:
		dst[0] = r.varint("integer first value")
		if kind == packerHuff1X || kind == packerHuff4X {
			return d.unpackHuffDelta(dst, kind, asFloat, r)
		}
		d.unpackResiduals(dst[1:], kind, r)
		undelta(dst)
	case 2:
		dst[0] = r.varint("integer first value")
		dst[1] = dst[0] + r.varint("integer first delta")
		d.unpackResiduals(dst[2:], kind, r)
		undelta2(dst)
	}
	return false
}

// undelta turns dst[0], zigzag deltas... into values in place.
func undelta(dst []uint64) {
	v := dst[0]
	for i := 1; i < len(dst); i++ {
		v += unzigzag(dst[i])
		dst[i] = v
	}
}

// undelta2 turns dst[0], dst[1], zigzag delta-of-deltas... into values.
func undelta2(dst []uint64) {
	v, delta := dst[1], dst[1]-dst[0]
	for i := 2; i < len(dst); i++ {
		delta += unzigzag(dst[i])
		v += delta
		dst[i] = v
	}
}

// grow returns s with capacity for at least n elements, keeping its length
// and contents.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		ns := make([]T, len(s), n)
		copy(ns, s)
		return ns
	}
	return s
}

// appendUvarint is binary.AppendUvarint, named here for symmetry.
func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
