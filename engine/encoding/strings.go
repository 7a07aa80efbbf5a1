package encoding

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// String layouts. The body after the codec byte is either stored as is or,
// with codecZstdFlag set in the codec byte, as
//
//	uvarint raw length, uvarint frame length, one zstd frame of the body.
//
// Bodies:
//
//	codec 0x07 (plain): uvarint n, n uvarint lengths, the n strings' bytes.
//	codec 0x08 (dict):  uvarint n, uvarint d (distinct values, in order of
//	                    first appearance), d uvarint lengths, their bytes,
//	                    then the integer body of the n indexes into the
//	                    dictionary.
//
// The encoder writes the plain and, when values repeat, the dictionary body,
// tries zstd on the smaller, and keeps the smallest of the three.

// minZstdBody is the body size below which zstd's frame overhead outweighs
// anything it could save.
const minZstdBody = 64

// AppendStrings appends the encoding of vals to dst.
func (e *Encoder) AppendStrings(dst []byte, vals [][]byte) ([]byte, error) {
	if len(vals) > MaxBlockSamples {
		return dst, fmt.Errorf("encode %d strings: %w", len(vals), ErrBlockTooLarge)
	}
	plain := appendPlainBody(e.plain[:0], vals)
	e.plain = plain
	if len(plain) > MaxStringBlockBytes {
		return dst, fmt.Errorf("encode strings of %d bytes: %w", len(plain), ErrBlockTooLarge)
	}
	codec, body := byte(codecStrPlain), plain
	if dict, ok := e.appendDictBody(e.cand2[:0], vals); ok {
		e.cand2 = dict
		if len(dict) < len(plain) {
			codec, body = codecStrDict, dict
		}
	}
	if len(body) >= minZstdBody {
		if e.zstd == nil {
			z, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return dst, fmt.Errorf("encode strings: %w", err)
			}
			e.zstd = z
		}
		e.huffBuf = e.zstd.EncodeAll(body, e.huffBuf[:0])
		frame := e.huffBuf
		if n := uvarintLen(uint64(len(body))) + uvarintLen(uint64(len(frame))) + len(frame); n < len(body) {
			dst = append(dst, codec|codecZstdFlag)
			dst = appendUvarint(dst, uint64(len(body)))
			dst = appendUvarint(dst, uint64(len(frame)))
			return append(dst, frame...), nil
		}
	}
	dst = append(dst, codec)
	return append(dst, body...), nil
}

func appendPlainBody(dst []byte, vals [][]byte) []byte {
	dst = appendUvarint(dst, uint64(len(vals)))
	for _, v := range vals {
		dst = appendUvarint(dst, uint64(len(v)))
	}
	for _, v := range vals {
		dst = append(dst, v...)
	}
	return dst
}

// appendDictBody appends the dictionary body, or reports false if no value
// repeats (the plain body is then smaller).
func (e *Encoder) appendDictBody(dst []byte, vals [][]byte) ([]byte, bool) {
	if e.dict == nil {
		e.dict = make(map[string]int)
	}
	clear(e.dict)
	e.ints = grow(e.ints, len(vals))[:len(vals)]
	e.res = grow(e.res, len(vals))[:0] // first index of each distinct value
	for i, v := range vals {
		idx, ok := e.dict[string(v)]
		if !ok {
			idx = len(e.dict)
			e.dict[string(v)] = idx
			e.res = append(e.res, uint64(i))
		}
		e.ints[i] = uint64(idx)
	}
	if len(e.dict) == len(vals) {
		return dst, false
	}
	dst = appendUvarint(dst, uint64(len(vals)))
	dst = appendUvarint(dst, uint64(len(e.dict)))
	for _, i := range e.res {
		dst = appendUvarint(dst, uint64(len(vals[i])))
	}
	for _, i := range e.res {
		dst = append(dst, vals[i]...)
	}
	// appendInts reuses e.res, which is no longer needed.
	return e.appendInts(dst, e.ints), true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// DecodeStrings decodes a string block from src, appends the strings to
// dst, and returns the extended slice and the rest of src. The returned
// strings alias src or the Decoder's buffer: they are valid until the next
// DecodeStrings call on d, and must not be modified. Repeated values of a
// dictionary block share their bytes.
func (d *Decoder) DecodeStrings(dst [][]byte, src []byte) ([][]byte, []byte, error) {
	r := reader{src: src}
	c := r.byte("codec")
	body := &r
	var inner reader
	if c&codecZstdFlag != 0 {
		raw := r.count("raw length", MaxStringBlockBytes)
		frame := r.bytes(r.count("frame length", len(r.src)), "zstd frame")
		if r.err != nil {
			return dst, src, wrap("strings", r.err)
		}
		b, err := d.unzstd(frame, raw)
		if err != nil {
			return dst, src, wrap("strings", err)
		}
		inner = reader{src: b}
		body = &inner
	}
	start := len(dst)
	switch c &^ codecZstdFlag {
	case codecStrPlain:
		dst = d.decodePlain(dst, body)
	case codecStrDict:
		dst = d.decodeDict(dst, body)
	default:
		body.fail(fmt.Sprintf("codec byte %#x", c))
	}
	if body.err == nil && body != &r && len(inner.src) != 0 {
		body.fail("zstd body length")
	}
	if body.err != nil {
		clear(dst[start:])
		return dst[:start], src, wrap("strings", body.err)
	}
	return dst, r.src, nil
}

func (d *Decoder) unzstd(frame []byte, raw int) ([]byte, error) {
	if d.zstd == nil {
		z, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxStringBlockBytes), zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, err
		}
		d.zstd = z
	}
	d.strBuf = grow(d.strBuf[:0], raw)
	b, err := d.zstd.DecodeAll(frame, d.strBuf[:0:raw])
	if err != nil {
		return nil, corruptf("zstd: %v", err)
	}
	if len(b) != raw {
		return nil, corruptf("zstd body is %d bytes, want %d", len(b), raw)
	}
	d.strBuf = b
	return b, nil
}

// decodeLens reads n uvarint lengths into ints and returns their sum.
func (d *Decoder) decodeLens(n int, r *reader) int {
	d.ints = grow(d.ints, n)[:n]
	total := 0
	for i := range n {
		l := r.count("string length", len(r.src))
		total += l
		if r.err != nil || total > len(r.src) {
			r.fail("string lengths")
			return 0
		}
		d.ints[i] = uint64(l)
	}
	return total
}

func (d *Decoder) decodePlain(dst [][]byte, r *reader) [][]byte {
	n := r.count("sample count", MaxBlockSamples)
	if r.err != nil {
		return dst
	}
	data := r.bytes(d.decodeLens(n, r), "string bytes")
	if r.err != nil {
		return dst
	}
	for _, l := range d.ints[:n] {
		dst = append(dst, data[:l:l])
		data = data[l:]
	}
	return dst
}

func (d *Decoder) decodeDict(dst [][]byte, r *reader) [][]byte {
	n := r.count("sample count", MaxBlockSamples)
	nd := r.count("dictionary size", n)
	if r.err != nil {
		return dst
	}
	if n > 0 && nd == 0 {
		r.fail("dictionary size")
		return dst
	}
	data := r.bytes(d.decodeLens(nd, r), "dictionary bytes")
	if r.err != nil {
		return dst
	}
	// Turn lengths into end offsets, then decode the indexes after them.
	end := 0
	for i := range nd {
		end += int(d.ints[i])
		d.ints[i] = uint64(end)
	}
	d.ints = grow(d.ints, nd+n)[:nd+n]
	idx := d.ints[nd:]
	d.decodeInts(idx, r)
	if r.err != nil {
		return dst
	}
	for _, x := range idx {
		if x >= uint64(nd) {
			r.fail("dictionary index")
			return dst
		}
		s := 0
		if x > 0 {
			s = int(d.ints[x-1])
		}
		e := int(d.ints[x])
		dst = append(dst, data[s:e:e])
	}
	return dst
}
