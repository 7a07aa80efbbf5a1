package influxql

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/engine"
)

// plan is a SELECT ready to run: fields expanded, time range and windows
// known, innermost aggregate calls listed.
type plan struct {
	stmt       *ql.SelectStatement
	cond       ql.Expr // WHERE without the time range
	minT, maxT int64
	boundedMin bool
	interval   int64 // GROUP BY time(); 0: none
	offset     int64
	zone       int64 // tz(): seconds east of UTC, for window alignment
	aggs       []aggSpec
	aggOf      map[*ql.Call]int
	aggregated bool
	dims       []string // GROUP BY tag keys
	columns    []string
	// selectorTime: one selector and no GROUP BY time(): rows carry the
	// selected point's time.
	selectorTime bool
	multi        int  // index in aggs of a multi-row function, or -1
	tagsOnly     bool // a raw SELECT of tags only: no rows
	// Block summaries (summary.go): off by Options.DisableSummaries;
	// auxFields and condHasField rule them out.
	disableSummaries, auxFields, condHasField bool
	summaryBlocks                             int // blocks folded whole (for tests)
	// cutT: windows before it were added for transformations
	// (extendForTransforms) and are not answered; cut reports it is set.
	cutT int64
	cut  bool
}

// transforms are the functions applied to a sequence of points.
var transforms = map[string]bool{"derivative": true, "non_negative_derivative": true, "difference": true,
	"non_negative_difference": true, "moving_average": true, "cumulative_sum": true, "elapsed": true}

func (e *Executor) selectRows(ctx context.Context, s *ql.SelectStatement, p Params) ([]*Row, error) {
	if s.Target != nil {
		return nil, fmt.Errorf("%w: SELECT INTO", ErrUnsupported)
	}
	db, rp := p.DB, p.RP
	for _, src := range s.Sources {
		if m, ok := src.(*ql.Measurement); ok {
			if m.Database != "" {
				db = m.Database
			}
			if m.RetentionPolicy != "" {
				rp = m.RetentionPolicy
			}
		}
	}
	if rp != "" && db != "" && e.opts.RetentionPolicyExists != nil && !e.opts.RetentionPolicyExists(db, rp) {
		return nil, fmt.Errorf("%w: %s", ErrRPNotFound, rp)
	}
	sc, err := e.schema(ctx, db)
	if err != nil {
		return nil, err
	}
	if len(sc.names) == 0 && e.opts.DatabaseExists != nil && !e.opts.DatabaseExists(db) {
		return nil, fmt.Errorf("%w: %s", ErrDatabaseNotFound, db)
	}
	mp := &mapper{e: e, sc: sc, fd: map[string]mapperEntry{}}
	rs, err := s.RewriteFields(mp)
	if err == nil {
		err = mp.err
	}
	if err != nil {
		return nil, err
	}
	pl, err := e.newPlan(rs)
	if err != nil || pl.tagsOnly {
		return nil, err
	}
	inputs, err := e.inputs(ctx, pl, sc, p)
	if err != nil {
		return nil, err
	}
	rows, err := e.run(ctx, pl, inputs)
	e.summaryBlocks.Add(int64(pl.summaryBlocks))
	return rows, err
}

func (e *Executor) newPlan(s *ql.SelectStatement) (*plan, error) {
	now := e.opts.Now()
	cond, tr, err := ql.ConditionExpr(s.Condition, &ql.NowValuer{Now: now, Location: s.Location})
	if err != nil {
		return nil, err
	}
	pl := &plan{stmt: s, cond: cond, minT: max(tr.MinTimeNano(), minTime), maxT: min(tr.MaxTimeNano(), maxTime),
		boundedMin: !tr.Min.IsZero(), aggOf: map[*ql.Call]int{}, multi: -1}
	iv, err := s.GroupByInterval()
	if err != nil {
		return nil, err
	}
	var off time.Duration
	if iv > 0 {
		if off, err = s.GroupByOffset(); err != nil {
			return nil, err
		}
	} else if hasTimeDimension(s) {
		return nil, fmt.Errorf("time dimension must have a positive duration")
	}
	pl.interval, pl.offset = int64(iv), int64(off)
	if s.Location != nil {
		_, z := now.In(s.Location).Zone()
		pl.zone = int64(z) * int64(time.Second)
	}
	for _, d := range s.Dimensions {
		switch x := d.Expr.(type) {
		case *ql.VarRef:
			pl.dims = append(pl.dims, x.Val)
		case *ql.Call: // time(), checked by GroupByInterval
		default:
			return nil, fmt.Errorf("only time() calls allowed in dimensions")
		}
	}
	sort.Strings(pl.dims)
	if err := pl.collectCalls(); err != nil {
		return nil, err
	}
	pl.columns = s.ColumnNames() // after collectCalls: it assumes valid arguments
	pl.extendForTransforms()
	pl.auxFields = usesAux(s.Fields)
	unknownAsTags(pl.cond)
	pl.condHasField = hasFieldRef(pl.cond) // compared per point
	pl.disableSummaries = e.opts.DisableSummaries
	if pl.aggregated && pl.interval > 0 && tr.Max.IsZero() {
		pl.maxT = now.UnixNano()
	}
	if pl.maxT < pl.minT {
		pl.maxT = pl.minT - 1 // empty
	}
	return pl, nil
}

func hasTimeDimension(s *ql.SelectStatement) bool {
	for _, d := range s.Dimensions {
		if c, ok := d.Expr.(*ql.Call); ok && c.Name == "time" {
			return true
		}
	}
	return false
}

// collectCalls finds the innermost aggregate calls and checks the mix of
// fields and calls.
func (pl *plan) collectCalls() error {
	nsel := 0
	hasField := false
	var walk func(ex ql.Expr) error
	walk = func(ex ql.Expr) error {
		switch x := ex.(type) {
		case *ql.ParenExpr:
			return walk(x.Expr)
		case *ql.BinaryExpr:
			if err := walk(x.LHS); err != nil {
				return err
			}
			return walk(x.RHS)
		case *ql.Call:
			switch {
			case aggregates[x.Name]:
				sp, err := parseAgg(x)
				if err != nil {
					return err
				}
				pl.aggOf[x] = len(pl.aggs)
				if multiRow[sp.name] {
					pl.multi = len(pl.aggs)
				}
				if selectors[x.Name] {
					nsel++
				}
				pl.aggs = append(pl.aggs, sp)
				return nil
			case transforms[x.Name]:
				if err := checkTransform(x); err != nil {
					return err
				}
				return walk(x.Args[0])
			}
			return fmt.Errorf("undefined function %s()", x.Name)
		}
		return nil
	}
	for _, f := range pl.stmt.Fields {
		if err := walk(f.Expr); err != nil {
			return err
		}
		if r, ok := f.Expr.(*ql.VarRef); ok && r.Type != ql.Tag {
			hasField = true
		}
	}
	pl.aggregated = len(pl.aggs) > 0
	if !pl.aggregated && pl.interval > 0 {
		return fmt.Errorf("GROUP BY requires at least one aggregate function")
	}
	if pl.aggregated && hasField && !(len(pl.aggs) == 1 && nsel == 1) {
		return fmt.Errorf("mixing aggregate and non-aggregate queries is not supported")
	}
	if pl.multi >= 0 && len(pl.aggs) > 1 {
		return fmt.Errorf("%w: %s() with other functions", ErrUnsupported, pl.aggs[pl.multi].name)
	}
	pl.selectorTime = len(pl.aggs) == 1 && nsel == 1 && pl.interval == 0
	pl.tagsOnly = !pl.aggregated && !pl.hasRawField() // InfluxDB answers nothing

	return nil
}

func (pl *plan) hasRawField() bool {
	for _, f := range pl.stmt.Fields {
		for _, r := range ql.ExprNames(f.Expr) {
			if r.Type != ql.Tag {
				return true
			}
		}
	}
	return false
}

// inputs loads the measurements (or runs the subqueries) of the FROM.
func (e *Executor) inputs(ctx context.Context, pl *plan, sc *schema, p Params) ([]*input, error) {
	var exprs []ql.Expr
	for _, f := range pl.stmt.Fields {
		exprs = append(exprs, f.Expr)
	}
	fields := fieldRefs(append(exprs, pl.cond)...)
	var out []*input
	var q *engine.Querier
	b := &budget{maxSamples: e.opts.MaxSamples}
	defer func() {
		if q != nil {
			q.Close()
		}
	}()
	for _, src := range pl.stmt.Sources {
		switch x := src.(type) {
		case *ql.SubQuery:
			rows, err := e.selectRows(ctx, pl.bounded(x.Statement), p)
			if err != nil {
				return nil, err
			}
			out = append(out, fromRows(rows)...)
		case *ql.Measurement:
			if pl.maxT < pl.minT {
				continue
			}
			if q == nil {
				var err error
				if q, err = e.st.Querier(pl.minT, pl.maxT); err != nil {
					return nil, fmt.Errorf("open querier: %w", err)
				}
			}
			for _, m := range sc.measurements(ql.Sources{x}) {
				var fs []string
				for _, f := range fields {
					if m.isField(f) {
						fs = append(fs, f)
					}
				}
				in, err := e.load(ctx, q, sc, m, fs, pl, b)
				if err != nil {
					return nil, err
				}
				out = append(out, in)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// bounded returns a subquery with the outer statement's time range added
// to its condition, as InfluxDB passes it down.
func (pl *plan) bounded(s *ql.SelectStatement) *ql.SelectStatement {
	c := s.Clone()
	tr := &ql.BinaryExpr{Op: ql.AND,
		LHS: &ql.BinaryExpr{Op: ql.GTE, LHS: &ql.VarRef{Val: "time"}, RHS: &ql.IntegerLiteral{Val: pl.minT}},
		RHS: &ql.BinaryExpr{Op: ql.LTE, LHS: &ql.VarRef{Val: "time"}, RHS: &ql.IntegerLiteral{Val: pl.maxT}}}
	if c.Condition == nil {
		c.Condition = tr
	} else {
		c.Condition = &ql.BinaryExpr{Op: ql.AND, LHS: &ql.ParenExpr{Expr: c.Condition}, RHS: tr}
	}
	return c
}

// group is the series of one output series: equal GROUP BY tag values.
type group struct {
	tags   map[string]string
	key    string
	series []*seriesData
	sub    bool // from a subquery: its rows were not filtered by tags
}

// pointCond reports whether the WHERE condition must be evaluated per
// point: it compares fields, or the group comes from a subquery. Tag
// comparisons alone were applied when the series were selected.
func (pl *plan) pointCond(g *group) bool {
	return pl.cond != nil && (pl.condHasField || g.sub)
}

func groups(in *input, dims []string) []*group {
	byKey := map[string]*group{}
	var out []*group
	for _, sd := range in.series {
		var b strings.Builder
		tags := map[string]string{}
		for _, d := range dims {
			v := sd.tagValue(d)
			tags[d] = v
			b.WriteString(d + "\x00" + v + "\x00")
		}
		k := b.String()
		g := byKey[k]
		if g == nil {
			g = &group{tags: tags, key: k, sub: in.sub}
			byKey[k] = g
			out = append(out, g)
		}
		g.series = append(g.series, sd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// run computes the output series of every input.
func (e *Executor) run(ctx context.Context, pl *plan, inputs []*input) ([]*Row, error) {
	var rows []*Row
	var points int64
	first := firstTime(inputs)
	// SLIMIT and SOFFSET count the series answered: groups past them are
	// not computed, and those before SOFFSET are dropped as they come.
	skip, want := pl.stmt.SOffset, pl.stmt.SLimit
	for _, in := range inputs {
		gs := groups(in, pl.dims)
		if !pl.stmt.TimeAscending() { // InfluxDB: series in descending tag order too
			slices.Reverse(gs)
		}
		for _, g := range gs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if want > 0 && len(rows) >= want {
				return rows, nil
			}
			var vals [][]any
			var err error
			if pl.aggregated {
				vals, err = e.aggregate(pl, g, first, e.opts.MaxPoints-points)
			} else {
				vals = e.raw(pl, g)
			}
			if err != nil {
				return nil, err
			}
			if !pl.stmt.TimeAscending() {
				for i, j := 0, len(vals)-1; i < j; i, j = i+1, j-1 {
					vals[i], vals[j] = vals[j], vals[i]
				}
			}
			vals = limitRows(vals, pl.stmt.Limit, pl.stmt.Offset)
			if len(vals) == 0 {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			points += int64(len(vals) * len(pl.columns))
			if points > e.opts.MaxPoints {
				return nil, fmt.Errorf("%w: more than %d values in the result", ErrTooManySamples, e.opts.MaxPoints)
			}
			r := &Row{Name: in.name, Columns: pl.columns, Values: vals}
			if len(pl.dims) > 0 {
				r.Tags = g.tags
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// firstTime returns the time of the earliest point or summarized block.
func firstTime(inputs []*input) int64 {
	first := int64(maxTime)
	for _, in := range inputs {
		for _, sd := range in.series {
			for _, c := range sd.cols {
				if c.len() > 0 && c.ts[0] < first {
					first = c.ts[0]
				}
			}
			for _, sums := range sd.sums {
				if len(sums) > 0 && sums[0].MinT < first {
					first = sums[0].MinT
				}
			}
		}
	}
	return first
}
