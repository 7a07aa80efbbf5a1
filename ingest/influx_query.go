package ingest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/query/influxql"
)

// databases is the set SHOW DATABASES lists: names from CREATE DATABASE
// and from writes. It lives in memory only.
type databases struct {
	mu    sync.Mutex // protects names
	names map[string]struct{}
	max   int
}

func (d *databases) add(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.names[name]; ok || len(d.names) >= d.max {
		return
	}
	if d.names == nil {
		d.names = make(map[string]struct{})
	}
	d.names[name] = struct{}{}
}

func (d *databases) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.names))
	for n := range d.names {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// authorized checks the request's credentials when tokens are configured,
// in any form auth.Credentials finds (Token, Token user:pw, Bearer, Basic,
// p=). The server authenticates in its route guard instead (docs/security.md);
// this serves the handler used alone.
func (h *InfluxHandler) authorized(r *http.Request) bool {
	if len(h.opts.Tokens) == 0 {
		return true
	}
	for _, t := range auth.Credentials(r) {
		if h.validToken(t) {
			return true
		}
	}
	return false
}

func (h *InfluxHandler) validToken(t string) bool {
	if t == "" {
		return false
	}
	ok := 0
	for _, want := range h.opts.Tokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), []byte(want))
	}
	return ok == 1
}

func (h *InfluxHandler) servePing(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, v1Error{Error: "method not allowed"})
		return
	}
	if r.URL.Query().Get("verbose") == "true" {
		writeJSON(w, http.StatusOK, map[string]string{"version": h.opts.Version})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *InfluxHandler) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "influxdb", "message": "ready for queries and writes", "status": "pass",
		"checks": []string{}, "version": h.opts.Version,
	})
}

// maxQueryBytes caps a form-encoded /query body.
const maxQueryBytes = 1 << 20

// queryResult is one statement's result in the 1.x /query shape.
type queryResult struct {
	StatementID int                `json:"statement_id"`
	Series      []querySet         `json:"series,omitempty"`
	Messages    []influxql.Message `json:"messages,omitempty"`
	Partial     bool               `json:"partial,omitempty"`
	Error       string             `json:"error,omitempty"`
	loc         *time.Location     // tz() of a SELECT: how its times are formatted
}

type querySet struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`
}

// serveQuery answers /query: CREATE DATABASE, SHOW DATABASES, retention
// policy and deletion statements itself, the rest through
// InfluxOptions.InfluxQL. Statement failures are statement errors (HTTP
// 200), as InfluxDB answers them; a statement that does not parse fails
// the request with 400.
func (h *InfluxHandler) serveQuery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, v1Error{Error: "method not allowed"})
		return
	}
	if !h.authorized(r) {
		h.unauthorized(w, apiV1)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxQueryBytes)
	q := r.FormValue("q")
	if strings.TrimSpace(q) == "" {
		writeJSON(w, http.StatusBadRequest, v1Error{Error: `missing required parameter "q"`})
		return
	}
	out, err := newQueryOutput(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, v1Error{Error: err.Error()})
		return
	}
	stmts := splitStatements(q)
	parsed, err := h.parseInfluxQL(r, q, stmts)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, v1Error{Error: "error parsing query: " + err.Error()})
		return
	}
	if out.chunked && !out.csv { // each statement's chunks are sent as it completes
		cw := out.startChunks(w)
		for i, s := range stmts {
			res, _ := h.runStatement(r, s, parsed[i], i) // parse errors were found above
			if !cw.write(res) {
				return // the client went away
			}
		}
		return
	}
	var results []queryResult
	rows := 0
	for i, s := range stmts {
		res, err := h.runStatement(r, s, parsed[i], i)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, v1Error{Error: "error parsing query: " + err.Error()})
			return
		}
		full := limitRows(&res, h.opts.MaxRowLimit, &rows)
		results = append(results, res)
		if full {
			break // InfluxDB runs no further statement once the limit is reached
		}
	}
	out.write(w, results)
}

// limitRows applies InfluxDB's max-row-limit to a non-chunked result,
// with rows the rows already answered by earlier statements: the series
// that crosses the limit is truncated and marked partial, the series
// after it dropped. It reports whether the limit is reached, after which
// no further statement is answered. The result itself is not marked
// partial, as in InfluxDB: no further chunk follows.
func limitRows(res *queryResult, limit int, rows *int) bool {
	if limit <= 0 {
		return false
	}
	for i := range res.Series {
		s := &res.Series[i]
		if n := limit - *rows; n < len(s.Values) {
			s.Values = s.Values[:n]
			s.Partial = true
		}
		*rows += len(s.Values)
		if *rows >= limit {
			res.Series = res.Series[:i+1]
			return true
		}
	}
	return false
}

// parseInfluxQL parses every statement before any runs (as InfluxDB
// does): the handler's own with its parsers, the others with InfluxQL's
// (their entries in the result; nil for the handler's own). A parse error is reported as the InfluxQL parser reports
// it on the whole query, so its position counts from the query's start.
// The params form value binds $name parameters (a JSON object).
func (h *InfluxHandler) parseInfluxQL(r *http.Request, q string, stmts []string) ([]ql.Statement, error) {
	out := make([]ql.Statement, len(stmts))
	var params map[string]any
	if ps := r.FormValue("params"); ps != "" {
		if err := json.Unmarshal([]byte(ps), &params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	for i, s := range stmts {
		if ok, err := h.answersItself(s); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if h.opts.InfluxQL == nil {
			continue // answered "statement not supported"
		}
		p := ql.NewParser(strings.NewReader(s))
		p.SetParams(params)
		st, err := p.ParseStatement()
		if err != nil {
			if _, qerr := ql.ParseQuery(q); qerr != nil && params == nil {
				return nil, qerr
			}
			return nil, err
		}
		out[i] = st
	}
	return out, nil
}

// answersItself reports whether the handler answers s without InfluxQL
// (database, retention policy and deletion statements), and the parse
// error of such a statement.
func (h *InfluxHandler) answersItself(s string) (bool, error) {
	if _, ok, err := parseRPStatement(s); ok && h.opts.RetentionPolicies != nil {
		return true, err
	}
	if _, ok, err := parseDeleteStatement(s, time.Unix(0, h.opts.Now())); ok {
		return true, err
	}
	kind, _, err := parseStatement(s)
	return err != nil || kind != stmtOther, err
}

// runStatement runs statement number id (stmt: its InfluxQL parse when
// the handler does not answer it itself); the error is a parse error.
func (h *InfluxHandler) runStatement(r *http.Request, s string, stmt ql.Statement, id int) (queryResult, error) {
	res := queryResult{StatementID: id}
	if rp, ok, err := parseRPStatement(s); ok && h.opts.RetentionPolicies != nil {
		if err != nil {
			return res, err
		}
		return h.execRP(r, rp, id), nil
	}
	if del, ok, err := parseDeleteStatement(s, time.Unix(0, h.opts.Now())); ok {
		if err != nil {
			return res, err
		}
		return h.execDelete(r, del, id), nil
	}
	switch kind, db, err := parseStatement(s); {
	case err != nil:
		return res, err
	case kind == stmtCreateDatabase:
		h.dbs.add(db)
		res.Error = h.createDatabaseWith(s, db)
	case kind == stmtShowDatabases:
		set := querySet{Name: "databases", Columns: []string{"name"}}
		caller := auth.FromContext(r.Context())
		names := h.dbs.list()
		if h.opts.MoreDatabases != nil { // a query node: its peers' too
			names = append(names, h.opts.MoreDatabases(r.Context())...)
			slices.Sort(names)
			names = slices.Compact(names)
		}
		for _, n := range names {
			if caller.AllowsDatabase(n) {
				set.Values = append(set.Values, []any{n})
			}
		}
		res.Series = []querySet{set}
	case stmt != nil:
		return h.execInfluxQL(r, stmt, id), nil
	default:
		res.Error = "statement not supported: " + s
	}
	return res, nil
}

// execInfluxQL runs a parsed InfluxQL statement.
func (h *InfluxHandler) execInfluxQL(r *http.Request, stmt ql.Statement, id int) queryResult {
	res := queryResult{StatementID: id}
	out := h.opts.InfluxQL.Execute(r.Context(), stmt, influxql.Params{DB: r.FormValue("db"), RP: r.FormValue("rp")})
	if out.Err != nil {
		res.Error = out.Err.Error()
		return res
	}
	res.loc, res.Messages = out.Location, out.Messages
	for _, row := range out.Series {
		res.Series = append(res.Series, querySet{Name: row.Name, Tags: row.Tags, Columns: row.Columns, Values: row.Values, Partial: row.Partial})
	}
	return res
}

// createDatabaseWith makes the WITH clause of CREATE DATABASE the
// database's default retention policy, as InfluxDB does; it returns the
// statement error, if any.
func (h *InfluxHandler) createDatabaseWith(s, db string) string {
	if h.opts.RetentionPolicies == nil {
		return ""
	}
	rp, ok, err := parseCreateDatabaseWith(s)
	if ok && err == nil {
		err = h.opts.RetentionPolicies.CreateRetentionPolicy(db, rp)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// rpColumns are the columns of SHOW RETENTION POLICIES in InfluxDB 1.x.
var rpColumns = []string{"name", "duration", "shardGroupDuration", "replicaN", "default"}

// execRP runs a retention policy statement. Statement failures are
// statement errors (HTTP 200), as InfluxDB answers them.
func (h *InfluxHandler) execRP(r *http.Request, st rpStmt, id int) queryResult {
	res := queryResult{StatementID: id}
	rps := h.opts.RetentionPolicies
	db := st.db
	if db == "" {
		db = r.FormValue("db")
	}
	if db == "" {
		res.Error = "database name required"
		return res
	}
	// No "database not found": the set of databases is not durable here
	// (docs/retention.md). A policy statement names its database.
	h.dbs.add(db)
	var err error
	switch st.kind {
	case stmtCreateRP:
		st.rp.Name = st.name
		err = rps.CreateRetentionPolicy(db, st.rp)
	case stmtAlterRP:
		err = rps.AlterRetentionPolicy(db, st.name, st.change)
	case stmtDropRP:
		err = rps.DropRetentionPolicy(db, st.name)
	case stmtShowRPs:
		var list []RetentionPolicy
		if list, err = rps.RetentionPolicies(db); err == nil {
			set := querySet{Columns: rpColumns, Values: [][]any{}}
			for _, p := range list {
				set.Values = append(set.Values, []any{p.Name, p.Duration.String(), p.ShardGroupDuration.String(), p.ReplicaN, p.Default})
			}
			res.Series = []querySet{set}
		}
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}
