package query

import (
	"context"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Direct aggregation. A range query that the rewrite (pushdown.go) turned
// into `op by (G) ({__lightning_pushdown__="0"})` — op one of sum, avg,
// min, max, count, group, stddev, stdvar; the pushed-down call's series
// projected on G (projection.go) — is answered without the PromQL engine.
// The vector selector reads, at each evaluation time, exactly the sample
// pushdown put there (pushdown_eval.go: one per time, a staleness marker
// for an empty window), and Prometheus' aggregation (engine.go
// aggregation) folds a group's floats in the order the select returned
// them. Of a group of one float f it gives
//
//	sum: f + 0 (its Kahan compensation, +0, added at the end)
//	avg: f/1 + 0/1
//	min, max: f
//	count, group: 1
//	stdvar: 0, NaN when f is NaN or ±Inf; stddev: its square root
//
// and of several, for max and min: the first, replaced by a greater
// (less) one or by any when it is NaN; count: their number; group: 1.
// So the groups are formed from the projected label sets (Keep(G) of the
// full ones, which is what the engine's grouping labels are), each member
// in select order; sum, avg, stddev and stdvar, whose folds of several are
// Kahan sums and running means, are taken only when every group has one
// member. Series without a point are left out, and the answer is sorted by
// labels as the engine sorts a range query's. That skips the engine's
// parse, its step-by-step evaluation and its grouping. When the
// projection does not hold, the answer would hold more points than
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
	if err := pastDeadline(ctx); err != nil {
		return nil, false, err
	}
	q := &querier{a: a, tr: tr, plans: []*pushdownPlan{d.plan}, needProjection: true, sharedProjection: sharedGroups(d.op)}
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
	if err := pastDeadline(ctx); err != nil {
		return nil, false, err
	}
	refs := set.(*seriesSet).refs
	groups, ok := groupRefs(refs, d.plan.evalTimes(), sharedGroups(d.op))
	if !ok || len(groups)*d.plan.evalTimes() > a.opts.MaxSamplesInMemory {
		return nil, false, nil // the engine evaluates it (and reports the limit)
	}
	slab := make([]promql.FPoint, 0, len(groups)*d.plan.evalTimes())
	out := make(promql.Matrix, 0, len(groups))
	for _, g := range groups {
		start := len(slab)
		slab = d.aggregate(slab, refs, g)
		if len(slab) > start {
			out = append(out, promql.Series{Metric: refs[g[0]].lset, Floats: slab[start:len(slab):len(slab)]})
		}
	}
	slices.SortFunc(out, func(x, y promql.Series) int { return labels.Compare(x.Metric, y.Metric) })
	a.direct.Add(1)
	return out, true, nil
}

// pastDeadline returns ctx's error, or context.DeadlineExceeded once its
// deadline has passed even if its timer has not fired yet.
func pastDeadline(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// groupRefs returns the refs with samples grouped by label set, each group
// in ref order (the order the engine reads the select's series in), the
// groups in order of their first member. ok is false unless every such ref
// holds one sample per evaluation time, as pushdown returns them, and,
// without shared, every group has one member.
func groupRefs(refs []seriesRef, steps int, shared bool) (_ [][]int, ok bool) {
	var groups [][]int
	byHash := make(map[uint64][]int, len(refs)) // label hash -> groups
	for i := range refs {
		if refs[i].n == 0 {
			continue
		}
		if refs[i].n != steps {
			return nil, false
		}
		h := refs[i].lset.Hash()
		found := false
		for _, g := range byHash[h] {
			if labels.Equal(refs[groups[g][0]].lset, refs[i].lset) {
				if !shared {
					return nil, false
				}
				groups[g], found = append(groups[g], i), true
				break
			}
		}
		if !found {
			byHash[h] = append(byHash[h], len(groups))
			groups = append(groups, []int{i})
		}
	}
	return groups, true
}

// aggregate appends to slab group g's aggregate at each evaluation time
// where a member has a sample, as Prometheus' aggregation folds a group's
// floats in input order (engine.go aggregation): the first sets the value,
// max (min) takes a greater (less) one or any over NaN, count counts; sum,
// avg, stddev and stdvar come here only for groups of one (aggregateOne).
func (d *directAgg) aggregate(slab []promql.FPoint, refs []seriesRef, g []int) []promql.FPoint {
	r0 := &refs[g[0]]
	for k := range r0.n {
		var v float64
		n := 0
		for _, m := range g {
			f := refs[m].ar.vs[refs[m].off+k]
			if value.IsStaleNaN(f) {
				continue
			}
			n++
			switch {
			case n == 1:
				v = f
			case d.op == parser.MAX:
				if v < f || math.IsNaN(v) {
					v = f
				}
			case d.op == parser.MIN:
				if v > f || math.IsNaN(v) {
					v = f
				}
			}
		}
		switch {
		case n == 0:
			continue
		case d.op == parser.COUNT:
			v = float64(n)
		case d.op == parser.GROUP:
			v = 1
		case n == 1:
			v = aggregateOne(d.op, v)
		} // max, min of several: the fold's value (groupRefs took no other op's)
		slab = append(slab, promql.FPoint{T: r0.ar.ts[r0.off+k], F: v})
	}
	return slab
}

// sharedGroups reports whether op's direct aggregation takes groups of
// several series (their fold does not depend on more than their order).
func sharedGroups(op parser.ItemType) bool {
	return op == parser.MAX || op == parser.MIN || op == parser.COUNT || op == parser.GROUP
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
