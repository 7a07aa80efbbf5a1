package remote

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// fieldReader walks the fields of one protobuf message without allocating.
// After next returns true, num and typ name the field and bytes (length-
// delimited fields) or u64 (varint, fixed32, fixed64) hold its value; groups
// are skipped. After next returns false, err tells a clean end from a
// malformed message.
type fieldReader struct {
	buf   []byte
	num   protowire.Number
	typ   protowire.Type
	bytes []byte
	u64   uint64
	err   error
}

func (r *fieldReader) reset(msg []byte) { *r = fieldReader{buf: msg} }

func (r *fieldReader) next() bool {
	if len(r.buf) == 0 || r.err != nil {
		return false
	}
	num, typ, n := protowire.ConsumeTag(r.buf)
	if n < 0 {
		r.err = protowire.ParseError(n)
		return false
	}
	r.num, r.typ, r.buf = num, typ, r.buf[n:]
	switch typ {
	case protowire.VarintType:
		r.u64, n = protowire.ConsumeVarint(r.buf)
	case protowire.Fixed64Type:
		r.u64, n = protowire.ConsumeFixed64(r.buf)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(r.buf)
		r.u64 = uint64(v)
	case protowire.BytesType:
		r.bytes, n = protowire.ConsumeBytes(r.buf)
	default:
		n = protowire.ConsumeFieldValue(num, typ, r.buf)
	}
	if n < 0 {
		r.err = protowire.ParseError(n)
		return false
	}
	r.buf = r.buf[n:]
	return true
}

// want checks that the current field has the wire type its schema gives.
func (r *fieldReader) want(t protowire.Type, msg string) error {
	if r.typ != t {
		return fmt.Errorf("%w: %s field %d has wire type %d, want %d", ErrBadProtobuf, msg, r.num, r.typ, t)
	}
	return nil
}

// done returns the error that ended the walk, naming the message.
func (r *fieldReader) done(msg string) error {
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadProtobuf, msg, r.err)
	}
	return nil
}

// sampleFields reads a Sample message (1.0 and 2.0 share value = 1 double,
// timestamp = 2 int64).
func sampleFields(msg []byte) (v float64, tMs int64, err error) {
	var r fieldReader
	r.reset(msg)
	var bits uint64
	for r.next() {
		switch r.num {
		case 1:
			if err := r.want(protowire.Fixed64Type, "Sample"); err != nil {
				return 0, 0, err
			}
			bits = r.u64
		case 2:
			if err := r.want(protowire.VarintType, "Sample"); err != nil {
				return 0, 0, err
			}
			tMs = int64(r.u64)
		}
	}
	return float64frombits(bits), tMs, r.done("Sample")
}
