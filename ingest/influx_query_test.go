package ingest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/query/influxql"
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

// stubExecutor answers every statement with one row at time 1.5 s, or
// with an error for statements naming "bad".
type stubExecutor struct{ got []influxql.Params }

func (x *stubExecutor) Execute(_ context.Context, stmt ql.Statement, p influxql.Params) influxql.Result {
	x.got = append(x.got, p)
	if strings.Contains(stmt.String(), "bad") {
		return influxql.Result{Err: errors.New("boom")}
	}
	return influxql.Result{Series: []*influxql.Row{{Name: "m", Tags: map[string]string{"host": "a"}, Columns: []string{"time", "v"},
		Values: [][]any{{influxql.Time(1_500_000_000), 1.5}, {influxql.Time(2_000_000_000), int64(2)}, {influxql.Time(3_000_000_000), nil}}}}}
}

func TestQueryInfluxQL(t *testing.T) {
	x := &stubExecutor{}
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.InfluxQL = x })
	get := func(params url.Values, accept string) (int, string) {
		req := httptest.NewRequest(http.MethodGet, "/query?"+params.Encode(), nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	row := `{"name":"m","tags":{"host":"a"},"columns":["time","v"],"values":[`
	steps := []struct {
		params     url.Values
		accept     string
		wantStatus int
		wantBody   string
	}{
		{url.Values{"q": {"SELECT v FROM m"}, "db": {"d"}}, "", 200,
			`{"results":[{"statement_id":0,"series":[` + row + `["1970-01-01T00:00:01.5Z",1.5],["1970-01-01T00:00:02Z",2],["1970-01-01T00:00:03Z",null]]}]}]}`},
		{url.Values{"q": {"SELECT v FROM m; SELECT v FROM bad"}, "epoch": {"ms"}}, "", 200,
			`{"results":[{"statement_id":0,"series":[` + row + `[1500,1.5],[2000,2],[3000,null]]}]},{"statement_id":1,"error":"boom"}]}`},
		{url.Values{"q": {"SELECT v FROM m"}, "epoch": {"s"}, "chunked": {"true"}, "chunk_size": {"2"}}, "", 200,
			`{"results":[{"statement_id":0,"series":[` + row + `[1,1.5],[2,2]],"partial":true}],"partial":true}]}` + "\n" +
				`{"results":[{"statement_id":0,"series":[` + row + `[3,null]]}]}]}`},
		{url.Values{"q": {"SELECT v FROM m"}, "epoch": {"ns"}}, "application/csv", 200,
			"name,tags,time,v\nm,host=a,1500000000,1.5\nm,host=a,2000000000,2\nm,host=a,3000000000,"},
		{url.Values{"q": {"SELECT v FROM m"}}, "application/csv", 200, // no epoch: nanoseconds too, as InfluxDB
			"name,tags,time,v\nm,host=a,1500000000,1.5\nm,host=a,2000000000,2\nm,host=a,3000000000,"},
		{url.Values{"q": {"SELEC v FROM m"}}, "", 400,
			`{"error":"error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1"}`},
		// Nothing runs when a later statement does not parse; the position
		// counts from the start of the query, as InfluxDB reports it.
		{url.Values{"q": {"CREATE DATABASE early; SELECT v FROM m; SELECT FROM"}}, "", 400,
			`{"error":"error parsing query: found FROM, expected identifier, string, number, bool at line 1, char 48"}`},
		{url.Values{"q": {"SELECT v FROM m WHERE host = $h"}, "params": {`{"h":"a"}`}, "epoch": {"s"}}, "", 200,
			`{"results":[{"statement_id":0,"series":[` + row + `[1,1.5],[2,2],[3,null]]}]}]}`},
	}
	for i, s := range steps {
		code, body := get(s.params, s.accept)
		if code != s.wantStatus || body != s.wantBody {
			t.Errorf("step %d: got %d %s\nwant %d %s", i, code, body, s.wantStatus, s.wantBody)
		}
	}
	if len(x.got) == 0 || x.got[0].DB != "d" {
		t.Errorf("params: %+v", x.got)
	}
	if strings.Contains(strings.Join(h.Databases(), ","), "early") {
		t.Error("a statement ran although a later one did not parse")
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

// TestLimitRowsAcrossStatements checks that max-row-limit counts rows over
// every statement of a request, as InfluxDB does.
func TestLimitRowsAcrossStatements(t *testing.T) {
	three := func() queryResult {
		return queryResult{Series: []querySet{{Name: "m", Values: [][]any{{1}, {2}, {3}}}, {Name: "n", Values: [][]any{{4}}}}}
	}
	rows := 0
	a, b := three(), three()
	if limitRows(&a, 6, &rows) || rows != 4 || a.Series[0].Partial || len(a.Series) != 2 {
		t.Fatalf("first statement: rows %d, %+v", rows, a)
	}
	if !limitRows(&b, 6, &rows) || rows != 6 || len(b.Series) != 1 || len(b.Series[0].Values) != 2 || !b.Series[0].Partial {
		t.Fatalf("second statement: rows %d, %+v", rows, b)
	}
	c, n := three(), 0
	if limitRows(&c, 0, &n) || len(c.Series) != 2 {
		t.Fatalf("limit 0 must not truncate: %+v", c)
	}
}
