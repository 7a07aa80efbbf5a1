package query

import (
	"net/http"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/auth"
)

// scopeQuery limits a PromQL request to its caller's series: when the
// caller (auth.Principal in r's context) is limited, every selector of
// expr gets the caller's scope matchers, and r's "query" parameter is
// replaced by the limited text, so that every later step (the rewrites,
// pushdown, rollups and their fallbacks, which parse the text again) plans
// the limited selectors. An unlimited caller's request is left as it is.
// r's form must be parsed.
func scopeQuery(r *http.Request, expr parser.Expr) {
	if !auth.FromContext(r.Context()).Limited() {
		return
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = auth.ScopeMatchers(r.Context(), vs.LabelMatchers)
		}
		return nil
	})
	r.Form.Set("query", expr.String())
}
