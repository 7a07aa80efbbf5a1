// Package ui serves Lightning DB's built-in web UI: a single page bundled
// from web/ (TypeScript, esbuild, uPlot) into dist/, embedded in the
// binary so that it needs no network, CDN or Node at run time.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// asset is one embedded file, with its gzip form and an ETag.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var (
	loadOnce sync.Once
	assets   map[string]*asset
)

func load() {
	assets = map[string]*asset{}
	_ = fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		_, _ = zw.Write(b)
		_ = zw.Close()
		sum := sha256.Sum256(b)
		assets[strings.TrimPrefix(p, "dist/")] = &asset{body: b, gz: gz.Bytes(), ctype: contentType(p),
			etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return "application/octet-stream"
}

// Sizes returns the total size of the embedded assets, raw and gzipped.
func Sizes() (raw, gz int) {
	loadOnce.Do(load)
	for _, a := range assets {
		raw += len(a.body)
		gz += len(a.gz)
	}
	return raw, gz
}

// Handler serves the UI: "/" is the page (index.html), "/ui/<file>" its
// assets. Every page of the UI is the same document; the page shown is in
// the URL's fragment, so a shared URL restores the view.
func Handler() http.Handler {
	loadOnce.Do(load)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/ui/")
		if r.URL.Path == "/" {
			name = "index.html"
		}
		a := assets[name]
		if a == nil {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		h.Set("X-Content-Type-Options", "nosniff")
		// The page names its assets without a version: revalidate (a 304
		// costs one round trip), never serve a stale bundle after an upgrade.
		h.Set("Cache-Control", "no-cache")
		if name == "index.html" {
			h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
			h.Set("X-Frame-Options", "DENY")
		}
		h.Set("Vary", "Accept-Encoding")
		if match := r.Header.Get("If-None-Match"); match == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body := a.body
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
	})
}
