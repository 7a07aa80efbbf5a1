package tagindex

// slowMatcher returns a copy of m whose regular expression takes no fast
// path, for comparing the two.
func slowMatcher(m *Matcher) *Matcher {
	vm, err := m.compiled()
	if err != nil {
		panic(err)
	}
	c := *m
	c.vm = vm.slowPath()
	return &c
}

// matcherKind exposes which fast path a matcher compiled to.
func matcherKind(m *Matcher) matchKind { return m.vm.kind }
