package influxql

import (
	"sort"
	"strings"

	ql "github.com/influxdata/influxql"
)

// rowEnv is a raw row: one time of one series.
type rowEnv struct {
	t  int64
	sd *seriesData
	at map[string]int // field -> index in its column; absent: no value
}

func (r *rowEnv) ref(v *ql.VarRef) any {
	if strings.EqualFold(v.Val, "time") {
		return Time(r.t)
	}
	if c, ok := r.sd.cols[v.Val]; ok { // a subquery's columns are fields, tags included
		if i, ok := r.at[v.Val]; ok {
			return c.value(i)
		}
		return nil
	}
	if s := r.sd.tagValue(v.Val); s != "" || v.Type == ql.Tag {
		return s
	}
	return nil
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
	for _, sd := range g.series {
		times := unionTimes(sd)
		idx := map[string]int{}
		env := &rowEnv{sd: sd, at: map[string]int{}}
		for _, t := range times {
			env.t = t
			clear(env.at)
			for name, c := range sd.cols {
				i := idx[name]
				for i < c.len() && c.ts[i] < t {
					i++
				}
				idx[name] = i
				if i < c.len() && c.ts[i] == t {
					env.at[name] = i
				}
			}
			if pl.cond != nil && !truthy(evalExpr(pl.cond, env)) {
				continue
			}
			vals := make([]any, 1, len(pl.stmt.Fields)+1)
			vals[0] = Time(t)
			found := false
			for _, f := range pl.stmt.Fields {
				vals = append(vals, evalExpr(f.Expr, env))
				for _, r := range ql.ExprNames(f.Expr) {
					if _, ok := env.at[r.Val]; ok && r.Type != ql.Tag {
						found = true
					}
				}
			}
			if found {
				rows = append(rows, rawRow{t: t, key: sd.key, vals: vals})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].t != rows[j].t {
			return rows[i].t < rows[j].t
		}
		return rows[i].key < rows[j].key
	})
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.vals
	}
	return out
}

func isTagOnly(ex ql.Expr) bool {
	for _, r := range ql.ExprNames(ex) {
		if r.Type != ql.Tag {
			return false
		}
	}
	return true
}

// unionTimes returns the sorted distinct times of a series' columns.
func unionTimes(sd *seriesData) []int64 {
	var ts []int64
	for _, c := range sd.cols {
		ts = append(ts, c.ts...)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	out := ts[:0]
	for i, t := range ts {
		if i == 0 || t != ts[i-1] {
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
			if col := sd.cols[ref.Val]; col != nil {
				for j := range col.ts {
					if pl.cond != nil && !truthy(evalExpr(pl.cond, &rowEnv{t: col.ts[j], sd: sd, at: map[string]int{ref.Val: j}})) {
						continue
					}
					pts = append(pts, point{t: col.ts[j], v: col.value(j)})
				}
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
