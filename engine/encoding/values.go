package encoding

import (
	"fmt"

	"github.com/lightningdb/lightningdb/series"
)

// Integer layout (codec 0x02, for TypeInt and TypeUint):
//
//	codec byte 0x02, uvarint n, integer body of the n values.

// AppendValues appends the encoding of vals, raw values of type typ (see
// series.FloatBits), to dst. TypeString is not handled here: use
// AppendStrings. For TypeBool any non-zero value encodes as 1.
func (e *Encoder) AppendValues(dst []byte, typ series.ValueType, vals []uint64) ([]byte, error) {
	if len(vals) > MaxBlockSamples {
		return dst, fmt.Errorf("encode %d %s values: %w", len(vals), typ, ErrBlockTooLarge)
	}
	switch typ {
	case series.TypeInt, series.TypeUint:
		dst = append(dst, codecInt)
		dst = appendUvarint(dst, uint64(len(vals)))
		return e.appendInts(dst, vals), nil
	case series.TypeFloat:
		return e.appendFloats(dst, vals), nil
	case series.TypeBool:
		return appendBools(dst, vals), nil
	}
	return dst, fmt.Errorf("encode %s values: %w", typ, ErrUnsupportedType)
}

// DecodeValues decodes a value block of type typ from src, appends the raw
// values to dst, and returns the extended slice and the rest of src. It does
// not allocate when dst has room.
func (d *Decoder) DecodeValues(dst []uint64, typ series.ValueType, src []byte) ([]uint64, []byte, error) {
	r := reader{src: src}
	c := r.byte("codec")
	ok := false
	switch typ {
	case series.TypeInt, series.TypeUint:
		ok = c == codecInt
	case series.TypeFloat:
		ok = c == codecDecimal || c == codecGorilla
	case series.TypeBool:
		ok = c == codecBoolBits || c == codecBoolRuns
	default:
		return dst, src, fmt.Errorf("decode %s values: %w", typ, ErrUnsupportedType)
	}
	if !ok {
		return dst, src, wrap(typ.String()+" values", corruptf("codec byte %#x", c))
	}
	n := r.count("sample count", MaxBlockSamples)
	if r.err != nil {
		return dst, src, wrap(typ.String()+" values", r.err)
	}
	start := len(dst)
	dst = growLen(dst, n)
	out := dst[start:]
	switch c {
	case codecInt:
		d.decodeInts(out, &r)
	case codecDecimal:
		d.decodeDecimal(out, &r)
	case codecGorilla:
		decodeGorilla(out, &r)
	case codecBoolBits:
		decodeBoolBits(out, &r)
	case codecBoolRuns:
		decodeBoolRuns(out, &r)
	}
	if r.err != nil {
		return dst[:start], src, wrap(typ.String()+" values", r.err)
	}
	return dst, r.src, nil
}
