package encoding

import (
	"encoding/binary"
	"math/bits"
)

// XOR chunk: the in-memory form of a run of samples (the memtable seals a
// series' older samples into these). One bit stream, most significant bit
// first, the last byte zero-padded; the sample count is kept by the caller.
//
//	t_0, v_0: 64 bits each
//	t_i: dod = (t_i - t_(i-1)) - (t_(i-1) - t_(i-2)), t_(-1) = t_0
//	     '0'                 dod == 0
//	     '10'   + 14 bits    two's complement, |dod| < 2^13
//	     '110'  + 24 bits    |dod| < 2^23
//	     '1110' + 36 bits    |dod| < 2^35 (34 s in nanoseconds)
//	     '1111' + 64 bits
//	v_i: Gorilla XOR of the raw 64-bit value, as in appendGorilla
//
// Arithmetic wraps, so any int64 timestamps round-trip. It trades the block
// codec's ratio (timestamps.go, ints.go, floats.go) for speed: encoding is
// a few nanoseconds a sample, cheap enough for the write path, and a
// regular series costs about a bit a timestamp.

// AppendXORChunk appends the XOR chunk of ts and vals (same length, at least
// one sample) to dst.
func AppendXORChunk(dst []byte, ts []int64, vals []uint64) []byte {
	w := bitWriter{buf: dst}
	w.write(uint64(ts[0]), 64)
	w.write(vals[0], 64)
	prevT, prevD := ts[0], int64(0)
	prevV := vals[0]
	lead, trail := 0, 0
	for i := 1; i < len(ts); i++ {
		d := ts[i] - prevT
		dod := d - prevD
		prevT, prevD = ts[i], d
		switch {
		case dod == 0:
			w.write(0, 1)
		case fitsSigned(dod, 14):
			w.write(0b10, 2)
			w.write(uint64(dod), 14)
		case fitsSigned(dod, 24):
			w.write(0b110, 3)
			w.write(uint64(dod), 24)
		case fitsSigned(dod, 36):
			w.write(0b1110, 4)
			w.write(uint64(dod), 36)
		default:
			w.write(0b1111, 4)
			w.write(uint64(dod), 64)
		}

		x := vals[i] ^ prevV
		prevV = vals[i]
		if x == 0 {
			w.write(0, 1)
			continue
		}
		l, t := min(bits.LeadingZeros64(x), 31), bits.TrailingZeros64(x)
		sig := 64 - l - t
		if l >= lead && t >= trail && 64-lead-trail <= 11+sig {
			w.write(0b10, 2)
			w.write(x>>trail, 64-lead-trail)
			continue
		}
		w.write(0b11, 2)
		w.write(uint64(l), 5)
		w.write(uint64(sig&63), 6)
		w.write(x>>t, sig)
		lead, trail = l, t
	}
	return w.flush()
}

// fitsSigned reports whether v fits n bits in two's complement.
func fitsSigned(v int64, n int) bool {
	return v >= -(1<<(n-1)) && v < 1<<(n-1)
}

// signExtend reads the low n bits of u as a two's complement number.
func signExtend(u uint64, n int) int64 {
	return int64(u<<(64-n)) >> (64 - n)
}

// DecodeXORChunk appends the n samples of the XOR chunk src to ts and vals.
func DecodeXORChunk(ts []int64, vals []uint64, src []byte, n int) ([]int64, []uint64, error) {
	if n <= 0 {
		return ts, vals, nil
	}
	br := wordReader{src: src}
	t := int64(br.read(64))
	v := br.read(64)
	ts, vals = append(ts, t), append(vals, v)
	var d int64
	lead, trail := 0, 0
	for i := 1; i < n && !br.bad; i++ {
		var dod int64
		if br.read(1) == 1 {
			switch {
			case br.read(1) == 0:
				dod = signExtend(br.read(14), 14)
			case br.read(1) == 0:
				dod = signExtend(br.read(24), 24)
			case br.read(1) == 0:
				dod = signExtend(br.read(36), 36)
			default:
				dod = int64(br.read(64))
			}
		}
		d += dod
		t += d
		if br.read(1) == 1 {
			if br.read(1) == 1 {
				lead = int(br.read(5))
				sig := int(br.read(6))
				if sig == 0 {
					sig = 64
				}
				if lead+sig > 64 {
					br.bad = true
					break
				}
				trail = 64 - lead - sig
			}
			v ^= br.read(64-lead-trail) << trail
		}
		ts, vals = append(ts, t), append(vals, v)
	}
	if br.bad {
		return ts, vals, corruptf("xor chunk: stream ends before sample %d of %d", len(ts), n)
	}
	return ts, vals, nil
}

// wordReader reads bits most significant first, refilling 64 bits at a
// time. Unlike bitReader it does not leave src at the end of what it read:
// an XOR chunk is a buffer of its own.
type wordReader struct {
	src []byte
	acc uint64 // the low n bits are unread
	n   int
	bad bool
}

// read returns the next nbits (1..64); past the end it sets bad.
func (r *wordReader) read(nbits int) uint64 {
	if nbits <= r.n {
		r.n -= nbits
		return r.acc >> r.n & (1<<nbits - 1)
	}
	need := nbits - r.n
	hi := r.acc & (1<<r.n - 1)
	var w uint64
	avail := 64
	if len(r.src) >= 8 {
		w = binary.BigEndian.Uint64(r.src)
		r.src = r.src[8:]
	} else {
		avail = 8 * len(r.src)
		if avail < need {
			r.bad = true
			return 0
		}
		for _, b := range r.src {
			w = w<<8 | uint64(b)
		}
		r.src = nil
	}
	r.acc, r.n = w, avail-need
	// need is 1..64: a shift by 64 gives 0, as an empty hi needs.
	return hi<<need | w>>r.n&(1<<need-1)
}
