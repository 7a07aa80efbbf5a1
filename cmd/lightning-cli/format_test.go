package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

const vectorAnswer = `{"status":"success","data":{"resultType":"vector","result":[
 {"metric":{"__name__":"cpu","host":"alpha"},"value":[1700000000.5,"42.5"]},
 {"metric":{"__name__":"cpu","host":"b","zone":"eu-west"},"value":[1700000000.5,"NaN"]}]},
 "warnings":["results truncated due to limit"]}`

// TestDecodePromTable: a vector becomes one table with a column per label
// (__name__ first), then time and value; the warnings come along.
func TestDecodePromTable(t *testing.T) {
	res, err := decodeProm([]byte(vectorAnswer))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeResult(&out, formatTable, res); err != nil {
		t.Fatal(err)
	}
	want := `__name__  host   zone     time                      value
--------  -----  -------  ------------------------  -----
cpu       alpha           2023-11-14T22:13:20.500Z  42.5
cpu       b      eu-west  2023-11-14T22:13:20.500Z  NaN
`
	if out.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", out.String(), want)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != "results truncated due to limit" {
		t.Fatalf("warnings %q", res.Warnings)
	}
}

func TestFormats(t *testing.T) {
	matrix := `{"status":"success","data":{"resultType":"matrix","result":[
 {"metric":{"job":"a,b"},"values":[[1,"1"],[2,"2"]]},
 {"metric":{"job":"line\nbreak"},"values":[[3,"3"]]}]}}`
	influx := `{"results":[{"statement_id":0,"series":[
 {"name":"cpu","tags":{"host":"a","dc":"x"},"columns":["time","value","ok"],"values":[["2024-01-01T00:00:00Z",1.5e300,true],["2024-01-01T00:00:10Z",null,false]]},
 {"name":"cpu","tags":{"host":"b"},"columns":["time","value","ok"],"values":[["2024-01-01T00:00:00Z",12345678901234567890,true]]}]}]}`
	for _, c := range []struct {
		name, body, format, want string
		influx                   bool
	}{
		{"matrix table", matrix, formatTable, "job          time                      value\n" +
			"-----------  ------------------------  -----\n" +
			"a,b          1970-01-01T00:00:01.000Z  1\n" +
			"a,b          1970-01-01T00:00:02.000Z  2\n" +
			"line\\nbreak  1970-01-01T00:00:03.000Z  3\n", false},
		{"matrix csv", matrix, formatCSV, "job,time,value\n" +
			"\"a,b\",1970-01-01T00:00:01.000Z,1\n\"a,b\",1970-01-01T00:00:02.000Z,2\n" +
			"\"line\nbreak\",1970-01-01T00:00:03.000Z,3\n", false},
		{"matrix json", matrix, formatJSON, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"a,b"},"values":[[1,"1"],[2,"2"]]},{"metric":{"job":"line\nbreak"},"values":[[3,"3"]]}]}}` + "\n", false},
		{"scalar", `{"status":"success","data":{"resultType":"scalar","result":[10,"2"]}}`, formatTable,
			"time                      value\n------------------------  -----\n1970-01-01T00:00:10.000Z  2\n", false},
		{"empty vector", `{"status":"success","data":{"resultType":"vector","result":[]}}`, formatTable, "(no data)\n", false},
		{"empty vector csv", `{"status":"success","data":{"resultType":"vector","result":[]}}`, formatCSV, "time,value\n", false},
		{"influx table", influx, formatTable, "name: cpu\ntags: dc=x,host=a\n" +
			"time                  value    ok\n" +
			"--------------------  -------  -----\n" +
			"2024-01-01T00:00:00Z  1.5e300  true\n" +
			"2024-01-01T00:00:10Z           false\n" +
			"\nname: cpu\ntags: host=b\n" +
			"time                  value                 ok\n" +
			"--------------------  --------------------  ----\n" +
			"2024-01-01T00:00:00Z  12345678901234567890  true\n", true},
		{"influx csv", influx, formatCSV, "name,tags,time,value,ok\n" +
			"cpu,\"dc=x,host=a\",2024-01-01T00:00:00Z,1.5e300,true\n" +
			"cpu,\"dc=x,host=a\",2024-01-01T00:00:10Z,,false\n" +
			"cpu,host=b,2024-01-01T00:00:00Z,12345678901234567890,true\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			decode := decodeProm
			if c.influx {
				decode = decodeInflux
			}
			res, err := decode([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := writeResult(&out, c.format, res); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Fatalf("got:\n%s\nwant:\n%s", out.String(), c.want)
			}
		})
	}
}

// TestDecodeErrors: answers that are not the documented JSON, and
// InfluxQL statement errors, are errors naming what was wrong; the other
// statements' series still come back.
func TestDecodeErrors(t *testing.T) {
	for _, body := range []string{`<html>`, `{"status":"error"}`, `{"status":"success","data":{"resultType":"matrix","result":{}}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["x","1"]}]}}`,
		`{"status":"success","data":{"resultType":"tensor","result":[]}}`} {
		if _, err := decodeProm([]byte(body)); !errors.Is(err, errBadAnswer) {
			t.Errorf("%s: err %v, want errBadAnswer", body, err)
		}
	}
	res, err := decodeInflux([]byte(`{"results":[{"statement_id":0,"series":[{"name":"m","columns":["name"],"values":[["cpu"]]}]},{"statement_id":1,"error":"measurement not found"}]}`))
	if err == nil || !strings.Contains(err.Error(), "statement 1: measurement not found") || res == nil || len(res.Tables) != 1 {
		t.Fatalf("statement error: %v, %+v", err, res)
	}
	if _, err := decodeInflux([]byte(`{"error":"database not found: x"}`)); err == nil || !strings.Contains(err.Error(), "database not found: x") {
		t.Fatalf("answer error: %v", err)
	}
}

func TestErrorFromBody(t *testing.T) {
	for _, c := range []struct {
		status int
		body   string
		want   string
	}{
		{400, `{"status":"error","errorType":"bad_data","error":"parse error: unexpected end"}`, "bad_data: parse error: unexpected end (HTTP 400)"},
		{401, `{"error":"authorization failed"}`, "authorization failed (HTTP 401)"},
		{401, `{"code":"unauthorized","message":"token needed"}`, "token needed (HTTP 401)"},
		{502, "Bad Gateway\n<html>more</html>", "Bad Gateway (HTTP 502)"},
		{503, "", "Service Unavailable (HTTP 503)"},
	} {
		if got := errorFromBody(c.status, []byte(c.body)).Error(); got != c.want {
			t.Errorf("%d %q: %q, want %q", c.status, c.body, got, c.want)
		}
	}
}
