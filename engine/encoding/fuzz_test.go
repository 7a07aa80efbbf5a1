package encoding

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// encodedCases returns every table case encoded, for the corruption tests
// and as decoder fuzz seeds. kind is 't', 's', 'r' (a timestamps
// reference) or the value type.
func encodedCases(t testing.TB) (kinds []byte, blocks [][]byte) {
	var enc Encoder
	for _, ts := range timestampCases() {
		b, err := enc.AppendTimestamps(nil, ts)
		if err != nil {
			t.Fatal(err)
		}
		kinds, blocks = append(kinds, 't'), append(blocks, b)
	}
	for _, tc := range valueCases() {
		b, err := enc.AppendValues(nil, tc.typ, tc.vals)
		if err != nil {
			t.Fatal(err)
		}
		kinds, blocks = append(kinds, byte(tc.typ)), append(blocks, b)
	}
	for _, vals := range stringCases() {
		b, err := enc.AppendStrings(nil, vals)
		if err != nil {
			t.Fatal(err)
		}
		kinds, blocks = append(kinds, 's'), append(blocks, b)
	}
	for _, ref := range timesRefCases() {
		kinds, blocks = append(kinds, 'r'), append(blocks, AppendTimesRef(nil, ref))
	}
	return kinds, blocks
}

// decodeAny decodes src as a block of kind and returns the decoded count.
func decodeAny(d *Decoder, kind byte, src []byte) (int, []byte, error) {
	switch kind {
	case 't':
		ts, rest, err := d.DecodeTimestamps(nil, src)
		return len(ts), rest, err
	case 's':
		ss, rest, err := d.DecodeStrings(nil, src)
		return len(ss), rest, err
	case 'r':
		ref, rest, err := DecodeTimesRef(src)
		if err != nil {
			return 0, rest, err
		}
		return int(min(ref.Length, 1)), rest, nil
	}
	vs, rest, err := d.DecodeValues(nil, series.ValueType(kind), src)
	return len(vs), rest, err
}

// TestTruncatedIsError checks that every strict prefix of every encoded
// block fails to decode with ErrCorrupt: no layout has a part whose loss
// goes unnoticed.
func TestTruncatedIsError(t *testing.T) {
	var d Decoder
	kinds, blocks := encodedCases(t)
	for i, b := range blocks {
		for n := range len(b) {
			if _, _, err := decodeAny(&d, kinds[i], b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("case %d (kind %q, codec %#x): prefix %d of %d: err = %v", i, kinds[i], b[0], n, len(b), err)
			}
		}
	}
}

// TestCorruptNoPanic flips bytes and bits of every encoded block; decoding
// must return (an error or some values) without panicking.
func TestCorruptNoPanic(t *testing.T) {
	var d Decoder
	kinds, blocks := encodedCases(t)
	for i, b := range blocks {
		c := slices.Clone(b)
		for pos := range min(len(c), 64) {
			for _, x := range []byte{0x01, 0x80, 0xff} {
				c[pos] ^= x
				decodeAny(&d, kinds[i], c)
				c[pos] ^= x
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	kinds, blocks := encodedCases(f)
	for i, b := range blocks {
		f.Add(kinds[i], b)
	}
	f.Fuzz(func(t *testing.T, kind byte, src []byte) {
		var d Decoder
		n, rest, err := decodeAny(&d, kind, src)
		if err != nil && (n != 0 || !bytes.Equal(rest, src)) {
			t.Fatalf("error %v with %d values and %d of %d bytes left", err, n, len(rest), len(src))
		}
	})
}

// fuzzInts turns fuzz bytes into a sequence: raw 64-bit words, or (mode 1)
// a walk of small signed steps, or (mode 2) a near-regular series.
func fuzzInts(mode byte, data []byte) []uint64 {
	var out []uint64
	switch mode % 3 {
	case 0:
		for ; len(data) >= 8; data = data[8:] {
			out = append(out, binary.LittleEndian.Uint64(data))
		}
	case 1:
		v := uint64(math.MaxInt64 - 100)
		for _, b := range data {
			v += uint64(int64(int8(b)))
			out = append(out, v)
		}
	case 2:
		v := uint64(1_700_000_000_000_000_000)
		for _, b := range data {
			v += 10e9 + uint64(b%8)*1e6
			out = append(out, v)
		}
	}
	return out
}

func FuzzTimestamps(f *testing.F) {
	f.Add(byte(0), []byte{})
	f.Add(byte(0), binary.LittleEndian.AppendUint64(nil, math.MaxUint64))
	f.Add(byte(1), []byte{1, 2, 3, 0xff, 0x80, 0x7f})
	f.Add(byte(2), bytes.Repeat([]byte{0}, 100))
	f.Add(byte(2), []byte{0, 3, 1, 7, 7, 7, 0, 0, 2})
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		raw := fuzzInts(mode, data)
		ts := make([]int64, len(raw))
		for i, v := range raw {
			ts[i] = int64(v)
		}
		var e Encoder
		var d Decoder
		b, err := e.AppendTimestamps(nil, ts)
		if err != nil {
			t.Fatal(err)
		}
		got, rest, err := d.DecodeTimestamps(nil, b)
		if err != nil || len(rest) != 0 || !slices.Equal(got, ts) {
			t.Fatalf("round trip: err %v, rest %d, equal %v", err, len(rest), slices.Equal(got, ts))
		}
	})
}

func FuzzValues(f *testing.F) {
	for _, typ := range []series.ValueType{series.TypeFloat, series.TypeInt, series.TypeUint, series.TypeBool} {
		f.Add(byte(typ), byte(0), binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN())))
		f.Add(byte(typ), byte(1), []byte{0, 1, 2, 0xff, 0x80})
		f.Add(byte(typ), byte(2), bytes.Repeat([]byte{5}, 64))
	}
	specials := []byte{}
	for _, v := range floats(math.Inf(1), math.Copysign(0, -1), 21.5, nanPayload, 0.125) {
		specials = binary.LittleEndian.AppendUint64(specials, v)
	}
	f.Add(byte(series.TypeFloat), byte(0), specials)
	f.Fuzz(func(t *testing.T, typ, mode byte, data []byte) {
		vt := series.ValueType(typ%4 + 1) // every type but strings
		vals := fuzzInts(mode, data)
		if vt == series.TypeFloat && mode%3 != 0 {
			// Walks of decimals, to reach the decimal codec.
			for i, v := range vals {
				vals[i] = math.Float64bits(float64(int64(v%2000)-1000) / 8)
			}
		}
		var e Encoder
		var d Decoder
		b, err := e.AppendValues(nil, vt, vals)
		if err != nil {
			t.Fatal(err)
		}
		got, rest, err := d.DecodeValues(nil, vt, b)
		want := vals
		if vt == series.TypeBool {
			want = make([]uint64, len(vals))
			for i, v := range vals {
				want[i] = boolBit(v)
			}
		}
		if err != nil || len(rest) != 0 || !slices.Equal(got, want) {
			t.Fatalf("round trip %s: err %v, rest %d, equal %v", vt, err, len(rest), slices.Equal(got, want))
		}
	})
}

func FuzzStrings(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("a,b,a,,b"))
	f.Add([]byte(",,,,"))
	f.Add(bytes.Repeat([]byte("ok,warning,ok,ok,critical,"), 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		var vals [][]byte
		if len(data) > 0 {
			vals = bytes.Split(data, []byte(","))
		}
		var e Encoder
		var d Decoder
		b, err := e.AppendStrings(nil, vals)
		if err != nil {
			t.Fatal(err)
		}
		got, rest, err := d.DecodeStrings(nil, b)
		if err != nil || len(rest) != 0 || !slices.EqualFunc(got, vals, bytes.Equal) {
			t.Fatalf("round trip: err %v, rest %d", err, len(rest))
		}
	})
}
