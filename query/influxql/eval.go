package influxql

import (
	"math"
	"strings"

	ql "github.com/influxdata/influxql"
)

// env gives evalExpr the values of references and calls.
type env interface {
	ref(r *ql.VarRef) any
	call(c *ql.Call) any
}

// evalExpr evaluates an expression of a SELECT field or WHERE condition.
// nil is null; comparisons give bool.
func evalExpr(ex ql.Expr, en env) any {
	switch x := ex.(type) {
	case *ql.VarRef:
		return en.ref(x)
	case *ql.Call:
		return en.call(x)
	case *ql.ParenExpr:
		return evalExpr(x.Expr, en)
	case *ql.NumberLiteral:
		return x.Val
	case *ql.IntegerLiteral:
		return x.Val
	case *ql.UnsignedLiteral:
		return x.Val
	case *ql.StringLiteral:
		return x.Val
	case *ql.BooleanLiteral:
		return x.Val
	case *ql.BinaryExpr:
		return evalBinary(x, en)
	}
	return nil
}

func evalBinary(x *ql.BinaryExpr, en env) any {
	switch x.Op {
	case ql.AND:
		l, _ := evalExpr(x.LHS, en).(bool)
		return l && truthy(evalExpr(x.RHS, en))
	case ql.OR:
		l, _ := evalExpr(x.LHS, en).(bool)
		return l || truthy(evalExpr(x.RHS, en))
	case ql.EQREGEX, ql.NEQREGEX:
		re, ok := x.RHS.(*ql.RegexLiteral)
		s, sok := evalExpr(x.LHS, en).(string)
		if !ok || !sok {
			return x.Op == ql.NEQREGEX && ok
		}
		return re.Val.MatchString(s) == (x.Op == ql.EQREGEX)
	}
	l, r := evalExpr(x.LHS, en), evalExpr(x.RHS, en)
	if l == nil || r == nil {
		return nil
	}
	switch x.Op {
	case ql.EQ, ql.NEQ, ql.LT, ql.LTE, ql.GT, ql.GTE:
		return compare(x.Op, l, r)
	}
	return arith(x.Op, l, r)
}

func truthy(v any) bool { b, _ := v.(bool); return b }

// compare compares two values; numbers of any type compare as numbers.
func compare(op ql.Token, l, r any) any {
	if ls, ok := l.(string); ok {
		rs, ok := r.(string)
		if !ok {
			return false
		}
		c := strings.Compare(ls, rs)
		return cmpOp(op, c)
	}
	if lb, ok := l.(bool); ok {
		rb, ok := r.(bool)
		if !ok {
			return false
		}
		switch op {
		case ql.EQ:
			return lb == rb
		case ql.NEQ:
			return lb != rb
		}
		return false
	}
	li, lok := l.(int64)
	ri, rok := r.(int64)
	if lok && rok {
		switch {
		case li < ri:
			return cmpOp(op, -1)
		case li > ri:
			return cmpOp(op, 1)
		}
		return cmpOp(op, 0)
	}
	lf, lok := toFloat(l)
	rf, rok := toFloat(r)
	if !lok || !rok {
		return false
	}
	switch {
	case lf < rf:
		return cmpOp(op, -1)
	case lf > rf:
		return cmpOp(op, 1)
	case lf == rf:
		return cmpOp(op, 0)
	}
	return op == ql.NEQ // NaN
}

func cmpOp(op ql.Token, c int) bool {
	switch op {
	case ql.EQ:
		return c == 0
	case ql.NEQ:
		return c != 0
	case ql.LT:
		return c < 0
	case ql.LTE:
		return c <= 0
	case ql.GT:
		return c > 0
	case ql.GTE:
		return c >= 0
	}
	return false
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// arith applies a math operator: integers stay integers but for division,
// as in InfluxDB 1.x.
func arith(op ql.Token, l, r any) any {
	li, lok := l.(int64)
	ri, rok := r.(int64)
	if lok && rok {
		switch op {
		case ql.ADD:
			return li + ri
		case ql.SUB:
			return li - ri
		case ql.MUL:
			return li * ri
		case ql.DIV:
			if ri == 0 {
				return float64(0)
			}
			return float64(li) / float64(ri)
		case ql.MOD:
			if ri == 0 {
				return nil
			}
			return li % ri
		case ql.BITWISE_AND:
			return li & ri
		case ql.BITWISE_OR:
			return li | ri
		case ql.BITWISE_XOR:
			return li ^ ri
		}
		return nil
	}
	lf, lok := toFloat(l)
	rf, rok := toFloat(r)
	if !lok || !rok {
		return nil
	}
	switch op {
	case ql.ADD:
		return lf + rf
	case ql.SUB:
		return lf - rf
	case ql.MUL:
		return lf * rf
	case ql.DIV:
		if rf == 0 {
			return float64(0)
		}
		return lf / rf
	case ql.MOD:
		return math.Mod(lf, rf)
	}
	return nil
}

// hasFieldRef reports whether a condition refers to a field: a name
// RewriteFields did not type as a tag (fields, and unknown names, which
// match no point), time aside.
func hasFieldRef(cond ql.Expr) bool {
	found := false
	if cond == nil {
		return false
	}
	ql.WalkFunc(cond, func(n ql.Node) {
		if r, ok := n.(*ql.VarRef); ok && r.Type != ql.Tag && !strings.EqualFold(r.Val, "time") {
			found = true
		}
	})
	return found
}

// unknownAsTags types as tags the names of cond that no measurement of
// the statement holds (RewriteFields left them Unknown) where they are
// compared with a string or a regex: InfluxDB takes them for a tag every
// series lacks, whose value is empty (so comparing it with the empty
// string matches every series).
func unknownAsTags(cond ql.Expr) {
	ql.WalkFunc(cond, func(n ql.Node) {
		x, ok := n.(*ql.BinaryExpr)
		if !ok {
			return
		}
		for _, pair := range [2][2]ql.Expr{{x.LHS, x.RHS}, {x.RHS, x.LHS}} {
			r, ok := pair[0].(*ql.VarRef)
			if !ok || r.Type != ql.Unknown || strings.EqualFold(r.Val, "time") {
				continue
			}
			switch pair[1].(type) {
			case *ql.StringLiteral, *ql.RegexLiteral:
				r.Type = ql.Tag
			}
		}
	})
}
