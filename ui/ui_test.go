package ui

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

// TestHandler: the page and its assets are served with their types,
// gzipped when asked, revalidated with ETags; anything else is 404.
func TestHandler(t *testing.T) {
	h := Handler()
	resp := get(t, h, "/", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `<script src="/ui/app.js">`) || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %v %.200s", resp.StatusCode, resp.Header, body)
	}
	resp = get(t, h, "/ui/app.js", map[string]string{"Accept-Encoding": "gzip, br"})
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(zr)
	if len(js) < 1000 || !strings.Contains(string(js), "uPlot") && !strings.Contains(string(js), "u-legend") {
		t.Fatalf("app.js: %d bytes, no uPlot in it", len(js))
	}
	etag := resp.Header.Get("ETag")
	if resp := get(t, h, "/ui/app.js", map[string]string{"If-None-Match": etag}); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation with %s: %d", etag, resp.StatusCode)
	}
	for _, p := range []string{"/ui/", "/ui/nope.js", "/ui/../ui.go"} {
		if resp := get(t, h, p, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", w.Code)
	}
}

// TestBundleSize: the whole UI stays under 300 KB gzipped (issue #22).
func TestBundleSize(t *testing.T) {
	raw, gz := Sizes()
	t.Logf("UI assets: %d bytes, %d gzipped", raw, gz)
	if gz > 300_000 || gz == 0 {
		t.Fatalf("UI assets are %d bytes gzipped; the budget is 300 KB", gz)
	}
}
