package downsample

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/retention"
	"github.com/lightningdb/lightningdb/series"
)

// Config is the `downsample:` section of the server configuration.
//
//	downsample:
//	  check_interval: 1m       # how often the builder runs (default 1m)
//	  rules:                   # label matchers; the first match wins
//	    - match: '{db="factory"}'
//	      tiers:
//	        - {after: 7d, interval: 5m, retention: 1y}
//	        - {after: 30d, interval: 1h}   # retention INF (the default)
type Config struct {
	Rules []RuleConfig `yaml:"rules"`
	// CheckInterval is how often the builder looks for intervals to
	// build; zero means 1 minute.
	CheckInterval time.Duration `yaml:"check_interval"`
	// BuildStep is the most time one build step covers before the
	// builder saves its progress (BuilderOptions.Chunk, at least one
	// interval); zero means 24h.
	BuildStep time.Duration `yaml:"build_step"`
}

// RuleConfig is one rule of Config.
type RuleConfig struct {
	Match string       `yaml:"match"`
	Tiers []TierConfig `yaml:"tiers"`
}

// TierConfig is one tier of a rule.
type TierConfig struct {
	After     string `yaml:"after"`
	Interval  string `yaml:"interval"`
	Retention string `yaml:"retention"`
}

// Tier is a compiled tier: intervals of Interval are built once their end
// is After old, and kept Retention (0: for ever).
type Tier struct {
	After, Interval, Retention time.Duration
}

// Rule is a compiled rule.
type Rule struct {
	Match    string // as written, for logs and the state file
	Matchers []*retention.Matcher
	Tiers    []Tier
}

// Rules is a compiled Config.
type Rules struct {
	Rules []Rule
}

// MaxTiers bounds the tiers of one rule.
const MaxTiers = 8

// Compile parses every selector and duration of c and checks the tiers,
// returning all the problems at once, each naming the key at fault.
func (c Config) Compile() (*Rules, error) {
	var errs []error
	r := &Rules{}
	if c.CheckInterval < 0 || c.BuildStep < 0 {
		errs = append(errs, fmt.Errorf("%w: downsample.check_interval %s and build_step %s must not be negative", ErrInvalidConfig, c.CheckInterval, c.BuildStep))
	}
	for i, rc := range c.Rules {
		key := fmt.Sprintf("downsample.rules[%d]", i)
		ms, err := retention.ParseSelector(rc.Match)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.match: %w", key, err))
		}
		rule := Rule{Match: strings.TrimSpace(rc.Match), Matchers: ms}
		if len(rc.Tiers) == 0 || len(rc.Tiers) > MaxTiers {
			errs = append(errs, fmt.Errorf("%w: %s.tiers: want 1 to %d tiers, got %d", ErrInvalidConfig, key, MaxTiers, len(rc.Tiers)))
		}
		for j, tc := range rc.Tiers {
			t, err := tc.compile(fmt.Sprintf("%s.tiers[%d]", key, j))
			errs = append(errs, err)
			if err == nil && slices.ContainsFunc(rule.Tiers, func(o Tier) bool { return o.Interval == t.Interval }) {
				errs = append(errs, fmt.Errorf("%w: %s.tiers[%d]: interval %s appears twice", ErrInvalidConfig, key, j, tc.Interval))
			}
			rule.Tiers = append(rule.Tiers, t)
		}
		r.Rules = append(r.Rules, rule)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func (tc TierConfig) compile(key string) (Tier, error) {
	var t Tier
	var errs []error
	var err error
	if t.After, err = retention.ParseDuration(tc.After); err != nil {
		errs = append(errs, fmt.Errorf("%s.after: %w", key, err))
	}
	if t.Interval, err = retention.ParseDuration(tc.Interval); err != nil {
		errs = append(errs, fmt.Errorf("%s.interval: %w", key, err))
	} else if t.Interval < time.Second || t.Interval%time.Second != 0 || MaxInterval%t.Interval != 0 {
		errs = append(errs, fmt.Errorf("%w: %s.interval %q: want whole seconds that divide a day", ErrInvalidConfig, key, tc.Interval))
	}
	if strings.TrimSpace(tc.Retention) != "" {
		if t.Retention, err = retention.ParseDuration(tc.Retention); err != nil {
			errs = append(errs, fmt.Errorf("%s.retention: %w", key, err))
		}
	}
	if len(errs) == 0 && t.Retention > 0 && t.Retention <= t.After {
		errs = append(errs, fmt.Errorf("%w: %s: retention %s must be longer than after %s", ErrInvalidConfig, key, tc.Retention, tc.After))
	}
	return t, errors.Join(errs...)
}

// Match returns the index of the first rule whose matchers all accept ls,
// or -1.
func (r *Rules) Match(ls series.Labels) int {
	for i := range r.Rules {
		ok := true
		for _, m := range r.Rules[i].Matchers {
			if !m.Matches(ls.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

// TierOf returns the tier of interval d of the rule that governs ls.
func (r *Rules) TierOf(ls series.Labels, d time.Duration) (Tier, bool) {
	i := r.Match(ls)
	if i < 0 {
		return Tier{}, false
	}
	for _, t := range r.Rules[i].Tiers {
		if t.Interval == d {
			return t, true
		}
	}
	return Tier{}, false
}

// Intervals returns every tier interval of the rules, shortest first.
func (r *Rules) Intervals() []time.Duration {
	var out []time.Duration
	for _, rule := range r.Rules {
		for _, t := range rule.Tiers {
			if !slices.Contains(out, t.Interval) {
				out = append(out, t.Interval)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RetentionRules returns the retention rules of the tier of interval d:
// per rule, the tier's retention (a rule without that tier stores nothing
// in it), first match wins as for the downsample rules.
func (r *Rules) RetentionRules(d time.Duration) *retention.Rules {
	out := &retention.Rules{Databases: map[string]time.Duration{}}
	for _, rule := range r.Rules {
		keep := retention.Forever
		for _, t := range rule.Tiers {
			if t.Interval == d {
				keep = t.Retention
			}
		}
		out.Rules = append(out.Rules, retention.Rule{Matchers: rule.Matchers, Keep: keep})
	}
	return out
}

// TierName is the name of a tier of interval d in paths, metrics and
// explain output: "5m", "1h", "1d".
func TierName(d time.Duration) string { return retention.FormatDuration(d) }

// PartitionDuration returns the time partition of the engine of a tier of
// interval d whose shortest retention is keep (0: none): about 2,000
// intervals (5m: 7 days, 1h: 30 days), so that a long range query reads
// few partitions of a coarse tier, but at most an eighth of keep, since
// retention drops a partition only once all of it is older than keep;
// whole days from 1 to 30.
func PartitionDuration(d, keep time.Duration) time.Duration {
	days := (2000*d + 12*time.Hour) / (24 * time.Hour)
	if keep > 0 {
		days = min(days, keep/(8*24*time.Hour))
	}
	return time.Duration(min(max(days, 1), 30)) * 24 * time.Hour
}

// MinRetention returns the shortest retention of the tiers of interval d
// (0 when all keep for ever).
func (r *Rules) MinRetention(d time.Duration) time.Duration {
	var keep time.Duration
	for _, rule := range r.Rules {
		for _, t := range rule.Tiers {
			if t.Interval == d && t.Retention > 0 && (keep == 0 || t.Retention < keep) {
				keep = t.Retention
			}
		}
	}
	return keep
}
