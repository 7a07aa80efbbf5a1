package influxql

import (
	"fmt"
	"math"
	"sort"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
)

// point is one value a function gives, with the time of the point it
// selected (selectors) or 0.
type point struct {
	t int64
	v any
	s *seriesData // the series a selector took its point from
}

// aggregator folds the points of one window of one call.
type aggregator interface {
	add(t int64, c *col, i int, s *seriesData)
	result() []point
}

// aggSpec is a parsed innermost call: name, field and literal arguments.
type aggSpec struct {
	name  string
	field string
	n     int           // top, bottom, sample: how many; percentile: none
	pct   float64       // percentile
	unit  time.Duration // integral
	tags  []string      // top, bottom: the tags of top(field, tag..., n)
	call  *ql.Call
}

// selectors are the functions whose value is one of the points, with its
// time.
var selectors = map[string]bool{"first": true, "last": true, "min": true, "max": true,
	"percentile": true, "sample": true, "top": true, "bottom": true}

// numericOnly functions take numbers: InfluxDB fails them on strings and
// booleans.
var numericOnly = map[string]bool{"mean": true, "sum": true, "median": true, "stddev": true,
	"spread": true, "integral": true, "percentile": true}

// multiRow functions give several points per window.
var multiRow = map[string]bool{"distinct": true, "top": true, "bottom": true, "sample": true}

var aggregates = map[string]bool{"count": true, "sum": true, "mean": true, "median": true, "mode": true,
	"spread": true, "stddev": true, "distinct": true, "integral": true,
	"first": true, "last": true, "min": true, "max": true, "percentile": true, "sample": true, "top": true, "bottom": true}

// parseAgg checks an aggregate call's arguments.
func parseAgg(c *ql.Call) (aggSpec, error) {
	sp := aggSpec{name: c.Name, call: c}
	if len(c.Args) == 0 {
		return sp, fmt.Errorf("invalid number of arguments for %s, expected at least 1, got 0", c.Name)
	}
	switch a := c.Args[0].(type) {
	case *ql.VarRef:
		sp.field = a.Val
		if numericOnly[c.Name] && (a.Type == ql.String || a.Type == ql.Boolean) {
			return sp, fmt.Errorf("%w: %s() of %s field %q (it takes integer and float fields)", ErrUnsupported, c.Name, a.Type, a.Val)
		}
	case *ql.Call:
		if a.Name == "distinct" && len(a.Args) != 1 {
			return sp, fmt.Errorf("distinct function can only have one argument")
		}
		if a.Name == "distinct" && c.Name == "count" {
			if r, ok := a.Args[0].(*ql.VarRef); ok {
				sp.name, sp.field = "count_distinct", r.Val
				return sp, nil
			}
		}
		return sp, fmt.Errorf("expected field argument in %s()", c.Name)
	case *ql.Distinct:
		sp.field = a.Val
		sp.name = "count_distinct"
		if c.Name != "count" {
			return sp, fmt.Errorf("expected field argument in %s()", c.Name)
		}
		return sp, nil
	default:
		return sp, fmt.Errorf("expected field argument in %s()", c.Name)
	}
	want := 1
	switch c.Name {
	case "top", "bottom":
		if len(c.Args) < 2 {
			return sp, fmt.Errorf("invalid number of arguments for %s, expected at least 2, got %d", c.Name, len(c.Args))
		}
		for _, a := range c.Args[1 : len(c.Args)-1] {
			r, ok := a.(*ql.VarRef)
			if !ok {
				return sp, fmt.Errorf("only fields or tags are allowed in %s(), found %s", c.Name, a)
			}
			sp.tags = append(sp.tags, r.Val)
		}
		want = 2 + len(sp.tags)
	case "percentile", "sample":
		want = 2
	case "integral":
		if len(c.Args) == 2 {
			want = 2
		}
	}
	if len(c.Args) != want {
		return sp, fmt.Errorf("invalid number of arguments for %s, expected %d, got %d", c.Name, want, len(c.Args))
	}
	if want >= 2 {
		switch a := c.Args[want-1].(type) {
		case *ql.IntegerLiteral:
			sp.n, sp.pct = int(a.Val), float64(a.Val)
		case *ql.NumberLiteral:
			sp.pct = a.Val
			sp.n = int(a.Val)
		case *ql.DurationLiteral:
			sp.unit = a.Val
		default:
			if c.Name == "integral" {
				return sp, fmt.Errorf("second argument must be a duration")
			}
			return sp, fmt.Errorf("expected integer argument in %s()", c.Name)
		}
		if c.Name == "sample" && sp.n <= 0 {
			return sp, fmt.Errorf("sample window must be greater than 1, got %d", sp.n)
		}
		if (c.Name == "top" || c.Name == "bottom" || c.Name == "sample") && (sp.n <= 0 || sp.n > maxTopN) {
			return sp, fmt.Errorf("%s() limit must be between 1 and %d", c.Name, maxTopN)
		}
	}
	if sp.unit <= 0 {
		sp.unit = time.Second
	}
	return sp, nil
}

// maxTopN bounds the N of top, bottom and sample.
const maxTopN = 10000

func newAggregator(sp aggSpec, typ series.ValueType) aggregator {
	switch sp.name {
	case "count":
		return &countAgg{}
	case "count_distinct":
		return &countDistinctAgg{seen: map[any]bool{}}
	case "sum":
		return &sumAgg{typ: typ}
	case "mean":
		return &meanAgg{}
	case "min", "max", "first", "last":
		return &selectAgg{name: sp.name}
	case "spread":
		return &spreadAgg{typ: typ}
	case "integral":
		return &integralAgg{unit: float64(sp.unit)}
	}
	return &collectAgg{sp: sp, typ: typ}
}

type countAgg struct{ n int64 }

func (a *countAgg) add(int64, *col, int, *seriesData) { a.n++ }
func (a *countAgg) result() []point                   { return []point{{v: a.n}} }

type countDistinctAgg struct{ seen map[any]bool }

func (a *countDistinctAgg) add(_ int64, c *col, i int, _ *seriesData) { a.seen[c.value(i)] = true }
func (a *countDistinctAgg) result() []point                           { return []point{{v: int64(len(a.seen))}} }

type sumAgg struct {
	typ series.ValueType
	f   float64
	i   int64
	u   uint64
	n   int
}

func (a *sumAgg) add(_ int64, c *col, i int, _ *seriesData) {
	a.n++
	switch c.typ {
	case series.TypeInt:
		a.i += int64(c.raw[i])
	case series.TypeUint:
		a.u += c.raw[i]
	default:
		a.f += c.float(i)
	}
}

func (a *sumAgg) result() []point {
	if a.n == 0 {
		return nil
	}
	switch a.typ {
	case series.TypeInt:
		return []point{{v: a.i}}
	case series.TypeUint:
		return []point{{v: a.u}}
	}
	return []point{{v: a.f}}
}

type meanAgg struct {
	sum float64
	n   int
}

func (a *meanAgg) add(_ int64, c *col, i int, _ *seriesData) { a.sum += c.float(i); a.n++ }
func (a *meanAgg) result() []point {
	if a.n == 0 {
		return nil
	}
	return []point{{v: a.sum / float64(a.n)}}
}

// selectAgg is min, max, first and last: one point, kept with its type.
type selectAgg struct {
	name string
	have bool
	p    point
	f    float64
	c    *col
	i    int
}

func (a *selectAgg) add(t int64, c *col, i int, s *seriesData) {
	f := c.float(i)
	better := !a.have
	if a.have {
		switch a.name {
		case "min":
			better = less(c, i, a.c, a.i) || !less(a.c, a.i, c, i) && t < a.p.t
		case "max":
			better = less(a.c, a.i, c, i) || !less(c, i, a.c, a.i) && t < a.p.t
		case "first": // at equal times the higher value, as InfluxDB's reducer
			better = t < a.p.t || t == a.p.t && less(a.c, a.i, c, i)
		case "last": // at equal times the higher value
			better = t > a.p.t || t == a.p.t && less(a.c, a.i, c, i)
		}
	}
	if better {
		a.have, a.p, a.f, a.c, a.i = true, point{t: t, s: s}, f, c, i
	}
}

// less compares point i of a with point j of b, exactly for integers.
func less(a *col, i int, b *col, j int) bool {
	if a.typ == series.TypeInt && b.typ == series.TypeInt {
		return int64(a.raw[i]) < int64(b.raw[j])
	}
	if a.typ == series.TypeString && b.typ == series.TypeString {
		return a.strs[i] < b.strs[j]
	}
	return a.float(i) < b.float(j)
}

func (a *selectAgg) result() []point {
	if !a.have {
		return nil
	}
	a.p.v = a.c.value(a.i)
	return []point{a.p}
}

type spreadAgg struct {
	typ        series.ValueType
	n          int
	minF, maxF float64
	minI, maxI int64
}

func (a *spreadAgg) add(_ int64, c *col, i int, _ *seriesData) {
	f, v := c.float(i), int64(c.raw[i])
	if a.n == 0 {
		a.minF, a.maxF, a.minI, a.maxI = f, f, v, v
	}
	a.n++
	a.minF, a.maxF = math.Min(a.minF, f), math.Max(a.maxF, f)
	a.minI, a.maxI = min(a.minI, v), max(a.maxI, v)
}

func (a *spreadAgg) result() []point {
	if a.n == 0 {
		return nil
	}
	if a.typ == series.TypeInt {
		return []point{{v: a.maxI - a.minI}}
	}
	return []point{{v: a.maxF - a.minF}}
}

// integralAgg is the area under the points (trapezoids), per unit.
type integralAgg struct {
	unit float64
	pts  []point
}

func (a *integralAgg) add(t int64, c *col, i int, _ *seriesData) {
	a.pts = append(a.pts, point{t: t, v: c.float(i)})
}

func (a *integralAgg) result() []point {
	if len(a.pts) == 0 {
		return nil
	}
	sort.SliceStable(a.pts, func(i, j int) bool { return a.pts[i].t < a.pts[j].t })
	// As InfluxDB's reducer: a point at the time of the previous one
	// replaces it without adding area.
	var sum float64
	for i := 1; i < len(a.pts); i++ {
		p, q := a.pts[i-1], a.pts[i]
		if q.t == p.t {
			continue
		}
		sum += (p.v.(float64) + q.v.(float64)) / 2 * float64(q.t-p.t) / a.unit
	}
	return []point{{v: sum}}
}

// collectAgg keeps every point: median, mode, stddev, distinct,
// percentile, sample, top and bottom.
type collectAgg struct {
	sp  aggSpec
	typ series.ValueType
	pts []point
	fs  []float64
}

func (a *collectAgg) add(t int64, c *col, i int, s *seriesData) {
	a.pts = append(a.pts, point{t: t, v: c.value(i), s: s})
	a.fs = append(a.fs, c.float(i))
}

func (a *collectAgg) result() []point {
	if len(a.pts) == 0 {
		return nil
	}
	switch a.sp.name {
	case "median":
		return []point{{v: median(a.fs)}}
	case "stddev":
		return stddev(a.fs)
	case "mode":
		return []point{mode(a.pts)}
	case "distinct":
		return distinct(a.pts)
	case "percentile":
		return a.percentile()
	case "sample":
		return a.sample()
	case "top", "bottom":
		return a.topBottom()
	}
	return nil
}

// bestPerTags keeps, of the points of each distinct value of the tags of
// top(field, tag..., n), the largest (smallest) one, ties to the earliest.
func (a *collectAgg) bestPerTags(top bool) {
	best := map[string]int{}
	var order []string
	for i, p := range a.pts {
		var k string
		for _, t := range a.sp.tags {
			k += p.s.tagValue(t) + "\x00"
		}
		j, ok := best[k]
		switch {
		case !ok:
			order = append(order, k)
			best[k] = i
		case a.fs[i] != a.fs[j] && (a.fs[i] > a.fs[j]) == top, a.fs[i] == a.fs[j] && p.t < a.pts[j].t:
			best[k] = i
		}
	}
	pts, fs := make([]point, 0, len(order)), make([]float64, 0, len(order))
	for _, k := range order {
		pts, fs = append(pts, a.pts[best[k]]), append(fs, a.fs[best[k]])
	}
	a.pts, a.fs = pts, fs
}

func median(fs []float64) float64 {
	s := append([]float64(nil), fs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2
}

func stddev(fs []float64) []point {
	if len(fs) < 2 {
		return []point{{v: nil}}
	}
	var mean float64
	for _, f := range fs {
		mean += f
	}
	mean /= float64(len(fs))
	var ss float64
	for _, f := range fs {
		ss += (f - mean) * (f - mean)
	}
	return []point{{v: math.Sqrt(ss / float64(len(fs)-1))}}
}

// mode is the most frequent value, as InfluxDB's ModeReduceSlice picks
// it: points sorted by value (stably, from time order), and of values
// reaching the same count the one that reaches it at the earliest time.
func mode(pts []point) point {
	a := append([]point(nil), pts...)
	sort.SliceStable(a, func(i, j int) bool { return a[i].t < a[j].t })
	sort.SliceStable(a, func(i, j int) bool { return lessValue(a[i].v, a[j].v) })
	mostFreq, currFreq := 0, 0
	mostMode, mostTime, currMode := a[0].v, a[0].t, a[0].v
	for _, p := range a {
		if p.v != currMode {
			currFreq, currMode = 1, p.v
			continue
		}
		currFreq++
		if mostFreq > currFreq || mostFreq == currFreq && p.t > mostTime {
			continue
		}
		mostFreq, mostMode, mostTime = currFreq, p.v, p.t
	}
	return point{v: mostMode}
}

func lessValue(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && x < y
	case int64:
		y, ok := b.(int64)
		return ok && x < y
	case uint64:
		y, ok := b.(uint64)
		return ok && x < y
	case string:
		y, ok := b.(string)
		return ok && x < y
	case bool:
		y, ok := b.(bool)
		return ok && !x && y
	}
	return false
}

// distinct gives the distinct values in the order first seen.
func distinct(pts []point) []point {
	seen := map[any]bool{}
	var out []point
	for _, p := range pts {
		if !seen[p.v] {
			seen[p.v] = true
			out = append(out, point{v: p.v})
		}
	}
	return out
}

// percentile is InfluxDB's nearest-rank percentile, a selector.
func (a *collectAgg) percentile() []point {
	idx := make([]int, len(a.pts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return a.fs[idx[i]] < a.fs[idx[j]] })
	i := int(math.Floor(float64(len(idx))*a.sp.pct/100.0+0.5)) - 1
	if i < 0 || i >= len(idx) {
		return nil
	}
	return []point{a.pts[idx[i]]}
}

// sample takes n points spread evenly over the window, in time order
// (InfluxDB samples at random).
func (a *collectAgg) sample() []point {
	pts := append([]point(nil), a.pts...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].t < pts[j].t })
	if len(pts) <= a.sp.n {
		return pts
	}
	out := make([]point, 0, a.sp.n)
	for k := 0; k < a.sp.n; k++ {
		out = append(out, pts[k*len(pts)/a.sp.n])
	}
	return out
}

// topBottom takes the n largest (smallest) points, ties to the earliest,
// returned in time order.
func (a *collectAgg) topBottom() []point {
	top := a.sp.name == "top"
	if len(a.sp.tags) > 0 {
		a.bestPerTags(top)
	}
	idx := make([]int, len(a.pts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		x, y := a.fs[idx[i]], a.fs[idx[j]]
		if x != y {
			return (x > y) == top
		}
		return a.pts[idx[i]].t < a.pts[idx[j]].t
	})
	if len(idx) > a.sp.n {
		idx = idx[:a.sp.n]
	}
	out := make([]point, len(idx))
	for i, j := range idx {
		out[i] = a.pts[j]
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t < out[j].t })
	return out
}
