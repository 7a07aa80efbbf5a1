package query

import (
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/tagindex"
)

// ToIndexMatchers converts Prometheus label matchers to the tag index's.
func ToIndexMatchers(ms []*labels.Matcher) ([]*tagindex.Matcher, error) {
	out := make([]*tagindex.Matcher, 0, len(ms))
	for _, m := range ms {
		var t tagindex.MatchType
		switch m.Type {
		case labels.MatchEqual:
			t = tagindex.MatchEqual
		case labels.MatchNotEqual:
			t = tagindex.MatchNotEqual
		case labels.MatchRegexp:
			t = tagindex.MatchRegexp
		case labels.MatchNotRegexp:
			t = tagindex.MatchNotRegexp
		default:
			return nil, fmt.Errorf("matcher %s: unknown match type %d", m, m.Type)
		}
		tm, err := tagindex.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m, err)
		}
		out = append(out, tm)
	}
	return out, nil
}

// matchersKey is a stable key for a matcher list, in the order given.
func matchersKey(ms []*labels.Matcher) string {
	var sb strings.Builder
	for i, m := range ms {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(m.String())
	}
	return sb.String()
}
