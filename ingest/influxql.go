package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// The InfluxQL statements the handler answers itself.
type stmtKind uint8

const (
	stmtOther stmtKind = iota
	stmtCreateDatabase
	stmtShowDatabases
	stmtCreateRP
	stmtAlterRP
	stmtDropRP
	stmtShowRPs
)

// splitStatements splits a query on semicolons outside quotes and drops
// empty statements.
func splitStatements(q string) []string {
	var out []string
	start := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0 && c == '\\':
			i++
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && c == ';':
			if s := strings.TrimSpace(q[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(q[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// parseStatement recognises CREATE DATABASE <name> [WITH ...] and SHOW
// DATABASES. Anything else is stmtOther, not an error; a malformed CREATE
// DATABASE is an error.
func parseStatement(s string) (stmtKind, string, error) {
	words := strings.Fields(s)
	switch {
	case len(words) == 2 && strings.EqualFold(words[0], "SHOW") && strings.EqualFold(words[1], "DATABASES"):
		return stmtShowDatabases, "", nil
	case len(words) >= 2 && strings.EqualFold(words[0], "CREATE") && strings.EqualFold(words[1], "DATABASE"):
		rest := strings.TrimSpace(s)
		rest = strings.TrimSpace(rest[len(words[0]):])
		rest = strings.TrimSpace(rest[len(words[1]):])
		name, tail, err := parseIdent(rest)
		if err != nil {
			return stmtOther, "", fmt.Errorf("CREATE DATABASE: %w", err)
		}
		if tail = strings.TrimSpace(tail); tail != "" && !hasPrefixFold(tail, "WITH") {
			return stmtOther, "", fmt.Errorf("CREATE DATABASE: unexpected %q", tail)
		}
		return stmtCreateDatabase, name, nil
	}
	return stmtOther, "", nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseIdent reads an InfluxQL identifier: double-quoted with \" and \\
// escapes, or bare letters, digits and underscores not starting with a
// digit.
func parseIdent(s string) (name, rest string, err error) {
	if s == "" {
		return "", "", errors.New("missing database name")
	}
	if s[0] != '"' {
		i := 0
		for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
			i++
		}
		if i == 0 {
			return "", "", fmt.Errorf("bad database name %q", s)
		}
		return s[:i], s[i:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(s[i])
				}
			}
		case '"':
			if b.Len() == 0 {
				return "", "", errors.New("empty database name")
			}
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated quoted name")
}
