package influxql

import (
	"sort"
	"strings"

	ql "github.com/influxdata/influxql"
)

// condFirst orders refs so that the fields the WHERE condition compares
// are read first, and returns those fields, when the condition is false
// wherever none of them has a point (condNeedsField); nil otherwise. A
// series whose condition fields pass at no point then needs no other
// field read (condPasses): TSBS high-cpu-1, usage_user > 90.0 over one
// host, is most often empty.
func (pl *plan) condFirst(refs []seriesRef) map[string]bool {
	if pl.disableSummaries || !pl.condHasField || !condNeedsField(pl.cond) {
		return nil
	}
	cf := map[string]bool{}
	for _, f := range fieldRefs(pl.cond) {
		cf[f] = true
	}
	sort.SliceStable(refs, func(i, j int) bool { return cf[refs[i].field] && !cf[refs[j].field] })
	return cf
}

// condNeedsField reports whether cond is false at a time where none of
// its fields has a point: an AND of terms one of which compares a field
// with a literal (a missing value compares false).
func condNeedsField(cond ql.Expr) bool {
	switch x := cond.(type) {
	case *ql.ParenExpr:
		return condNeedsField(x.Expr)
	case *ql.BinaryExpr:
		switch x.Op {
		case ql.AND:
			return condNeedsField(x.LHS) || condNeedsField(x.RHS)
		case ql.EQ, ql.NEQ, ql.LT, ql.LTE, ql.GT, ql.GTE:
			return fieldVsLiteral(x.LHS, x.RHS) || fieldVsLiteral(x.RHS, x.LHS)
		}
	}
	return false
}

func fieldVsLiteral(ref, lit ql.Expr) bool {
	r, ok := ref.(*ql.VarRef)
	if !ok || r.Type == ql.Tag || strings.EqualFold(r.Val, "time") {
		return false
	}
	switch lit.(type) {
	case *ql.NumberLiteral, *ql.IntegerLiteral, *ql.StringLiteral, *ql.BooleanLiteral:
		return true
	}
	return false
}

// condPasses reports whether the condition holds at some point of sd's
// columns read so far (the condition's fields).
func (pl *plan) condPasses(sd *seriesData) bool {
	env := newRowEnv(sd)
	pred := compileCond(pl.cond, env)
	for _, t := range unionTimes(sd) {
		if env.seek(t); pred() {
			return true
		}
	}
	return false
}
