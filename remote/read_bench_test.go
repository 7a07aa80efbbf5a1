package remote

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/prompb"
)

// BenchmarkRead serves a read of one series of 1 M generated samples
// (no engine), as SAMPLES and as streamed chunks.
func BenchmarkRead(b *testing.B) {
	const n = 1_000_000
	h, err := NewHandler(nil, genStorage{n: n}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := mux(h)
	for _, typ := range []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS} {
		b.Run(typ.String(), func(b *testing.B) {
			body := readRequestBody(&testing.T{}, typ, "long")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				m.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/read", bytes.NewReader(body)))
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
		})
	}
}
