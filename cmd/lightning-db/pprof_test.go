package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestPprofOnlyWhenEnabled(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := defaultConfig()
		cfg.Pprof = on
		s := &server{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), mux: http.NewServeMux()}
		s.auth = &authSetup{}
		s.rm = &routeMux{s: s}
		s.registerPprof()
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil))
		want := http.StatusNotFound
		if on {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("pprof=%v: GET /debug/pprof/ = %d, want %d", on, rec.Code, want)
		}
	}
	cfg, err := loadConfig([]string{"--pprof"})
	if err != nil || !cfg.Pprof {
		t.Fatalf("--pprof: cfg.Pprof = %v, err %v", cfg.Pprof, err)
	}
	if defaultConfig().Pprof {
		t.Fatal("pprof on by default")
	}
}
