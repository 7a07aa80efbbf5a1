package retention

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/lightningdb/lightningdb/series"
)

// MatchType is a label matcher's operator.
type MatchType int

// The four Prometheus matcher operators.
const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~ (anchored, as in Prometheus)
	MatchNotRegexp                  // !~
)

var matchOps = [...]string{"=", "!=", "=~", "!~"}

func (t MatchType) String() string { return matchOps[t] }

// Matcher is one label matcher. An absent label matches as the empty value,
// as in Prometheus.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Matches reports whether value (the empty string for an absent label)
// satisfies the matcher.
func (m *Matcher) Matches(value string) bool {
	switch m.Type {
	case MatchEqual:
		return value == m.Value
	case MatchNotEqual:
		return value != m.Value
	case MatchRegexp:
		return m.re.MatchString(value)
	default:
		return !m.re.MatchString(value)
	}
}

func (m *Matcher) String() string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

// maxSelectorLen bounds a selector's length: rules come from operators,
// and a bound keeps the fuzzer and a careless config from compiling huge
// regexps.
const maxSelectorLen = 4096

// ParseSelector parses a Prometheus-style series selector:
// `{db="factory", sensor=~"vib.*"}` or `metric{...}` or a bare metric
// name. Values are double-, single- or back-quoted. At least one matcher
// is required.
func ParseSelector(s string) ([]*Matcher, error) {
	if len(s) > maxSelectorLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidSelector, maxSelectorLen)
	}
	p := &selParser{src: s}
	ms, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidSelector, s, err)
	}
	return ms, nil
}

type selParser struct {
	src string
	pos int
}

func (p *selParser) parse() ([]*Matcher, error) {
	var ms []*Matcher
	p.space()
	if name := p.ident(); name != "" {
		ms = append(ms, &Matcher{Name: series.MetricName, Type: MatchEqual, Value: name})
	}
	p.space()
	if p.eof() {
		if len(ms) == 0 {
			return nil, fmt.Errorf("empty selector")
		}
		return ms, nil
	}
	if !p.take("{") {
		return nil, fmt.Errorf("want '{' at offset %d", p.pos)
	}
	for {
		p.space()
		if p.take("}") {
			break
		}
		m, err := p.matcher()
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
		p.space()
		if p.take(",") {
			continue
		}
		if !p.take("}") {
			return nil, fmt.Errorf("want ',' or '}' at offset %d", p.pos)
		}
		break
	}
	if p.space(); !p.eof() {
		return nil, fmt.Errorf("unexpected %q after '}'", p.src[p.pos:])
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no matchers")
	}
	return ms, nil
}

func (p *selParser) matcher() (*Matcher, error) {
	name := p.ident()
	if name == "" {
		return nil, fmt.Errorf("want a label name at offset %d", p.pos)
	}
	p.space()
	m := &Matcher{Name: name}
	switch {
	case p.take("=~"):
		m.Type = MatchRegexp
	case p.take("!~"):
		m.Type = MatchNotRegexp
	case p.take("!="):
		m.Type = MatchNotEqual
	case p.take("="):
		m.Type = MatchEqual
	default:
		return nil, fmt.Errorf("want =, !=, =~ or !~ after %q", name)
	}
	p.space()
	v, err := p.quoted()
	if err != nil {
		return nil, fmt.Errorf("label %q: %v", name, err)
	}
	m.Value = v
	if m.Type == MatchRegexp || m.Type == MatchNotRegexp {
		if m.re, err = regexp.Compile("^(?:" + v + ")$"); err != nil {
			return nil, fmt.Errorf("label %q: %v", name, err)
		}
	}
	return m, nil
}

func (p *selParser) quoted() (string, error) {
	if p.eof() {
		return "", fmt.Errorf("want a quoted value")
	}
	q := p.src[p.pos]
	if q != '"' && q != '\'' && q != '`' {
		return "", fmt.Errorf("want a quoted value at offset %d", p.pos)
	}
	for i := p.pos + 1; i < len(p.src); i++ {
		switch p.src[i] {
		case '\\':
			if q != '`' {
				i++
			}
		case q:
			orig := p.src[p.pos : i+1]
			p.pos = i + 1
			raw := orig
			if q == '\'' { // strconv.Unquote takes single quotes for one rune only
				raw = `"` + strings.ReplaceAll(strings.ReplaceAll(raw[1:len(raw)-1], `\'`, `'`), `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(raw)
			if err != nil {
				return "", fmt.Errorf("bad quoted value %s", orig)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("unterminated quoted value")
}

func (p *selParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || p.pos > start && c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *selParser) space() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *selParser) take(s string) bool {
	if strings.HasPrefix(p.src[p.pos:], s) {
		p.pos += len(s)
		return true
	}
	return false
}

func (p *selParser) eof() bool { return p.pos >= len(p.src) }
