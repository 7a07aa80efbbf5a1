package influxql

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"

	ql "github.com/influxdata/influxql"
)

// rowEnv is a raw row: one time of one series, with the index of each
// field's point at that time (-1: none).
type rowEnv struct {
	t     int64
	sd    *seriesData
	names []string
	cols  []*col
	pos   []int // next candidate point of each column
	at    []int // the point at t, or -1
}

func newRowEnv(sd *seriesData) *rowEnv {
	r := &rowEnv{sd: sd}
	for name := range sd.cols {
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	for _, n := range r.names {
		r.cols = append(r.cols, sd.cols[n])
	}
	r.pos, r.at = make([]int, len(r.cols)), make([]int, len(r.cols))
	return r
}

// seek moves to time t; times must not decrease between calls.
func (r *rowEnv) seek(t int64) {
	r.t = t
	for k, c := range r.cols {
		i := r.pos[k]
		for i < len(c.ts) && c.ts[i] < t {
			i++
		}
		r.pos[k] = i
		r.at[k] = -1
		if i < len(c.ts) && c.ts[i] == t {
			r.at[k] = i
		}
	}
}

// field returns the column index of a field, or -1.
func (r *rowEnv) field(name string) int {
	for k, n := range r.names {
		if n == name {
			return k
		}
	}
	return -1
}

func (r *rowEnv) ref(v *ql.VarRef) any {
	if strings.EqualFold(v.Val, "time") {
		return Time(r.t)
	}
	if k := r.field(v.Val); k >= 0 { // a subquery's columns are fields, tags included
		if i := r.at[k]; i >= 0 {
			return cast(r.cols[k].value(i), v.Type)
		}
		return nil
	}
	if s, ok := r.sd.tag(v.Val); ok {
		return s
	}
	return nil // InfluxDB: a tag the series lacks is null
}

// cast converts a field's value to the type of its reference, as InfluxDB
// does for x::integer and x::float: floats truncate toward zero.
func cast(v any, t ql.DataType) any {
	switch x := v.(type) {
	case float64:
		if t == ql.Integer && !math.IsNaN(x) && !math.IsInf(x, 0) {
			return int64(x)
		}
	case int64:
		if t == ql.Float {
			return float64(x)
		}
	}
	return v
}

func (r *rowEnv) call(*ql.Call) any { return nil }

// rawRow is an output row with the key it sorts by.
type rawRow struct {
	t    int64
	key  string
	vals []any
}

// raw answers a SELECT without aggregates for one group: one row per time
// and series, sorted by time then series; rows whose fields are all null
// are left out.
func (e *Executor) raw(pl *plan, g *group) [][]any {
	if hasTransform(pl.stmt.Fields) {
		return e.rawTransform(pl, g)
	}
	var rows []rawRow
	var selected []string // fields the SELECT reads: a row needs one of them
	for _, f := range pl.stmt.Fields {
		for _, r := range ql.ExprNames(f.Expr) {
			if r.Type != ql.Tag {
				selected = append(selected, r.Val)
			}
		}
	}
	check := pl.pointCond(g)
	for _, sd := range g.series {
		env := newRowEnv(sd)
		var need []int
		for _, n := range selected {
			if k := env.field(n); k >= 0 {
				need = append(need, k)
			}
		}
		direct := directRefs(pl.stmt.Fields, env)
		var pred func() bool
		if check {
			pred = compileCond(pl.cond, env)
		}
		for _, t := range pl.tailTimes(unionTimes(sd), check) {
			env.seek(t)
			found := false
			for _, k := range need {
				found = found || env.at[k] >= 0
			}
			if !found || check && !pred() {
				continue
			}
			vals := make([]any, 1, len(pl.stmt.Fields)+1)
			vals[0] = Time(t)
			for j, f := range pl.stmt.Fields {
				vals = append(vals, direct[j].value(f.Expr, env))
			}
			rows = append(rows, rawRow{t: t, key: sd.key, vals: vals})
		}
	}
	slices.SortStableFunc(rows, func(a, b rawRow) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		return strings.Compare(a.key, b.key)
	})
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.vals
	}
	return out
}

// directRef is how a raw field is read for one series: a field's column
// (k >= 0) or a tag's value (k == -2) without evaluating its reference
// per row; k == -1: evaluated (math, time, unknown names).
type directRef struct {
	k   int
	typ ql.DataType
	tag any
}

func directRefs(fields ql.Fields, env *rowEnv) []directRef {
	out := make([]directRef, len(fields))
	for j, f := range fields {
		out[j].k = -1
		v, ok := f.Expr.(*ql.VarRef)
		if !ok || strings.EqualFold(v.Val, "time") {
			continue
		}
		if k := env.field(v.Val); k >= 0 {
			out[j].k, out[j].typ = k, v.Type
		} else {
			out[j].k, out[j].tag = -2, env.ref(v)
		}
	}
	return out
}

func (d directRef) value(ex ql.Expr, env *rowEnv) any {
	switch {
	case d.k >= 0:
		if i := env.at[d.k]; i >= 0 {
			return cast(env.cols[d.k].value(i), d.typ)
		}
		return nil
	case d.k == -2:
		return d.tag
	}
	return evalExpr(ex, env)
}

// unionTimes returns the sorted distinct times of a series' columns
// (each sorted): the columns of one line protocol series usually share
// their times, so equal columns are taken as they are, others merged.
func unionTimes(sd *seriesData) []int64 {
	var out []int64
	for _, c := range sd.cols {
		switch {
		case out == nil:
			out = c.ts
		case !slices.Equal(out, c.ts):
			out = mergeTimes(out, c.ts)
		}
	}
	return out
}

// mergeTimes merges two ascending slices into a new one without
// duplicates.
func mergeTimes(a, b []int64) []int64 {
	out := make([]int64, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var t int64
		switch {
		case j == len(b) || i < len(a) && a[i] < b[j]:
			t, i = a[i], i+1
		case i == len(a) || b[j] < a[i]:
			t, j = b[j], j+1
		default:
			t, i, j = a[i], i+1, j+1
		}
		if len(out) == 0 || out[len(out)-1] != t {
			out = append(out, t)
		}
	}
	return out
}

func hasTransform(fields ql.Fields) bool {
	for _, f := range fields {
		if c, ok := f.Expr.(*ql.Call); ok && transforms[c.Name] {
			return true
		}
	}
	return false
}

// rawTransform answers a SELECT of transformations of raw fields, e.g.
// derivative(value): each field's points, merged over the group's series
// in time order, are transformed; rows are aligned by time.
func (e *Executor) rawTransform(pl *plan, g *group) [][]any {
	cols := make([]map[int64]any, len(pl.stmt.Fields))
	timeSet := map[int64]bool{}
	for i, f := range pl.stmt.Fields {
		c, ok := f.Expr.(*ql.Call)
		if !ok || !transforms[c.Name] {
			continue
		}
		ref, ok := c.Args[0].(*ql.VarRef)
		if !ok {
			continue
		}
		var pts []point
		for _, sd := range g.series {
			col := sd.cols[ref.Val]
			if col == nil {
				continue
			}
			env := newRowEnv(sd)
			for j, t := range col.ts {
				if pl.pointCond(g) {
					if env.seek(t); !truthy(evalExpr(pl.cond, env)) {
						continue
					}
				}
				pts = append(pts, point{t: t, v: col.value(j)})
			}
		}
		sort.SliceStable(pts, func(a, b int) bool { return pts[a].t < pts[b].t })
		cols[i] = map[int64]any{}
		for _, p := range transform(c, pts, 0) {
			cols[i][p.t] = p.v
			timeSet[p.t] = true
		}
	}
	times := make([]int64, 0, len(timeSet))
	for t := range timeSet {
		times = append(times, t)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	out := make([][]any, 0, len(times))
	for _, t := range times {
		row := []any{Time(t)}
		for i := range pl.stmt.Fields {
			var v any
			if cols[i] != nil {
				v = cols[i][t]
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
	return out
}
