package tagindex

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"sync"
)

// maxSetSize bounds the literal set a regular expression is expanded into:
// a|b|c becomes three look-ups instead of a scan of every value, but a
// character class such as [a-z]{4} must not become 450,000 strings.
const maxSetSize = 256

type matchKind uint8

const (
	kindSet      matchKind = iota // the value is one of set
	kindAny                       // .*: every value, "" included
	kindNonEmpty                  // .+: every value but ""
	kindPrefix                    // lit then tail
	kindContains                  // .*lit.*
	kindSuffix                    // .*lit
	kindRegex                     // anything else: re decides
)

type tailKind uint8

const (
	tailAny      tailKind = iota // prefix.*
	tailNonEmpty                 // prefix.+
	tailRegex                    // prefix then more: re decides
)

// valueMatcher is the compiled form of a matcher's value test. matches is
// the positive test (= or =~); negate turns it into != or !~.
type valueMatcher struct {
	kind   matchKind
	tail   tailKind
	negate bool
	set    []string            // kindSet: sorted, unique
	setMap map[string]struct{} // kindSet with many members
	lit    string              // kindPrefix, kindContains, kindSuffix
	re     *regexp.Regexp      // fully anchored; nil for = and !=

	// matchesEmpty reports whether the positive test accepts "", that is,
	// whether it also selects series without the label.
	matchesEmpty bool
}

// regexCache keeps compiled regular expressions by source: a dashboard
// sends the same matchers with every refresh, and compiling and analysing
// one (a host list of a few alternatives) cost as much as answering it
// from the index. Bounded: a full cache is emptied.
var regexCache struct {
	sync.Mutex
	m map[string]*valueMatcher
}

const regexCacheMax = 1024

// compileRegex returns the positive value test of the regular expression
// expr, a new valueMatcher the caller may set negate on.
func compileRegex(expr string) (*valueMatcher, error) {
	regexCache.Lock()
	vm := regexCache.m[expr]
	regexCache.Unlock()
	if vm == nil {
		var err error
		if vm, err = compileRegexUncached(expr); err != nil {
			return nil, err
		}
		regexCache.Lock()
		if regexCache.m == nil || len(regexCache.m) >= regexCacheMax {
			regexCache.m = make(map[string]*valueMatcher)
		}
		regexCache.m[expr] = vm
		regexCache.Unlock()
	}
	c := *vm // shares the read-only set, map and compiled regexp
	return &c, nil
}

func compileRegexUncached(expr string) (*valueMatcher, error) {
	// Parse first: wrapping an unbalanced expression such as "a)|(b" in
	// ^(?s:...)$ would otherwise change its meaning instead of failing.
	parsed, err := syntax.Parse(expr, syntax.Perl|syntax.DotNL)
	if err != nil {
		return nil, fmt.Errorf("parse regexp %q: %w", expr, err)
	}
	re, err := regexp.Compile("^(?s:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("compile regexp %q: %w", expr, err)
	}
	vm := &valueMatcher{kind: kindRegex, re: re}
	vm.analyze(parsed.Simplify())
	vm.finish()
	return vm, nil
}

// slowPath drops every fast path: the value test and the index resolution
// then use the regular expression alone. Tests compare both paths.
func (vm *valueMatcher) slowPath() *valueMatcher {
	if vm.re == nil {
		return vm
	}
	return &valueMatcher{kind: kindRegex, re: vm.re, negate: vm.negate, matchesEmpty: vm.matchesEmpty}
}

func (vm *valueMatcher) finish() {
	if vm.kind == kindSet {
		slices.Sort(vm.set)
		vm.set = slices.Compact(vm.set)
		if len(vm.set) > 8 {
			vm.setMap = make(map[string]struct{}, len(vm.set))
			for _, s := range vm.set {
				vm.setMap[s] = struct{}{}
			}
		}
	}
	vm.matchesEmpty = vm.matches("")
}

func (vm *valueMatcher) analyze(re *syntax.Regexp) {
	re = unwrapCapture(re)
	if set, ok := expandLiterals(re, maxSetSize); ok {
		vm.kind, vm.set = kindSet, set
		return
	}
	switch {
	case isDotStar(re):
		vm.kind = kindAny
		return
	case isDotPlus(re):
		vm.kind = kindNonEmpty
		return
	case re.Op != syntax.OpConcat:
		return
	}
	subs := re.Sub
	if len(subs) == 3 && isDotStar(subs[0]) && isLiteral(subs[1]) && isDotStar(subs[2]) {
		vm.kind, vm.lit = kindContains, string(subs[1].Rune)
		return
	}
	if len(subs) == 2 && isDotStar(subs[0]) && isLiteral(subs[1]) {
		vm.kind, vm.lit = kindSuffix, string(subs[1].Rune)
		return
	}
	var prefix strings.Builder
	k := 0
	for ; k < len(subs) && isLiteral(subs[k]); k++ {
		prefix.WriteString(string(subs[k].Rune))
	}
	if k == 0 {
		return
	}
	vm.kind, vm.lit, vm.tail = kindPrefix, prefix.String(), tailRegex
	if rest := subs[k:]; len(rest) == 1 {
		switch {
		case isDotStar(rest[0]):
			vm.tail = tailAny
		case isDotPlus(rest[0]):
			vm.tail = tailNonEmpty
		}
	}
}

// matches is the positive test: does value v (or "" for a missing label)
// satisfy = or =~ ?
func (vm *valueMatcher) matches(v string) bool {
	switch vm.kind {
	case kindSet:
		if vm.setMap != nil {
			_, ok := vm.setMap[v]
			return ok
		}
		return slices.Contains(vm.set, v)
	case kindAny:
		return true
	case kindNonEmpty:
		return v != ""
	case kindPrefix:
		if !strings.HasPrefix(v, vm.lit) {
			return false
		}
		switch vm.tail {
		case tailAny:
			return true
		case tailNonEmpty:
			return len(v) > len(vm.lit)
		}
		return vm.re.MatchString(v)
	case kindContains:
		return strings.Contains(v, vm.lit)
	case kindSuffix:
		return strings.HasSuffix(v, vm.lit)
	}
	return vm.re.MatchString(v)
}

// prefixRange returns the range [lo, hi) of sorted that starts with the
// literal prefix of a kindPrefix matcher.
func (vm *valueMatcher) prefixRange(sorted []string) (lo, hi int) {
	lo = sort.SearchStrings(sorted, vm.lit)
	n := sort.Search(len(sorted)-lo, func(i int) bool { return !strings.HasPrefix(sorted[lo+i], vm.lit) })
	return lo, lo + n
}

func unwrapCapture(re *syntax.Regexp) *syntax.Regexp {
	for re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	return re
}

func isDotStar(re *syntax.Regexp) bool {
	re = unwrapCapture(re)
	return re.Op == syntax.OpStar && re.Sub[0].Op == syntax.OpAnyChar
}

func isDotPlus(re *syntax.Regexp) bool {
	re = unwrapCapture(re)
	return re.Op == syntax.OpPlus && re.Sub[0].Op == syntax.OpAnyChar
}

func isLiteral(re *syntax.Regexp) bool {
	return re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0
}

// expandLiterals returns the finite set of strings re matches, when that set
// is small and re is built only of literals, small character classes,
// concatenation, alternation, optional parts and empty matches.
func expandLiterals(re *syntax.Regexp, limit int) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if !isLiteral(re) {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		return expandClass(re.Rune, limit)
	case syntax.OpCapture:
		return expandLiterals(re.Sub[0], limit)
	case syntax.OpQuest:
		set, ok := expandLiterals(re.Sub[0], limit-1)
		return append(set, ""), ok
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set, ok := expandLiterals(sub, limit-len(out))
			if !ok {
				return nil, false
			}
			out = append(out, set...)
			if len(out) > limit {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		return expandConcat(re.Sub, limit)
	}
	return nil, false
}

func expandConcat(subs []*syntax.Regexp, limit int) ([]string, bool) {
	out := []string{""}
	for _, sub := range subs {
		set, ok := expandLiterals(sub, limit)
		if !ok || len(out)*len(set) > limit {
			return nil, false
		}
		next := make([]string, 0, len(out)*len(set))
		for _, a := range out {
			for _, b := range set {
				next = append(next, a+b)
			}
		}
		out = next
	}
	return out, true
}

func expandClass(ranges []rune, limit int) ([]string, bool) {
	n := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		n += int(ranges[i+1]-ranges[i]) + 1
		if n > limit {
			return nil, false
		}
	}
	out := make([]string, 0, n)
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue // surrogates never occur in valid UTF-8
			}
			out = append(out, string(r))
		}
	}
	return out, true
}
