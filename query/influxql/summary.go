package influxql

import (
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"

	ql "github.com/influxdata/influxql"
)

// summarizable are the functions a block summary answers exactly (for
// min and max: their value, not the time of the point).
var summarizable = map[string]bool{"count": true, "sum": true, "mean": true, "min": true, "max": true, "first": true, "last": true}

// summaryOK reports whether the points of field (of type typ) may be read
// as block summaries: every function on it is summarizable, no WHERE
// compares fields, no field is read outside a function (auxiliary fields
// need the selected point), and min and max are not asked for the time of
// their point (GROUP BY time() gives the window's time instead).
func (pl *plan) summaryOK(field string, typ series.ValueType) bool {
	if !pl.aggregated || pl.disableSummaries || typ == series.TypeString || typ == series.TypeBool {
		return false
	}
	if pl.condHasField {
		return false
	}
	used := false
	for _, a := range pl.aggs {
		if a.field != field {
			continue
		}
		used = true
		if !summarizable[a.name] || (a.name == "min" || a.name == "max") && pl.selectorTime {
			return false
		}
	}
	return used && !pl.auxFields
}

// wholeBlocks keeps the summaries that lie inside one window and whose
// aggregates stand exactly for their samples: integer series only when
// every partial sum is exact (BlockSumExact), no staleness markers.
func (pl *plan) wholeBlocks(sums []engine.BlockSummary, typ series.ValueType) []engine.BlockSummary {
	out := sums[:0]
	for _, bs := range sums {
		if bs.Flags&engine.BlockStale != 0 || typ != series.TypeFloat && bs.Flags&engine.BlockSumExact == 0 {
			continue
		}
		if pl.interval > 0 && pl.windowStart(bs.MinT) != pl.windowStart(bs.MaxT) {
			continue
		}
		out = append(out, bs)
	}
	return out
}

// summaryAdder is an aggregator that takes a block summary whole.
type summaryAdder interface {
	addSummary(bs *engine.BlockSummary, typ series.ValueType, s *seriesData)
}

func (a *countAgg) addSummary(bs *engine.BlockSummary, _ series.ValueType, _ *seriesData) {
	a.n += int64(bs.Count)
}

func (a *sumAgg) addSummary(bs *engine.BlockSummary, typ series.ValueType, _ *seriesData) {
	a.n += bs.Count
	switch typ {
	case series.TypeInt:
		a.i += int64(bs.Sum)
	case series.TypeUint:
		a.u += uint64(bs.Sum)
	default:
		a.f += bs.Sum
	}
}

func (a *meanAgg) addSummary(bs *engine.BlockSummary, _ series.ValueType, _ *seriesData) {
	a.sum += bs.Sum
	a.n += bs.Count
}

// addSummary folds a block into min, max, first or last as a one-point
// column: the block's value with its time (first, last) or the block's
// first time (min, max, whose point time is not reported).
func (a *selectAgg) addSummary(bs *engine.BlockSummary, typ series.ValueType, s *seriesData) {
	var t int64
	var v float64
	switch a.name {
	case "first":
		t, v = bs.MinT, bs.First
	case "last":
		t, v = bs.MaxT, bs.Last
	case "min":
		t, v = bs.MinT, bs.Min
	case "max":
		t, v = bs.MinT, bs.Max
	}
	if a.have && a.worse(t, v) {
		return // most summaries: no column to make
	}
	c := &col{typ: typ}
	switch typ {
	case series.TypeInt:
		c.push(t, int64(v))
	case series.TypeUint:
		c.push(t, uint64(v))
	default:
		c.push(t, v)
	}
	a.add(t, c, 0, s)
}

// worse reports whether a point at t of value v (a float standing for
// its integer, if any) cannot replace the selected point: strictly later
// for first, earlier for last, greater for min, less for max (a float's
// strict order is its integer's: the conversion is monotonic).
func (a *selectAgg) worse(t int64, v float64) bool {
	switch a.name {
	case "first":
		return t > a.p.t
	case "last":
		return t < a.p.t
	case "min":
		return v > a.f
	case "max":
		return v < a.f
	}
	return false
}

// foldSummaries feeds the block summaries of the group's series to the
// window aggregators; it reports whether it fed any.
func (pl *plan) foldSummaries(g *group, ws windows, aggs [][]aggregator, k int) bool {
	sp := pl.aggs[k]
	found := false
	for _, sd := range g.series {
		typ := series.TypeFloat
		if c := sd.cols[sp.field]; c != nil {
			typ = c.typ
		}
		for i := range sd.sums[sp.field] {
			bs := &sd.sums[sp.field][i]
			w := ws.index(bs.MinT)
			if w < 0 || w >= ws.n {
				continue
			}
			if aggs[w] == nil {
				aggs[w] = make([]aggregator, len(pl.aggs))
			}
			if aggs[w][k] == nil {
				aggs[w][k] = newAggregator(sp, typ)
			}
			if sa, ok := aggs[w][k].(summaryAdder); ok {
				sa.addSummary(bs, typ, sd)
				pl.summaryBlocks++
				found = true
			}
		}
	}
	return found
}

// usesAux reports whether fields read a field outside a function.
func usesAux(fields ql.Fields) bool {
	for _, f := range fields {
		if _, ok := f.Expr.(*ql.VarRef); ok {
			return true
		}
	}
	return false
}
