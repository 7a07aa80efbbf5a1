package ingest

import (
	"errors"
	"fmt"
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
