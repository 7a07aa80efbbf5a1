package ingest

import "strings"

// StatementNeeds is what the statements of a /query request need of the
// caller: Read for SELECT, SHOW and EXPLAIN, Write for CREATE DATABASE
// (which agents send with their write credentials), Admin for everything
// else (DROP, DELETE, ALTER, CREATE RETENTION POLICY, GRANT, ...).
type StatementNeeds struct{ Read, Write, Admin bool }

// QueryNeeds classifies the statements of q by their first keywords; an
// unparsable statement needs nothing here, and /query rejects it later.
func QueryNeeds(q string) StatementNeeds {
	var n StatementNeeds
	for _, s := range splitStatements(q) {
		f := strings.Fields(strings.ToUpper(s))
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "SELECT", f[0] == "SHOW", f[0] == "EXPLAIN":
			n.Read = true
		case f[0] == "CREATE" && len(f) > 1 && f[1] == "DATABASE":
			n.Write = true
		default:
			n.Admin = true
		}
	}
	return n
}
