package ingest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RetentionPolicy is an InfluxDB 1.x retention policy. Duration 0 is INF.
type RetentionPolicy struct {
	Name               string
	Duration           time.Duration
	ShardGroupDuration time.Duration // 0: the server's default for Duration
	ReplicaN           int
	Default            bool
}

// RetentionPolicyChange is what an ALTER RETENTION POLICY sets; nil
// fields are unchanged.
type RetentionPolicyChange struct {
	Duration, ShardGroupDuration *time.Duration
	ReplicaN                     *int
	Default                      bool
}

// RetentionPolicies keeps the retention policies that the InfluxQL
// statements CREATE/ALTER/DROP/SHOW RETENTION POLICY manage. Errors are
// answered as statement errors, with their text.
type RetentionPolicies interface {
	CreateRetentionPolicy(db string, rp RetentionPolicy) error
	AlterRetentionPolicy(db, name string, c RetentionPolicyChange) error
	DropRetentionPolicy(db, name string) error
	RetentionPolicies(db string) ([]RetentionPolicy, error)
}

// rpStmt is a parsed retention policy statement.
type rpStmt struct {
	kind   stmtKind
	name   string
	db     string // empty in SHOW without ON: the db parameter
	rp     RetentionPolicy
	change RetentionPolicyChange
}

// maxRPStatement bounds a retention policy statement's length.
const maxRPStatement = 4096

// parseRPStatement parses CREATE, ALTER and DROP RETENTION POLICY and
// SHOW RETENTION POLICIES. ok is false for any other statement.
func parseRPStatement(s string) (st rpStmt, ok bool, err error) {
	toks, err := tokenize(s)
	if err != nil || len(toks) < 2 {
		return st, false, nil
	}
	kw := func(i int, w string) bool { return i < len(toks) && !toks[i].quoted && strings.EqualFold(toks[i].s, w) }
	switch {
	case kw(0, "SHOW") && kw(1, "RETENTION") && kw(2, "POLICIES"):
		st.kind = stmtShowRPs
		return st, true, parseShowRPs(toks[3:], &st)
	case (kw(0, "CREATE") || kw(0, "ALTER") || kw(0, "DROP")) && kw(1, "RETENTION") && kw(2, "POLICY"):
	default:
		return st, false, nil
	}
	if len(s) > maxRPStatement {
		return st, true, fmt.Errorf("statement longer than %d bytes", maxRPStatement)
	}
	verb := strings.ToUpper(toks[0].s)
	if len(toks) < 6 || !kw(4, "ON") {
		return st, true, fmt.Errorf("%s RETENTION POLICY: want %s RETENTION POLICY name ON database ...", verb, verb)
	}
	st.name, st.db = toks[3].s, toks[5].s
	if st.name == "" || st.db == "" {
		return st, true, fmt.Errorf("%s RETENTION POLICY: empty name", verb)
	}
	rest := toks[6:]
	switch verb {
	case "DROP":
		st.kind = stmtDropRP
		if len(rest) > 0 {
			return st, true, fmt.Errorf("DROP RETENTION POLICY: unexpected %q", rest[0].s)
		}
		return st, true, nil
	case "CREATE":
		st.kind = stmtCreateRP
	default:
		st.kind = stmtAlterRP
	}
	return st, true, parseRPOptions(verb, rest, &st)
}

func parseShowRPs(rest []token, st *rpStmt) error {
	if len(rest) == 0 {
		return nil
	}
	if len(rest) != 2 || rest[0].quoted || !strings.EqualFold(rest[0].s, "ON") || rest[1].s == "" {
		return errors.New("SHOW RETENTION POLICIES: want SHOW RETENTION POLICIES [ON database]")
	}
	st.db = rest[1].s
	return nil
}

// parseRPOptions reads DURATION, REPLICATION, SHARD DURATION and DEFAULT.
func parseRPOptions(verb string, toks []token, st *rpStmt) error {
	seen := map[string]bool{}
	for i := 0; i < len(toks); i++ {
		w := strings.ToUpper(toks[i].s)
		if toks[i].quoted || seen[w] {
			return fmt.Errorf("%s RETENTION POLICY: unexpected %q", verb, toks[i].s)
		}
		seen[w] = true
		arg := func() (string, error) {
			if i+1 >= len(toks) {
				return "", fmt.Errorf("%s RETENTION POLICY: %s needs a value", verb, w)
			}
			i++
			return toks[i].s, nil
		}
		var err error
		switch w {
		case "DURATION":
			var v string
			if v, err = arg(); err == nil {
				var d time.Duration
				d, err = parseInfluxDuration(v)
				st.rp.Duration, st.change.Duration = d, &d
			}
		case "SHARD":
			if i+1 >= len(toks) || !strings.EqualFold(toks[i+1].s, "DURATION") {
				return fmt.Errorf("%s RETENTION POLICY: want SHARD DURATION <duration>", verb)
			}
			i++
			var v string
			if v, err = arg(); err == nil {
				var d time.Duration
				d, err = parseInfluxDuration(v)
				st.rp.ShardGroupDuration, st.change.ShardGroupDuration = d, &d
			}
		case "REPLICATION":
			var v string
			if v, err = arg(); err == nil {
				n, perr := strconv.Atoi(v)
				if perr != nil || n < 1 {
					err = fmt.Errorf("%s RETENTION POLICY: REPLICATION %q: want a positive integer", verb, v)
				}
				st.rp.ReplicaN, st.change.ReplicaN = n, &n
			}
		case "DEFAULT":
			st.rp.Default, st.change.Default = true, true
		default:
			return fmt.Errorf("%s RETENTION POLICY: unexpected %q", verb, toks[i].s)
		}
		if err != nil {
			return err
		}
	}
	switch {
	case verb == "CREATE" && (!seen["DURATION"] || !seen["REPLICATION"]):
		return errors.New("CREATE RETENTION POLICY: DURATION and REPLICATION are required")
	case verb == "ALTER" && len(seen) == 0:
		return errors.New("ALTER RETENTION POLICY: nothing to change (DURATION, REPLICATION, SHARD DURATION or DEFAULT)")
	}
	return nil
}

// parseInfluxDuration parses an InfluxQL duration literal: INF, or one or
// more integer-unit pairs (ns, u, µ, ms, s, m, h, d, w), e.g. 7d or 1h30m.
func parseInfluxDuration(s string) (time.Duration, error) {
	if strings.EqualFold(s, "INF") {
		return 0, nil
	}
	if s == "" {
		return 0, errors.New("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if i == 0 || err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		rest = rest[i:]
		var unit time.Duration
		for _, u := range []struct {
			s string
			d time.Duration
		}{{"ns", 1}, {"ms", time.Millisecond}, {"µ", time.Microsecond}, {"u", time.Microsecond},
			{"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}} {
			if strings.HasPrefix(rest, u.s) {
				unit, rest = u.d, rest[len(u.s):]
				break
			}
		}
		if unit == 0 || n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += time.Duration(n) * unit
	}
	return total, nil
}

// token is one word of a statement; quoted words are identifiers.
type token struct {
	s      string
	quoted bool
}

// tokenize splits s on white space; "double-quoted" words are read with
// parseIdent's escapes.
func tokenize(s string) ([]token, error) {
	var out []token
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			name, rest, err := parseIdent(s)
			if err != nil {
				return nil, err
			}
			out = append(out, token{s: name, quoted: true})
			s = rest
			continue
		}
		i := strings.IndexAny(s, " \t\r\n")
		if i < 0 {
			i = len(s)
		}
		out = append(out, token{s: s[:i]})
		s = s[i:]
	}
	return out, nil
}

// parseCreateDatabaseWith reads the WITH clause of CREATE DATABASE:
// WITH [DURATION d] [REPLICATION n] [SHARD DURATION d] [NAME rp], which
// InfluxDB turns into the database's default policy. ok is false without
// a WITH clause.
func parseCreateDatabaseWith(s string) (rp RetentionPolicy, ok bool, err error) {
	toks, err := tokenize(s)
	if err != nil {
		return rp, false, err
	}
	i := 0
	for i < len(toks) && (toks[i].quoted || !strings.EqualFold(toks[i].s, "WITH")) {
		i++
	}
	if i == len(toks) {
		return rp, false, nil
	}
	rest := toks[i+1:]
	rp.Name = "autogen"
	for j := 0; j+1 < len(rest); j++ {
		if !rest[j].quoted && strings.EqualFold(rest[j].s, "NAME") {
			rp.Name = rest[j+1].s
			rest = append(rest[:j:j], rest[j+2:]...)
			break
		}
	}
	var st rpStmt
	if err := parseRPOptions("CREATE DATABASE ... WITH", rest, &st); err != nil {
		return rp, true, err
	}
	if st.rp.Default {
		return rp, true, errors.New("CREATE DATABASE ... WITH: unexpected DEFAULT")
	}
	rp.Duration, rp.ShardGroupDuration, rp.ReplicaN, rp.Default = st.rp.Duration, st.rp.ShardGroupDuration, max(st.rp.ReplicaN, 1), true
	return rp, true, nil
}
