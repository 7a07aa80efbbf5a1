package query

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/parser/posrange"
	"github.com/prometheus/prometheus/storage"

	"github.com/lightningdb/lightningdb/downsample"
)

// Aggregation pushdown is a plan rewrite (docs/query.md, "Pushdown").
//
// Before the PromQL engine sees a query, Prepare replaces each call
// fn(sel[r]) with fn one of max_over_time, min_over_time, sum_over_time,
// count_over_time, avg_over_time — outside subqueries, with a literal
// range and offset, no @, and a metric-name equality matcher — by the
// vector selector {__lightning_pushdown__="<n>"}. When the engine selects
// it, the adapter evaluates fn itself at the query's evaluation times
// (pushdown_eval.go): from block aggregates for the blocks a window covers
// whole where that is exact, decoding the rest, and folding in the same
// order with the same arithmetic as Prometheus' functions.go. It returns,
// per series (labels without __name__, as the function drops it), one
// sample at each evaluation time holding fn's result, or a staleness
// marker where the window is empty; the engine's vector selector reads
// exactly that sample at that time (the lookback never reaches an older
// one), so the rest of the query sees what fn would have produced.
//
// Why a rewrite and not a synthetic series under the original call:
// count_over_time of one synthetic sample is 1, and for range > step the
// windows overlap, so no set of per-window samples evaluates to the same
// results under the engine's own fn.

// pushdownLabel names the matcher of a rewritten selector.
const pushdownLabel = "__lightning_pushdown__"

// pushdownFuncs are the functions pushdown evaluates.
var pushdownFuncs = map[string]bool{
	"max_over_time": true, "min_over_time": true, "sum_over_time": true,
	"count_over_time": true, "avg_over_time": true, "last_over_time": true,
	"rate": true, "increase": true, // of counter names only (counterName)
	"delta": true,
}

// counterName reports whether rate and increase of metric name pass
// without Prometheus' "metric might not be a counter" info annotation
// (engine.go: names ending in _total, _sum, _count or _bucket), which a
// pushed-down call could not give.
func counterName(name string) bool {
	for _, s := range []string{"_total", "_sum", "_count", "_bucket"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// pushdownPlan is one rewritten call: fn over the selector's matchers, with
// windows (t - offset - range, t - offset] for each evaluation time t in
// start, start+step, ..., end (ms).
//
// A union (pushdown_union.go) has branches instead: plans whose series
// the select returns one branch after the other, with setLabel set to
// setValue on a branch's series.
type pushdownPlan struct {
	fn                     string
	ms                     []*labels.Matcher
	text                   string // the original call, for explain
	rng                    time.Duration
	rangeMs, offsetMs      int64
	startMs, endMs, stepMs int64

	branches           []*pushdownPlan // a union's
	setLabel, setValue string          // a union branch's label_replace
	// keepName: the series keep __name__ (MetricsQL names, names.go;
	// last_over_time, which never drops it).
	keepName bool
	// grouped: the call is the input of an aggregation by the labels
	// group, whose output depends on no other label (projection.go).
	grouped bool
	group   []string

	tier    *RollupTier        // the tier read for it (rollup.go), nil for raw
	fields  []downsample.Field // the tier's fields it reads, meta first
	tierWhy string             // why that tier or why none, for explain
}

// span returns the samples p's windows read: (firstLo, lastHi] ms as an
// inclusive ns range.
func (p *pushdownPlan) span() (minT, maxT int64) {
	firstLo := p.startMs - p.offsetMs - p.rangeMs // exclusive
	lastHi := p.endMs - p.offsetMs
	return msToMinNs(firstLo + 1), msToMaxNs(lastHi)
}

// evalTimes returns the number of evaluation times.
func (p *pushdownPlan) evalTimes() int {
	if p.stepMs <= 0 {
		return 1
	}
	return int((p.endMs-p.startMs)/p.stepMs) + 1
}

// Prepare returns the queryable for one query and the query text the
// engine should evaluate: qs with its pushdown-able calls rewritten (see
// above), or qs unchanged when the optimizer or pushdown is off, the query
// does not parse (the engine reports the error) or nothing applies.
// start, end and step are the evaluation times: start == end and step 0
// for an instant query.
//
// A query whose union rewrite turns out not to apply fails with
// errUnionFallback (pushdown_union.go); the caller evaluates it again
// with PrepareNoUnion.
func (a *Adapter) Prepare(tr *Trace, qs string, start, end time.Time, step time.Duration) (storage.Queryable, string) {
	pr := a.prepare(tr, qs, nil, start, end, step, true)
	return pr.queryable, pr.query
}

// PrepareNoUnion is Prepare without the union rewrite.
func (a *Adapter) PrepareNoUnion(tr *Trace, qs string, start, end time.Time, step time.Duration) (storage.Queryable, string) {
	pr := a.prepare(tr, qs, nil, start, end, step, false)
	return pr.queryable, pr.query
}

// prepared is what prepare returns: the queryable and query text for the
// engine, and the direct evaluation of the query when it has one
// (direct.go).
type prepared struct {
	queryable storage.Queryable
	query     string
	direct    *directAgg
	tr        *Trace // the queryable's
}

// prepare is Prepare; expr is qs parsed, or nil to parse it here.
func (a *Adapter) prepare(tr *Trace, qs string, expr parser.Expr, start, end time.Time, step time.Duration, unions bool) prepared {
	if tr == nil {
		tr = &Trace{}
	}
	tr.Optimizer = !a.opts.DisableOptimizer
	var plans []*pushdownPlan
	var direct *directAgg
	// A query naming the rewrite's label itself is left alone.
	pushdown := !a.opts.DisableOptimizer && !a.opts.DisablePushdown && !strings.Contains(qs, pushdownLabel)
	if pushdown || a.opts.MetricsQLNames {
		var err error
		if expr == nil {
			expr, err = parser.NewParser(parser.Options{}).ParseExpr(qs)
		}
		if err == nil {
			kept := false
			if a.opts.MetricsQLNames {
				expr, kept = keepNames(expr)
			}
			out := expr
			if pushdown {
				r := &rewriter{startMs: timestamp.FromTime(start), endMs: timestamp.FromTime(end), stepMs: step.Milliseconds(),
					unions: unions && !a.opts.MetricsQLNames, delayedNames: a.opts.MetricsQLNames, tiers: a.opts.Rollups}
				out, plans = r.rewrite(expr, false), r.plans
				direct = directShape(out, plans)
			}
			if kept || len(plans) > 0 {
				qs = out.String()
			}
		}
	}
	return prepared{queryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return &querier{a: a, tr: tr, mint: mint, maxt: maxt, plans: plans}, nil
	}), qs, direct, tr}
}

type rewriter struct {
	startMs, endMs, stepMs int64
	unions                 bool // rewrite unions (pushdown_union.go)
	plans                  []*pushdownPlan
	tiers                  []RollupTier // shortest interval first (rollup.go)
	// delayedNames: the engine removes __name__ at the end of the
	// evaluation (MetricsQL names, names.go). A call whose function drops
	// the name is then pushed down only where nothing can see the name it
	// would still carry (nameFree), and one whose function keeps it is
	// pushed down under its name keeper, with the name.
	delayedNames bool
	// nameFree: the node being rewritten is the input of an aggregation
	// whose output does not depend on __name__ (nameFreeAggregation).
	nameFree bool
	// kept: the node being rewritten is the call of a name keeper.
	kept bool
	// grouped, group: the node being rewritten is the input of an
	// aggregation by group (projection.go).
	grouped bool
	group   []string
}

// rewrite returns e with its pushdown-able calls replaced; inSubquery
// marks nodes evaluated at a subquery's steps, which are left alone.
func (r *rewriter) rewrite(e parser.Expr, inSubquery bool) parser.Expr {
	nameFree, kept := r.nameFree, r.kept
	grouped, group := r.grouped, r.group
	r.nameFree, r.kept, r.grouped, r.group = false, false, false, nil
	switch n := e.(type) {
	case *parser.AggregateExpr:
		r.nameFree = nameFreeAggregation(n)
		r.grouped, r.group = projectable(n)
		n.Expr = r.rewrite(n.Expr, inSubquery)
		if n.Param != nil {
			n.Param = r.rewrite(n.Param, inSubquery)
		}
	case *parser.BinaryExpr:
		if n.Op == parser.LOR && !inSubquery && r.unions {
			if p := r.union(n); p != nil {
				return r.selector(p, n.PositionRange())
			}
		}
		n.LHS, n.RHS = r.rewrite(n.LHS, inSubquery), r.rewrite(n.RHS, inSubquery)
	case *parser.ParenExpr:
		r.nameFree, r.grouped, r.group = nameFree, grouped, group
		n.Expr = r.rewrite(n.Expr, inSubquery)
	case *parser.UnaryExpr:
		n.Expr = r.rewrite(n.Expr, inSubquery)
	case *parser.SubqueryExpr:
		n.Expr = r.rewrite(n.Expr, true)
	case *parser.Call:
		if p := r.plan(n, inSubquery, nameFree, kept); p != nil {
			p.grouped, p.group = grouped, group
			r.chooseTier(p)
			return r.selector(p, n.PosRange)
		}
		for i := range n.Args {
			r.kept = i == 0 && r.delayedNames && isNameKeeper(n)
			if r.kept {
				// The keeper is left out over a pushed-down call (below):
				// the call is then its aggregation's input.
				r.grouped, r.group = grouped, group
			}
			n.Args[i] = r.rewrite(n.Args[i], inSubquery)
		}
		if r.delayedNames && isNameKeeper(n) && r.keptPushdown(n.Args[0]) {
			// The keeper of a call pushed down with its name is the
			// identity: the selector's series carry __name__ and no mark to
			// drop it, and their label sets are distinct. Leaving it out
			// saves the engine a regex match and a label set per series.
			return n.Args[0]
		}
	}
	return e
}

// keptPushdown reports whether e is the selector of a plan whose series
// keep __name__ (pushdownPlan.keepName).
func (r *rewriter) keptPushdown(e parser.Expr) bool {
	vs, ok := e.(*parser.VectorSelector)
	if !ok || len(vs.LabelMatchers) != 1 || vs.LabelMatchers[0].Name != pushdownLabel {
		return false
	}
	i, err := strconv.Atoi(vs.LabelMatchers[0].Value)
	return err == nil && i >= 0 && i < len(r.plans) && r.plans[i].keepName
}

// selector records p and returns the selector that stands for it.
func (r *rewriter) selector(p *pushdownPlan, pos posrange.PositionRange) *parser.VectorSelector {
	r.plans = append(r.plans, p)
	m := labels.MustNewMatcher(labels.MatchEqual, pushdownLabel, strconv.Itoa(len(r.plans)-1))
	return &parser.VectorSelector{LabelMatchers: []*labels.Matcher{m}, PosRange: pos}
}

// plan returns the pushdown plan of call c, or nil when it does not
// apply. nameFree and kept describe c's parent (rewriter.nameFree, kept).
func (r *rewriter) plan(c *parser.Call, inSubquery, nameFree, kept bool) *pushdownPlan {
	if inSubquery || c.Func == nil || !pushdownFuncs[c.Func.Name] || len(c.Args) != 1 {
		return nil
	}
	// last_over_time never drops the name (Prometheus engine.go).
	keepName := r.delayedNames && kept && keepNameFuncs[c.Func.Name] || c.Func.Name == "last_over_time"
	if r.delayedNames && !keepName && !nameFree {
		return nil
	}
	ms, ok := c.Args[0].(*parser.MatrixSelector)
	if !ok || ms.RangeExpr != nil || ms.Range <= 0 || ms.Range%time.Millisecond != 0 {
		return nil
	}
	vs, ok := ms.VectorSelector.(*parser.VectorSelector)
	if !ok || vs.Timestamp != nil || vs.StartOrEnd != 0 || vs.OriginalOffsetExpr != nil || vs.Anchored || vs.Smoothed ||
		vs.OriginalOffset%time.Millisecond != 0 {
		return nil
	}
	// One metric name, so that dropping __name__ cannot make two series
	// equal (where Prometheus would fail the query instead); any names
	// when the series keep theirs.
	name := ""
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			name = m.Value
		}
		if m.Name == pushdownLabel {
			return nil
		}
	}
	if name == "" && !keepName {
		return nil
	}
	if (c.Func.Name == "rate" || c.Func.Name == "increase") && !counterName(name) {
		return nil
	}
	return &pushdownPlan{
		fn: c.Func.Name, ms: vs.LabelMatchers, text: c.String(), rng: ms.Range,
		rangeMs: ms.Range.Milliseconds(), offsetMs: vs.OriginalOffset.Milliseconds(),
		startMs: r.startMs, endMs: r.endMs, stepMs: r.stepMs, keepName: keepName,
	}
}

// pushdownPlanOf returns the plan a select's matchers name, if any.
func (q *querier) pushdownPlanOf(ms []*labels.Matcher) (*pushdownPlan, bool) {
	for _, m := range ms {
		if m.Name != pushdownLabel {
			continue
		}
		i, err := strconv.Atoi(m.Value)
		if err != nil || m.Type != labels.MatchEqual || i < 0 || i >= len(q.plans) {
			return nil, false
		}
		return q.plans[i], true
	}
	return nil, false
}
