package auth

import (
	"context"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Perm is a set of scopes. Admin implies read and write.
type Perm uint8

// The scopes a token may hold.
const (
	Read Perm = 1 << iota
	Write
	Admin
)

// ParsePerm parses a scope name: read, write or admin.
func ParsePerm(s string) (Perm, bool) {
	switch s {
	case "read":
		return Read, true
	case "write":
		return Write, true
	case "admin":
		return Admin | Read | Write, true
	}
	return 0, false
}

// String names the scopes, comma-separated.
func (p Perm) String() string {
	if p&Admin != 0 {
		return "admin"
	}
	var s []string
	if p&Read != 0 {
		s = append(s, "read")
	}
	if p&Write != 0 {
		s = append(s, "write")
	}
	return strings.Join(s, ",")
}

// Principal is the authenticated caller of a request.
type Principal struct {
	// ID names the token in logs and the audit log; never the secret.
	// "legacy" for the plain tokens of influx.tokens, "" when auth is off.
	ID string
	// User is the MQTT username the token may connect as besides its ID.
	User string
	Perm Perm
	// Databases, when not empty, are the only values of the database label
	// the caller may read or write.
	Databases []string
	// Scope is every label matcher a series must satisfy for the caller to
	// see or write it (Databases included as one matcher); nil: all.
	Scope []*labels.Matcher
}

// Full is the principal of a request when authentication is off, and of
// the full-access legacy tokens.
var Full = &Principal{Perm: Admin | Read | Write}

// Has reports whether the principal holds every scope of need.
func (p *Principal) Has(need Perm) bool { return p.Perm&need == need }

// Limited reports whether the principal sees only some series.
func (p *Principal) Limited() bool { return len(p.Scope) > 0 }

// AllowsDatabase reports whether db is one the principal may use (every
// one when its limits name no database).
func (p *Principal) AllowsDatabase(db string) bool {
	if len(p.Databases) == 0 {
		return true
	}
	for _, d := range p.Databases {
		if d == db {
			return true
		}
	}
	return false
}

// Matches reports whether a series with the labels get returns is in the
// principal's scope.
func (p *Principal) Matches(get func(name string) string) bool {
	for _, m := range p.Scope {
		if !m.Matches(get(m.Name)) {
			return false
		}
	}
	return true
}

// compileScope turns a token's limits into matchers: databases become
// one regexp matcher on dbLabel, selectors are PromQL series selectors
// such as {team="a"}.
func compileScope(dbLabel string, dbs, selectors []string) ([]*labels.Matcher, error) {
	var out []*labels.Matcher
	if len(dbs) > 0 {
		q := make([]string, len(dbs))
		for i, d := range dbs {
			q[i] = regexp.QuoteMeta(d)
		}
		m, err := labels.NewMatcher(labels.MatchRegexp, dbLabel, strings.Join(q, "|"))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, s := range selectors {
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(s)
		if err != nil {
			return nil, err
		}
		out = append(out, ms...)
	}
	return out, nil
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries, or Full when it carries
// none (authentication off, or an internal caller).
func FromContext(ctx context.Context) *Principal {
	if p, ok := ctx.Value(ctxKey{}).(*Principal); ok {
		return p
	}
	return Full
}

// ScopeMatchers returns ms with the scope of ctx's principal appended: the
// one seam every read path (PromQL selects, series, labels, export, remote
// read, InfluxQL) passes its matchers through.
func ScopeMatchers(ctx context.Context, ms []*labels.Matcher) []*labels.Matcher {
	p := FromContext(ctx)
	if len(p.Scope) == 0 {
		return ms
	}
	out := make([]*labels.Matcher, 0, len(ms)+len(p.Scope))
	return append(append(out, ms...), p.Scope...)
}

// ScopeSets returns match[] selector sets limited to the scope of ctx's
// principal: the scope appended to each set, or the scope alone when
// there is no set (an endpoint whose match[] is optional lists all).
func ScopeSets(ctx context.Context, sets [][]*labels.Matcher) [][]*labels.Matcher {
	p := FromContext(ctx)
	if len(p.Scope) == 0 {
		return sets
	}
	if len(sets) == 0 {
		return [][]*labels.Matcher{p.Scope}
	}
	out := make([][]*labels.Matcher, len(sets))
	for i, ms := range sets {
		out[i] = ScopeMatchers(ctx, ms)
	}
	return out
}
