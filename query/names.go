package query

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// MetricsQL metric names (Options.MetricsQLNames; docs/query.md,
// "MetricsQL metric names").
//
// TSBS writes its multi-field queries for VictoriaMetrics as
//
//	max(max_over_time({__name__=~"cpu_(usage_user|usage_system)", hostname="host_3"}[1m])) by (__name__)
//
// PromQL drops the metric name in max_over_time, so the two fields'
// series collide ("vector cannot contain metrics with the same
// labelset"). Prometheus' delayed name removal alone does not help: it
// keeps the name until the end of the evaluation, so the aggregation does
// group by it, but then removes it from the groups and fails the same way
// (promqltest name_label_dropping.test: "Aggregation operators by
// __name__ lead to duplicate labelset errors"). MetricsQL keeps the name
// of the rollup functions that do not change a value's meaning
// (VictoriaMetrics' rollupFuncsKeepMetricName); of PromQL's, those are
// keepNameFuncs below, besides last_over_time and first_over_time that
// PromQL keeps it for already.
//
// With the mode on, the engine runs with delayed name removal and
// keepNames wraps every call of a keepNameFuncs function over a range
// selector in label_replace(call, "__name__", "$1", "__name__", "(.+)"):
// the value
// and labels stay as they are, and under delayed name removal a
// label_replace that sets __name__ clears the series' mark to drop it
// (promql/functions.go), so the name survives to the answer.

// keepNameFuncs are the PromQL functions whose result keeps the metric
// name in MetricsQL-names mode.
var keepNameFuncs = map[string]bool{
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "quantile_over_time": true,
}

// KeepMetricsQLNames is keepNames for other evaluators of PromQL in
// MetricsQL-names mode (query/fanout): it rewrites e in place and returns
// it, and whether it wrapped any call. The engine must run with delayed
// name removal.
func KeepMetricsQLNames(e parser.Expr) (parser.Expr, bool) { return keepNames(e) }

// keepNames returns e with every call of a keepNameFuncs function over a
// range selector wrapped in the name-keeping label_replace (see above), and
// whether it wrapped any.
func keepNames(e parser.Expr) (parser.Expr, bool) {
	n := 0
	e = wrapKeepers(e, &n)
	return e, n > 0
}

// wrapKeepers is keepNames; it counts the calls it wraps in n.
func wrapKeepers(e parser.Expr, n *int) parser.Expr {
	switch x := e.(type) {
	case *parser.AggregateExpr:
		x.Expr = wrapKeepers(x.Expr, n)
		if x.Param != nil {
			x.Param = wrapKeepers(x.Param, n)
		}
	case *parser.BinaryExpr:
		x.LHS, x.RHS = wrapKeepers(x.LHS, n), wrapKeepers(x.RHS, n)
	case *parser.ParenExpr:
		x.Expr = wrapKeepers(x.Expr, n)
	case *parser.UnaryExpr:
		x.Expr = wrapKeepers(x.Expr, n)
	case *parser.SubqueryExpr:
		x.Expr = wrapKeepers(x.Expr, n)
	case *parser.StepInvariantExpr:
		x.Expr = wrapKeepers(x.Expr, n)
	case *parser.Call:
		for i := range x.Args {
			x.Args[i] = wrapKeepers(x.Args[i], n)
		}
		if x.Func != nil && keepNameFuncs[x.Func.Name] && rangeSelectorArg(x) {
			*n++
			return nameKeeper(x)
		}
	}
	return e
}

// rangeSelectorArg reports whether c's range argument is a range selector
// (not a subquery, whose series may already be marked to lose their
// name: max_over_time(rate(x[1m])[10m:]) has no name in MetricsQL either).
func rangeSelectorArg(c *parser.Call) bool {
	for _, a := range c.Args {
		if _, ok := a.(*parser.MatrixSelector); ok {
			return true
		}
	}
	return false
}

// nameKeeper returns label_replace(c, "__name__", "$1", "__name__", "(.+)").
func nameKeeper(c *parser.Call) *parser.Call {
	str := func(s string) *parser.StringLiteral { return &parser.StringLiteral{Val: s, PosRange: c.PosRange} }
	return &parser.Call{
		Func:     parser.Functions["label_replace"],
		Args:     parser.Expressions{c, str(labels.MetricName), str("$1"), str(labels.MetricName), str("(.+)")},
		PosRange: c.PosRange,
	}
}

// isNameKeeper reports whether c is a label_replace that nameKeeper made
// (or one written the same way): it sets __name__ to itself.
func isNameKeeper(c *parser.Call) bool {
	if c.Func == nil || c.Func.Name != "label_replace" || len(c.Args) != 5 {
		return false
	}
	want := []string{labels.MetricName, "$1", labels.MetricName, "(.+)"}
	for i, w := range want {
		s, ok := c.Args[i+1].(*parser.StringLiteral)
		if !ok || s.Val != w {
			return false
		}
	}
	return true
}

// nameFreeAggregation reports whether the output of a is the same
// whether or not its input series carry __name__: its output labels are
// its grouping labels, and those do not include __name__ (without always
// removes it).
func nameFreeAggregation(a *parser.AggregateExpr) bool {
	switch a.Op {
	case parser.SUM, parser.AVG, parser.MIN, parser.MAX, parser.COUNT, parser.GROUP,
		parser.STDDEV, parser.STDVAR, parser.QUANTILE:
	default:
		return false
	}
	if a.Without {
		return true
	}
	for _, g := range a.Grouping {
		if g == labels.MetricName {
			return false
		}
	}
	return true
}
