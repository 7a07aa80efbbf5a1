package mqtt

import (
	"fmt"
	"strings"
)

// matchFilter reports whether topic matches the MQTT topic filter (with
// "+" for one level and a trailing "#" for any number of levels). A shared
// subscription prefix "$share/<group>/" is ignored. Topics starting with
// "$" match only filters that start with "$" (MQTT-4.7.2-1).
func matchFilter(filter, topic string) bool {
	filter = stripShare(filter)
	if strings.HasPrefix(topic, "$") && !strings.HasPrefix(filter, "$") {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" (the parent level).
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// stripShare removes a "$share/<group>/" prefix.
func stripShare(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	return filter
}

// validFilter checks a topic filter: non-empty, "#" only as the last
// level, wildcards only as whole levels.
func validFilter(filter string) error {
	if strings.HasPrefix(filter, "$share/") {
		rest := strings.TrimPrefix(filter, "$share/")
		group, f, ok := strings.Cut(rest, "/")
		if !ok || group == "" || strings.ContainsAny(group, "+#") {
			return fmt.Errorf("topic filter %q: want $share/<group>/<filter>", filter)
		}
		filter = f
	}
	if filter == "" {
		return fmt.Errorf("empty topic filter")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("topic filter %q: # must be the last level", filter)
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("topic filter %q: wildcards must fill a whole level", filter)
		}
	}
	return nil
}

// Template names topic levels. Written like a topic filter, a level
// "+name" captures that level as the tag name (or, for the names
// "measurement" and "field", as parts of the series name); "+" matches
// any level and drops it; "#name" (last) captures the rest of the topic,
// "#" ignores it; any other level must equal the topic's level.
//
//	sensors/+site/+device/+measurement
//	sensors/north/d7/temperature -> temperature{site="north",device="d7"}
type Template struct {
	levels []tmplLevel
}

type tmplLevel struct {
	literal string
	capture string // tag name, "measurement" or "field"; "" for none
	wild    byte   // 0 literal, '+' one level, '#' the rest
}

// Special capture names of a Template.
const (
	captureMeasurement = "measurement"
	captureField       = "field"
)

// ParseTemplate parses a topic template; see Template.
func ParseTemplate(s string) (*Template, error) {
	if s == "" {
		return nil, fmt.Errorf("empty topic template")
	}
	parts := strings.Split(s, "/")
	t := &Template{levels: make([]tmplLevel, len(parts))}
	seen := map[string]bool{}
	for i, p := range parts {
		l := &t.levels[i]
		switch {
		case strings.HasPrefix(p, "+"):
			l.wild, l.capture = '+', p[1:]
		case strings.HasPrefix(p, "#"):
			if i != len(parts)-1 {
				return nil, fmt.Errorf("topic template %q: # must be the last level", s)
			}
			l.wild, l.capture = '#', p[1:]
		default:
			if strings.ContainsAny(p, "+#") {
				return nil, fmt.Errorf("topic template %q: wildcards must start a level", s)
			}
			l.literal = p
		}
		if l.capture != "" {
			if seen[l.capture] {
				return nil, fmt.Errorf("topic template %q: %q captured twice", s, l.capture)
			}
			seen[l.capture] = true
		}
	}
	return t, nil
}

// Filter returns the MQTT topic filter that matches the template's topics.
func (t *Template) Filter() string {
	parts := make([]string, len(t.levels))
	for i, l := range t.levels {
		switch l.wild {
		case '+':
			parts[i] = "+"
		case '#':
			parts[i] = "#"
		default:
			parts[i] = l.literal
		}
	}
	return strings.Join(parts, "/")
}

// match calls fn for each captured level of topic, in template order. It
// returns an error wrapping ErrTopic when topic does not fit.
func (t *Template) match(topic string, fn func(name, value string)) error {
	rest, more := topic, true
	for i, l := range t.levels {
		if l.wild == '#' {
			if l.capture != "" && more && rest != "" {
				fn(l.capture, rest)
			}
			return nil
		}
		if !more {
			return fmt.Errorf("%w: topic %q has %d levels, template wants %d", ErrTopic, topic, i, len(t.levels))
		}
		var lvl string
		lvl, rest, more = strings.Cut(rest, "/")
		if l.wild == 0 && lvl != l.literal {
			return fmt.Errorf("%w: topic %q level %d is %q, want %q", ErrTopic, topic, i+1, lvl, l.literal)
		}
		if l.capture != "" {
			if lvl == "" {
				return fmt.Errorf("%w: topic %q level %d (%s) is empty", ErrTopic, topic, i+1, l.capture)
			}
			fn(l.capture, lvl)
		}
	}
	if more {
		return fmt.Errorf("%w: topic %q has more levels than template %q", ErrTopic, topic, t.Filter())
	}
	return nil
}

// captures reports whether the template captures any of names.
func (t *Template) captures(names ...string) bool {
	for _, l := range t.levels {
		for _, n := range names {
			if l.capture == n {
				return true
			}
		}
	}
	return false
}
