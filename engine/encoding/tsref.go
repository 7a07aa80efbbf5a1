package encoding

import "encoding/binary"

// Timestamps reference layout (codec 0x09):
//
//	codec byte 0x09
//	uvarint back    how far before this block the referenced block starts
//	uvarint length  the length of the referenced timestamps stream
//	crc (4)         a checksum of that stream, little endian
//
// A block whose timestamps equal those of an earlier block of the same
// container (the fields of one line-protocol line, say) stores this
// reference instead of encoding them again. What back and length count is
// the container's business (the engine uses byte offsets of blocks within a
// segment and a CRC32C of the referenced stream); this package only writes
// and reads the numbers. DecodeTimestamps refuses a reference, so a
// referenced stream is never itself a reference.

// TimesRef is a decoded timestamps reference. The sample count is not
// part of it: the container knows it (the engine's index does) and checks
// the referenced stream against it.
type TimesRef struct {
	Back   uint64 // distance from this block back to the referenced one
	Length uint64 // length of the referenced timestamps stream
	CRC    uint32 // checksum of the referenced timestamps stream
}

// AppendTimesRef appends a timestamps stream that refers to another
// block's timestamps.
func AppendTimesRef(dst []byte, ref TimesRef) []byte {
	dst = append(dst, codecTimesRef)
	dst = appendUvarint(dst, ref.Back)
	dst = appendUvarint(dst, ref.Length)
	return binary.LittleEndian.AppendUint32(dst, ref.CRC)
}

// IsTimesRef reports whether src begins with a timestamps reference.
func IsTimesRef(src []byte) bool { return len(src) > 0 && src[0] == codecTimesRef }

// DecodeTimesRef decodes a timestamps reference from src and returns it and
// the rest of src. Back and Length are returned as stored; the caller checks
// them against its container.
func DecodeTimesRef(src []byte) (TimesRef, []byte, error) {
	r := reader{src: src}
	if c := r.byte("codec"); c != codecTimesRef {
		return TimesRef{}, src, corruptf("timestamps reference: codec byte %#x", c)
	}
	var ref TimesRef
	ref.Back = r.uvarint("back")
	ref.Length = r.uvarint("length")
	if crc := r.bytes(4, "checksum"); crc != nil {
		ref.CRC = binary.LittleEndian.Uint32(crc)
	}
	if r.err != nil {
		return TimesRef{}, src, wrap("timestamps reference", r.err)
	}
	return ref, r.src, nil
}
