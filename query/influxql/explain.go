package influxql

import (
	"context"

	"fmt"
	"strings"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
)

// explain answers EXPLAIN SELECT: the plan, one line per row, in the
// column "QUERY PLAN" as InfluxDB does, without running it.
func (e *Executor) explain(ctx context.Context, s *ql.ExplainStatement, p Params) ([]*Row, error) {
	sc, err := e.schema(ctx, p.DB)
	if err != nil {
		return nil, err
	}
	mp := &mapper{e: e, sc: sc, fd: map[string]mapperEntry{}}
	rs, err := s.Statement.RewriteFields(mp)
	if err == nil {
		err = mp.err
	}
	if err != nil {
		return nil, err
	}
	pl, err := e.newPlan(rs)
	if err != nil {
		return nil, err
	}
	var lines []string
	add := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	add("STATEMENT: %s", rs)
	add("TIME RANGE: [%d, %d]", pl.minT, pl.maxT)
	if pl.cond != nil {
		add("CONDITION: %s (per point: %v)", pl.cond, pl.condHasField)
	}
	if pl.interval > 0 {
		add("GROUP BY TIME: every %dns offset %dns fill %s", pl.interval, pl.offset, fillName(pl.stmt.Fill))
	}
	if len(pl.dims) > 0 {
		add("GROUP BY TAGS: %s", strings.Join(pl.dims, ", "))
	}
	if pl.roll.why != "" {
		add("ROLLUP: %s", pl.roll.why)
	}
	for _, a := range pl.aggs {
		how := "decode samples"
		if e.summarizable(pl, a) {
			how = "block summaries where whole blocks fit a window, samples elsewhere"
		}
		add("AGGREGATE: %s(%s): %s", a.name, a.field, how)
	}
	fields := fieldRefs(fieldExprs(rs)...)
	for _, src := range rs.Sources {
		m, ok := src.(*ql.Measurement)
		if !ok {
			add("SOURCE: subquery")
			continue
		}
		for _, ms := range sc.measurements(ql.Sources{m}) {
			var fs []string
			for _, f := range fields {
				if ms.isField(f) {
					fs = append(fs, f)
				}
			}
			refs, err := e.seriesOf(sc, ms, fs, pl.cond, pl.minT, pl.maxT, pl.tiers())
			if err != nil {
				return nil, err
			}
			add("SOURCE: measurement %s, fields %v, %d series", ms.name, fs, len(refs))
		}
	}
	row := &Row{Columns: []string{"QUERY PLAN"}}
	for _, l := range lines {
		row.Values = append(row.Values, []any{l})
	}
	return []*Row{row}, nil
}

func fieldExprs(s *ql.SelectStatement) []ql.Expr {
	out := []ql.Expr{s.Condition}
	for _, f := range s.Fields {
		out = append(out, f.Expr)
	}
	return out
}

func fillName(f ql.FillOption) string {
	switch f {
	case ql.NoFill:
		return "none"
	case ql.NumberFill:
		return "value"
	case ql.PreviousFill:
		return "previous"
	case ql.LinearFill:
		return "linear"
	}
	return "null"
}

// summarizable reports whether an aggregate may read block summaries.
func (e *Executor) summarizable(pl *plan, a aggSpec) bool {
	return pl.summaryOK(a.field, series.TypeFloat)
}
