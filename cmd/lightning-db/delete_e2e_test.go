package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// writeLines posts line protocol to /write?db=db and fails on anything but
// 204.
func writeLines(t testing.TB, p *proc, db, body string) {
	t.Helper()
	resp, err := http.Post(p.url("/write?db="+db), "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("write: %d %s", resp.StatusCode, b)
	}
}

// adminCall sends method to an admin path with form values and returns the
// status and body.
func adminCall(t *testing.T, p *proc, method, path string, form url.Values, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, p.url(path)+"?"+form.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deleteE2EData writes 13 samples, 10 minutes apart over the last two
// hours, for hosts a, b and c of m (field v) in database x.
func deleteE2EData(t *testing.T, p *proc, now time.Time) {
	var body strings.Builder
	for i := range 13 {
		ts := now.Add(-2 * time.Hour).Add(time.Duration(i) * 10 * time.Minute)
		for _, h := range []string{"a", "b", "c"} {
			fmt.Fprintf(&body, "m,host=%s v=%d %d\n", h, i, ts.UnixNano())
		}
	}
	writeLines(t, p, "x", body.String())
}

// sampleCounts exports m_v and returns the number of samples per host.
func sampleCounts(p *proc) map[string]int {
	out := map[string]int{}
	for _, e := range p.export(`{__name__="m_v"}`) {
		out[e.Metric["host"]] = len(e.Timestamps)
	}
	return out
}

// TestDeleteSeriesE2E deletes through POST and PUT
// /api/v1/admin/tsdb/delete_series on a real server and checks that the
// deleted samples are gone from queries at once, after a restart, after
// clean_tombstones (which compacts them away) and after a SIGKILL right
// after the 204, while the other samples stay; bad input gets Prometheus'
// error JSON.
func TestDeleteSeriesE2E(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Minute)
	p := startServer(t, dir)
	deleteE2EData(t, p, now)
	p.stop() // flushed: the samples are in segments
	p = startServer(t, dir)
	deleteE2EData(t, p, now) // and in the memtable too (same values)

	countA := func() string {
		t.Helper()
		q := url.Values{"query": {`count_over_time(m_v{host="a"}[3h])`}, "time": {fmt.Sprint(now.Unix())}}
		code, body := adminCall(t, p, http.MethodGet, "/api/v1/query", q)
		if code != 200 {
			t.Fatalf("query: %d %s", code, body)
		}
		return body
	}
	if got := countA(); !strings.Contains(got, `"13"`) {
		t.Fatalf("count before the delete: %s", got)
	}
	form := url.Values{"match[]": {`{__name__="m_v",host="a"}`},
		"start": {fmt.Sprint(now.Add(-90 * time.Minute).Unix())}, "end": {fmt.Sprint(now.Add(-30 * time.Minute).Unix())}}
	code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/delete_series", form)
	if code != http.StatusNoContent {
		t.Fatalf("delete_series: %d %s", code, body)
	}
	want := map[string]int{"a": 6, "b": 13, "c": 13} // 7 of a's 13 in [-90m, -30m]
	check := func(when string) {
		t.Helper()
		if got := sampleCounts(p); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: samples per host %v, want %v", when, got, want)
		}
	}
	check("after delete_series")
	if got := countA(); !strings.Contains(got, `"6"`) {
		t.Fatalf("PromQL count after the delete (a cached answer?): %s", got)
	}

	for _, c := range []struct {
		method string
		form   url.Values
		code   int
		want   string
	}{
		{http.MethodPost, url.Values{}, 400, `"errorType":"bad_data","error":"no match[] parameter provided"`},
		{http.MethodPost, url.Values{"match[]": {`{host=`}}, 400, `"errorType":"bad_data"`},
		{http.MethodPost, url.Values{"match[]": {`m_v`}, "start": {"yesterday"}}, 400, `invalid parameter \"start\"`},
		{http.MethodPost, url.Values{"match[]": {`m_v`}, "start": {"20"}, "end": {"10"}}, 400, "end timestamp must not be before start time"},
		{http.MethodGet, url.Values{"match[]": {`m_v`}}, 405, ""},
	} {
		code, body := adminCall(t, p, c.method, "/api/v1/admin/tsdb/delete_series", c.form)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %v: %d %s, want %d with %s", c.method, c.form, code, body, c.code, c.want)
		}
	}
	check("after refused deletes")

	p.stop()
	p = startServer(t, dir)
	check("after a restart")
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/clean_tombstones", nil); code != 204 {
		t.Fatalf("clean_tombstones: %d %s", code, body)
	}
	check("after clean_tombstones")
	if v := p.metricValue("lightningdb_engine_tombstones"); v != 0 {
		t.Errorf("tombstones after clean_tombstones: %v", v)
	}

	// VictoriaMetrics' form: POST with the selector in a form body.
	resp, err := http.PostForm(p.url("/api/v1/admin/tsdb/delete_series"), url.Values{"match[]": {`m_v{host="c"}`},
		"start": {fmt.Sprint(now.Add(-time.Hour).Unix())}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete_series with a form body: %d", resp.StatusCode)
	}
	want["c"] = 6 // 7 of 13 in the last hour
	check("after a form-body delete")

	// PUT, all time, then SIGKILL at once: the 204 means durable.
	code, body = adminCall(t, p, http.MethodPut, "/api/v1/admin/tsdb/delete_series", url.Values{"match[]": {`m_v{host="b"}`}})
	if code != http.StatusNoContent {
		t.Fatalf("delete_series (PUT): %d %s", code, body)
	}
	p.kill()
	p = startServer(t, dir)
	defer p.stop()
	delete(want, "b")
	check("after SIGKILL right after the 204")
}

// TestDeleteSeriesAuth: with --auth-tokens, delete_series and
// clean_tombstones need a token as writes do (here as a Bearer token or
// p=).
func TestDeleteSeriesAuth(t *testing.T) {
	p := startServer(t, t.TempDir(), "--auth-tokens", "s3cret")
	defer p.stop()
	form := url.Values{"match[]": {`m_v`}}
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/delete_series", form); code != 401 ||
		!strings.Contains(body, `"errorType":"unauthorized"`) {
		t.Fatalf("without a token: %d %s", code, body)
	}
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/clean_tombstones", nil); code != 401 {
		t.Fatalf("clean_tombstones without a token: %d %s", code, body)
	}
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/delete_series", form,
		"Authorization", "Bearer s3cret"); code != 204 {
		t.Fatalf("with a Bearer token: %d %s", code, body)
	}
	form.Set("p", "s3cret")
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/delete_series", form); code != 204 {
		t.Fatalf("with p=: %d %s", code, body)
	}
}
