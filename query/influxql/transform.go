package influxql

import (
	"fmt"
	"math"
	"time"

	ql "github.com/influxdata/influxql"
)

// transform applies a transformation function to points in time order
// (nil values skipped). interval is the GROUP BY time() interval (0: none).
func transform(c *ql.Call, pts []point, interval int64) []point {
	var in []point
	for _, p := range pts {
		if _, ok := toFloat(p.v); ok {
			in = append(in, p)
		}
	}
	unit := int64(time.Second)
	switch {
	case c.Name == "elapsed":
		unit = 1
	case interval > 0: // derivative of windows: per window by default
		unit = interval
	}
	if len(c.Args) > 1 {
		if d, ok := c.Args[1].(*ql.DurationLiteral); ok && d.Val > 0 {
			unit = int64(d.Val)
		}
	}
	var out []point
	switch c.Name {
	case "derivative", "non_negative_derivative":
		for i := 1; i < len(in); i++ {
			a, b := in[i-1], in[i]
			if b.t == a.t {
				continue
			}
			fa, _ := toFloat(a.v)
			fb, _ := toFloat(b.v)
			d := (fb - fa) / (float64(b.t-a.t) / float64(unit))
			if c.Name == "non_negative_derivative" && d < 0 {
				continue
			}
			out = append(out, point{t: b.t, v: d})
		}
	case "difference", "non_negative_difference":
		for i := 1; i < len(in); i++ {
			d := arith(ql.SUB, in[i].v, in[i-1].v)
			if f, _ := toFloat(d); c.Name == "non_negative_difference" && f < 0 {
				continue
			}
			out = append(out, point{t: in[i].t, v: d})
		}
	case "elapsed":
		for i := 1; i < len(in); i++ {
			out = append(out, point{t: in[i].t, v: (in[i].t - in[i-1].t) / unit})
		}
	case "cumulative_sum":
		var acc any
		for _, p := range in {
			if acc == nil {
				acc = p.v
			} else {
				acc = arith(ql.ADD, acc, p.v)
			}
			out = append(out, point{t: p.t, v: acc})
		}
	case "moving_average":
		n := 0
		if len(c.Args) > 1 {
			if l, ok := c.Args[1].(*ql.IntegerLiteral); ok {
				n = int(l.Val)
			}
		}
		if n < 1 {
			return nil
		}
		var sum float64
		for i, p := range in {
			f, _ := toFloat(p.v)
			if i >= n { // InfluxDB's order: the oldest out, then the new in
				g, _ := toFloat(in[i-n].v)
				sum -= g
			}
			sum += f
			if i >= n-1 {
				out = append(out, point{t: p.t, v: sum / float64(n)})
			}
		}
	}
	return out
}

// checkTransform checks a transformation's arguments, with InfluxDB 1.6's
// errors.
func checkTransform(c *ql.Call) error {
	got := len(c.Args)
	switch c.Name {
	case "derivative", "non_negative_derivative", "elapsed":
		if got < 1 || got > 2 {
			return fmt.Errorf("invalid number of arguments for %s, expected at least 1 but no more than 2, got %d", c.Name, got)
		}
		if got == 2 {
			d, ok := c.Args[1].(*ql.DurationLiteral)
			if !ok {
				return fmt.Errorf("second argument to %s must be a duration, got %T", c.Name, c.Args[1])
			}
			if d.Val <= 0 {
				return fmt.Errorf("duration argument must be positive, got %s", ql.FormatDuration(d.Val))
			}
		}
	case "moving_average":
		if got != 2 {
			return fmt.Errorf("invalid number of arguments for moving_average, expected 2, got %d", got)
		}
		n, ok := c.Args[1].(*ql.IntegerLiteral)
		if !ok {
			return fmt.Errorf("second argument for moving_average must be an integer, got %T", c.Args[1])
		}
		if n.Val <= 1 {
			return fmt.Errorf("moving_average window must be greater than 1, got %d", n.Val)
		}
	default: // difference, non_negative_difference, cumulative_sum
		if got != 1 {
			return fmt.Errorf("invalid number of arguments for %s, expected 1, got %d", c.Name, got)
		}
	}
	return nil
}

// extendForTransforms moves the start of a GROUP BY time() statement back
// by the windows its transformations of aggregates need before the first
// one answered, as InfluxDB does: one for derivative(mean(x)) and the
// other differences, n-1 for moving_average(mean(x), n). Those windows
// are read and then cut from the answer (plan.cutT).
func (pl *plan) extendForTransforms() {
	if !pl.aggregated || pl.interval <= 0 || !pl.boundedMin || !pl.stmt.TimeAscending() {
		return
	}
	var reach int64
	for _, f := range pl.stmt.Fields {
		ql.WalkFunc(f.Expr, func(n ql.Node) {
			c, ok := n.(*ql.Call)
			if !ok || !transforms[c.Name] || len(c.Args) == 0 {
				return
			}
			if _, inner := c.Args[0].(*ql.Call); !inner {
				return
			}
			switch c.Name {
			case "moving_average":
				if l, ok := c.Args[1].(*ql.IntegerLiteral); ok {
					reach = max(reach, l.Val-1)
				}
			case "cumulative_sum":
			default:
				reach = max(reach, 1)
			}
		})
	}
	if reach == 0 || reach > math.MaxInt64/pl.interval || pl.minT < minTime+reach*pl.interval {
		return
	}
	pl.cutT, pl.cut = pl.windowStart(pl.minT), true
	pl.minT -= reach * pl.interval
}

// cutRows drops the rows of the windows extendForTransforms added.
func (pl *plan) cutRows(rows [][]any) [][]any {
	if !pl.cut {
		return rows
	}
	out := rows[:0]
	for _, r := range rows {
		if int64(r[0].(Time)) >= pl.cutT {
			out = append(out, r)
		}
	}
	return out
}
