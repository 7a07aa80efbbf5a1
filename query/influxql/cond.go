package influxql

import (
	"math"
	"strings"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
)

// compileCond turns a WHERE condition into a test of the point env is at,
// for the points of env's series: comparisons without a field of the
// series (tags) are decided once, a float field compared with a number
// reads its column without boxing (TSBS high-cpu: usage_user > 90.0), and
// the rest is evaluated as evalExpr does.
func compileCond(ex ql.Expr, env *rowEnv) func() bool {
	switch x := ex.(type) {
	case *ql.ParenExpr:
		return compileCond(x.Expr, env)
	case *ql.BinaryExpr:
		switch x.Op {
		case ql.AND:
			l, r := compileCond(x.LHS, env), compileCond(x.RHS, env)
			return func() bool { return l() && r() }
		case ql.OR:
			l, r := compileCond(x.LHS, env), compileCond(x.RHS, env)
			return func() bool { return l() || r() }
		}
		if !readsField(x, env) {
			v := truthy(evalExpr(x, env))
			return func() bool { return v }
		}
		if f := floatCompare(x, env); f != nil {
			return f
		}
	}
	return func() bool { return truthy(evalExpr(ex, env)) }
}

// readsField reports whether ex refers to a field of env's series (or to
// time): its value changes from point to point.
func readsField(ex ql.Expr, env *rowEnv) bool {
	found := false
	ql.WalkFunc(ex, func(n ql.Node) {
		if r, ok := n.(*ql.VarRef); ok && (env.field(r.Val) >= 0 || strings.EqualFold(r.Val, "time")) {
			found = true
		}
	})
	return found
}

// floatCompare is field <op> number for a float field read as a float:
// what compare answers, NaN included; nil for any other shape.
func floatCompare(x *ql.BinaryExpr, env *rowEnv) func() bool {
	r, ok := x.LHS.(*ql.VarRef)
	if !ok || r.Type != ql.Float {
		return nil
	}
	var lit float64
	switch l := x.RHS.(type) {
	case *ql.NumberLiteral:
		lit = l.Val
	case *ql.IntegerLiteral:
		lit = float64(l.Val)
	default:
		return nil
	}
	k := env.field(r.Val)
	if k < 0 || env.cols[k].typ != series.TypeFloat {
		return nil
	}
	c, op := env.cols[k], x.Op
	switch op {
	case ql.EQ, ql.NEQ, ql.LT, ql.LTE, ql.GT, ql.GTE:
	default:
		return nil
	}
	return func() bool {
		i := env.at[k]
		if i < 0 {
			return false
		}
		v := math.Float64frombits(c.raw[i])
		switch {
		case v < lit:
			return cmpOp(op, -1)
		case v > lit:
			return cmpOp(op, 1)
		case v == lit:
			return cmpOp(op, 0)
		}
		return op == ql.NEQ // NaN
	}
}
