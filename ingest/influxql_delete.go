package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// InfluxDeleter deletes what InfluxQL's DROP SERIES, DELETE, DROP
// MEASUREMENT and DROP DATABASE name; cmd maps it onto the engine (a
// measurement m with field f is the series m<separator>f).
type InfluxDeleter interface {
	DeleteInflux(ctx context.Context, d InfluxDelete) error
}

// InfluxDelete is one deletion: the samples in [MinT, MaxT] (ns,
// inclusive) of the series of Database whose measurement is one of
// Measurements (any when empty) and whose tags satisfy every condition.
type InfluxDelete struct {
	Database     string
	Measurements []string
	Tags         []TagCondition
	MinT, MaxT   int64
}

// TagCondition is tag Key = Value, or != when Not.
type TagCondition struct {
	Key, Value string
	Not        bool
}

// deleteStmt is a parsed deletion statement; db is set by DROP DATABASE.
type deleteStmt struct {
	InfluxDelete
	verb string // for messages: "DROP SERIES", "DELETE", ...
	db   string
}

// parseDeleteStatement recognises DROP SERIES, DELETE, DROP MEASUREMENT
// and DROP DATABASE. ok is false for other statements; err describes a
// malformed one.
func parseDeleteStatement(s string, now time.Time) (st deleteStmt, ok bool, err error) {
	t := &qlTokens{s: s}
	w1, w2 := strings.ToUpper(t.peekWord(0)), strings.ToUpper(t.peekWord(1))
	st.MinT, st.MaxT = math.MinInt64, math.MaxInt64
	switch {
	case w1 == "DROP" && w2 == "SERIES":
		st.verb = "DROP SERIES"
	case w1 == "DELETE":
		st.verb = "DELETE"
	case w1 == "DROP" && w2 == "MEASUREMENT":
		st.verb = "DROP MEASUREMENT"
	case w1 == "DROP" && w2 == "DATABASE":
		st.verb = "DROP DATABASE"
	default:
		return st, false, nil
	}
	t.skipWords(len(strings.Fields(st.verb)))
	err = st.parseRest(t, now)
	if err != nil {
		err = fmt.Errorf("%s: %w", st.verb, err)
	}
	return st, true, err
}

// parseRest parses what follows the statement's verb.
func (st *deleteStmt) parseRest(t *qlTokens, now time.Time) error {
	switch st.verb {
	case "DROP DATABASE":
		name, err := t.ident()
		if err != nil {
			return err
		}
		st.db = name
		return t.end()
	case "DROP MEASUREMENT":
		name, err := t.measurement()
		if err != nil {
			return err
		}
		st.Measurements = []string{name}
		return t.end()
	}
	hasFrom, hasWhere := false, false
	if t.keyword("FROM") {
		hasFrom = true
		for {
			m, err := t.measurement()
			if err != nil {
				return err
			}
			st.Measurements = append(st.Measurements, m)
			if !t.punct(",") {
				break
			}
		}
	}
	if t.keyword("WHERE") {
		hasWhere = true
		if err := st.parseWhere(t, now); err != nil {
			return err
		}
	}
	if !hasFrom && !hasWhere {
		return errors.New("needs a FROM or a WHERE clause")
	}
	return t.end()
}

// parseWhere parses conditions joined by AND: tag = 'v', tag != 'v', and
// (DELETE only) time compared with a time.
func (st *deleteStmt) parseWhere(t *qlTokens, now time.Time) error {
	for {
		key, err := t.ident()
		if err != nil {
			return fmt.Errorf("WHERE: %w", err)
		}
		op := t.operator()
		if op == "" {
			return fmt.Errorf("WHERE: expected an operator after %q", key)
		}
		if strings.EqualFold(key, "time") {
			if st.verb == "DROP SERIES" {
				return errors.New("DROP SERIES doesn't support time in WHERE clause")
			}
			ts, err := t.timeValue(now)
			if err != nil {
				return fmt.Errorf("WHERE time: %w", err)
			}
			if err := st.bound(op, ts); err != nil {
				return err
			}
		} else {
			if op != "=" && op != "!=" && op != "<>" {
				return fmt.Errorf("WHERE: operator %s on tag %q: only =, != and <> are supported", op, key)
			}
			v, err := t.quoted('\'')
			if err != nil {
				return fmt.Errorf("WHERE %s: a tag value is a single-quoted string: %w", key, err)
			}
			st.Tags = append(st.Tags, TagCondition{Key: key, Value: v, Not: op != "="})
		}
		if t.keyword("OR") {
			return errors.New("WHERE: OR is not supported, only AND")
		}
		if !t.keyword("AND") {
			return nil
		}
	}
}

// bound narrows [MinT, MaxT] by time op ts.
func (st *deleteStmt) bound(op string, ts int64) error {
	switch op {
	case "<":
		st.MaxT = min(st.MaxT, ts-1)
	case "<=":
		st.MaxT = min(st.MaxT, ts)
	case ">":
		st.MinT = max(st.MinT, ts+1)
	case ">=":
		st.MinT = max(st.MinT, ts)
	case "=":
		st.MinT, st.MaxT = max(st.MinT, ts), min(st.MaxT, ts)
	default:
		return fmt.Errorf("WHERE: operator %s on time", op)
	}
	return nil
}

// qlTokens reads an InfluxQL statement left to right.
type qlTokens struct {
	s string
	i int
}

func (t *qlTokens) skipSpace() {
	for t.i < len(t.s) && (t.s[t.i] == ' ' || t.s[t.i] == '\t' || t.s[t.i] == '\n' || t.s[t.i] == '\r') {
		t.i++
	}
}

// peekWord returns the n-th whitespace-separated word ahead.
func (t *qlTokens) peekWord(n int) string {
	f := strings.Fields(t.s[t.i:])
	if n < len(f) {
		return f[n]
	}
	return ""
}

func (t *qlTokens) skipWords(n int) {
	for range n {
		t.skipSpace()
		for t.i < len(t.s) && t.s[t.i] != ' ' && t.s[t.i] != '\t' && t.s[t.i] != '\n' && t.s[t.i] != '\r' {
			t.i++
		}
	}
}

// keyword consumes kw (case-insensitive, as a whole word) if it is next.
func (t *qlTokens) keyword(kw string) bool {
	t.skipSpace()
	rest := t.s[t.i:]
	if len(rest) < len(kw) || !strings.EqualFold(rest[:len(kw)], kw) {
		return false
	}
	if len(rest) > len(kw) && isIdentByte(rest[len(kw)]) {
		return false
	}
	t.i += len(kw)
	return true
}

func (t *qlTokens) punct(p string) bool {
	t.skipSpace()
	if strings.HasPrefix(t.s[t.i:], p) {
		t.i += len(p)
		return true
	}
	return false
}

// end fails unless only whitespace is left.
func (t *qlTokens) end() error {
	t.skipSpace()
	if t.i < len(t.s) {
		return fmt.Errorf("unexpected %q", t.s[t.i:])
	}
	return nil
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ident reads a bare or double-quoted identifier.
func (t *qlTokens) ident() (string, error) {
	t.skipSpace()
	if t.i < len(t.s) && t.s[t.i] == '"' {
		return t.quoted('"')
	}
	j := t.i
	for j < len(t.s) && isIdentByte(t.s[j]) {
		j++
	}
	if j == t.i || t.s[t.i] >= '0' && t.s[t.i] <= '9' {
		if t.i >= len(t.s) {
			return "", errors.New("missing identifier")
		}
		return "", fmt.Errorf("bad identifier at %q", t.s[t.i:])
	}
	id := t.s[t.i:j]
	t.i = j
	return id, nil
}

// measurement reads a measurement name, possibly qualified as db.rp.m or
// rp.m (the last part is the name; the database is the request's).
func (t *qlTokens) measurement() (string, error) {
	t.skipSpace()
	if t.i < len(t.s) && t.s[t.i] == '/' {
		return "", errors.New("regular expressions are not supported as measurement names")
	}
	name, err := t.ident()
	for err == nil && t.i < len(t.s) && t.s[t.i] == '.' {
		t.i++
		name, err = t.ident()
	}
	return name, err
}

// quoted reads a string quoted by q, with backslash escapes.
func (t *qlTokens) quoted(q byte) (string, error) {
	t.skipSpace()
	if t.i >= len(t.s) || t.s[t.i] != q {
		return "", fmt.Errorf("expected %c-quoted string", q)
	}
	var b strings.Builder
	for j := t.i + 1; j < len(t.s); j++ {
		switch c := t.s[j]; {
		case c == '\\' && j+1 < len(t.s):
			j++
			b.WriteByte(t.s[j])
		case c == q:
			t.i = j + 1
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted string")
}

// operator reads a comparison operator.
func (t *qlTokens) operator() string {
	t.skipSpace()
	for _, op := range []string{"<=", ">=", "!=", "<>", "=", "<", ">"} {
		if strings.HasPrefix(t.s[t.i:], op) {
			t.i += len(op)
			return op
		}
	}
	return ""
}

// timeValue reads a time: a single-quoted RFC 3339 or "2006-01-02
// 15:04:05" string, an integer of ns since the epoch (or with a duration
// unit), or now() optionally plus or minus a duration.
func (t *qlTokens) timeValue(now time.Time) (int64, error) {
	t.skipSpace()
	switch {
	case t.i < len(t.s) && t.s[t.i] == '\'':
		s, err := t.quoted('\'')
		if err != nil {
			return 0, err
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if ts, err := time.Parse(layout, s); err == nil {
				return ts.UnixNano(), nil
			}
		}
		return 0, fmt.Errorf("bad time %q: want RFC 3339, e.g. '2024-01-02T15:04:05Z'", s)
	case t.keyword("now"):
		if !t.punct("(") || !t.punct(")") {
			return 0, errors.New("now must be called as now()")
		}
		base := now.UnixNano()
		sign := int64(0)
		if t.punct("-") {
			sign = -1
		} else if t.punct("+") {
			sign = 1
		}
		if sign == 0 {
			return base, nil
		}
		d, err := t.duration(true)
		if err != nil {
			return 0, err
		}
		return base + sign*d, nil
	}
	return t.duration(false)
}

// duration reads an integer with a unit (ns, u, µ, ms, s, m, h, d, w); a
// bare integer is ns unless needUnit.
func (t *qlTokens) duration(needUnit bool) (int64, error) {
	t.skipSpace()
	j := t.i
	if j < len(t.s) && t.s[j] == '-' {
		j++
	}
	for j < len(t.s) && t.s[j] >= '0' && t.s[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(t.s[t.i:j], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number at %q", t.s[t.i:])
	}
	k := j
	for k < len(t.s) && (t.s[k] >= 'a' && t.s[k] <= 'z' || t.s[k] == 0xc2 || t.s[k] == 0xb5) {
		k++
	}
	unit := t.s[j:k]
	t.i = k
	mult := map[string]int64{"": 1, "ns": 1, "u": 1e3, "µ": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9,
		"h": 3600e9, "d": 86400e9, "w": 7 * 86400e9}
	m, ok := mult[unit]
	if !ok || needUnit && unit == "" {
		return 0, fmt.Errorf("bad duration unit %q", unit)
	}
	if n > math.MaxInt64/m || n < math.MinInt64/m {
		return 0, fmt.Errorf("duration %d%s out of range", n, unit)
	}
	return n * m, nil
}

// execDelete runs a deletion statement. Statement failures are statement
// errors (HTTP 200), as InfluxDB answers them.
func (h *InfluxHandler) execDelete(r *http.Request, st deleteStmt, id int) queryResult {
	res := queryResult{StatementID: id}
	if h.opts.Deleter == nil {
		res.Error = "statement not supported: " + st.verb
		return res
	}
	st.Database = st.db
	if st.Database == "" {
		st.Database = r.FormValue("db")
	}
	if st.Database == "" {
		res.Error = "database name required"
		return res
	}
	if err := h.opts.Deleter.DeleteInflux(r.Context(), st.InfluxDelete); err != nil {
		res.Error = err.Error()
		return res
	}
	if st.verb == "DROP DATABASE" {
		h.dbs.remove(st.Database)
		// Its retention policies go too, as in InfluxDB (else the stored
		// policies bring the name back after a restart).
		if d, ok := h.opts.RetentionPolicies.(interface{ DropDatabase(string) error }); ok {
			if err := d.DropDatabase(st.Database); err != nil {
				res.Error = err.Error()
				return res
			}
		}
	}
	h.opts.Logger.Info("influxql deletion", "statement", st.verb, "db", st.Database,
		"measurements", st.Measurements, "tags", len(st.Tags))
	return res
}

// remove forgets a database (DROP DATABASE).
func (d *databases) remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.names, name)
}
