package main

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// FuzzDecodeAnswer: any answer body decodes or fails without panicking;
// a decoded one prints in every format, its table on lines free of
// control characters and its CSV parsing back to the same rows.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(vectorAnswer), false)
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"x\ny"},"values":[[1,"1"]],"histograms":[[2,{"count":"1"}]]}]}}`), false)
	f.Add([]byte(`{"status":"success","data":{"resultType":"string","result":[1e300,"s"]}}`), false)
	f.Add([]byte(`{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"h":"a"},"columns":["time","v"],"values":[["t",1,null,true,{"x":1}]]}]}]}`), true)
	f.Add([]byte(`{"results":[{"statement_id":0,"error":"boom"}]}`), true)
	f.Fuzz(func(t *testing.T, body []byte, influx bool) {
		decode := decodeProm
		if influx {
			decode = decodeInflux
		}
		res, _ := decode(body)
		if res == nil {
			return
		}
		var out bytes.Buffer
		if err := writeResult(&out, formatTable, res); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && isControl(r) }) {
			t.Fatalf("control character in the table:\n%q", out.String())
		}
		out.Reset()
		if err := writeResult(&out, formatCSV, res); err != nil {
			t.Fatal(err)
		}
		cr := csv.NewReader(&out)
		cr.FieldsPerRecord = -1 // an InfluxQL row may have more values than columns
		recs, err := cr.ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse back: %v\n%s", err, out.String())
		}
		rows := 0
		for _, tb := range res.Tables {
			for _, r := range tb.Rows {
				if len(r) > 0 { // an empty record is an empty line, which CSV skips
					rows++
				}
			}
		}
		if len(recs) < rows {
			t.Fatalf("CSV has %d records for %d rows", len(recs), rows)
		}
		out.Reset()
		if err := writeResult(&out, formatJSON, res); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzParseRange: \range's arguments parse or fail without panicking,
// and an accepted range is positive with at most 11000 points.
func FuzzParseRange(f *testing.F) {
	for _, s := range [][2]string{{"1h", "60s"}, {"7d", ""}, {"1.5w", "1h"}, {"1e300y", "1s"}, {"-1h", ""}, {"1h", "0s"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, span, step string) {
		sp, st, err := parseRange(span, step)
		if err != nil {
			return
		}
		if sp <= 0 || st <= 0 {
			t.Fatalf("%q %q: span %v step %v", span, step, sp, st)
		}
		if step != "" && sp/st > 11000 {
			t.Fatalf("%q %q: %d points", span, step, sp/st)
		}
	})
}
