package influxql

import (
	"fmt"
	"math"
	"sort"

	ql "github.com/influxdata/influxql"
)

// windows are the GROUP BY time() buckets of a statement.
type windows struct {
	start, every, n int64 // n buckets from start, every ns apart; every 0: one
}

func (pl *plan) windows(first int64) (windows, error) {
	lo := pl.minT
	if pl.interval <= 0 {
		if !pl.boundedMin {
			lo = 0
		}
		return windows{start: lo, n: 1}, nil
	}
	if !pl.boundedMin {
		lo = first
	}
	start := pl.windowStart(lo)
	if start > lo { // wrapped around near the smallest time
		start = lo
	}
	if pl.maxT < start {
		return windows{start: start, every: pl.interval}, nil
	}
	// Unsigned: the span of extreme bounds overflows int64.
	n := (uint64(pl.maxT)-uint64(start))/uint64(pl.interval) + 1
	if n > math.MaxInt32 {
		return windows{}, fmt.Errorf("%w: (%d windows)", ErrTooManyBuckets, n)
	}
	return windows{start: start, every: pl.interval, n: int64(n)}, nil
}

// windowStart is the start of the window holding t.
func (pl *plan) windowStart(t int64) int64 {
	off := pl.offset - pl.zone
	d := t - off
	w := d / pl.interval * pl.interval
	if d < 0 && w != d {
		w -= pl.interval
	}
	return w + off
}

func (w windows) index(t int64) int64 {
	if w.every == 0 {
		return 0
	}
	if t < w.start {
		return -1
	}
	return int64((uint64(t) - uint64(w.start)) / uint64(w.every)) // unsigned: no overflow
}

func (w windows) time(i int64) int64 {
	if w.every == 0 {
		return w.start
	}
	return w.start + i*w.every
}

// winEnv evaluates fields in one window.
type winEnv struct {
	pl  *plan
	res [][]point // per aggregate: its points in the window
	sel *point    // the selector's point, for auxiliary fields
	// tv holds the transformed values of the transformations inside math
	// (nestedTransforms), by window time t; nil while they are computed.
	tv map[*ql.Call]map[int64]any
	t  int64
}

func (w *winEnv) call(c *ql.Call) any {
	if transforms[c.Name] {
		if m, ok := w.tv[c]; ok {
			return m[w.t]
		}
		return evalExpr(c.Args[0], w) // transformRows transforms the column
	}
	if k, ok := w.pl.aggOf[c]; ok && w.res != nil && len(w.res[k]) > 0 {
		return w.res[k][0].v
	}
	return nil
}

func (w *winEnv) ref(v *ql.VarRef) any {
	if w.sel == nil || w.sel.s == nil {
		return nil
	}
	if c := w.sel.s.cols[v.Val]; c != nil && v.Type != ql.Tag {
		if i := c.at(w.sel.t); i >= 0 {
			return c.value(i)
		}
		return nil
	}
	return w.sel.s.tagValue(v.Val)
}

// aggregate answers a SELECT with functions for one group; values is
// how many result values the statement may still give.
func (e *Executor) aggregate(pl *plan, g *group, first, values int64) ([][]any, error) {
	ws, err := pl.windows(first)
	if err != nil {
		return nil, err
	}
	if limit := min(e.opts.MaxBuckets, e.opts.MaxPoints); ws.n > limit {
		return nil, fmt.Errorf("%w: (%d/%d)", ErrTooManyBuckets, ws.n, limit)
	}
	if pl.stmt.Fill != ql.NoFill && pl.multi < 0 && ws.n*int64(len(pl.columns)) > values {
		// Refused before the rows are built: every window gets one.
		return nil, fmt.Errorf("%w: more than %d values in the result", ErrTooManySamples, e.opts.MaxPoints)
	}
	aggs, found := e.fold(pl, g, ws)
	if !found {
		return nil, nil
	}
	if pl.multi >= 0 {
		return multiRows(pl, ws, aggs), nil
	}
	// One backing array for every row: a wide answer is two allocations,
	// not one per window.
	width := len(pl.stmt.Fields) + 1
	cells := make([]any, int(ws.n)*width)
	out := make([][]any, ws.n)
	env := &winEnv{pl: pl}
	nested := nestedTransforms(pl.stmt.Fields)
	var res [][][]point // per window, kept for nested transformations
	if len(nested) > 0 {
		res = make([][][]point, ws.n)
	}
	answered := false // a window's function gave a point
	for i := int64(0); i < ws.n; i++ {
		env.res = results(aggs[i])
		answered = answered || hasPoint(env.res)
		env.sel = nil
		t := ws.time(i)
		if pl.interval == 0 && onlyIntegral(pl) {
			t = 0 // InfluxDB: integral() without GROUP BY time() is at time 0
		}
		if pl.selectorTime && env.res != nil && len(env.res[0]) > 0 {
			env.sel = &env.res[0][0]
			t = env.sel.t
		}
		if res != nil {
			res[i] = env.res
		}
		row := cells[int(i)*width : int(i+1)*width : int(i+1)*width]
		row[0] = Time(t)
		for j, f := range pl.stmt.Fields {
			row[j+1] = evalExpr(f.Expr, env)
		}
		out[i] = row
	}
	if !answered { // e.g. percentile(x, 0): InfluxDB answers no series, not nulls
		return nil, nil
	}
	if len(nested) > 0 {
		env.tv = nestedValues(pl, ws, out, res, aggs, nested)
	}
	out = fillRows(pl, out, aggs, exprsOf(pl.stmt.Fields))
	if len(nested) > 0 {
		evalNested(pl, ws, out, res, env)
	}
	if hasTransform(pl.stmt.Fields) || len(nested) > 0 {
		out = transformRows(pl, out)
	}
	return pl.cutRows(out), nil
}

// nestedTransforms lists the transformations inside math on a field, as
// in non_negative_derivative(mean(x), 1s) * 8 (Grafana's network panel);
// a transformation that is a whole field is transformRows' work.
func nestedTransforms(fields ql.Fields) []*ql.Call {
	var out []*ql.Call
	for _, f := range fields {
		if c, ok := f.Expr.(*ql.Call); ok && transforms[c.Name] {
			continue
		}
		ql.WalkFunc(f.Expr, func(n ql.Node) {
			if c, ok := n.(*ql.Call); ok && transforms[c.Name] {
				out = append(out, c)
			}
		})
	}
	return out
}

// nestedValues transforms, per nested transformation, its argument over
// the windows after fill(), as InfluxDB fills the inner aggregate, and
// returns the values by window time.
func nestedValues(pl *plan, ws windows, rows [][]any, res [][][]point, aggs [][]aggregator, calls []*ql.Call) map[*ql.Call]map[int64]any {
	tv := make(map[*ql.Call]map[int64]any, len(calls))
	env := &winEnv{pl: pl}
	for _, c := range calls {
		col := make([][]any, len(rows))
		for i := range rows {
			env.res = res[i]
			col[i] = []any{rows[i][0], evalExpr(c.Args[0], env)}
		}
		col = fillRows(pl, col, aggs, []ql.Expr{c.Args[0]})
		pts := make([]point, 0, len(col))
		for _, r := range col {
			if r[1] != nil {
				pts = append(pts, point{t: int64(r[0].(Time)), v: r[1]})
			}
		}
		m := map[int64]any{}
		for _, p := range transform(c, pts, pl.interval) {
			m[p.t] = p.v
		}
		tv[c] = m
	}
	return tv
}

// evalNested evaluates the fields holding nested transformations again,
// now with their transformed values (not filled: InfluxDB fills only the
// inner aggregate).
func evalNested(pl *plan, ws windows, rows [][]any, res [][][]point, env *winEnv) {
	var nested []int
	for j, f := range pl.stmt.Fields {
		if hasNestedTransform(f) {
			nested = append(nested, j)
		}
	}
	for _, r := range rows {
		env.t = int64(r[0].(Time))
		env.res = res[ws.index(env.t)]
		for _, j := range nested {
			r[j+1] = evalExpr(pl.stmt.Fields[j].Expr, env)
		}
	}
}

// hasNestedTransform reports whether f holds a transformation inside math.
func hasNestedTransform(f *ql.Field) bool {
	return len(nestedTransforms(ql.Fields{f})) > 0
}

func exprsOf(fields ql.Fields) []ql.Expr {
	out := make([]ql.Expr, len(fields))
	for i, f := range fields {
		out[i] = f.Expr
	}
	return out
}

// fold feeds the group's points to one aggregator per window and
// aggregate (nil for windows without points); found reports whether a
// window had a point.
func (e *Executor) fold(pl *plan, g *group, ws windows) ([][]aggregator, bool) {
	aggs := make([][]aggregator, ws.n)
	found := false
	for k, sp := range pl.aggs {
		for _, sd := range g.series {
			c := sd.cols[sp.field]
			if c == nil {
				continue
			}
			var env *rowEnv
			var pred func() bool
			if pl.pointCond(g) {
				env = newRowEnv(sd)
				pred = compileCond(pl.cond, env)
			}
			for i, t := range c.ts {
				w := ws.index(t)
				if w < 0 || w >= ws.n {
					continue
				}
				if env != nil {
					if env.seek(t); !pred() {
						continue
					}
				}
				if aggs[w] == nil {
					aggs[w] = make([]aggregator, len(pl.aggs))
				}
				if aggs[w][k] == nil {
					aggs[w][k] = newAggregator(sp, c.typ)
				}
				aggs[w][k].add(t, c, i, sd)
				found = true
			}
		}
	}
	for k := range pl.aggs {
		if pl.foldSummaries(g, ws, aggs, k) {
			found = true
		}
	}
	return aggs, found
}

// onlyIntegral reports whether every function of the statement is
// integral().
func onlyIntegral(pl *plan) bool {
	for _, a := range pl.aggs {
		if a.name != "integral" {
			return false
		}
	}
	return len(pl.aggs) > 0
}

// hasPoint reports whether a window's functions gave a point.
func hasPoint(res [][]point) bool {
	for _, r := range res {
		if len(r) > 0 {
			return true
		}
	}
	return false
}

// results gives the points of a window's aggregators (nil for a window
// without points).
func results(aggs []aggregator) [][]point {
	if aggs == nil {
		return nil
	}
	res := make([][]point, len(aggs))
	for k, a := range aggs {
		if a != nil {
			res[k] = a.result()
		}
	}
	return res
}

// multiRows gives the rows of distinct, top, bottom and sample: one per
// point; top, bottom and sample keep the points' times, GROUP BY time()
// or not, as InfluxDB does.
func multiRows(pl *plan, ws windows, aggs [][]aggregator) [][]any {
	var out [][]any
	sp := pl.aggs[pl.multi]
	for i := int64(0); i < ws.n; i++ {
		if aggs[i] == nil || aggs[i][pl.multi] == nil {
			continue
		}
		for _, p := range aggs[i][pl.multi].result() {
			t := ws.time(i)
			if sp.name != "distinct" {
				t = p.t
			}
			row := []any{Time(t)}
			env := &winEnv{pl: pl, res: [][]point{{p}}, sel: &p}
			for _, f := range pl.stmt.Fields {
				row = append(row, evalExpr(f.Expr, env))
			}
			for _, t := range sp.tags { // the columns ColumnNames adds for top(f, tag, n)
				row = append(row, p.s.tagValue(t))
			}
			out = append(out, row)
		}
	}
	return out
}

// fillRows applies fill() to windows without points; exprs[j] is the
// expression of column j+1.
func fillRows(pl *plan, rows [][]any, aggs [][]aggregator, exprs []ql.Expr) [][]any {
	if pl.interval == 0 {
		if len(rows) == 1 && allNil(rows[0][1:]) && !hasCount(pl) {
			return nil
		}
		return rows
	}
	switch pl.stmt.Fill {
	case ql.NoFill:
		out := rows[:0]
		for i, r := range rows {
			if aggs[i] != nil {
				out = append(out, r)
			}
		}
		return out
	case ql.NullFill:
		for j, ex := range exprs {
			if isCount(ex) {
				for _, r := range rows {
					if r[j+1] == nil {
						r[j+1] = int64(0)
					}
				}
			}
		}
	case ql.NumberFill:
		for _, r := range rows {
			for j := 1; j < len(r); j++ {
				if r[j] == nil {
					r[j] = fillNumber(pl.stmt.FillValue, exprs[j-1])
				}
			}
		}
	case ql.PreviousFill:
		for j := 1; j <= len(exprs); j++ {
			var prev any
			for _, r := range rows {
				if r[j] == nil {
					r[j] = prev
				} else {
					prev = r[j]
				}
			}
		}
	case ql.LinearFill:
		for j := 1; j <= len(exprs); j++ {
			linearFill(rows, j)
		}
	}
	return rows
}

func allNil(vals []any) bool {
	for _, v := range vals {
		if v != nil {
			return false
		}
	}
	return true
}

func hasCount(pl *plan) bool {
	for _, a := range pl.aggs {
		if a.name == "count" {
			return true
		}
	}
	return false
}

// isCount reports whether ex is count(), or a transformation of it
// (cumulative_sum(count(x))): its empty windows count 0 under fill(null),
// and the transformation takes the 0, as in InfluxDB.
func isCount(ex ql.Expr) bool {
	c, ok := ex.(*ql.Call)
	for ok && transforms[c.Name] && len(c.Args) > 0 {
		c, ok = c.Args[0].(*ql.Call)
	}
	return ok && c.Name == "count"
}

// fillNumber is the fill(<n>) value, as an integer for integer columns.
func fillNumber(v any, ex ql.Expr) any {
	f, ok := toFloat(v)
	if !ok {
		return v
	}
	if isCount(ex) {
		return int64(f)
	}
	if _, isInt := v.(int64); isInt {
		return v
	}
	return f
}

// linearFill interpolates the nulls of column j between its neighbours.
func linearFill(rows [][]any, j int) {
	prev := -1
	for i := range rows {
		if rows[i][j] == nil {
			continue
		}
		if prev >= 0 && i-prev > 1 {
			a, aok := toFloat(rows[prev][j])
			b, bok := toFloat(rows[i][j])
			_, isInt := rows[i][j].(int64)
			if aok && bok {
				for k := prev + 1; k < i; k++ {
					v := a + (b-a)*float64(k-prev)/float64(i-prev)
					if isInt {
						rows[k][j] = int64(v)
					} else {
						rows[k][j] = v
					}
				}
			}
		}
		prev = i
	}
}

// transformRows applies the transformations of an aggregate SELECT (e.g.
// derivative(mean(x))) over the windows; rows where every transformation
// is null are left out.
func transformRows(pl *plan, rows [][]any) [][]any {
	for j, f := range pl.stmt.Fields {
		c, ok := f.Expr.(*ql.Call)
		if !ok || !transforms[c.Name] {
			continue
		}
		pts := make([]point, 0, len(rows))
		for _, r := range rows {
			if v := r[j+1]; v != nil {
				pts = append(pts, point{t: int64(r[0].(Time)), v: v})
			}
		}
		byT := map[int64]any{}
		for _, p := range transform(c, pts, pl.interval) {
			byT[p.t] = p.v
		}
		for _, r := range rows {
			r[j+1] = byT[int64(r[0].(Time))]
		}
	}
	transformed := make([]bool, len(pl.stmt.Fields)) // the field is or holds a transformation
	for j, f := range pl.stmt.Fields {
		c, ok := f.Expr.(*ql.Call)
		transformed[j] = ok && transforms[c.Name] || hasNestedTransform(f)
	}
	out := rows[:0]
	for _, r := range rows {
		keep := false
		for j := range pl.stmt.Fields {
			if transformed[j] && r[j+1] != nil {
				keep = true
			}
		}
		if keep {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a][0].(Time) < out[b][0].(Time) })
	return out
}
