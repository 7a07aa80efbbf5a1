package ingest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestQueryDatabases(t *testing.T) {
	app := newFakeAppender()
	h := newTestHandler(t, app, func(o *InfluxOptions) { o.Databases = []string{"_internal"} })
	do := func(req *http.Request) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	form := func(q string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/query", strings.NewReader(url.Values{"q": {q}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return req
	}
	steps := []struct {
		req        *http.Request
		wantStatus int
		wantBody   string
	}{
		{form(`CREATE DATABASE "telegraf"`), 200, `{"results":[{"statement_id":0}]}`},
		{form(`create database "a \"b\"" WITH DURATION 1d; CREATE DATABASE bare_1`), 200, `{"results":[{"statement_id":0},{"statement_id":1}]}`},
		{httptest.NewRequest(http.MethodPost, "/write?db=written", strings.NewReader("m f=1 1")), 204, ``},
		{httptest.NewRequest(http.MethodGet, "/query?q=SHOW+DATABASES", nil), 200,
			`{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"],["a \"b\""],["bare_1"],["telegraf"],["written"]]}]}]}`},
		{httptest.NewRequest(http.MethodGet, "/query?q=SHOW+MEASUREMENTS", nil), 200,
			`{"results":[{"statement_id":0,"error":"statement not supported: SHOW MEASUREMENTS"}]}`},
		{form(`CREATE DATABASE "unterminated`), 400, `{"error":"error parsing query: CREATE DATABASE: unterminated quoted name"}`},
		{httptest.NewRequest(http.MethodGet, "/query", nil), 400, `{"error":"missing required parameter \"q\""}`},
		{httptest.NewRequest(http.MethodDelete, "/query?q=SHOW+DATABASES", nil), 405, `{"error":"method not allowed"}`},
	}
	for i, s := range steps {
		code, body := do(s.req)
		if code != s.wantStatus || body != s.wantBody {
			t.Errorf("step %d: got %d %s, want %d %s", i, code, body, s.wantStatus, s.wantBody)
		}
	}
}

func TestQueryAuth(t *testing.T) {
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.Tokens = []string{"s"} })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/query?q=SHOW+DATABASES", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("got %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/query?q=SHOW+DATABASES&u=x&p=s", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("got %d", rec.Code)
	}
}

func TestQueryFallback(t *testing.T) {
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) {
		o.Query = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/query?q=SHOW+MEASUREMENTS", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("got %d", rec.Code)
	}
}

func TestPingAndHealth(t *testing.T) {
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.Tokens = []string{"s"} })
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, "/ping", nil))
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 ||
			rec.Header().Get("X-Influxdb-Version") != "1.8.0" || rec.Header().Get("X-Influxdb-Build") != "OSS" {
			t.Fatalf("%s /ping: %d %q %v", m, rec.Code, rec.Body, rec.Header())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ping?verbose=true", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"version":"1.8.0"}` {
		t.Fatalf("verbose ping: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"status":"pass"`) {
		t.Fatalf("health: %d %s", rec.Code, rec.Body)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements(`CREATE DATABASE "a;b"; ;SHOW DATABASES;`)
	if len(got) != 2 || got[0] != `CREATE DATABASE "a;b"` || got[1] != "SHOW DATABASES" {
		t.Fatalf("got %q", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := NewInfluxHandler(newFakeAppender(), InfluxOptions{MaxBodyBytes: -1, Tokens: []string{""}})
	if err == nil || !strings.Contains(err.Error(), "MaxBodyBytes") || !strings.Contains(err.Error(), "Tokens[0]") {
		t.Fatalf("got %v", err)
	}
}
