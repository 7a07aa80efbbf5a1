package query

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Direct aggregation. A range query that the rewrite (pushdown.go) turned
// into `op by (G) ({__lightning_pushdown__="0"})` — op one of sum, avg,
// min, max, count, group, stddev, stdvar; the pushed-down call's series
// projected on G (projection.go) — is answered without the PromQL engine
// when the projection held: every group then has exactly one member, the
// series s, and Prometheus' aggregation (engine.go aggregation) of a group
// of one float f at a step is
//
//	sum: f + 0 (its Kahan compensation, +0, added at the end)
//	avg: f/1 + 0/1
//	min, max: f
//	count, group: 1
//	stdvar: 0, NaN when f is NaN or ±Inf; stddev: its square root
//
// at the steps where the pushed-down series has a sample that is not a
// staleness marker (the vector selector reads exactly that sample: each
// evaluation time has one, pushdown_eval.go), with s's labels (Keep(G) of
// the full ones, which is what projection returned), series without a
// point left out, sorted by labels as the engine sorts a range query's
// answer. That skips the engine's parse, step-by-step evaluation and
// grouping. When the projection did not hold (two series share their G
// labels), or the answer would hold more points than
// Options.MaxSamplesInMemory, or explain is asked, the engine evaluates
// the query as always.

// errNotProjected: the select's series kept their labels (two would have
// shared their grouping labels), so direct aggregation does not apply.
var errNotProjected = errors.New("pushdown: series not projected")

// directAgg is a query answered by direct aggregation.
type directAgg struct {
	op   parser.ItemType
	plan *pushdownPlan
}

// directShape returns the direct aggregation of the rewritten expression
// e, or nil when e does not have its shape.
func directShape(e parser.Expr, plans []*pushdownPlan) *directAgg {
	e = unparen(e)
	agg, ok := e.(*parser.AggregateExpr)
	if !ok || agg.Param != nil || agg.Without {
		return nil
	}
	switch agg.Op {
	case parser.SUM, parser.AVG, parser.MIN, parser.MAX, parser.COUNT, parser.GROUP, parser.STDDEV, parser.STDVAR:
	default:
		return nil
	}
	vs, ok := unparen(agg.Expr).(*parser.VectorSelector)
	if !ok || len(vs.LabelMatchers) != 1 || vs.LabelMatchers[0].Name != pushdownLabel || len(plans) != 1 ||
		vs.LabelMatchers[0].Value != "0" || vs.OriginalOffset != 0 || vs.Timestamp != nil || vs.StartOrEnd != 0 {
		return nil
	}
	p := plans[0]
	if p.projection() == nil || p.stepMs <= 0 || !slices.Equal(p.group, agg.Grouping) {
		return nil
	}
	return &directAgg{op: agg.Op, plan: p}
}

// evalDirect answers d as the engine would (see above); ok is false when
// the engine must evaluate the query instead.
func (a *Adapter) evalDirect(ctx context.Context, tr *Trace, d *directAgg) (_ promql.Matrix, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	q := &querier{a: a, tr: tr, plans: []*pushdownPlan{d.plan}, needProjection: true}
	defer q.Close()
	st := &SelectTrace{}
	tr.addSelect(st)
	set, err := q.selectPushdown(ctx, st, false, d.plan)
	if errors.Is(err, errNotProjected) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	refs := set.(*seriesSet).refs
	// Count first, so that the points of all series take one allocation.
	points, nSeries := 0, 0
	for i := range refs {
		if refs[i].n == 0 {
			continue
		}
		n := 0
		for _, f := range refs[i].ar.vs[refs[i].off : refs[i].off+refs[i].n] {
			if !value.IsStaleNaN(f) {
				n++
			}
		}
		points += n
		if n > 0 {
			nSeries++
		}
	}
	if points > a.opts.MaxSamplesInMemory {
		return nil, false, nil // the engine reports the limit
	}
	slab := make([]promql.FPoint, 0, points)
	out := make(promql.Matrix, 0, nSeries)
	for i := range refs {
		r := &refs[i]
		if r.n == 0 {
			continue
		}
		start := len(slab)
		for j, f := range r.ar.vs[r.off : r.off+r.n] {
			if !value.IsStaleNaN(f) {
				slab = append(slab, promql.FPoint{T: r.ar.ts[r.off+j], F: aggregateOne(d.op, f)})
			}
		}
		if len(slab) > start {
			out = append(out, promql.Series{Metric: r.lset, Floats: slab[start:len(slab):len(slab)]})
		}
	}
	slices.SortFunc(out, func(x, y promql.Series) int { return labels.Compare(x.Metric, y.Metric) })
	a.direct.Add(1)
	return out, true, nil
}

// aggregateOne is Prometheus' aggregation op of a group of the one float f.
func aggregateOne(op parser.ItemType, f float64) float64 {
	switch op {
	case parser.SUM:
		return f + 0
	case parser.AVG:
		return f/1 + 0.0/1
	case parser.COUNT, parser.GROUP:
		return 1
	case parser.STDVAR, parser.STDDEV:
		v := 0.0
		if math.IsNaN(f) || math.IsInf(f, 0) {
			v = math.NaN()
		}
		if op == parser.STDDEV {
			return math.Sqrt(v / 1)
		}
		return v / 1
	}
	return f // min, max
}
