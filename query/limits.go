package query

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// The per-query limits checked before the PromQL engine sees a query:
// the length of an expression (checked before it is parsed) and the
// points it evaluates (checked on the parsed expression, before the
// engine allocates anything for it). The engine's own limits (samples in
// memory, the timeout) apply during evaluation.

// checkQueryLength returns an error wrapping ErrQueryTooLong when s is
// longer than limit bytes; a limit <= 0 means no limit.
func checkQueryLength(param, s string, limit int) error {
	if limit > 0 && len(s) > limit {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d (query.max_query_length)", ErrQueryTooLong, param, len(s), limit)
	}
	return nil
}

// evalGrid is one evaluator's step grid in ms: the query's own, or a
// subquery's.
type evalGrid struct {
	start, end, interval int64
}

// steps returns the number of evaluation steps of g.
func (g evalGrid) steps() int64 {
	if g.end < g.start || g.interval <= 0 {
		return 0
	}
	return satAdd(satSub(g.end, g.start)/g.interval, 1)
}

// queryPoints returns the evaluation steps of expr: the query's own steps
// plus every subquery's, each on the grid the PromQL engine evaluates it
// on (promql/engine.go subqueryTimeRange). A subquery is evaluated once
// over the outer evaluator's range widened by its own range, so a nested
// subquery's grid is derived from its parent's. The engine allocates
// 16 bytes of step statistics per subquery step before evaluating it,
// and every step is a point per series, so this is the query's cost in
// steps. subqStep is the step of a subquery that names none.
// start == end and step 0 is an instant query.
func queryPoints(expr parser.Expr, start, end time.Time, step, subqStep time.Duration) int64 {
	top := evalGrid{start.UnixMilli(), end.UnixMilli(), max(step.Milliseconds(), 1)}
	if step <= 0 {
		top.end = top.start
	}
	total := top.steps()
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		sq, ok := node.(*parser.SubqueryExpr)
		if !ok {
			return nil
		}
		g := top
		for _, p := range path {
			if outer, ok := p.(*parser.SubqueryExpr); ok {
				g = subqueryGrid(g, top, outer, subqStep)
			}
		}
		total = satAdd(total, subqueryGrid(g, top, sq, subqStep).steps())
		return nil
	})
	return total
}

// subqueryGrid returns the grid the engine evaluates sq on inside an
// evaluator on grid g (promql/engine.go subqueryEvaluationTimes). top is
// the query's own grid, from which @ start() and @ end() take their time.
func subqueryGrid(g, top evalGrid, sq *parser.SubqueryExpr, subqStep time.Duration) evalGrid {
	step := sq.Step
	if step <= 0 {
		step = subqStep
	}
	interval := max(step.Milliseconds(), 1)
	offset := sq.OriginalOffset.Milliseconds()
	rng := sq.Range.Milliseconds()
	start, end := g.start, g.end
	switch {
	case sq.Timestamp != nil:
		start, end = *sq.Timestamp, *sq.Timestamp
	case sq.StartOrEnd == parser.START:
		start, end = top.start, top.start
	case sq.StartOrEnd == parser.END:
		start, end = top.end, top.end
	case g.interval > 0:
		end = satAdd(start, (satSub(end, start)/g.interval)*g.interval)
	}
	from := satSub(satSub(start, offset), rng)
	subStart := interval * (from / interval)
	if subStart <= from {
		subStart = satAdd(subStart, interval)
	}
	return evalGrid{subStart, satSub(end, offset), interval}
}

// checkPoints returns an error wrapping ErrTooManyPoints when expr
// evaluates more than limit points; a limit <= 0 means no limit.
func checkPoints(expr parser.Expr, start, end time.Time, step, subqStep time.Duration, limit int64) error {
	if limit <= 0 {
		return nil
	}
	if n := queryPoints(expr, start, end, step, subqStep); n > limit {
		return fmt.Errorf("%w: the query and its subqueries evaluate %d points per series, the limit is %d (query.max_points); use a larger subquery or query step, or a shorter range",
			ErrTooManyPoints, n, limit)
	}
	return nil
}

// checkMatchers refuses a selector all of whose matchers match the empty
// string, as Prometheus does for match[]: it would select every series.
func checkMatchers(ms []*labels.Matcher) error {
	for _, m := range ms {
		if m != nil && !m.Matches("") {
			return nil
		}
	}
	return ErrEmptyMatchers
}

func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		return satAdd(satAdd(a, math.MaxInt64), 1)
	}
	return satAdd(a, -b)
}

// errReason names a rejected query's reason in
// query_rejected_total{reason}: one of the limits, or "" for an error
// that is not a limit.
func errReason(err error) string {
	switch {
	case errors.Is(err, ErrQueryTooLong):
		return "query_length"
	case errors.Is(err, ErrTooManyPoints):
		return "points"
	case errors.Is(err, ErrEmptyMatchers):
		return "empty_matchers"
	case errors.Is(err, ErrTooManySeries):
		return "series"
	case errors.Is(err, ErrTooManySamples):
		return "samples"
	case errors.Is(err, ErrTooManyQueries):
		return "concurrency"
	}
	return ""
}
