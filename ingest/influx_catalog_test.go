package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// TestCatalogLearnsStoredWrites: the catalog learns the fields of a write
// once it is appended, not those of a write the appender refused, and a
// refused write's retry teaches it (the parser's cached keys are dropped);
// past maxObservedPerRequest new fields, later requests teach the rest.
func TestCatalogLearnsStoredWrites(t *testing.T) {
	app := newFakeAppender()
	cat := influxql.NewCatalog()
	h := newTestHandler(t, app, func(o *InfluxOptions) { o.Catalog = cat })
	write := func(body string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/write?db=d", strings.NewReader(body)))
		return rec.Code
	}
	app.err = errors.New("disk on fire")
	if code := write("disk_io,dev=a reads=1i 1\n"); code != 500 {
		t.Fatalf("failed write: %d", code)
	}
	if cat.Lookup("d", "disk_io_reads") != nil {
		t.Fatal("a refused write taught the catalog")
	}
	app.err = nil
	if code := write("disk_io,dev=a reads=1i 2\n"); code != 204 {
		t.Fatalf("retry: %d", code)
	}
	if got := cat.Lookup("d", "disk_io_reads"); len(got) != 1 || got[0] != (influxql.Field{Measurement: "disk_io", Field: "reads"}) {
		t.Fatalf("after the retry: %v", got)
	}

	var b strings.Builder
	n := maxObservedPerRequest + 500
	for i := range n {
		fmt.Fprintf(&b, "m%d f=1 1\n", i)
	}
	for range 2 {
		if code := write(b.String()); code != 204 {
			t.Fatalf("big write: %d", code)
		}
	}
	for _, i := range []int{0, n - 1} {
		if cat.Lookup("d", fmt.Sprintf("m%d_f", i)) == nil {
			t.Errorf("m%d not learnt after two writes", i)
		}
	}
}

// TestAppendValueMatchesJSON: the row encoder writes what encoding/json
// writes for every value type an answer holds.
func TestAppendValueMatchesJSON(t *testing.T) {
	vals := []any{nil, 0.0, math.Copysign(0, -1), 1.5, -2.25e-7, 1e21, 123456789.125, 1e-6, 9.999e20, 3.0,
		int64(-42), int64(math.MaxInt64), uint64(math.MaxUint64), true, false, "a\"b<&>\u2028", "",
		"host_1", "us-west-2a", "a b/c:d=e", "tab\there", "back\\slash", "é", "\x7f", "\xff"}
	var o queryOutput
	for _, v := range vals {
		want, _ := json.Marshal(v)
		if got := o.appendValue(nil, v, nil); string(got) != string(want) {
			t.Errorf("%#v: got %s, want %s", v, got, want)
		}
	}
	if got := string(o.appendValue(nil, math.NaN(), nil)); got != "null" {
		t.Errorf("NaN: %s", got)
	}
	if got := string(o.appendValue(nil, influxql.Time(1_500_000_000), nil)); got != `"1970-01-01T00:00:01.5Z"` {
		t.Errorf("time: %s", got)
	}
}
