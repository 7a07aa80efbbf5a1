package influxql

import (
	"context"
	"fmt"
	"sort"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
)

// show answers the SHOW statements about measurements, tags, fields and
// series, and their CARDINALITY forms.
func (e *Executor) show(ctx context.Context, stmt ql.Statement, p Params) ([]*Row, error) {
	switch s := stmt.(type) {
	case *ql.ShowMeasurementsStatement:
		return e.showMeasurements(ctx, s, p)
	case *ql.ShowMeasurementCardinalityStatement:
		return e.showMeasurementCardinality(ctx, s, p)
	case *ql.ShowTagKeysStatement:
		return e.perMeasurement(ctx, s.Database, p, s.Sources, s.Condition, []string{"tagKey"}, s.Limit, s.Offset, tagKeys)
	case *ql.ShowTagKeyCardinalityStatement:
		return e.cardinality(ctx, s.Database, p, s.Sources, s.Condition, tagKeys)
	case *ql.ShowTagValuesStatement:
		return e.perMeasurement(ctx, s.Database, p, s.Sources, s.Condition, []string{"key", "value"}, s.Limit, s.Offset, tagValues(s.Op, s.TagKeyExpr))
	case *ql.ShowTagValuesCardinalityStatement:
		return e.cardinality(ctx, s.Database, p, s.Sources, s.Condition, tagValues(s.Op, s.TagKeyExpr))
	case *ql.ShowFieldKeysStatement:
		return e.perMeasurement(ctx, s.Database, p, s.Sources, nil, []string{"fieldKey", "fieldType"}, s.Limit, s.Offset, fieldKeys)
	case *ql.ShowFieldKeyCardinalityStatement:
		return e.cardinality(ctx, s.Database, p, s.Sources, s.Condition, fieldKeys)
	case *ql.ShowSeriesStatement:
		return e.showSeries(ctx, s, p)
	case *ql.ShowSeriesCardinalityStatement:
		return e.showSeriesCardinality(ctx, s, p)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupported, stmt)
}

// database is the statement's ON database, or the db parameter.
func database(on string, p Params) string {
	if on != "" {
		return on
	}
	return p.DB
}

func (e *Executor) showMeasurements(ctx context.Context, s *ql.ShowMeasurementsStatement, p Params) ([]*Row, error) {
	sc, err := e.schema(ctx, database(s.Database, p))
	if err != nil {
		return nil, err
	}
	var srcs ql.Sources
	if s.Source != nil {
		srcs = ql.Sources{s.Source}
	}
	row := &Row{Name: "measurements", Columns: []string{"name"}}
	for _, m := range sc.measurements(srcs) {
		if s.Condition != nil {
			refs, err := e.seriesOf(sc, m, nil, s.Condition, minTime, maxTime, e.opts.Rollups)
			if err != nil {
				return nil, err
			}
			if len(refs) == 0 {
				continue
			}
		}
		row.Values = append(row.Values, []any{m.name})
	}
	row.Values = limitRows(row.Values, s.Limit, s.Offset)
	if len(row.Values) == 0 {
		return nil, nil
	}
	return []*Row{row}, nil
}

func (e *Executor) showMeasurementCardinality(ctx context.Context, s *ql.ShowMeasurementCardinalityStatement, p Params) ([]*Row, error) {
	rows, err := e.showMeasurements(ctx, &ql.ShowMeasurementsStatement{Database: s.Database, Condition: s.Condition}, p)
	if err != nil {
		return nil, err
	}
	n := 0
	if len(rows) > 0 {
		n = len(rows[0].Values)
	}
	col := "count"
	if !s.Exact {
		col = "cardinality estimation"
	}
	return []*Row{{Columns: []string{col}, Values: [][]any{{n}}}}, nil
}

// lister gives the rows of one measurement of a per-measurement SHOW.
type lister func(e *Executor, m *measurement, refs []seriesRef) [][]any

// perMeasurement runs a SHOW that answers one series per measurement.
func (e *Executor) perMeasurement(ctx context.Context, on string, p Params, srcs ql.Sources, cond ql.Expr, cols []string, limit, offset int, list lister) ([]*Row, error) {
	sc, err := e.schema(ctx, database(on, p))
	if err != nil {
		return nil, err
	}
	var out []*Row
	for _, m := range sc.measurements(srcs) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		refs, err := e.seriesOf(sc, m, nil, cond, minTime, maxTime, e.opts.Rollups)
		if err != nil {
			return nil, err
		}
		if len(refs) == 0 {
			continue
		}
		vals := limitRows(list(e, m, refs), limit, offset)
		if len(vals) > 0 {
			out = append(out, &Row{Name: m.name, Columns: cols, Values: vals})
		}
	}
	return out, nil
}

// cardinality counts what a per-measurement SHOW lists, per measurement.
func (e *Executor) cardinality(ctx context.Context, on string, p Params, srcs ql.Sources, cond ql.Expr, list lister) ([]*Row, error) {
	rows, err := e.perMeasurement(ctx, on, p, srcs, cond, nil, 0, 0, list)
	for _, r := range rows {
		r.Columns, r.Values = []string{"count"}, [][]any{{len(r.Values)}}
	}
	return rows, err
}

func tagKeys(_ *Executor, _ *measurement, refs []seriesRef) [][]any {
	seen := map[string]bool{}
	for _, r := range refs {
		for _, t := range r.tags {
			seen[t.key] = true
		}
	}
	return sortedRows(seen, func(k string) []any { return []any{k} })
}

// tagValues lists the values of the tag keys that WITH KEY selects.
func tagValues(op ql.Token, keyExpr ql.Literal) lister {
	match := func(k string) bool {
		switch l := keyExpr.(type) {
		case *ql.StringLiteral:
			return (op == ql.EQ) == (k == l.Val)
		case *ql.RegexLiteral:
			return (op == ql.EQREGEX) == l.Val.MatchString(k)
		case *ql.ListLiteral:
			for _, v := range l.Vals {
				if v == k {
					return true
				}
			}
		}
		return false
	}
	return func(_ *Executor, _ *measurement, refs []seriesRef) [][]any {
		type kv struct{ k, v string }
		seen := map[kv]bool{}
		for _, r := range refs {
			for _, t := range r.tags {
				if match(t.key) {
					seen[kv{t.key, t.value}] = true
				}
			}
		}
		keys := make([]kv, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].k != keys[j].k {
				return keys[i].k < keys[j].k
			}
			return keys[i].v < keys[j].v
		})
		out := make([][]any, len(keys))
		for i, k := range keys {
			out[i] = []any{k.k, k.v}
		}
		return out
	}
}

func fieldKeys(_ *Executor, m *measurement, refs []seriesRef) [][]any {
	types := map[string]series.ValueType{}
	for _, r := range refs {
		if _, ok := types[r.field]; !ok {
			types[r.field] = r.typ
		}
	}
	out := make([][]any, 0, len(types))
	for _, f := range m.fieldNames {
		if t, ok := types[f]; ok {
			out = append(out, []any{f, typeName(t)})
		}
	}
	return out
}

// typeName is InfluxDB's name of a field type.
func typeName(t series.ValueType) string {
	switch t {
	case series.TypeInt:
		return "integer"
	case series.TypeUint:
		return "unsigned"
	case series.TypeBool:
		return "boolean"
	case series.TypeString:
		return "string"
	}
	return "float"
}

func (e *Executor) showSeries(ctx context.Context, s *ql.ShowSeriesStatement, p Params) ([]*Row, error) {
	keys, err := e.seriesKeys(ctx, database(s.Database, p), s.Sources, s.Condition)
	if err != nil {
		return nil, err
	}
	vals := make([][]any, len(keys))
	for i, k := range keys {
		vals[i] = []any{k}
	}
	vals = limitRows(vals, s.Limit, s.Offset)
	if len(vals) == 0 {
		return nil, nil
	}
	return []*Row{{Columns: []string{"key"}, Values: vals}}, nil
}

func (e *Executor) showSeriesCardinality(ctx context.Context, s *ql.ShowSeriesCardinalityStatement, p Params) ([]*Row, error) {
	if !s.Exact {
		keys, err := e.seriesKeys(ctx, database(s.Database, p), s.Sources, s.Condition)
		if err != nil {
			return nil, err
		}
		return []*Row{{Columns: []string{"cardinality estimation"}, Values: [][]any{{len(keys)}}}}, nil
	}
	return e.cardinality(ctx, s.Database, p, s.Sources, s.Condition, func(_ *Executor, m *measurement, refs []seriesRef) [][]any {
		seen := map[string]bool{}
		for _, r := range refs {
			seen[seriesKey(m.name, r.tags)] = true
		}
		return sortedRows(seen, func(k string) []any { return []any{k} })
	})
}

// seriesKeys returns the sorted InfluxDB series keys of the sources.
func (e *Executor) seriesKeys(ctx context.Context, db string, srcs ql.Sources, cond ql.Expr) ([]string, error) {
	sc, err := e.schema(ctx, db)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range sc.measurements(srcs) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		refs, err := e.seriesOf(sc, m, nil, cond, minTime, maxTime, e.opts.Rollups)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			seen[seriesKey(m.name, r.tags)] = true
		}
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// sortedRows returns one row per key of set, sorted, built by row.
func sortedRows(set map[string]bool, row func(string) []any) [][]any {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]any, len(keys))
	for i, k := range keys {
		out[i] = row(k)
	}
	return out
}

// limitRows applies LIMIT and OFFSET.
func limitRows(vals [][]any, limit, offset int) [][]any {
	if offset > 0 {
		if offset >= len(vals) {
			return nil
		}
		vals = vals[offset:]
	}
	if limit > 0 && limit < len(vals) {
		vals = vals[:limit]
	}
	return vals
}
