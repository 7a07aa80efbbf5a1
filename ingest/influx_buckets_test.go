package ingest

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBucketsErrors: bad bucket requests are answered in InfluxDB 2.x's
// error shape, naming what is wrong.
func TestBucketsErrors(t *testing.T) {
	rps := &fakeRPs{m: map[string][]RetentionPolicy{}}
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.RetentionPolicies = rps; o.Tokens = []string{"tok"} })
	bare := newTestHandler(t, newFakeAppender(), nil)
	for _, c := range []struct {
		h                    *InfluxHandler
		method, target, body string
		noToken              bool
		wantStatus           int
		wantBody             string
	}{
		{h, "GET", "/api/v2/buckets", "", true, 401, `{"code":"unauthorized","message":"unauthorized access"}`},
		{bare, "GET", "/api/v2/buckets", "", false, 404, `{"code":"not found","message":"buckets are not served: this server keeps no retention policies"}`},
		{h, "PUT", "/api/v2/buckets", "", false, 405, `{"code":"method not allowed","message":"method not allowed"}`},
		{h, "POST", "/api/v2/buckets", `{"name":`, false, 400, `{"code":"invalid","message":"invalid bucket JSON: unexpected end of JSON input"}`},
		{h, "POST", "/api/v2/buckets", `{}`, false, 400, `{"code":"invalid","message":"bucket name is required"}`},
		{h, "POST", "/api/v2/buckets", `{"name":"a","retentionRules":[{"everySeconds":3600},{"everySeconds":7200}]}`, false, 400,
			`{"code":"invalid","message":"retentionRules: want at most one rule, got 2"}`},
		{h, "POST", "/api/v2/buckets", `{"name":"a","retentionRules":[{"type":"shrink","everySeconds":3600}]}`, false, 400,
			`{"code":"invalid","message":"retentionRules[0].type \"shrink\": want \"expire\""}`},
		{h, "POST", "/api/v2/buckets", `{"name":"a","retentionRules":[{"type":"expire","everySeconds":-1}]}`, false, 400,
			`{"code":"invalid","message":"retentionRules[0].everySeconds -1: want 0 (for ever) to 9223372036"}`},
		{h, "POST", "/api/v2/buckets", `{"name":"a","retentionRules":[{"everySeconds":3600,"shardGroupDurationSeconds":7200}]}`, false, 400,
			`{"code":"invalid","message":"retentionRules[0].shardGroupDurationSeconds 7200: longer than everySeconds 3600"}`},
		{h, "POST", "/api/v2/buckets", `{"name":"a/b","retentionRules":[{"type":"expire","everySeconds":3600}]}`, false, 201, ""},
		{h, "GET", "/api/v2/buckets?limit=0", "", false, 400, `{"code":"invalid","message":"limit \"0\": want 1 to 100"}`},
		{h, "GET", "/api/v2/buckets?name=a", "", false, 200, ""},
		{h, "GET", "/api/v2/buckets/00", "", false, 404, `{"code":"not found","message":"bucket not found: id \"00\""}`},
		{h, "POST", "/api/v2/buckets", strings.Repeat(" ", maxBucketBody+1), false, 413, ""},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		if !c.noToken {
			req.Header.Set("Authorization", "Token tok")
		}
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != c.wantStatus || c.wantBody != "" && got != c.wantBody {
			t.Errorf("%s %s %.40q: %d %s\nwant %d %s", c.method, c.target, c.body, rec.Code, got, c.wantStatus, c.wantBody)
		}
	}
	if rp := rps.m["a"]; len(rp) != 1 || rp[0].Name != "b" || rp[0].Duration.Hours() != 1 || !rp[0].Default {
		t.Errorf("stored %+v", rps.m)
	}
}

// FuzzDecodeBucketRequest: no body panics the decoder, and an accepted
// rule is one "expire" rule with durations that fit a time.Duration.
func FuzzDecodeBucketRequest(f *testing.F) {
	for _, s := range []string{
		`{"name":"db/rp","orgID":"0000000000000001","retentionRules":[{"type":"expire","everySeconds":86400,"shardGroupDurationSeconds":3600}]}`,
		`{"name":"db","retentionRules":[]}`,
		`{"retentionRules":[{"everySeconds":9223372036854775807}]}`,
		`{"name":null,"retentionRules":null}`,
		`[1,2]`, ``, `{"retentionRules":[{"type":"expire","everySeconds":1e3}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeBucketRequest(body)
		if err != nil || req.RetentionRules == nil {
			return
		}
		if len(*req.RetentionRules) > 1 {
			t.Fatalf("%d rules accepted", len(*req.RetentionRules))
		}
		for _, r := range *req.RetentionRules {
			if r.EverySeconds < 0 || r.EverySeconds > 9223372036 || r.ShardGroupDurationSeconds < 0 || (r.Type != "" && r.Type != "expire") {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}
