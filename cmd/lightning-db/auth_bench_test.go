package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/auth"
)

// BenchmarkGuard is the cost the route guard adds to a request: with
// authentication off, a legacy token and a token-file token.
func BenchmarkGuard(b *testing.B) {
	path := filepath.Join(b.TempDir(), "tokens.yaml")
	f := &auth.TokenFile{}
	secret, _, err := f.Create(auth.TokenEntry{Scopes: []string{"read"}}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Write(path); err != nil {
		b.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, bc := range []struct {
		name, token string
		cfg         Config
	}{
		{"off", "", Config{}},
		{"legacy", "s3cret", Config{Influx: InfluxConfig{Tokens: []string{"s3cret"}}}},
		{"token_file", secret, Config{Auth: AuthConfig{TokenFile: path}}},
	} {
		s := &server{cfg: bc.cfg, log: slog.New(slog.DiscardHandler)}
		if err := s.setupAuth(); err != nil {
			b.Fatal(err)
		}
		h := s.guard(routeRules["/api/v1/query"], ok)
		req := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
		if bc.token != "" {
			req.Header.Set("Authorization", "Bearer "+bc.token)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			w := httptest.NewRecorder()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			if w.Code != http.StatusNoContent {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
}
