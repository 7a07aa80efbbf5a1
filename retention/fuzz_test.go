package retention

import (
	"strings"
	"testing"
)

// FuzzParseRule feeds the rule, selector and duration parsers: no panic,
// and a parsed selector prints back to one that parses to the same.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		`{db="factory", sensor=~"vib.*"}: 7d`, `{db="a"}: INF`, `cpu{host!~'x|y'}: 1w2d`, `up: 30d`,
		`{a="\"}"}: 1h`, `{a=~"("}: 1d`, `{}: 1d`, `: 5`, `{a="b"}: 99999999999999999999y`, "{a=`b`}: 0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			return
		}
		var parts []string
		for _, m := range r.Matchers {
			parts = append(parts, m.String())
		}
		again, err := ParseSelector("{" + strings.Join(parts, ",") + "}")
		if err != nil {
			t.Fatalf("printed selector of %q does not parse: %v", s, err)
		}
		if len(again) != len(r.Matchers) {
			t.Fatalf("%q: %d matchers, reprinted %d", s, len(r.Matchers), len(again))
		}
		for i, m := range again {
			if m.Name != r.Matchers[i].Name || m.Type != r.Matchers[i].Type || m.Value != r.Matchers[i].Value {
				t.Fatalf("%q: matcher %d %v reparsed as %v", s, i, r.Matchers[i], m)
			}
		}
		if r.Keep < 0 {
			t.Fatalf("%q: negative keep %v", s, r.Keep)
		}
	})
}
