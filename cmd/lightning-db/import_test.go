package main

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/value"

	"github.com/lightningdb/lightningdb/series"
)

func TestDecodeImportLine(t *testing.T) {
	for _, c := range []struct {
		line, err string
		typ       series.ValueType
		ts        []int64
		vals      []uint64
	}{
		{line: `{"metric":{"__name__":"m","a":"1"},"type":"integer","values":[-9223372036854775808,7],"timestamps":[1,2]}`,
			typ: series.TypeInt, ts: []int64{1, 2}, vals: []uint64{1 << 63, 7}},
		{line: `{"metric":{"__name__":"m"},"type":"float","values":[1.5,null,"NaN","+Inf","-Inf"],"timestamps":[1,2,3,4,5]}`,
			typ: series.TypeFloat, ts: []int64{1, 2, 3, 4, 5},
			vals: []uint64{math.Float64bits(1.5), value.StaleNaN, math.Float64bits(math.NaN()), math.Float64bits(math.Inf(1)), math.Float64bits(math.Inf(-1))}},
		{line: `{"metric":{"__name__":"vm"},"values":[1],"timestamps":[1700000000000]}`,
			typ: series.TypeFloat, ts: []int64{1700000000000 * 1e6}, vals: []uint64{math.Float64bits(1)}},
		{line: `{"metric":{"__name__":"b"},"type":"boolean","values":[true,false],"timestamps":[1,2]}`,
			typ: series.TypeBool, ts: []int64{1, 2}, vals: []uint64{1, 0}},
		{line: `{"metric":{"__name__":"u"},"type":"unsigned","values":[18446744073709551615],"timestamps":[1]}`,
			typ: series.TypeUint, ts: []int64{1}, vals: []uint64{math.MaxUint64}},
		{line: `{"metric":{"__name__":"m"},"type":"integer","values":[1.5],"timestamps":[1]}`, err: "value 0"},
		{line: `{"metric":{"__name__":"m"},"type":"complex","values":[1],"timestamps":[1]}`, err: `unknown type "complex"`},
		{line: `{"metric":{"__name__":"m"},"values":[1,2],"timestamps":[1]}`, err: "2 values and 1 timestamps"},
		{line: `{"metric":{"__name__":"m"},"values":[1],"timestamps":[9223372036854775]}`, err: "out of range"},
		{line: `{"metric":{"__name__":"m","":"x"},"values":[1],"timestamps":[1]}`, err: "bad import line"},
		{line: `{"metric":`, err: "bad import line"},
	} {
		var b series.Batch
		err := decodeImportLine([]byte(c.line), &b)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || b.Len() != 0 {
				t.Errorf("%s: err %v, batch %d series; want %q and nothing added", c.line, err, b.Len(), c.err)
			}
			continue
		}
		if err != nil || b.Len() != 1 {
			t.Fatalf("%s: %v", c.line, err)
		}
		_, typ, ts, vals := b.Series(0)
		if typ != c.typ || !slicesEqual(ts, c.ts) || !slicesEqual(vals, c.vals) {
			t.Errorf("%s: %v %v %v", c.line, typ, ts, vals)
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzDecodeImportLine: no line crashes the decoder, and a failed line
// leaves the batch as it was.
func FuzzDecodeImportLine(f *testing.F) {
	for _, s := range []string{
		`{"metric":{"__name__":"m","a":"1"},"type":"integer","values":[-9223372036854775808,7],"timestamps":[1,2]}`,
		`{"metric":{"__name__":"m"},"type":"float","values":[1.5,null,"NaN","+Inf","-Inf"],"timestamps":[1,2,3,4,5]}`,
		`{"metric":{"__name__":"vm"},"values":[1],"timestamps":[1700000000000]}`,
		`{"metric":{"__name__":"s"},"type":"string","values":["a\"b",""],"timestamps":[1,2]}`,
		`{"metric":{"__name__":"b"},"type":"boolean","values":[true],"timestamps":[1]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var b series.Batch
		b.AddSeries(series.FromStrings("__name__", "x"), series.TypeFloat)
		b.AppendFloat(1, 1)
		if err := decodeImportLine(line, &b); err != nil && (b.Len() != 1 || b.Samples() != 1) {
			t.Fatalf("failed line left %d series, %d samples", b.Len(), b.Samples())
		}
		if err := b.Validate(); err != nil {
			t.Fatal(err)
		}
	})
}
