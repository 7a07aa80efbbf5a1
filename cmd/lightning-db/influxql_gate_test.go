package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestInfluxQLGateRefusal: when every query slot is busy, /query answers
// 503 in InfluxDB's error shape with the gate's Retry-After; otherwise the
// handler runs and answers as it does.
func TestInfluxQLGateRefusal(t *testing.T) {
	s := &server{}
	refuse := true
	s.queryGate = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if refuse {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"status":"error","errorType":"unavailable","error":"too many concurrent queries: 4 requests are running"}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	h := s.limitInfluxQL(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"results":[{"statement_id":0}]}`))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/query?q=SHOW+MEASUREMENTS", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" ||
		strings.TrimSpace(rec.Body.String()) != `{"error":"too many concurrent queries: 4 requests are running"}` {
		t.Fatalf("refused: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	refuse = false
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/query?q=SHOW+MEASUREMENTS", nil))
	if rec.Code != 200 || rec.Body.String() != `{"results":[{"statement_id":0}]}` {
		t.Fatalf("admitted: %d %s", rec.Code, rec.Body)
	}
}
