package encoding

import (
	"errors"
	"math"
	"testing"
)

func timesRefCases() []TimesRef {
	return []TimesRef{
		{},
		{Back: 1, Length: 1, CRC: 1},
		{Back: 1 << 20, Length: 300, CRC: 0xdeadbeef},
		{Back: math.MaxUint64, Length: math.MaxUint64, CRC: math.MaxUint32},
	}
}

// TestTimesRefRoundTrip: a reference decodes to what was written, leaves
// what follows it, and is refused by DecodeTimestamps (a referenced stream
// is never itself a reference).
func TestTimesRefRoundTrip(t *testing.T) {
	var d Decoder
	for _, ref := range timesRefCases() {
		b := AppendTimesRef([]byte{}, ref)
		if !IsTimesRef(b) {
			t.Fatalf("%+v: IsTimesRef false", ref)
		}
		got, rest, err := DecodeTimesRef(append(b, 0xaa))
		if err != nil || got != ref || len(rest) != 1 || rest[0] != 0xaa {
			t.Fatalf("%+v: got %+v rest %x err %v", ref, got, rest, err)
		}
		if _, _, err := d.DecodeTimestamps(nil, b); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("DecodeTimestamps of a reference: %v", err)
		}
	}
	var enc Encoder
	b, _ := enc.AppendTimestamps(nil, []int64{1, 2, 3})
	if IsTimesRef(b) || IsTimesRef(nil) {
		t.Fatal("IsTimesRef of a timestamps stream or nothing")
	}
	if _, _, err := DecodeTimesRef(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DecodeTimesRef of a timestamps stream: %v", err)
	}
}
