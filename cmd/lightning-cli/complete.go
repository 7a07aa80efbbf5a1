package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"
)

// Query languages (--lang, \promql, \influxql).
const (
	langPromQL   = "promql"
	langInfluxQL = "influxql"
)

// nameSource lists what the completer offers. The client implements it
// through the API; tests use a fixed one.
type nameSource interface {
	// MetricNames lists the values of __name__.
	MetricNames(ctx context.Context) ([]string, error)
	// LabelNames lists label names, of metric's series if metric != "".
	LabelNames(ctx context.Context, metric string) ([]string, error)
	// LabelValues lists label's values, of metric's series if metric != "".
	LabelValues(ctx context.Context, label, metric string) ([]string, error)
	// Measurements lists the measurements of db (SHOW MEASUREMENTS).
	Measurements(ctx context.Context, db string) ([]string, error)
}

// completer completes the word before the cursor for readline from the
// server's names, by context (see promContext and influxContext). Lists
// are cached for ttl. Its mode (lang, db) is set by the shell between
// two reads of a line, never during one.
type completer struct {
	src     nameSource
	ttl     time.Duration
	timeout time.Duration    // bounds one fetch from the server
	now     func() time.Time // the cache's clock

	lang string
	db   string

	mu    sync.Mutex // mu protects cache
	cache map[string]cacheEntry
}

type cacheEntry struct {
	names []string
	at    time.Time
}

// maxCandidates bounds the list one Tab offers.
const maxCandidates = 1000

func newCompleter(src nameSource, ttl time.Duration) *completer {
	return &completer{src: src, ttl: ttl, timeout: 3 * time.Second, now: time.Now, lang: langPromQL, cache: map[string]cacheEntry{}}
}

// Do implements readline.AutoCompleter: the candidates' remaining runes
// after the word before pos, and that word's length in runes.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	if pos < 0 || pos > len(line) {
		return nil, 0
	}
	word, names, suffix := c.candidates(string(line[:pos]))
	var out [][]rune
	for _, n := range names {
		if strings.HasPrefix(n, word) && len(out) < maxCandidates {
			out = append(out, []rune(n[len(word):]+suffix))
		}
	}
	return out, len([]rune(word))
}

// candidates returns the word being typed at the end of text, the names
// that may complete it (sorted, deduplicated; not yet filtered by it) and
// what to append after a chosen name.
func (c *completer) candidates(text string) (word string, names []string, suffix string) {
	if cmd, ok := strings.CutPrefix(strings.TrimLeft(text, " "), `\`); ok && !strings.ContainsRune(cmd, ' ') {
		return `\` + cmd, commandNames(), ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if c.lang == langInfluxQL {
		return c.influxCandidates(ctx, text)
	}
	pc := promContext(text)
	switch pc.kind {
	case ctxMetric:
		ms := c.cached("metrics", func() ([]string, error) { return c.src.MetricNames(ctx) })
		return pc.word, mergeSorted(ms, promKeywords()), ""
	case ctxLabelName:
		return pc.word, c.cached("labels\x00"+pc.metric, func() ([]string, error) { return c.src.LabelNames(ctx, pc.metric) }), ""
	case ctxLabelValue:
		vals := c.cached("values\x00"+pc.label+"\x00"+pc.metric, func() ([]string, error) { return c.src.LabelValues(ctx, pc.label, pc.metric) })
		return pc.word, quoteValues(vals, pc.quote), string(pc.quote)
	}
	return "", nil, ""
}

func (c *completer) influxCandidates(ctx context.Context, text string) (string, []string, string) {
	word, prev := influxContext(text)
	if prev == "FROM" || prev == "MEASUREMENT" {
		db := c.db
		return word, c.cached("measurements\x00"+db, func() ([]string, error) { return c.src.Measurements(ctx, db) }), ""
	}
	kws := influxKeywords
	if word != "" && unicode.IsLower(rune(word[0])) {
		kws = make([]string, len(influxKeywords))
		for i, k := range influxKeywords {
			kws[i] = strings.ToLower(k)
		}
	}
	return word, mergeSorted(kws, nil), ""
}

// cached returns the names under key, fetching them when missing or older
// than ttl. A failed fetch completes nothing (and is not cached).
func (c *completer) cached(key string, fetch func() ([]string, error)) []string {
	c.mu.Lock()
	e, ok := c.cache[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		return e.names
	}
	names, err := fetch()
	if err != nil {
		return nil
	}
	names = mergeSorted(names, nil)
	c.mu.Lock()
	c.cache[key] = cacheEntry{names: names, at: c.now()}
	c.mu.Unlock()
	return names
}

// mergeSorted returns a and b as one sorted list without duplicates.
func mergeSorted(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// quoteValues escapes label values as they are written inside quote.
func quoteValues(vals []string, quote rune) []string {
	if quote == '`' {
		return vals
	}
	r := strings.NewReplacer(`\`, `\\`, string(quote), `\`+string(quote), "\n", `\n`)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = r.Replace(v)
	}
	return out
}

// Contexts of the word before the cursor in PromQL.
const (
	ctxNone       = iota
	ctxMetric     // a metric name, function or keyword
	ctxLabelName  // a label name: after `{` or `,` in a selector, in by (...)
	ctxLabelValue // inside the quotes after `label=`
)

// promCtx is where the cursor is in a PromQL expression.
type promCtx struct {
	kind   int
	word   string // the part typed so far
	metric string // the selector's metric name, if any (label names and values)
	label  string // the label whose value is typed (ctxLabelValue)
	quote  rune   // the quote the value is in (ctxLabelValue)
}

var (
	identTail   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelOpTail = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*$`)
	groupingFn  = regexp.MustCompile(`(?i)\b(by|without|on|ignoring|group_left|group_right)\s*$`)
)

// promContext finds what is being typed at the end of text: it follows
// quotes, selector braces, range brackets and parentheses from the
// start, then looks at the unclosed ones.
func promContext(text string) promCtx {
	var (
		quote             rune
		quoteAt, braceAt  = -1, -1
		brackets          int
		parens            []bool // for each open "(": a grouping label list
		escaped, inBraces bool
	)
	for i, r := range text {
		switch {
		case quote != 0:
			if escaped {
				escaped = false
			} else if r == '\\' && quote != '`' {
				escaped = true
			} else if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'' || r == '`':
			quote, quoteAt = r, i
		case r == '#':
			return promCtx{} // a comment to the end of the line
		case r == '{':
			inBraces, braceAt = true, i
		case r == '}':
			inBraces = false
		case r == '[':
			brackets++
		case r == ']':
			brackets = max(brackets-1, 0)
		case r == '(':
			parens = append(parens, groupingFn.MatchString(text[:i]))
		case r == ')':
			if len(parens) > 0 {
				parens = parens[:len(parens)-1]
			}
		}
	}
	metric := ""
	if inBraces {
		metric = identTail.FindString(strings.TrimRight(text[:braceAt], " "))
	}
	if quote != 0 {
		if !inBraces || quoteAt < braceAt {
			return promCtx{}
		}
		m := labelOpTail.FindStringSubmatch(text[braceAt+1 : quoteAt])
		if m == nil {
			return promCtx{}
		}
		return promCtx{kind: ctxLabelValue, word: text[quoteAt+len(string(quote)):], metric: metric, label: m[1], quote: quote}
	}
	if brackets > 0 {
		return promCtx{}
	}
	word := identTail.FindString(text)
	before := strings.TrimRight(text[:len(text)-len(word)], " ")
	if inBraces {
		if strings.HasSuffix(before, "{") || strings.HasSuffix(before, ",") {
			return promCtx{kind: ctxLabelName, word: word, metric: metric}
		}
		return promCtx{}
	}
	if len(parens) > 0 && parens[len(parens)-1] {
		if strings.HasSuffix(before, "(") || strings.HasSuffix(before, ",") {
			return promCtx{kind: ctxLabelName, word: word}
		}
		return promCtx{}
	}
	if word == "" && before != "" && !strings.ContainsAny(before[len(before)-1:], "(,+-*/%^=<>!") {
		return promCtx{} // after a value or a name, only an operator fits
	}
	if len(word) < len(text) && text[len(text)-len(word)-1] >= '0' && text[len(text)-len(word)-1] <= '9' {
		return promCtx{} // a number or a duration such as 5m
	}
	return promCtx{kind: ctxMetric, word: word}
}

// promKeywords are PromQL's functions, aggregations and keywords.
func promKeywords() []string {
	out := []string{
		"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio",
		"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
		"and", "or", "unless", "atan2",
	}
	for name, f := range parser.Functions {
		if !f.Experimental {
			out = append(out, name)
		}
	}
	return out
}

// influxKeywords are the InfluxQL words offered outside a FROM.
var influxKeywords = []string{
	"SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "LIMIT", "SLIMIT", "OFFSET", "SOFFSET",
	"FILL", "TIME", "NOW", "AND", "OR", "DESC", "ASC", "INTO", "SHOW", "MEASUREMENTS",
	"MEASUREMENT", "DATABASES", "SERIES", "TAG", "KEYS", "VALUES", "FIELD", "KEY", "WITH",
	"RETENTION", "POLICIES", "DROP", "DELETE", "CREATE", "DATABASE", "EXPLAIN", "ANALYZE",
	"MEAN", "MEDIAN", "COUNT", "SUM", "MIN", "MAX", "FIRST", "LAST", "PERCENTILE",
	"DERIVATIVE", "NON_NEGATIVE_DERIVATIVE", "DIFFERENCE", "MOVING_AVERAGE", "SPREAD", "STDDEV",
}

// influxContext returns the word before the cursor and the word before
// that in upper case.
func influxContext(text string) (word, prev string) {
	end := len(text)
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(text[:end])
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-' || r == '.' || r == ':') {
			break
		}
		end -= size
	}
	word = text[end:]
	rest := strings.TrimRightFunc(text[:end], unicode.IsSpace)
	j := strings.LastIndexFunc(rest, unicode.IsSpace)
	return word, strings.ToUpper(rest[j+1:])
}

// commandNames are the shell's backslash commands.
func commandNames() []string {
	return []string{`\promql`, `\influxql`, `\format`, `\range`, `\instant`, `\db`, `\help`, `\quit`}
}

// apiNames is the nameSource of a server.
type apiNames struct{ c *client }

func (a apiNames) MetricNames(ctx context.Context) ([]string, error) {
	return a.c.names(ctx, "/api/v1/label/__name__/values", "")
}

func (a apiNames) LabelNames(ctx context.Context, metric string) ([]string, error) {
	return a.c.names(ctx, "/api/v1/labels", metric)
}

func (a apiNames) LabelValues(ctx context.Context, label, metric string) ([]string, error) {
	return a.c.names(ctx, "/api/v1/label/"+label+"/values", metric)
}

func (a apiNames) Measurements(ctx context.Context, db string) ([]string, error) {
	body, err := a.c.influxQuery(ctx, "SHOW MEASUREMENTS", db)
	if err != nil {
		return nil, err
	}
	var r influxAnswer
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	var out []string
	for _, st := range r.Results {
		for _, s := range st.Series {
			for _, v := range s.Values {
				if len(v) > 0 {
					if name, ok := v[0].(string); ok {
						out = append(out, name)
					}
				}
			}
		}
	}
	return out, nil
}
