package query

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkAPIQuery measures whole requests through the API's handler
// (form parsing, the limits checked before evaluation, Prepare, the
// engine, JSON): an instant query, where fixed per-request costs show
// most, and a 12 h range query at 1 m.
//
//	go test -run '^$' -bench APIQuery -count 5 ./query/
func BenchmarkAPIQuery(b *testing.B) {
	db := openDB(b, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(b, db, smallData(t0))
	a, err := NewAdapter(db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	NewAPI(a, APIOptions{}).Register(mux)
	for _, bc := range []struct {
		name, path string
		params     url.Values
	}{
		{"instant", "/api/v1/query", url.Values{"query": {`cpu_usage{host="h1"}`}, "time": {secs(t0 + hour)}}},
		{"range", "/api/v1/query_range", url.Values{"query": {`max by (dc) (max_over_time(cpu_usage[5m]))`},
			"start": {secs(t0)}, "end": {secs(t0 + 12*hour)}, "step": {"60"}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, bc.path+"?"+bc.params.Encode(), nil))
				if w.Code != http.StatusOK {
					b.Fatal(w.Body.String())
				}
			}
		})
	}
}
