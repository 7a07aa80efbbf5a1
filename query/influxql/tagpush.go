package influxql

import (
	"strings"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// maxTagDisjuncts bounds the index lookups one condition may turn into.
const maxTagDisjuncts = 64

// tagMatchers turns the tag equalities of a WHERE condition into index
// matchers, as a disjunction of conjunctions: each conjunction is one
// Postings lookup, their union a superset of the series tagCond accepts
// (which still decides). ok is false when the condition does not narrow
// the series (an OR with a branch on fields or a negation, empty values
// that also match a missing tag, too many branches). TSBS's
// (hostname = 'a' or hostname = 'b') thus reads two postings lists
// instead of decoding every series' labels.
func (e *Executor) tagMatchers(cond ql.Expr, isField func(string) bool) (dnf [][]*tagindex.Matcher, ok bool) {
	switch x := cond.(type) {
	case *ql.ParenExpr:
		return e.tagMatchers(x.Expr, isField)
	case *ql.BinaryExpr:
		switch x.Op {
		case ql.AND:
			l, lok := e.tagMatchers(x.LHS, isField)
			r, rok := e.tagMatchers(x.RHS, isField)
			switch {
			case !lok:
				return r, rok
			case !rok:
				return l, lok
			case len(l)*len(r) > maxTagDisjuncts:
				return nil, false
			}
			for _, a := range l {
				for _, b := range r {
					dnf = append(dnf, append(append([]*tagindex.Matcher{}, a...), b...))
				}
			}
			return dnf, true
		case ql.OR:
			l, lok := e.tagMatchers(x.LHS, isField)
			r, rok := e.tagMatchers(x.RHS, isField)
			if !lok || !rok || len(l)+len(r) > maxTagDisjuncts {
				return nil, false
			}
			return append(l, r...), true
		case ql.EQ:
			return e.tagEqual(x, isField)
		}
	}
	return nil, false
}

// tagEqual is the matcher of tag = 'value' (either side), when the value
// is not empty and the key is a tag.
func (e *Executor) tagEqual(x *ql.BinaryExpr, isField func(string) bool) ([][]*tagindex.Matcher, bool) {
	ref, lit := x.LHS, x.RHS
	if _, ok := ref.(*ql.VarRef); !ok {
		ref, lit = lit, ref
	}
	v, ok := ref.(*ql.VarRef)
	s, sok := lit.(*ql.StringLiteral)
	if !ok || !sok || s.Val == "" || v.Type != ql.Tag && v.Type != ql.Unknown || strings.EqualFold(v.Val, "time") ||
		v.Type != ql.Tag && isField(v.Val) || v.Val == series.MetricName || v.Val == e.opts.DBLabel {
		return nil, false
	}
	m, err := tagindex.NewMatcher(tagindex.MatchEqual, v.Val, s.Val)
	if err != nil {
		return nil, false
	}
	return [][]*tagindex.Matcher{{m}}, true
}
