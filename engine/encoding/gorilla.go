package encoding

import (
	"encoding/binary"
	"math/bits"
)

// Gorilla XOR stream (Pelkonen et al., VLDB 2015, as in Prometheus
// chunkenc), bits most significant first, the last byte zero-padded:
//
//	v_0: 64 bits
//	v_i: xor = v_i ^ v_(i-1)
//	     '0'                          xor == 0
//	     '1' '0' <window bits>        xor fits the previous window
//	     '1' '1' <5 bits leading> <6 bits sigbits, 0 means 64> <sigbits bits>
//
// The window starts as all 64 bits. The encoder reuses the window only when
// that is not longer than opening a new one.

// bitWriter appends bits most significant first. Whole 64-bit words go
// out at once.
type bitWriter struct {
	buf []byte
	acc uint64 // pending bits, the low n valid
	n   int    // < 64 between calls
}

// write appends the low nbits (0..64) of v.
func (w *bitWriter) write(v uint64, nbits int) {
	if nbits < 64 {
		v &= 1<<nbits - 1
	}
	free := 64 - w.n
	if nbits < free {
		w.acc = w.acc<<nbits | v
		w.n += nbits
		return
	}
	rest := nbits - free
	// free is 1..64; a shift by 64 gives 0, as the empty acc needs.
	w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc<<free|v>>rest)
	w.acc = v & (1<<rest - 1)
	w.n = rest
}

// flush writes the pending bits, the last byte zero-padded, and returns
// the buffer.
func (w *bitWriter) flush() []byte {
	for w.n >= 8 {
		w.n -= 8
		w.buf = append(w.buf, byte(w.acc>>w.n))
	}
	if w.n > 0 {
		w.buf = append(w.buf, byte(w.acc<<(8-w.n)))
		w.n = 0
	}
	w.acc = 0
	return w.buf
}

func appendGorilla(dst []byte, vals []uint64) []byte {
	if len(vals) == 0 {
		return dst
	}
	w := bitWriter{buf: dst}
	w.write(vals[0], 64)
	lead, trail := 0, 0
	for i := 1; i < len(vals); i++ {
		x := vals[i] ^ vals[i-1]
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

// bitReader reads bits most significant first, refilling 64 bits at a
// time; rest gives what follows the bits read, from the next whole byte.
type bitReader struct {
	src []byte // not yet loaded
	all int    // len of src at the start
	acc uint64 // the low n bits are unread
	n   int
	bad bool
}

func newBitReader(src []byte) bitReader { return bitReader{src: src, all: len(src)} }

// read returns the next nbits (1..64); past the end it sets bad.
func (r *bitReader) read(nbits int) uint64 {
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
		r.src = r.src[len(r.src):]
	}
	r.acc, r.n = w, avail-need
	// need is 1..64: a shift by 64 gives 0, as an empty hi needs.
	return hi<<need | w>>r.n&(1<<need-1)
}

// rest returns the input after the last byte read from (a byte partly read
// counts as read: the stream's last byte is zero-padded).
func (r *bitReader) rest(orig []byte) []byte {
	loaded := r.all - len(r.src)
	return orig[loaded-r.n/8:]
}

func decodeGorilla(dst []uint64, r *reader) {
	if len(dst) == 0 {
		return
	}
	br := newBitReader(r.src)
	v := br.read(64)
	dst[0] = v
	lead, trail := 0, 0
	for i := 1; i < len(dst) && !br.bad; i++ {
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
		dst[i] = v
	}
	if br.bad {
		r.fail("gorilla stream")
		return
	}
	r.src = br.rest(r.src)
}
