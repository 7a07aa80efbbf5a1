package main

import (
	"strings"
	"testing"
)

// TestDiffIQL: the comparison's answer diff catches each kind of
// difference it claims to, lets a float within a relative 1e-9 pass (an
// integral float written "5" included), compares rows of one time as a
// set, and reads a chunked answer chunk by chunk.
func TestDiffIQL(t *testing.T) {
	ref := `{"results":[{"statement_id":0,"series":[{"name":"m","tags":{"h":"a"},"columns":["time","v","s"],"values":[[1,5,"x"],[2,1.5,null]]}]}]}`
	cases := []struct {
		name, got, want string // want: a substring of the diff; "" = agree
		status          int
	}{
		{"same", ref, "", 200},
		{"float-within-1e-9", strings.Replace(ref, "1.5", "1.5000000000001", 1), "", 200},
		{"float-beyond-1e-9", strings.Replace(ref, "1.5", "1.500001", 1), "value", 200},
		{"int-vs-float", strings.Replace(ref, "[1,5,", "[1,5.5,", 1), "type", 200},
		{"int-vs-float-exponent", strings.Replace(ref, "[1,5,", "[1,5e+00,", 1), "type", 200},
		{"float-rounding-of-integral", strings.Replace(ref, "[1,5,", "[1,4.999999999999999,", 1), "", 200},
		{"same-time-order", strings.Replace(ref, `[[1,5,"x"],[2,1.5,null]]`, `[[1,5,"x"],[1,6,"y"],[2,1.5,null]]`, 1), "rows", 200},
		{"null-vs-value", strings.Replace(ref, "null", `"y"`, 1), "type", 200},
		{"string-value", strings.Replace(ref, `"x"`, `"z"`, 1), "value", 200},
		{"bool-vs-string", strings.Replace(ref, `"x"`, `true`, 1), "type", 200},
		{"time-format", strings.Replace(ref, "[1,5,", `["1970-01-01T00:00:00.001Z",5,`, 1), "type", 200},
		{"tags", strings.Replace(ref, `"h":"a"`, `"h":"b"`, 1), "name/tags", 200},
		{"tags-missing", strings.Replace(ref, `"tags":{"h":"a"},`, ``, 1), "name/tags", 200},
		{"columns", strings.Replace(ref, `"v"`, `"v_1"`, 1), "columns", 200},
		{"rows", strings.Replace(ref, `,[2,1.5,null]`, ``, 1), "rows", 200},
		{"series", `{"results":[{"statement_id":0}]}`, "series", 200},
		{"statement-error", `{"results":[{"statement_id":0,"error":"boom"}]}`, "error", 200},
		{"status", ref, "HTTP status", 400},
		{"not-json", `nope`, "not JSON", 200},
	}
	for _, c := range cases {
		d := diffIQL(iqlAnswer{status: c.status, body: []byte(c.got)}, iqlAnswer{status: 200, body: []byte(ref)})
		if (c.want == "") != (d == "") || !strings.Contains(d, c.want) {
			t.Errorf("%s: diff %q, want one naming %q", c.name, d, c.want)
		}
	}
	tie := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1],[1,2],[2,3]]}]}]}`
	swapped := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,2],[1,1],[2,3]]}]}]}`
	if d := diffIQL(iqlAnswer{status: 200, body: []byte(swapped)}, iqlAnswer{status: 200, body: []byte(tie)}); d != "" {
		t.Errorf("rows of the same time in another order: %s", d)
	}
	if d := diffIQL(iqlAnswer{status: 200, body: []byte(strings.Replace(swapped, "[2,3]", "[2,4]", 1))}, iqlAnswer{status: 200, body: []byte(tie)}); d == "" {
		t.Error("a changed value after a same-time run passed")
	}
	chunked := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1]],"partial":true}],"partial":true}]}
{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[2,2]]}]}]}`
	if d := diffIQL(iqlAnswer{status: 200, body: []byte(chunked)}, iqlAnswer{status: 200, body: []byte(chunked)}); d != "" {
		t.Errorf("chunked answer against itself: %s", d)
	}
	one := `{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1],[2,2]]}]}]}`
	if d := diffIQL(iqlAnswer{status: 200, body: []byte(one)}, iqlAnswer{status: 200, body: []byte(chunked)}); !strings.Contains(d, "results") {
		t.Errorf("unchunked against chunked: %q, want a difference in results", d)
	}
}
