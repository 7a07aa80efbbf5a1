package query

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/auth"
)

// TestScopeQuery: a limited caller's selectors all get its scope, in the
// parsed expression and in the query text; an unlimited caller's query is
// left byte for byte.
func TestScopeQuery(t *testing.T) {
	const q = `sum by (db) (rate(cpu{host="a"}[5m])) / on() group_left count(up offset 1h)`
	for _, tc := range []struct {
		p    *auth.Principal
		want string
	}{
		{auth.Full, q},
		{&auth.Principal{ID: "x", Perm: auth.Read, Scope: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "db", "a")}},
			`sum by (db) (rate(cpu{db="a",host="a"}[5m])) / on () group_left () count(up{db="a"} offset 1h)`},
	} {
		r := httptest.NewRequest("GET", "/api/v1/query?query=x", nil).WithContext(auth.NewContext(context.Background(), tc.p))
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		r.Form.Set("query", q)
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		if err != nil {
			t.Fatal(err)
		}
		scopeQuery(r, expr)
		if got := r.FormValue("query"); got != tc.want {
			t.Errorf("%s: query %q, want %q", tc.p.ID, got, tc.want)
		}
	}
}
