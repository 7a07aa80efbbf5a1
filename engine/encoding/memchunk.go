package encoding

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// Memtable chunk: the in-memory form of a run of samples of one series (the
// memtable seals a series' older samples into these). Byte-aligned, so that
// both directions are a few nanoseconds a sample: the write path pays the
// encoding and every read of recent data the decoding. The sample count and
// the value kind (float or integer) are kept by the caller.
//
//	t_0: zigzag varint; v_0: 8 bytes, little-endian
//	then per sample:
//	  zigzag varint of the delta of deltas of the timestamps (the first
//	  delta is its own)
//	  integer kinds (int, uint, bool): zigzag varint of v_i - v_(i-1)
//	  floats: x = v_i ^ v_(i-1) (bits); one byte 0 if x == 0, else
//	    lz<<4 | n (lz leading zero bytes, n = 1..8 bytes kept) and the n
//	    bytes of x from its first non-zero byte, most significant first
//
// Arithmetic wraps, so any int64 timestamps and any raw values round-trip.
// A regular series costs a byte a timestamp; TSBS-shaped integers about
// two bytes a sample in all (TestMemChunkSize), against 16 raw.

// AppendMemChunk appends the memtable chunk of ts and vals (same length, at
// least one sample) to dst; float selects the float value form.
func AppendMemChunk(dst []byte, float bool, ts []int64, vals []uint64) []byte {
	dst = binary.AppendVarint(dst, ts[0])
	dst = binary.LittleEndian.AppendUint64(dst, vals[0])
	prevT, prevD, prevV := ts[0], int64(0), vals[0]
	for i := 1; i < len(ts); i++ {
		d := ts[i] - prevT
		dst = appendZigzag(dst, uint64(d-prevD))
		prevT, prevD = ts[i], d
		v := vals[i]
		if !float {
			dst = appendZigzag(dst, v-prevV)
			prevV = v
			continue
		}
		x := v ^ prevV
		prevV = v
		if x == 0 {
			dst = append(dst, 0)
			continue
		}
		lz, tz := bits.LeadingZeros64(x)/8, bits.TrailingZeros64(x)/8
		n := 8 - lz - tz
		dst = append(dst, byte(lz<<4|n))
		for k := n - 1; k >= 0; k-- {
			dst = append(dst, byte(x>>(8*(tz+k))))
		}
	}
	return dst
}

// appendZigzag appends the zigzag varint of v (two's complement bits).
func appendZigzag(dst []byte, v uint64) []byte {
	u := zigzag(v)
	if u < 0x80 {
		return append(dst, byte(u))
	}
	return binary.AppendUvarint(dst, u)
}

// DecodeMemChunk appends the n samples of the memtable chunk src to ts and
// vals; float must be what the chunk was encoded with.
func DecodeMemChunk(ts []int64, vals []uint64, src []byte, n int, float bool) ([]int64, []uint64, error) {
	if n <= 0 {
		return ts, vals, nil
	}
	t, k := binary.Varint(src)
	if k <= 0 || len(src)-k < 8 {
		return ts, vals, corruptf("memtable chunk: header")
	}
	v := binary.LittleEndian.Uint64(src[k:])
	p := k + 8
	bt, bv := len(ts), len(vals)
	ts, vals = slices.Grow(ts, n)[:bt+n], slices.Grow(vals, n)[:bv+n]
	ots, ovals := ts[bt:], vals[bv:]
	ots[0], ovals[0] = t, v
	var d int64
	for i := 1; i < n; i++ {
		// Timestamp: the delta of deltas, mostly one byte.
		var u uint64
		if p < len(src) && src[p] < 0x80 {
			u = uint64(src[p])
			p++
		} else {
			var m int
			if u, m = uvarintAt(src, p); m <= 0 {
				return ts[:bt+i], vals[:bv+i], corruptf("memtable chunk: timestamp %d of %d", i, n)
			}
			p += m
		}
		d += int64(unzigzag(u))
		t += d
		ots[i] = t
		if !float {
			if p < len(src) && src[p] < 0x80 {
				u = uint64(src[p])
				p++
			} else {
				var m int
				if u, m = uvarintAt(src, p); m <= 0 {
					return ts[:bt+i], vals[:bv+i], corruptf("memtable chunk: value %d of %d", i, n)
				}
				p += m
			}
			v += unzigzag(u)
			ovals[i] = v
			continue
		}
		if p >= len(src) {
			return ts[:bt+i], vals[:bv+i], corruptf("memtable chunk: value %d of %d", i, n)
		}
		c := src[p]
		p++
		if c != 0 {
			lz, nb := int(c>>4), int(c&15)
			if nb == 0 || lz+nb > 8 || len(src)-p < nb {
				return ts[:bt+i], vals[:bv+i], corruptf("memtable chunk: value %d of %d: control byte %#x", i, n, c)
			}
			var y uint64
			if len(src)-p >= 8 {
				y = binary.BigEndian.Uint64(src[p:]) >> (64 - 8*nb)
			} else {
				for _, b := range src[p : p+nb] {
					y = y<<8 | uint64(b)
				}
			}
			p += nb
			v ^= y << (8 * (8 - lz - nb))
		}
		ovals[i] = v
	}
	return ts, vals, nil
}

// uvarintAt reads the uvarint at src[p:]; m <= 0 means none.
func uvarintAt(src []byte, p int) (u uint64, m int) {
	if p >= len(src) {
		return 0, 0
	}
	return binary.Uvarint(src[p:])
}
