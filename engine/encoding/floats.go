package encoding

import "math"

// Float layouts:
//
//	codec 0x03 (decimal): uvarint n, byte k (0..maxDecimalScale), integer
//	           body of the n values m_i; value_i = float64(m_i) / 10^k.
//	codec 0x04 (Gorilla): uvarint n, Gorilla XOR bit stream (gorilla.go).
//
// The encoder tries the decimal form when every value is an integer or a
// decimal with at most maxDecimalScale fraction digits whose float64 bits
// come back exactly from the division above (so NaN, ±Inf and -0 never
// do); it also writes Gorilla and keeps the smaller of the two.

const (
	maxDecimalScale = 15
	maxExactInt     = 1 << 53 // float64 holds every integer up to here
)

var pow10 = [maxDecimalScale + 1]float64{
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
}

func (e *Encoder) appendFloats(dst []byte, vals []uint64) []byte {
	start := len(dst)
	dst = append(dst, codecGorilla)
	dst = appendUvarint(dst, uint64(len(vals)))
	dst = appendGorilla(dst, vals)
	k, ok := e.decimalScale(vals)
	if !ok {
		return dst
	}
	e.cand2 = append(e.cand2[:0], codecDecimal)
	e.cand2 = appendUvarint(e.cand2, uint64(len(vals)))
	e.cand2 = append(e.cand2, byte(k))
	e.cand2 = e.appendInts(e.cand2, e.ints)
	if len(e.cand2) < len(dst)-start {
		dst = append(dst[:start], e.cand2...)
	}
	return dst
}

// decimalScale finds the smallest k such that every value is m/10^k exactly,
// and leaves the m in e.ints.
func (e *Encoder) decimalScale(vals []uint64) (int, bool) {
	k := 0
	for _, b := range vals {
		for !decimalAt(b, k) {
			if k++; k > maxDecimalScale {
				return 0, false
			}
		}
	}
	e.ints = grow(e.ints, len(vals))[:len(vals)]
	for i, b := range vals {
		// Every value passed at its own scale; check again at the block's.
		m, ok := decimalMantissa(b, k)
		if !ok {
			return 0, false
		}
		e.ints[i] = uint64(m)
	}
	return k, true
}

func decimalAt(b uint64, k int) bool {
	_, ok := decimalMantissa(b, k)
	return ok
}

// decimalMantissa returns m with float64(m)/10^k == value bit for bit.
func decimalMantissa(b uint64, k int) (int64, bool) {
	v := math.Float64frombits(b)
	m := math.Round(v * pow10[k])
	if !(m > -maxExactInt && m < maxExactInt) { // also rejects NaN
		return 0, false
	}
	im := int64(m)
	return im, decimalValue(im, k) == b
}

func decimalValue(m int64, k int) uint64 {
	if k == 0 {
		return math.Float64bits(float64(m))
	}
	return math.Float64bits(float64(m) / pow10[k])
}

func (d *Decoder) decodeDecimal(dst []uint64, r *reader) {
	if len(dst) == 0 {
		return
	}
	k := int(r.byte("decimal scale"))
	if k > maxDecimalScale {
		r.fail("decimal scale")
		return
	}
	converted := d.decodeIntsAs(dst, k == 0, r)
	if r.err != nil || converted {
		return
	}
	if k == 0 {
		for i, m := range dst {
			dst[i] = math.Float64bits(float64(int64(m)))
		}
		return
	}
	p := pow10[k]
	for i, m := range dst {
		dst[i] = math.Float64bits(float64(int64(m)) / p)
	}
}

// Decimal reports whether the float64 with bits b is exactly float64(m) /
// 10^k (float64(m) for k = 0), bit for bit, with |m| < 2^53, and returns m.
// NaN, ±Inf and -0 never are; k outside 0..15 never is.
func Decimal(b uint64, k int) (int64, bool) {
	if k < 0 || k > maxDecimalScale {
		return 0, false
	}
	return decimalMantissa(b, k)
}

// DecimalBits returns the bits of float64(m) / 10^k, the inverse of
// Decimal; k must be in 0..15.
func DecimalBits(m int64, k int) uint64 { return decimalValue(m, k) }
