package retention

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// Config is the `retention:` section of the server configuration.
//
//	retention:
//	  default: 30d            # or INF (the default: keep for ever)
//	  databases:              # per value of the db label
//	    factory: 90d
//	  rules:                  # label matchers; the first match wins
//	    - match: '{db="factory", sensor=~"vib.*"}'
//	      keep: 7d
type Config struct {
	Default   string            `yaml:"default"`
	Databases map[string]string `yaml:"databases"`
	Rules     []RuleConfig      `yaml:"rules"`
}

// RuleConfig is one matcher rule of Config.
type RuleConfig struct {
	Match string `yaml:"match"`
	Keep  string `yaml:"keep"`
}

// Rule is a compiled matcher rule.
type Rule struct {
	Matchers []*Matcher
	Keep     time.Duration // Forever (0) keeps for ever
}

// Matches reports whether every matcher of r accepts ls.
func (r *Rule) Matches(ls series.Labels) bool {
	for _, m := range r.Matchers {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

// Rules is a compiled Config.
type Rules struct {
	Default   time.Duration
	Databases map[string]time.Duration
	Rules     []Rule
}

// Compile parses every duration and selector of c and returns all the
// problems at once, each naming the key at fault.
func (c Config) Compile() (*Rules, error) {
	var errs []error
	r := &Rules{Databases: map[string]time.Duration{}}
	if strings.TrimSpace(c.Default) != "" {
		d, err := ParseDuration(c.Default)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention.default: %w", err))
		}
		r.Default = d
	}
	for db, s := range c.Databases {
		d, err := ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention.databases.%s: %w", db, err))
		}
		r.Databases[db] = d
	}
	for i, rc := range c.Rules {
		ms, err := ParseSelector(rc.Match)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention.rules[%d].match: %w", i, err))
		}
		d, err := ParseDuration(rc.Keep)
		if err != nil {
			errs = append(errs, fmt.Errorf("retention.rules[%d].keep: %w", i, err))
		}
		r.Rules = append(r.Rules, Rule{Matchers: ms, Keep: d})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// ParseRule parses the one-line form of a rule, `<selector>: <duration>`,
// e.g. `{db="factory", sensor=~"vib.*"}: 7d`.
func ParseRule(s string) (Rule, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Rule{}, fmt.Errorf("rule %q: want <selector>: <duration>", s)
	}
	ms, err := ParseSelector(s[:i])
	if err != nil {
		return Rule{}, fmt.Errorf("rule %q: %w", s, err)
	}
	d, err := ParseDuration(s[i+1:])
	if err != nil {
		return Rule{}, fmt.Errorf("rule %q: %w", s, err)
	}
	return Rule{Matchers: ms, Keep: d}, nil
}

// For returns the retention of a series with labels ls: the first
// matching rule, else the database's duration from dbs (run-time
// policies, which win) or r.Databases, else r.Default. dbLabel names the
// database label.
func (r *Rules) For(ls series.Labels, dbLabel string, dbs map[string]time.Duration) time.Duration {
	for i := range r.Rules {
		if r.Rules[i].Matches(ls) {
			return r.Rules[i].Keep
		}
	}
	if db := ls.Get(dbLabel); db != "" {
		if d, ok := dbs[db]; ok {
			return d
		}
		if d, ok := r.Databases[db]; ok {
			return d
		}
	}
	return r.Default
}

// Bounded reports whether any series can expire under r and the run-time
// database durations dbs.
func (r *Rules) Bounded(dbs map[string]time.Duration) bool {
	if r.Default > 0 {
		return true
	}
	for _, m := range []map[string]time.Duration{r.Databases, dbs} {
		for _, d := range m {
			if d > 0 {
				return true
			}
		}
	}
	for _, rule := range r.Rules {
		if rule.Keep > 0 {
			return true
		}
	}
	return false
}
