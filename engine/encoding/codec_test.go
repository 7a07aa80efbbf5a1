package encoding

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// Edge values shared by the tables and the fuzz seeds.
var (
	nanPayload = math.Float64frombits(0x7ff8_dead_beef_0001)
	nanSignal  = math.Float64frombits(0x7ff0_0000_0000_0001)
	negNaN     = math.Float64frombits(0xfff8_0000_0000_0000)
)

func seq(n int, f func(i int) int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func floats(vs ...float64) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = math.Float64bits(v)
	}
	return out
}

func ints(vs ...int64) []uint64 {
	out := make([]uint64, len(vs))
	for i, v := range vs {
		out[i] = uint64(v)
	}
	return out
}

const sec = int64(1e9)

func timestampCases() map[string][]int64 {
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := int64(1_700_000_000) * sec
	return map[string][]int64{
		"empty":            {},
		"single":           {t0},
		"two":              {t0, t0 + 10*sec},
		"regular 10s":      seq(8640, func(i int) int64 { return t0 + int64(i)*10*sec }),
		"regular 1ns":      seq(1000, func(i int) int64 { return int64(i) }),
		"jitter ms":        seq(2000, func(i int) int64 { return t0 + int64(i)*10*sec + rng.Int64N(100)*1e6 }),
		"jitter ns":        seq(2000, func(i int) int64 { return t0 + int64(i)*sec + rng.Int64N(1e6) }),
		"gap":              seq(1000, func(i int) int64 { return t0 + int64(i)*sec + int64(i/500)*3600*sec }),
		"near max":         {math.MaxInt64 - 2, math.MaxInt64 - 1, math.MaxInt64},
		"near min":         {math.MinInt64, math.MinInt64 + 1, math.MinInt64 + 5},
		"min to max":       {math.MinInt64, math.MaxInt64, math.MinInt64, 0, math.MaxInt64},
		"non-monotonic":    {5, 3, 9, 9, -4, 1 << 40, 7},
		"duplicates":       {100, 100, 100, 100},
		"min and zero":     {0, math.MinInt64, 0, math.MinInt64},
		"huge gcd":         {0, 1 << 62, 0, 3 << 60},
		"gcd 2^58":         {-1 << 58, 0, 1 << 58, 1 << 59},
		"gcd 10^17":        {0, 1e17, 3e17, 9e18},
		"random":           seq(500, func(int) int64 { return int64(rng.Uint64()) }),
		"negative regular": seq(300, func(i int) int64 { return -1e18 + int64(i)*60*sec }),
	}
}

func TestTimestampsRoundTrip(t *testing.T) {
	var dec Decoder
	for _, fast := range []bool{false, true} { // Fast (flushes) must decode the same
		enc := Encoder{Fast: fast}
		for name, ts := range timestampCases() {
			t.Run(fmt.Sprintf("%s/fast=%v", name, fast), func(t *testing.T) {
				b, err := enc.AppendTimestamps([]byte("hdr"), ts)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b, []byte("hdr")) {
					t.Fatal("dst prefix lost")
				}
				got, rest, err := dec.DecodeTimestamps([]int64{42}, append(b[3:], "tail"...))
				if err != nil {
					t.Fatal(err)
				}
				if string(rest) != "tail" {
					t.Fatalf("rest = %q", rest)
				}
				if got[0] != 42 || !slices.Equal(got[1:], ts) {
					t.Fatalf("round trip mismatch:\n got %v\nwant %v", got[1:min(len(got), 10)], ts[:min(len(ts), 10)])
				}
			})
		}
	}
}

func TestTimestampsSize(t *testing.T) {
	var enc Encoder
	cases := timestampCases()
	for _, tc := range []struct {
		name     string
		maxBytes int
	}{
		{"regular 10s", 24}, // ~0 bits per sample
		{"regular 1ns", 16}, //
		{"jitter ms", 2000}, // 100 ms jitter at ms precision: < 8 bits each
		{"gap", 40},         // two regular runs
		{"jitter ns", 6000}, // 1 ms of ns jitter: about 20 bits each
		{"duplicates", 12},  //
		{"negative regular", 24},
	} {
		b, _ := enc.AppendTimestamps(nil, cases[tc.name])
		t.Logf("%s: %d samples in %d bytes", tc.name, len(cases[tc.name]), len(b))
		if len(b) > tc.maxBytes {
			t.Errorf("%s: %d bytes, want at most %d", tc.name, len(b), tc.maxBytes)
		}
	}
}

func valueCases() map[string]struct {
	typ  series.ValueType
	vals []uint64
} {
	rng := rand.New(rand.NewPCG(3, 4))
	walk := func(n int, scale float64) []uint64 {
		out := make([]uint64, n)
		v := 50.0
		for i := range out {
			v = math.Round((v+rng.NormFloat64())*scale) / scale
			out[i] = math.Float64bits(v)
		}
		return out
	}
	type c = struct {
		typ  series.ValueType
		vals []uint64
	}
	randomBits := make([]uint64, 300)
	for i := range randomBits {
		randomBits[i] = rng.Uint64()
	}
	counter := make([]uint64, 1000)
	for i := range counter {
		counter[i] = uint64(i*1000 + rng.IntN(50))
	}
	boolsRand := make([]uint64, 1001)
	for i := range boolsRand {
		boolsRand[i] = uint64(rng.IntN(2))
	}
	return map[string]c{
		"float empty":      {series.TypeFloat, nil},
		"float single":     {series.TypeFloat, floats(21.5)},
		"float specials":   {series.TypeFloat, floats(math.NaN(), nanPayload, nanSignal, negNaN, math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64, math.SmallestNonzeroFloat64, -math.MaxFloat64)},
		"float neg zero":   {series.TypeFloat, floats(0, math.Copysign(0, -1), 0)},
		"float decimals":   {series.TypeFloat, floats(21.5, 0.125, 99.99, -3.25, 1e-7, 12345.678)},
		"float integers":   {series.TypeFloat, walk(2000, 1)},
		"float 1 digit":    {series.TypeFloat, walk(2000, 10)},
		"float big ints":   {series.TypeFloat, floats(1<<53, -(1 << 53), 1e300, 9007199254740993)},
		"float random":     {series.TypeFloat, randomBits},
		"float constant":   {series.TypeFloat, floats(slices.Repeat([]float64{3.5}, 5000)...)},
		"float 1/3":        {series.TypeFloat, floats(1.0/3, 2.0/3, 1)},
		"int empty":        {series.TypeInt, nil},
		"int single":       {series.TypeInt, ints(-7)},
		"int extremes":     {series.TypeInt, ints(math.MaxInt64, math.MinInt64, 0, -1, math.MaxInt64, math.MinInt64, math.MinInt64)},
		"int constant max": {series.TypeInt, ints(slices.Repeat([]int64{math.MaxInt64}, 3000)...)},
		"int random":       {series.TypeInt, randomBits},
		"int counter":      {series.TypeInt, counter},
		"int outliers":     {series.TypeInt, ints(1, 2, 3, 1<<40, 4, 5, 6, 7, -1<<50, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33)},
		"uint extremes":    {series.TypeUint, []uint64{math.MaxUint64, 0, math.MaxUint64, 1 << 63, (1 << 63) - 1, 1}},
		"uint random":      {series.TypeUint, randomBits},
		"bool empty":       {series.TypeBool, nil},
		"bool single":      {series.TypeBool, []uint64{1}},
		"bool random":      {series.TypeBool, boolsRand},
		"bool constant":    {series.TypeBool, slices.Repeat([]uint64{1}, 4000)},
		"bool rare flips":  {series.TypeBool, append(slices.Repeat([]uint64{0}, 2000), slices.Repeat([]uint64{1}, 2000)...)},
	}
}

func TestValuesRoundTrip(t *testing.T) {
	var dec Decoder
	for _, fast := range []bool{false, true} { // Fast (flushes) must decode the same
		enc := Encoder{Fast: fast}
		for name, tc := range valueCases() {
			t.Run(fmt.Sprintf("%s/fast=%v", name, fast), func(t *testing.T) {
				b, err := enc.AppendValues(nil, tc.typ, tc.vals)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d samples in %d bytes, codec %#x", len(tc.vals), len(b), b[0])
				got, rest, err := dec.DecodeValues(nil, tc.typ, b)
				if err != nil {
					t.Fatal(err)
				}
				if len(rest) != 0 {
					t.Fatalf("rest = %x", rest)
				}
				if !slices.Equal(got, tc.vals) {
					t.Fatalf("round trip mismatch:\n got %x\nwant %x", got[:min(len(got), 8)], tc.vals[:min(len(tc.vals), 8)])
				}
			})
		}
	}
}

func TestValuesCodecChoice(t *testing.T) {
	var enc Encoder
	cases := valueCases()
	for _, tc := range []struct {
		name     string
		codec    byte
		maxBytes int
	}{
		{"float integers", codecDecimal, 2000 * 3 / 8},
		{"float 1 digit", codecDecimal, 2000 * 6 / 8},
		{"float decimals", codecDecimal, 40},
		{"float specials", codecGorilla, 200},
		{"float neg zero", codecGorilla, 20},
		{"float 1/3", codecGorilla, 40},
		{"float constant", codecDecimal, 8},
		{"int constant max", codecInt, 16},
		{"int counter", codecInt, 1000},
		{"int outliers", codecInt, 60},
		{"bool constant", codecBoolRuns, 8},
		{"bool rare flips", codecBoolRuns, 10},
		{"bool random", codecBoolBits, 1001/8 + 4},
	} {
		c := cases[tc.name]
		b, err := enc.AppendValues(nil, c.typ, c.vals)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != tc.codec || len(b) > tc.maxBytes {
			t.Errorf("%s: codec %#x in %d bytes, want codec %#x in at most %d", tc.name, b[0], len(b), tc.codec, tc.maxBytes)
		}
	}
}

func TestBoolNormalizes(t *testing.T) {
	var enc Encoder
	var dec Decoder
	b, _ := enc.AppendValues(nil, series.TypeBool, []uint64{0, 7, 1 << 63, 0})
	got, _, err := dec.DecodeValues(nil, series.TypeBool, b)
	if err != nil || !slices.Equal(got, []uint64{0, 1, 1, 0}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestTypeMismatchAndUnsupported(t *testing.T) {
	var enc Encoder
	var dec Decoder
	b, _ := enc.AppendValues(nil, series.TypeInt, ints(1, 2, 3))
	if _, _, err := dec.DecodeValues(nil, series.TypeFloat, b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("int block decoded as float: err = %v", err)
	}
	if _, err := enc.AppendValues(nil, series.TypeString, nil); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("string values: err = %v", err)
	}
	if _, _, err := dec.DecodeValues(nil, series.ValueType(0), b); !errors.Is(err, ErrUnsupportedType) {
		t.Errorf("invalid type: err = %v", err)
	}
	if _, err := enc.AppendTimestamps(nil, make([]int64, MaxBlockSamples+1)); !errors.Is(err, ErrBlockTooLarge) {
		t.Errorf("huge block: err = %v", err)
	}
}

func stringCases() map[string][][]byte {
	rng := rand.New(rand.NewPCG(5, 6))
	states := [][]byte{[]byte("ok"), []byte("warning"), []byte("critical"), []byte("")}
	many := make([][]byte, 3000)
	for i := range many {
		many[i] = states[rng.IntN(len(states))]
	}
	unique := make([][]byte, 500)
	for i := range unique {
		unique[i] = []byte("request-id-" + string(rune('a'+i%26)) + "-" + string(rune('A'+i/26)))
	}
	return map[string][][]byte{
		"empty":       {},
		"single":      {[]byte("hello")},
		"one empty":   {{}},
		"all empty":   slices.Repeat([][]byte{{}}, 100),
		"states":      many,
		"unique":      unique,
		"binary":      {{0, 0xff, 0x80}, []byte("\xff\xfe"), {}},
		"big":         {bytes.Repeat([]byte("abc"), 50000)},
		"mixed dupes": {[]byte("a"), []byte("b"), []byte("a"), []byte(""), []byte("b")},
	}
}

func TestStringsRoundTrip(t *testing.T) {
	var enc Encoder
	var dec Decoder
	for name, vals := range stringCases() {
		t.Run(name, func(t *testing.T) {
			b, err := enc.AppendStrings(nil, vals)
			if err != nil {
				t.Fatal(err)
			}
			raw := 0
			for _, v := range vals {
				raw += len(v)
			}
			t.Logf("%d strings of %d bytes in %d bytes, codec %#x", len(vals), raw, len(b), b[0])
			got, rest, err := dec.DecodeStrings(nil, append(b, 1, 2))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rest, []byte{1, 2}) {
				t.Fatalf("rest = %x", rest)
			}
			if !slices.EqualFunc(got, vals, bytes.Equal) {
				t.Fatalf("round trip mismatch")
			}
		})
	}
}

func TestStringsCodecChoice(t *testing.T) {
	var enc Encoder
	cases := stringCases()
	b, _ := enc.AppendStrings(nil, cases["states"])
	// 3000 samples of 4 states: 2 bits each before zstd.
	if b[0]&^codecZstdFlag != codecStrDict || len(b) > 3000*2/8+40 {
		t.Errorf("states: codec %#x, %d bytes", b[0], len(b))
	}
	b, _ = enc.AppendStrings(nil, cases["big"])
	if b[0] != codecStrPlain|codecZstdFlag || len(b) > 1000 {
		t.Errorf("big: codec %#x, %d bytes", b[0], len(b))
	}
	b, _ = enc.AppendStrings(nil, cases["single"])
	if b[0] != codecStrPlain || len(b) != 8 {
		t.Errorf("single: codec %#x, %d bytes", b[0], len(b))
	}
}
