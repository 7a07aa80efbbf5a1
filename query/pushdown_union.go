package query

import (
	"errors"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/series"
)

// Union pushdown (docs/query.md, "Union pushdown").
//
// Per-field PromQL is written as a union
//
//	label_replace(f(m_1{...}[r]), "d", "c_1", "", "") or ... or label_replace(f(m_k{...}[r]), "d", "c_k", "", "")
//
// Prometheus evaluates it as a left-deep chain of `or`s, each of which
// hashes the label set of every series of its left side at every step:
// quadratic in k, and most of the CPU of such a query once its windows
// come from the window cache. When every operand is such a label_replace
// of a pushdown-able call (pushdown.go: one metric name each), with a
// constant replacement (no "$"), an empty source label and regex (which
// match every series) and pairwise distinct constants c_i, Prepare
// replaces the whole union by one selector. Its select evaluates every
// branch as a plain pushdown and returns the branches' series one after
// the other, each with d set to its c_i (removed for an empty c_i), which
// is what the union evaluates to:
//
//   - label_replace sets d to c_i on every series of branch i, so series of
//     different branches differ in d, and d is not one of the labels `or`
//     leaves out of its signature (__name__, __type__, __unit__: d may not
//     start with "__"); every `or` therefore keeps both sides whole at
//     every step: the union is the concatenation of the branches;
//   - inside a branch the series share one metric name, so after f drops
//     it they differ in another label; setting d can make two of them
//     equal only when one already had d. Then Prometheus merges them or
//     fails the query, which a select cannot reproduce: the select fails
//     with errUnionFallback and the caller evaluates the query again
//     without union pushdown (API.evaluate).
//
// The order of the series: an instant query's `or` appends the right side
// to the left, so the concatenation in branch order (each branch in its
// select's order) is Prometheus' order too. A range query's `or` gathers
// its output series in a Go map, so Prometheus' own order is arbitrary
// there and so is the input order of what consumes the union; results
// that depend on it (a sum or mean of several series of one group, ties
// of 0 and -0 in max) vary from run to run in Prometheus itself. Ours is
// one of its possible orders.

// errUnionFallback is returned by a union select whose label_replace would
// make two series of one branch equal (see above).
var errUnionFallback = errors.New("union pushdown does not apply: label_replace makes two series equal")

// union returns the plan of the union e, or nil when it does not apply.
func (r *rewriter) union(e *parser.BinaryExpr) *pushdownPlan {
	ops, ok := orOperands(e, nil)
	if !ok || len(ops) < 2 {
		return nil
	}
	u := &pushdownPlan{text: e.String(), startMs: r.startMs, endMs: r.endMs, stepMs: r.stepMs}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		b := r.unionBranch(op)
		if b == nil || seen[b.setValue] || (len(u.branches) > 0 && b.setLabel != u.branches[0].setLabel) {
			return nil
		}
		seen[b.setValue] = true
		u.branches = append(u.branches, b)
	}
	u.fn = u.branches[0].fn
	for _, b := range u.branches {
		if b.fn != u.fn {
			u.fn = "" // mixed
		}
	}
	return u
}

// unionBranch returns the plan of one operand of a union:
// label_replace(f(sel[r]), "d", "c", "", "") with f(sel[r]) pushdown-able.
func (r *rewriter) unionBranch(e parser.Expr) *pushdownPlan {
	c, ok := unparen(e).(*parser.Call)
	if !ok || c.Func == nil || c.Func.Name != "label_replace" || len(c.Args) != 5 {
		return nil
	}
	inner, ok := unparen(c.Args[0]).(*parser.Call)
	if !ok {
		return nil
	}
	var s [4]string
	for i := range s {
		lit, ok := c.Args[i+1].(*parser.StringLiteral)
		if !ok {
			return nil
		}
		s[i] = lit.Val
	}
	dst, val, src, re := s[0], s[1], s[2], s[3]
	if !plainLabelName(dst) || strings.HasPrefix(dst, "__") || strings.Contains(val, "$") || src != "" || re != "" {
		return nil
	}
	b := r.plan(inner, false, false, false) // unions are off with delayed names
	if b == nil || b.keepName {
		return nil // last_over_time keeps the metric name: not a union branch
	}
	b.setLabel, b.setValue = dst, val
	return b
}

// orOperands appends the operands of a tree of plain `or`s (no on or
// ignoring labels) to out, left to right.
func orOperands(e parser.Expr, out []parser.Expr) ([]parser.Expr, bool) {
	b, ok := unparen(e).(*parser.BinaryExpr)
	if !ok || b.Op != parser.LOR {
		return append(out, e), true
	}
	if vm := b.VectorMatching; vm != nil && (vm.On || len(vm.MatchingLabels) > 0) {
		return nil, false
	}
	out, ok = orOperands(b.LHS, out)
	if !ok {
		return nil, false
	}
	return orOperands(b.RHS, out)
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// plainLabelName reports whether s is a label name of the classic form
// [a-zA-Z_][a-zA-Z0-9_]*, valid under every name validation scheme.
func plainLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// pushdownLabels returns the labels of a pushed-down series from its
// canonical form: without __name__ (the function drops it) unless
// keepName (names.go; last_over_time) and, when setLabel is not empty,
// with setLabel set to setValue (removed when setValue is empty), as
// label_replace sets it. had reports whether the series had setLabel
// before.
func pushdownLabels(b *labels.ScratchBuilder, canon []byte, setLabel, setValue string, keepName bool, keep []string) (ls labels.Labels, had bool, err error) {
	b.Reset()
	placed := setLabel == ""
	place := func() {
		if !placed && setValue != "" {
			b.Add(setLabel, setValue)
		}
		placed = true
	}
	err = series.ForEachCanonical(canon, func(name, value []byte) error {
		// The registry's canonical bytes are immutable, so the strings
		// may alias them; Labels() copies them into the label set.
		n := bytesString(name)
		if n == labels.MetricName && !keepName || keep != nil && !slices.Contains(keep, n) {
			return nil
		}
		if !placed && n >= setLabel {
			if n == setLabel {
				had = true
				place()
				return nil
			}
			place()
		}
		b.Add(n, bytesString(value))
		return nil
	})
	place()
	return b.Labels(), had, err
}

// uniqueBranches reports whether no two series of one branch of refs
// (refs of a branch are contiguous) have the same labels.
func uniqueBranches(refs []seriesRef) bool {
	seen := make(map[uint64][]int)
	for lo := 0; lo < len(refs); {
		hi := lo
		for hi < len(refs) && refs[hi].branch == refs[lo].branch {
			hi++
		}
		clear(seen)
		for i := lo; i < hi; i++ {
			h := refs[i].lset.Hash()
			for _, j := range seen[h] {
				if labels.Equal(refs[i].lset, refs[j].lset) {
					return false
				}
			}
			seen[h] = append(seen[h], i)
		}
		lo = hi
	}
	return true
}
