package tagindex

import (
	"fmt"
	"strconv"
)

// MatchType is the operator of a Matcher.
type MatchType uint8

// The four PromQL matcher operators.
const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~
	MatchNotRegexp                  // !~
)

// String returns the PromQL spelling of t.
func (t MatchType) String() string {
	switch t {
	case MatchEqual:
		return "="
	case MatchNotEqual:
		return "!="
	case MatchRegexp:
		return "=~"
	case MatchNotRegexp:
		return "!~"
	}
	return "MatchType(" + strconv.Itoa(int(t)) + ")"
}

// Matcher selects series by the value of one label, with PromQL semantics:
// a series without the label has the value "" for it, so name="" matches the
// series that lack the label and name!="" those that have it; regular
// expressions are fully anchored and '.' matches any character, newline
// included (as in Prometheus 3).
//
// Build one with NewMatcher, which compiles the regular expression once; a
// Matcher literal also works (it is compiled on each use). A Matcher is
// immutable after construction and safe for concurrent use.
type Matcher struct {
	Type  MatchType
	Name  string
	Value string

	vm *valueMatcher // compiled by NewMatcher; nil for literals
}

// NewMatcher returns a compiled matcher, or an error for an unknown type or
// an invalid regular expression.
func NewMatcher(t MatchType, name, value string) (*Matcher, error) {
	m := &Matcher{Type: t, Name: name, Value: value}
	vm, err := compileMatcher(m)
	if err != nil {
		return nil, err
	}
	m.vm = vm
	return m, nil
}

// MustNewMatcher is NewMatcher that panics on error; for tests and literals.
func MustNewMatcher(t MatchType, name, value string) *Matcher {
	m, err := NewMatcher(t, name, value)
	if err != nil {
		panic(err)
	}
	return m
}

// String renders the matcher as PromQL does: name=~"value".
func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// Matches reports whether a label value (or "" for a missing label)
// satisfies the matcher.
func (m *Matcher) Matches(v string) bool {
	vm, err := m.compiled()
	if err != nil {
		return false
	}
	return vm.matches(v) != vm.negate
}

func (m *Matcher) compiled() (*valueMatcher, error) {
	if m.vm != nil {
		return m.vm, nil
	}
	return compileMatcher(m)
}

func compileMatcher(m *Matcher) (*valueMatcher, error) {
	switch m.Type {
	case MatchEqual, MatchNotEqual:
		vm := &valueMatcher{kind: kindSet, set: []string{m.Value}, negate: m.Type == MatchNotEqual}
		vm.finish()
		return vm, nil
	case MatchRegexp, MatchNotRegexp:
		vm, err := compileRegex(m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m, err)
		}
		vm.negate = m.Type == MatchNotRegexp
		return vm, nil
	}
	return nil, fmt.Errorf("matcher %s: unknown match type %d", m, m.Type)
}
