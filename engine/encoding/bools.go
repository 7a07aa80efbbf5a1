package encoding

// Boolean layouts:
//
//	codec 0x05: uvarint n, ceil(n/8) bytes, sample i in bit i%8 of byte i/8.
//	codec 0x06: uvarint n, byte first value (0 or 1), uvarint r, then r
//	            uvarint run lengths (each >= 1, summing to n); runs alternate.
//
// The encoder writes whichever is smaller, so a constant block costs a few
// bytes whatever its length.

func appendBools(dst []byte, vals []uint64) []byte {
	runs := 0
	for i := range vals {
		if i == 0 || (vals[i] != 0) != (vals[i-1] != 0) {
			runs++
		}
	}
	// A run costs at least one byte; bits cost n/8 bytes.
	if runs == 0 || runs*8 < len(vals) {
		return appendBoolRuns(dst, vals, runs)
	}
	dst = append(dst, codecBoolBits)
	dst = appendUvarint(dst, uint64(len(vals)))
	var b byte
	for i, v := range vals {
		if v != 0 {
			b |= 1 << (i & 7)
		}
		if i&7 == 7 {
			dst = append(dst, b)
			b = 0
		}
	}
	if len(vals)&7 != 0 {
		dst = append(dst, b)
	}
	return dst
}

func appendBoolRuns(dst []byte, vals []uint64, runs int) []byte {
	dst = append(dst, codecBoolRuns)
	dst = appendUvarint(dst, uint64(len(vals)))
	if len(vals) == 0 {
		return dst
	}
	dst = append(dst, byte(boolBit(vals[0])))
	dst = appendUvarint(dst, uint64(runs))
	run := 1
	for i := 1; i < len(vals); i++ {
		if (vals[i] != 0) == (vals[i-1] != 0) {
			run++
			continue
		}
		dst = appendUvarint(dst, uint64(run))
		run = 1
	}
	return appendUvarint(dst, uint64(run))
}

// boolBit normalizes a raw boolean value to 0 or 1, as the codecs store it.
func boolBit(v uint64) uint64 {
	if v != 0 {
		return 1
	}
	return 0
}

func decodeBoolBits(dst []uint64, r *reader) {
	b := r.bytes((len(dst)+7)/8, "boolean bits")
	if r.err != nil {
		return
	}
	for i := range dst {
		dst[i] = uint64(b[i>>3]>>(i&7)) & 1
	}
}

func decodeBoolRuns(dst []uint64, r *reader) {
	if len(dst) == 0 {
		return
	}
	v := uint64(r.byte("first boolean"))
	runs := r.count("run count", len(dst))
	if r.err != nil || v > 1 || runs == 0 {
		r.fail("boolean runs")
		return
	}
	pos := 0
	for range runs {
		l := r.count("run length", len(dst)-pos)
		if r.err != nil || l == 0 {
			r.fail("run length")
			return
		}
		for i := pos; i < pos+l; i++ {
			dst[i] = v
		}
		pos += l
		v ^= 1
	}
	if pos != len(dst) {
		r.fail("run lengths")
	}
}
