package encoding

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/klauspost/compress/huff0"
)

// Residual packers. A residual stream holds m unsigned values; m is known
// from the enclosing body.
//
//	packerZero: nothing; every residual is 0.
//	packerPFOR: w byte (0..64), uvarint e, packedLen(m, w) bytes of the low w
//	            bits of every residual (little-endian bit stream), then e
//	            patches: uvarint index gap (first: the index), uvarint high
//	            bits (residual >> w, non-zero).
//	packerHuff1X, packerHuff4X: uvarint e; if e > 0, uvarint len and len
//	            bytes of e uvarint exceptions (residual - 255); then uvarint
//	            len and a huff0 1X/4X block (table + streams) of the m byte
//	            symbols min(residual, 255).
const (
	packerZero   = 0
	packerPFOR   = 1
	packerHuff1X = 2
	packerHuff4X = 3
)

const (
	minHuffResiduals = 32   // below this, the huff0 table costs more than it saves
	minHuff4X        = 1024 // from here on, 4 streams decode ~2x faster; below, their 6-byte jump table and padding cost ~1% of size
	huffEscape       = 255
)

// appendResiduals appends the smallest packing of res and returns its kind.
func (e *Encoder) appendResiduals(dst []byte, res []uint64) ([]byte, byte) {
	var hist [65]int
	for _, v := range res {
		hist[bitLen(v)]++
	}
	if hist[0] == len(res) {
		return dst, packerZero
	}
	start := len(dst)
	dst = appendPFOR(dst, res, pforWidth(&hist, len(res)))
	if e.Fast || len(res) < minHuffResiduals || len(res) > huff0.BlockSizeMax {
		return dst, packerPFOR
	}
	big := 0
	for w := 9; w <= 64; w++ {
		big += hist[w]
	}
	if big > len(res)/4 {
		return dst, packerPFOR
	}
	var kind byte
	e.huffBuf, kind = e.appendHuff(e.huffBuf[:0], res)
	if kind != 0 && len(e.huffBuf) < len(dst)-start {
		return append(dst[:start], e.huffBuf...), kind
	}
	return dst, packerPFOR
}

// pforWidth returns the bit width that minimizes the estimated size of a
// patched frame: every value costs w bits, and each value wider than w
// costs a patch of about one byte of index and its high bits as a varint.
func pforWidth(hist *[65]int, m int) int {
	best, bestCost := 64, 64*m
	for w := 0; w < 64; w++ {
		cost := w * m
		for l := w + 1; l <= 64; l++ {
			cost += hist[l] * (8 + 8*((l-w+6)/7))
		}
		if cost < bestCost {
			best, bestCost = w, cost
		}
	}
	return best
}

func appendPFOR(dst []byte, res []uint64, w int) []byte {
	dst = append(dst, byte(w))
	e := 0
	if w < 64 {
		for _, v := range res {
			if v>>w != 0 {
				e++
			}
		}
	}
	dst = appendUvarint(dst, uint64(e))
	dst = appendPacked(dst, res, w)
	if e == 0 {
		return dst
	}
	last := 0
	for i, v := range res {
		if v>>w != 0 {
			dst = appendUvarint(dst, uint64(i-last))
			dst = appendUvarint(dst, v>>w)
			last = i
		}
	}
	return dst
}

// appendHuff appends res as a Huffman-coded byte stream with escapes, or
// returns kind 0 if huff0 declines (one symbol only, or incompressible).
func (e *Encoder) appendHuff(dst []byte, res []uint64) ([]byte, byte) {
	e.sym = grow(e.sym, len(res))[:len(res)]
	e.exc = e.exc[:0]
	nexc := 0
	for i, v := range res {
		if v >= huffEscape {
			e.sym[i] = huffEscape
			e.exc = appendUvarint(e.exc, v-huffEscape)
			nexc++
		} else {
			e.sym[i] = byte(v)
		}
	}
	if e.huff == nil {
		e.huff = &huff0.Scratch{Reuse: huff0.ReusePolicyNone}
	}
	kind := byte(packerHuff1X)
	compress := huff0.Compress1X
	if len(res) >= minHuff4X {
		kind, compress = packerHuff4X, huff0.Compress4X
	}
	out, _, err := compress(e.sym, e.huff)
	if err != nil {
		return dst, 0
	}
	dst = appendUvarint(dst, uint64(nexc))
	if nexc > 0 {
		dst = appendUvarint(dst, uint64(len(e.exc)))
		dst = append(dst, e.exc...)
	}
	dst = appendUvarint(dst, uint64(len(out)))
	return append(dst, out...), kind
}

// unpackResiduals fills dst with residuals packed by kind.
func (d *Decoder) unpackResiduals(dst []uint64, kind byte, r *reader) {
	switch kind {
	case packerZero:
		clear(dst)
	case packerPFOR:
		d.unpackPFOR(dst, r)
	case packerHuff1X, packerHuff4X:
		d.unpackHuff(dst, kind, r)
	default:
		r.fail("residual packer")
	}
}

func (d *Decoder) unpackPFOR(dst []uint64, r *reader) {
	w := int(r.byte("bit width"))
	e := r.count("patch count", len(dst))
	packed := r.bytes(packedLen(len(dst), w), "packed residuals")
	if r.err != nil || w > 64 || w == 64 && e > 0 {
		r.fail("packed residuals")
		return
	}
	unpack(dst, packed, w)
	idx := 0
	for k := range e {
		gap := r.uvarint("patch index")
		hi := r.uvarint("patch value")
		if gap >= uint64(len(dst)-idx) || k > 0 && gap == 0 || hi == 0 || hi>>(64-w) != 0 {
			r.fail("patch")
			return
		}
		idx += int(gap)
		dst[idx] |= hi << w
	}
}

// unpackHuff fills dst with Huffman-packed residuals.
func (d *Decoder) unpackHuff(dst []uint64, kind byte, r *reader) {
	nexc := r.count("exception count", len(dst))
	var exc []byte
	if nexc > 0 {
		exc = r.bytes(r.count("exception bytes", len(r.src)), "exceptions")
	}
	block := r.bytes(r.count("huffman length", len(r.src)), "huffman block")
	if r.err != nil {
		return
	}
	sym, err := d.huffDecode(block, kind, len(dst))
	if err != nil {
		r.err = corruptf("huffman residuals: %v", err)
		return
	}
	if nexc == 0 {
		for i, s := range sym {
			dst[i] = uint64(s)
		}
		return
	}
	for i, s := range sym {
		v := uint64(s)
		if s == huffEscape {
			x, n := binary.Uvarint(exc)
			if n <= 0 || nexc == 0 {
				r.fail("exception")
				return
			}
			exc, nexc = exc[n:], nexc-1
			v += x
		}
		dst[i] = v
	}
	if nexc != 0 || len(exc) != 0 {
		r.fail("exceptions")
	}
}

// unpackHuffDelta decodes the Huffman-packed residuals of an order-1 body
// whose first value is in dst[0]. The common case, no exceptions, runs in
// one pass over the symbols (and with asFloat also converts the values to
// float64 bits, reporting that it did).
func (d *Decoder) unpackHuffDelta(dst []uint64, kind byte, asFloat bool, r *reader) bool {
	p := *r
	nexc := p.count("exception count", len(dst))
	if nexc > 0 {
		p.bytes(p.count("exception bytes", len(p.src)), "exceptions")
	}
	block := p.bytes(p.count("huffman length", len(p.src)), "huffman block")
	if p.err != nil || nexc != 0 {
		d.unpackHuff(dst[1:], kind, r)
		undelta(dst)
		return false
	}
	*r = p
	sym, err := d.huffDecode(block, kind, len(dst)-1)
	if err != nil {
		r.err = corruptf("huffman residuals: %v", err)
		return false
	}
	out := dst[1 : len(sym)+1]
	v := dst[0]
	if asFloat {
		dst[0] = math.Float64bits(float64(int64(v)))
		for i, s := range sym {
			v += unzigzag(uint64(s))
			out[i] = math.Float64bits(float64(int64(v)))
		}
		return true
	}
	for i, s := range sym {
		v += unzigzag(uint64(s))
		out[i] = v
	}
	return false
}

var errHuffLength = errors.New("decoded length mismatch")

// huffDecode decodes a huff0 block of exactly n symbols into d.sym.
func (d *Decoder) huffDecode(block []byte, kind byte, n int) ([]byte, error) {
	if d.huff == nil {
		d.huff = &huff0.Scratch{}
	}
	s, rest, err := huff0.ReadTable(block, d.huff)
	if err != nil {
		return nil, err
	}
	d.huff = s
	d.sym = grow(d.sym, n)
	var out []byte
	if kind == packerHuff4X {
		out, err = s.Decoder().Decompress4X(d.sym[:0:n], rest)
	} else {
		out, err = s.Decoder().Decompress1X(d.sym[:0:n], rest)
	}
	if err != nil {
		return nil, err
	}
	if len(out) != n {
		return nil, errHuffLength
	}
	return out, nil
}
