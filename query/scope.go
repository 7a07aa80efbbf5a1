package query

import (
	"context"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/auth"
)

// scopedQuery returns the PromQL text to evaluate for ctx's caller: qs
// unchanged when the caller sees every series, else expr with the caller's
// scope matchers (auth.Principal.Scope) added to every selector, so that
// the rewrites, pushdown and rollups that follow parse and plan the
// limited selectors. expr is modified.
func scopedQuery(ctx context.Context, expr parser.Expr, qs string) string {
	p := auth.FromContext(ctx)
	if !p.Limited() {
		return qs
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = auth.ScopeMatchers(ctx, vs.LabelMatchers)
		}
		return nil
	})
	return expr.String()
}
