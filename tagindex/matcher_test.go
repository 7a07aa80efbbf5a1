package tagindex

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// model is a brute-force oracle: every series with its labels and the
// partitions it was added to.
type model struct {
	labels map[series.ID]series.Labels
	parts  map[series.ID][]int64
}

var (
	testNames  = []string{series.MetricName, "host", "region", "ünï", "日本", "z"}
	testValues = []string{"a", "b", "ab", "abc", "eu-west-1", "eu-central-1", "us-east-1", "Straße", "日本語", "x\ny", "a.b", "a|b", "10", "foo"}
	testRegexp = []string{
		".*", ".+", "", "a", "a|b", "a|", "|a", "ab?c?", "a.*", "a.+", "eu-.*", "eu-(west|central)-1",
		".*a.*", ".*b", "[ab]", "[ab]c?", "(?i)A", "日本.*", "Stra(ß|ss)e", "x.y", "x\\ny", "a\\.b", "a\\|b",
		"[0-9]+", "(a|b)*", "a.*c", ".", "foo|bar|baz", "(|a)", ".*|a", "a.*|.+", "^a$", "[^a]+",
	}
)

func oracle(t MatchType, value string) func(string) bool {
	switch t {
	case MatchEqual:
		return func(v string) bool { return v == value }
	case MatchNotEqual:
		return func(v string) bool { return v != value }
	}
	re := regexp.MustCompile("^(?s:" + value + ")$")
	if t == MatchRegexp {
		return re.MatchString
	}
	return func(v string) bool { return !re.MatchString(v) }
}

// buildRandom indexes n random series over partitions 0, 100, 200 (each
// spanning 100 ns), returning the index and the model.
func buildRandom(tb testing.TB, rng *rand.Rand, n int) (*Index, *model) {
	tb.Helper()
	ix, err := New(Options{PartitionDuration: 100})
	if err != nil {
		tb.Fatal(err)
	}
	m := &model{labels: map[series.ID]series.Labels{}, parts: map[series.ID][]int64{}}
	for id := series.ID(1); id <= series.ID(n); id++ {
		ls := series.Labels{{Name: series.MetricName, Value: testValues[rng.IntN(4)]}}
		for _, name := range testNames[1:] {
			if rng.IntN(3) > 0 {
				ls = append(ls, series.Label{Name: name, Value: testValues[rng.IntN(len(testValues))]})
			}
		}
		ls.Sort()
		can := ls.AppendCanonical(nil)
		m.labels[id] = ls
		for _, start := range []int64{0, 100, 200} {
			if rng.IntN(2) == 0 {
				continue
			}
			for range 2 { // a repeated Add must be a no-op
				if err := ix.Add(start, id, can); err != nil {
					tb.Fatal(err)
				}
			}
			m.parts[id] = append(m.parts[id], start)
		}
	}
	return ix, m
}

func (m *model) select_(minT, maxT int64, ms []*Matcher) []series.ID {
	var out []series.ID
	fns := make([]func(string) bool, len(ms))
	for i, mt := range ms {
		fns[i] = oracle(mt.Type, mt.Value)
	}
	for id, ls := range m.labels {
		in := false
		for _, start := range m.parts[id] {
			if start <= maxT && start+99 >= minT {
				in = true
			}
		}
		for i, mt := range ms {
			in = in && fns[i](ls.Get(mt.Name))
		}
		if in {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func randomMatcher(rng *rand.Rand) *Matcher {
	name := testNames[rng.IntN(len(testNames))]
	if rng.IntN(10) == 0 {
		name = "missing"
	}
	t := MatchType(rng.IntN(4))
	var v string
	if t == MatchEqual || t == MatchNotEqual {
		if rng.IntN(5) == 0 {
			v = ""
		} else {
			v = testValues[rng.IntN(len(testValues))]
		}
	} else {
		v = testRegexp[rng.IntN(len(testRegexp))]
	}
	return MustNewMatcher(t, name, v)
}

func checkAgainstModel(t *testing.T, seed uint64, n, queries int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	ix, m := buildRandom(t, rng, n)
	for q := range queries {
		ms := make([]*Matcher, 1+rng.IntN(3))
		for i := range ms {
			ms[i] = randomMatcher(rng)
		}
		minT := int64(rng.IntN(300)) - 10
		maxT := minT + int64(rng.IntN(250))
		want := m.select_(minT, maxT, ms)
		got, err := ix.Postings(minT, maxT, ms...)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.ToArray(); !slices.Equal(g, want) && !(len(g) == 0 && len(want) == 0) {
			t.Fatalf("seed %d query %d %v [%d, %d]: got %d series %v, want %d %v", seed, q, ms, minT, maxT, len(g), head(g), len(want), head(want))
		}
		slow := make([]*Matcher, len(ms))
		for i, mt := range ms {
			slow[i] = slowMatcher(mt)
		}
		gotSlow, _ := ix.Postings(minT, maxT, slow...)
		if !gotSlow.Equals(got) {
			t.Fatalf("seed %d query %d %v: slow path %d series, fast path %d", seed, q, ms, gotSlow.GetCardinality(), got.GetCardinality())
		}
	}
}

func head(ids []series.ID) []series.ID { return ids[:min(len(ids), 10)] }

func TestPostingsMatchBruteForce(t *testing.T) {
	checkAgainstModel(t, 1, 2000, 3000)
}

func TestPostingsMatchBruteForceRandomSeeds(t *testing.T) {
	for range 3 {
		seed := rand.Uint64()
		t.Run(fmt.Sprint(seed), func(t *testing.T) { checkAgainstModel(t, seed, 500, 500) })
	}
}

func TestMatcherTable(t *testing.T) {
	ix, _ := New(Options{PartitionDuration: 100})
	add := func(id series.ID, nv ...string) {
		if err := ix.Add(0, id, series.FromStrings(nv...).AppendCanonical(nil)); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "__name__", "up", "job", "api", "env", "prod")
	add(2, "__name__", "up", "job", "db")
	add(3, "__name__", "up", "job", "api-2", "env", "dev")
	add(4, "__name__", "cpu", "日本", "東京", "job", "api")
	for _, tc := range []struct {
		t     MatchType
		name  string
		value string
		want  []series.ID
	}{
		{MatchEqual, "job", "api", []series.ID{1, 4}},
		{MatchEqual, "env", "", []series.ID{2, 4}},
		{MatchEqual, "nope", "", []series.ID{1, 2, 3, 4}},
		{MatchEqual, "nope", "x", nil},
		{MatchNotEqual, "env", "", []series.ID{1, 3}},
		{MatchNotEqual, "env", "prod", []series.ID{2, 3, 4}},
		{MatchNotEqual, "nope", "", nil},
		{MatchRegexp, "job", "api.*", []series.ID{1, 3, 4}},
		{MatchRegexp, "job", "api", []series.ID{1, 4}}, // anchored
		{MatchRegexp, "job", "pi", nil},
		{MatchRegexp, "env", ".*", []series.ID{1, 2, 3, 4}},
		{MatchRegexp, "env", ".+", []series.ID{1, 3}},
		{MatchRegexp, "env", "prod|", []series.ID{1, 2, 4}},
		{MatchRegexp, "env", "|dev", []series.ID{2, 3, 4}},
		{MatchNotRegexp, "env", ".*", nil},
		{MatchNotRegexp, "env", ".+", []series.ID{2, 4}},
		{MatchNotRegexp, "job", "api|db", []series.ID{3}},
		{MatchNotRegexp, "env", "", []series.ID{1, 3}},
		{MatchRegexp, "日本", "東.*", []series.ID{4}},
		{MatchEqual, "日本", "東京", []series.ID{4}},
		{MatchRegexp, "__name__", "(?i)UP", []series.ID{1, 2, 3}},
	} {
		m := MustNewMatcher(tc.t, tc.name, tc.value)
		got, err := ix.Postings(0, 99, m)
		if err != nil {
			t.Fatal(err)
		}
		if g := got.ToArray(); !slices.Equal(g, tc.want) && len(g)+len(tc.want) > 0 {
			t.Errorf("%v: got %v, want %v", m, g, tc.want)
		}
	}
}

func TestRegexFastPaths(t *testing.T) {
	for _, tc := range []struct {
		expr string
		kind matchKind
	}{
		{"a|b|c", kindSet},
		{"foo|foobar", kindSet},
		{"eu-(west|central)-1", kindSet},
		{"", kindSet},
		{".*", kindAny},
		{"(.*)", kindAny},
		{".+", kindNonEmpty},
		{"eu-.*", kindPrefix},
		{"eu-.+", kindPrefix},
		{"eu-[0-9]+", kindPrefix},
		{".*foo.*", kindContains},
		{".*foo", kindSuffix},
		{"[0-9]+", kindRegex},
		{"(?i)foo", kindRegex},
	} {
		m := MustNewMatcher(MatchRegexp, "n", tc.expr)
		if k := matcherKind(m); k != tc.kind {
			t.Errorf("%q compiled to kind %d, want %d", tc.expr, k, tc.kind)
		}
		re := regexp.MustCompile("^(?s:" + tc.expr + ")$")
		slow := slowMatcher(m)
		for _, v := range append(slices.Clone(testValues), "", "eu-", "eu-1", "foo", "xfoo", "foox", "foobar", "c", "eu-west-1", "FOO") {
			if m.Matches(v) != re.MatchString(v) || slow.Matches(v) != re.MatchString(v) {
				t.Errorf("%q on %q: fast %v, slow %v, regexp %v", tc.expr, v, m.Matches(v), slow.Matches(v), re.MatchString(v))
			}
		}
	}
}

func TestNewMatcherErrors(t *testing.T) {
	for _, expr := range []string{"(", "a)|(b", "[z-a]", "*"} {
		if _, err := NewMatcher(MatchRegexp, "n", expr); err == nil {
			t.Errorf("%q: no error", expr)
		}
	}
	if _, err := NewMatcher(MatchType(9), "n", "v"); err == nil {
		t.Error("bad type: no error")
	}
	ix, _ := New(Options{})
	if _, err := ix.Postings(0, 1, &Matcher{Type: MatchRegexp, Name: "n", Value: "("}); err == nil {
		t.Error("literal matcher with a bad regexp: no error")
	}
}

func TestAddRejectsBadInput(t *testing.T) {
	p := NewPartition(0, 10)
	if err := p.Add(0, series.FromStrings("__name__", "x").AppendCanonical(nil)); err == nil {
		t.Error("ID 0 accepted")
	}
	if err := p.Add(1, []byte{0x05, 'a'}); err == nil {
		t.Error("bad canonical form accepted")
	}
	if p.NumSeries() != 0 {
		t.Errorf("%d series after failed adds", p.NumSeries())
	}
	_ = roaring.New()
}

// TestRegexCacheKeepsMatchersApart: matchers of one expression share its
// compiled form, but a negated one does not negate the others.
func TestRegexCacheKeepsMatchersApart(t *testing.T) {
	pos := MustNewMatcher(MatchRegexp, "host", "h1|h2")
	neg := MustNewMatcher(MatchNotRegexp, "host", "h1|h2")
	again := MustNewMatcher(MatchRegexp, "host", "h1|h2")
	for _, c := range []struct {
		m    *Matcher
		v    string
		want bool
	}{{pos, "h1", true}, {pos, "h3", false}, {neg, "h1", false}, {neg, "h3", true}, {again, "h2", true}, {again, "x", false}} {
		if got := c.m.Matches(c.v); got != c.want {
			t.Errorf("%s matches %q: %v, want %v", c.m, c.v, got, c.want)
		}
	}
	if pos.vm == neg.vm || pos.vm.re != neg.vm.re {
		t.Error("matchers of one expression: want separate value tests sharing one compiled regexp")
	}
}
