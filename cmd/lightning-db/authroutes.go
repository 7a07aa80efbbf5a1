package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/ingest"
)

// replyStyle is the error body a route's clients expect.
type replyStyle uint8

const (
	promReply     replyStyle = iota // {"status":"error","errorType":...,"error":...}
	influxV1Reply                   // {"error":...}
	influxV2Reply                   // {"code":...,"message":...}
)

// routeRule is what a route requires of its caller.
type routeRule struct {
	need  auth.Perm // scopes required; 0: open to anyone
	reply replyStyle
	// statements: /query, whose InfluxQL statements decide (ingest.QueryNeeds).
	statements bool
	// metrics: /metrics, open when auth.open_metrics is set.
	metrics bool
	// readGET: GET and HEAD need only the read scope (listing what the
	// other methods change: InfluxDB 2's buckets).
	readGET bool
	// unlimited: the route reaches every series (snapshots, import), so a
	// token limited to some series is refused even with the scope.
	unlimited bool
}

// routeRules holds the rule of every route the server registers. A route
// registered without a rule here stops the server at start (routeMux),
// and TestAuthEveryRoute walks them all.
var routeRules = map[string]routeRule{
	"/ready":  {},
	"/health": {},
	"/ping":   {},
	// The web UI's page and assets hold no data (ui package); the API
	// calls it makes carry the token the user gives it.
	"/{$}": {},
	"/ui/": {},
	// The UI's settings and storage pages: configuration with secrets
	// masked, partitions on disk.
	"/api/v1/status/config":  {need: auth.Read},
	"/api/v1/status/storage": {need: auth.Read},
	"/api/v1/status/cluster": {need: auth.Read}, // cluster.go

	"/metrics":             {need: auth.Read, metrics: true},
	"/debug/pprof/":        {need: auth.Admin},
	"/debug/pprof/cmdline": {need: auth.Admin},
	"/debug/pprof/profile": {need: auth.Admin},
	"/debug/pprof/symbol":  {need: auth.Admin},
	"/debug/pprof/trace":   {need: auth.Admin},

	"/write":                   {need: auth.Write, reply: influxV1Reply},
	"/api/v2/write":            {need: auth.Write, reply: influxV2Reply},
	"/query":                   {statements: true, reply: influxV1Reply},
	"/api/v1/write":            {need: auth.Write},
	"/api/v1/read":             {need: auth.Read},
	"/api/v1/influxql/catalog": {need: auth.Read, unlimited: true}, // influxfan.go: metric names of every series
	"/api/v1/export":           {need: auth.Read},

	"/api/v1/query":                       {need: auth.Read},
	"/api/v1/query_range":                 {need: auth.Read},
	"/api/v1/series":                      {need: auth.Read},
	"/api/v1/labels":                      {need: auth.Read},
	"/api/v1/label/{name}/values":         {need: auth.Read},
	"/api/v1/metadata":                    {need: auth.Read},
	"/api/v1/status/buildinfo":            {need: auth.Read},
	"/api/v1/status/tsdb":                 {need: auth.Read},
	"/api/v1/query_exemplars":             {need: auth.Read},
	"/api/v1/format_query":                {need: auth.Read},
	"/api/v1/admin/tsdb/delete_series":    {need: auth.Admin},
	"/api/v1/admin/tsdb/clean_tombstones": {need: auth.Admin},
	// InfluxDB 2 buckets: listed with read, created, changed (retention)
	// and deleted with admin.
	"/api/v2/buckets":      {need: auth.Admin, readGET: true, reply: influxV2Reply},
	"/api/v2/buckets/{id}": {need: auth.Admin, readGET: true, reply: influxV2Reply},
	// Snapshots copy every series and import writes any: unlimited admin.
	"/api/v1/admin/tsdb/snapshot": {need: auth.Admin, unlimited: true},
	"/snapshot/create":            {need: auth.Admin, unlimited: true},
	"/snapshot/list":              {need: auth.Admin, unlimited: true},
	"/snapshot/delete":            {need: auth.Admin, unlimited: true},
	"/snapshot/delete_all":        {need: auth.Admin, unlimited: true},
	"/api/v1/import":              {need: auth.Admin, unlimited: true},
}

// routeMux registers handlers on the server's mux, each behind the guard
// of its rule in routeRules. A pattern without a rule is an error that
// stops the server: no route is left open by accident.
type routeMux struct {
	s        *server
	patterns []string
	err      error
}

// Handle registers h for pattern behind its rule's guard.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	rule, ok := routeRules[pattern]
	if !ok {
		m.err = errors.Join(m.err, fmt.Errorf("route %q has no auth rule (add it to routeRules, cmd/lightning-db/authroutes.go)", pattern))
		return
	}
	m.patterns = append(m.patterns, pattern)
	m.s.mux.Handle(pattern, m.s.guard(rule, h))
}

// HandleFunc registers f for pattern behind its rule's guard.
func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// guard authenticates a request, checks its rule, audits it and hands it
// on with its principal in the context.
func (s *server) guard(rule routeRule, next http.Handler) http.Handler {
	a := s.auth
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.enabled() || (rule.need == 0 && !rule.statements) || (rule.metrics && a.cfg.OpenMetrics) {
			next.ServeHTTP(w, r)
			return
		}
		p, present, claimed := a.store.Load().AuthenticateRequest(r)
		if p == nil {
			msg := "authorization failed: no credentials"
			if present {
				msg = "authorization failed: invalid token"
			}
			s.audit(r, auth.Event{Event: "auth_failure", TokenID: claimed, Status: http.StatusUnauthorized, Detail: msg})
			denied(w, rule.reply, http.StatusUnauthorized, msg)
			return
		}
		need, err := rule.needOf(w, r)
		if err != nil {
			denied(w, rule.reply, http.StatusBadRequest, err.Error())
			return
		}
		if !p.Has(need) || (rule.unlimited || rule.statements && need&auth.Admin != 0) && p.Limited() {
			msg := fmt.Sprintf("forbidden: token %s has scope %s, this needs %s", p.ID, p.Perm, need)
			switch {
			case p.Has(need) && rule.unlimited:
				msg = fmt.Sprintf("forbidden: token %s is limited to some series; %s reaches every series and needs an unlimited admin token", p.ID, r.URL.Path)
			case p.Has(need): // InfluxQL deletions and retention policies are not limited to series
				msg = fmt.Sprintf("forbidden: token %s is limited to some series; InfluxQL admin statements need an unlimited admin token", p.ID)
			}
			s.audit(r, auth.Event{Event: "forbidden", TokenID: p.ID, Status: http.StatusForbidden, Detail: msg})
			denied(w, rule.reply, http.StatusForbidden, msg)
			return
		}
		r = r.WithContext(auth.NewContext(r.Context(), p))
		if need&auth.Admin == 0 {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.audit(r, auth.Event{Event: "admin", TokenID: p.ID, Status: sw.status})
	})
}

// needOf returns the scopes the request needs: the rule's, or for /query
// those its statements need.
func (rule routeRule) needOf(w http.ResponseWriter, r *http.Request) (auth.Perm, error) {
	if rule.readGET && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return auth.Read, nil
	}
	if !rule.statements {
		return rule.need, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20) // as /query reads it
	if err := r.ParseForm(); err != nil {
		return 0, fmt.Errorf("parse query: %w", err)
	}
	n := ingest.QueryNeeds(r.Form.Get("q"))
	need := auth.Read // a request with no statement (refused later) still needs a token
	if n.Write && !n.Read {
		need = auth.Write
	}
	if n.Write && n.Read {
		need = auth.Read | auth.Write
	}
	if n.Admin {
		need = auth.Admin
	}
	return need, nil
}

// audit logs ev for r: its source address, method, path and parameters
// (the form's once a handler parsed it, without p=).
func (s *server) audit(r *http.Request, ev auth.Event) {
	ev.Source, ev.Method, ev.Path = r.RemoteAddr, r.Method, r.URL.Path
	params := r.Form
	if params == nil {
		params = r.URL.Query()
	}
	ev.Params = auth.SafeParams(params)
	if err := s.auth.audit.Log(ev); err != nil {
		s.log.Error("audit log", "err", err)
	}
}

// denied answers 401 or 403 in the body the route's clients expect.
func denied(w http.ResponseWriter, style replyStyle, status int, msg string) {
	var body any
	code := "unauthorized"
	if status == http.StatusForbidden {
		code = "forbidden"
	} else if status == http.StatusBadRequest {
		code = "bad_data"
	}
	switch style {
	case influxV1Reply:
		if status == http.StatusUnauthorized {
			w.Header().Set("Www-Authenticate", `Basic realm="InfluxDB"`)
		}
		body = map[string]string{"error": msg}
	case influxV2Reply:
		body = map[string]string{"code": code, "message": msg}
	default:
		if status == http.StatusUnauthorized {
			w.Header().Set("Www-Authenticate", `Bearer realm="lightningdb"`)
		}
		body = map[string]string{"status": "error", "errorType": code, "error": msg}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter remembers the status an admin handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRoutes logs every registered route with what it needs, the list
// TestAuthEveryRoute walks.
func (m *routeMux) logRoutes() {
	rules := make([]string, 0, len(m.patterns))
	for _, p := range slices.Sorted(slices.Values(m.patterns)) {
		rule := routeRules[p]
		need := rule.need.String()
		switch {
		case rule.statements:
			need = "statements"
		case rule.readGET:
			need = "read_get/" + need
		case need == "":
			need = "open"
		}
		rules = append(rules, p+"="+need)
	}
	m.s.log.Info("routes", "rules", strings.Join(rules, " "))
}
