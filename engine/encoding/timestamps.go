package encoding

import "fmt"

// Timestamps layout (codec 0x01):
//
//	codec byte 0x01
//	uvarint n
//	n >= 1: zigzag varint t_0
//	n >= 2: uvarint m<<4 | e, where g = m * 10^e (e <= 15) is the GCD of the
//	        deltas (1 <= g <= 2^58 when encoded, 2^62 when decoded), then the integer body of the n-1
//	        scaled deltas q_i = (t_i - t_(i-1)) / g.
//
// Writing g as m * 10^e makes the usual intervals (1 s = 1e9 ns, 10 s,
// 1 ms) cost one byte.
//
// Order 0 of the integer body makes a fixed interval cost nothing per
// sample, order 1 is delta-of-delta, and g keeps second or millisecond
// precision nanosecond timestamps from paying for their trailing zeros.
//
// Any int64 sequence round-trips: deltas wrap, so timestamps need not be
// sorted or unique. Keeping them sorted and unique is the caller's job.

// AppendTimestamps appends the encoding of ts (int64 ns) to dst.
func (e *Encoder) AppendTimestamps(dst []byte, ts []int64) ([]byte, error) {
	if len(ts) > MaxBlockSamples {
		return dst, fmt.Errorf("encode %d timestamps: %w", len(ts), ErrBlockTooLarge)
	}
	dst = append(dst, codecTimestamps)
	dst = appendUvarint(dst, uint64(len(ts)))
	if len(ts) == 0 {
		return dst, nil
	}
	dst = appendVarint(dst, uint64(ts[0]))
	if len(ts) == 1 {
		return dst, nil
	}
	var g uint64
	for i := 1; i < len(ts); i++ {
		d := uint64(ts[i] - ts[i-1])
		if int64(d) < 0 {
			d = -d // |MinInt64| is 2^63 as uint64
		}
		g = gcd(g, d)
		if g == 1 {
			break
		}
	}
	if g == 0 || g > 1<<58 {
		g = 1 // all deltas zero, or so large that scaling saves nothing
	}
	dst = appendScale(dst, g)
	q := grow(e.ints, len(ts)-1)[:len(ts)-1]
	for i := 1; i < len(ts); i++ {
		q[i-1] = uint64((ts[i] - ts[i-1]) / int64(g))
	}
	e.ints = q
	return e.appendInts(dst, q), nil
}

// DecodeTimestamps decodes a timestamps block from src, appends the
// timestamps to dst, and returns the extended slice and the rest of src.
// It does not allocate when dst has room.
func (d *Decoder) DecodeTimestamps(dst []int64, src []byte) ([]int64, []byte, error) {
	r := reader{src: src}
	if c := r.byte("codec"); c != codecTimestamps {
		return dst, src, corruptf("timestamps: codec byte %#x", c)
	}
	n := r.count("sample count", MaxBlockSamples)
	if r.err != nil {
		return dst, src, wrap("timestamps", r.err)
	}
	if n == 0 {
		return dst, r.src, nil
	}
	start := len(dst)
	dst = growLen(dst, n)
	out := dst[start:]
	out[0] = int64(r.varint("first timestamp"))
	if n > 1 {
		g := readScale(&r)
		q := asUint64s(out[1:])
		if len(r.src) > 0 && r.src[0] == constantHeader {
			// Fast path for a fixed interval: one pass, no residuals.
			r.byte("integer header")
			step := int64(r.varint("interval")) * int64(g)
			for i, t := 1, out[0]; i < n; i++ {
				t += step
				out[i] = t
			}
		} else if d.decodeInts(q, &r); r.err == nil {
			t, gs := out[0], int64(g)
			for i := range q {
				t += int64(q[i]) * gs
				out[i+1] = t
			}
		}
	}
	if r.err != nil {
		return dst[:start], src, wrap("timestamps", r.err)
	}
	return dst, r.src, nil
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// growLen extends s by n elements, reallocating if needed.
func growLen[T any](s []T, n int) []T {
	if cap(s)-len(s) < n {
		ns := make([]T, len(s), len(s)+n)
		copy(ns, s)
		s = ns
	}
	return s[:len(s)+n]
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("decode %s: %w", what, err)
}

// appendScale appends g as uvarint m<<4 | e with g = m * 10^e.
func appendScale(dst []byte, g uint64) []byte {
	e := uint64(0)
	for e < 15 && g%10 == 0 {
		g /= 10
		e++
	}
	return appendUvarint(dst, g<<4|e)
}

// readScale reads a scale written by appendScale and checks 1 <= g <= 2^62.
func readScale(r *reader) uint64 {
	v := r.uvarint("scale")
	g, e := v>>4, v&15
	for ; e > 0 && g != 0 && g <= 1<<62/10; e-- {
		g *= 10
	}
	if r.err == nil && (g == 0 || g > 1<<62 || e != 0) {
		r.fail("scale")
	}
	return g
}
