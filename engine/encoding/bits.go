package encoding

import (
	"encoding/binary"
	"math/bits"
)

// zigzag maps a signed value, given as its two's complement bits, to an
// unsigned one so that small magnitudes of either sign become small numbers.
// It is a bijection on uint64, so wrapping deltas round-trip.
func zigzag(v uint64) uint64 { return v<<1 ^ uint64(int64(v)>>63) }

// unzigzag inverts zigzag.
func unzigzag(u uint64) uint64 { return u>>1 ^ -(u & 1) }

// bitLen is the number of bits needed to hold v (0 for 0).
func bitLen(v uint64) int { return bits.Len64(v) }

// packedLen is the number of bytes that m values of w bits occupy.
func packedLen(m, w int) int { return (m*w + 7) / 8 }

// appendPacked appends vals, each cut to its low w bits (0 <= w <= 64),
// as a little-endian bit stream of exactly packedLen(len(vals), w) bytes.
func appendPacked(dst []byte, vals []uint64, w int) []byte {
	if w == 0 {
		return dst
	}
	mask := lowMask(w)
	var acc uint64
	n := 0 // bits held in acc, always < 64
	for _, v := range vals {
		v &= mask
		acc |= v << n
		if n+w >= 64 {
			dst = binary.LittleEndian.AppendUint64(dst, acc)
			acc = v >> (64 - n) // Go defines x>>64 as 0
			n = n + w - 64
		} else {
			n += w
		}
	}
	for ; n > 0; n -= 8 {
		dst = append(dst, byte(acc))
		acc >>= 8
	}
	return dst
}

// lowMask returns a mask of the low w bits, 0 <= w <= 64.
func lowMask(w int) uint64 {
	if w >= 64 {
		return ^uint64(0)
	}
	return 1<<w - 1
}

// load64 reads 8 little-endian bytes at off, padding with zeros past the
// end of src.
func load64(src []byte, off int) uint64 {
	if off+8 <= len(src) {
		return binary.LittleEndian.Uint64(src[off:])
	}
	var b [8]byte
	if off < len(src) {
		copy(b[:], src[off:])
	}
	return binary.LittleEndian.Uint64(b[:])
}

// unpack fills dst with len(dst) values of w bits from src, which must hold
// at least packedLen(len(dst), w) bytes.
func unpack(dst []uint64, src []byte, w int) {
	if w == 0 {
		clear(dst)
		return
	}
	mask := lowMask(w)
	i := 0
	if w <= 56 {
		// Fast path: one unaligned load per value while 8 bytes remain.
		safe := 0
		if len(src) >= 8 {
			safe = ((len(src)-8)*8)/w + 1
		}
		safe = min(safe, len(dst))
		for ; i < safe; i++ {
			pos := i * w
			dst[i] = binary.LittleEndian.Uint64(src[pos>>3:]) >> (pos & 7) & mask
		}
		for ; i < len(dst); i++ {
			pos := i * w
			dst[i] = load64(src, pos>>3) >> (pos & 7) & mask
		}
		return
	}
	for ; i < len(dst); i++ {
		pos := i * w
		off, sh := pos>>3, pos&7
		v := load64(src, off) >> sh
		if sh != 0 {
			v |= load64(src, off+8) << (64 - sh)
		}
		dst[i] = v & mask
	}
}

// reader walks an encoded block; every read checks bounds and records the
// first error so callers can check once.
type reader struct {
	src []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = corruptf("truncated or invalid %s", what)
	}
	r.src = nil
}

func (r *reader) byte(what string) byte {
	if len(r.src) == 0 {
		r.fail(what)
		return 0
	}
	b := r.src[0]
	r.src = r.src[1:]
	return b
}

func (r *reader) uvarint(what string) uint64 {
	v, n := binary.Uvarint(r.src)
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.src = r.src[n:]
	return v
}

// varint reads a zig-zag encoded signed value as its raw bits.
func (r *reader) varint(what string) uint64 { return unzigzag(r.uvarint(what)) }

// count reads a uvarint that must not exceed limit.
func (r *reader) count(what string, limit int) int {
	v := r.uvarint(what)
	if v > uint64(limit) {
		r.fail(what)
		return 0
	}
	return int(v)
}

func (r *reader) bytes(n int, what string) []byte {
	if n < 0 || n > len(r.src) {
		r.fail(what)
		return nil
	}
	b := r.src[:n:n]
	r.src = r.src[n:]
	return b
}

// appendVarint appends the zig-zag varint of the signed value with bits v.
func appendVarint(dst []byte, v uint64) []byte {
	return binary.AppendUvarint(dst, zigzag(v))
}
