package main

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// TestAuthEveryRoute walks every route the server registered (the list
// its routeMux logs, so a route added later is walked too; one added
// without a rule stops the server) with every method: without a token
// it gets 401 (open routes excepted) in its clients' error shape, with a
// token lacking the scope 403, with the right scope neither.
func TestAuthEveryRoute(t *testing.T) {
	dir := t.TempDir()
	file, sec, ids := writeTokens(t, dir,
		tokenSpec{name: "read", scopes: []string{"read"}},
		tokenSpec{name: "write", scopes: []string{"write"}},
		tokenSpec{name: "readwrite", scopes: []string{"read", "write"}},
		tokenSpec{name: "admin", scopes: []string{"admin"}})
	p := startServer(t, t.TempDir(), "--token-file", file, "--pprof")
	defer p.stop()
	line := p.logLine("msg=routes")
	rules := strings.Fields(strings.Trim(line[strings.Index(line, "rules=")+len("rules="):], `"`))
	if len(rules) < 25 {
		t.Fatalf("routes logged: %d, want every route: %s", len(rules), line)
	}
	wrong := map[string]string{"read": "write", "write": "read", "admin": "readwrite", "statements": "write"}
	right := map[string]string{"read": "read", "write": "write", "admin": "admin", "statements": "read"}
	seen := map[string]bool{}
	for _, r := range rules {
		pattern, need, _ := strings.Cut(r, "=")
		seen[pattern+"="+need] = true
		path := strings.ReplaceAll(strings.ReplaceAll(pattern, "{name}", "job"), "{$}", "")
		// seconds=1: pprof's profile and trace; q: /query's statement.
		form := url.Values{"seconds": {"1"}, "q": {"SHOW DATABASES"}, "match[]": {"up"}}
		ruleNeed := need
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
			need := ruleNeed
			if rest, ok := strings.CutPrefix(need, "read_get/"); ok { // GET lists with read, the rest changes with rest
				need = rest
				if m == http.MethodGet {
					need = "read"
				}
			}
			code, body := call(t, nil, m, p.url(path), "", form)
			if need == "open" {
				if code == 401 || code == 403 {
					t.Errorf("%s %s without a token: %d, want it open", m, path, code)
				}
				continue
			}
			if code != 401 || !strings.Contains(body, unauthorizedShape(pattern)) {
				t.Errorf("%s %s without a token: %d %s, want 401 with %s", m, path, code, body, unauthorizedShape(pattern))
			}
			if code, body := call(t, nil, m, p.url(path), sec[wrong[need]], form); code != 403 {
				t.Errorf("%s %s with a %s token: %d %s, want 403", m, path, wrong[need], code, body)
			}
			if code, body := call(t, nil, m, p.url(path), sec[right[need]], form); code == 401 || code == 403 {
				t.Errorf("%s %s with a %s token: %d %s, want it served", m, path, right[need], code, body)
			}
		}
	}
	// The MQTT listener: no anonymous client, publishing needs write.
	if pub, err := exec.LookPath("mosquitto_pub"); err == nil {
		host, port, _ := strings.Cut(mqttAddrOf(p), ":")
		for _, tc := range []struct {
			token string
			ok    bool
		}{{"", false}, {"read", false}, {"write", true}, {"admin", true}} {
			args := []string{"-h", host, "-p", port, "-q", "1", "-t", "t", "-m", "m v=1", "-V", "mqttv5"}
			if tc.token != "" {
				args = append(args, "-u", ids[tc.token], "-P", sec[tc.token])
			}
			out, err := exec.Command(pub, args...).CombinedOutput()
			low := strings.ToLower(string(out))
			refused := strings.Contains(low, "not authorized") || strings.Contains(low, "bad user name or password")
			if (err == nil && !refused) != tc.ok {
				t.Errorf("MQTT publish with token %q: %v %s; want allowed=%v", tc.token, err, out, tc.ok)
			}
		}
	} else {
		t.Log("mosquitto_pub not installed: MQTT walk skipped")
	}
	// The rules that matter most, as the registration declared them.
	for _, want := range []string{"/health=open", "/ready=open", "/metrics=read", "/debug/pprof/cmdline=admin",
		"/api/v1/write=write", "/api/v1/read=read", "/api/v1/export=read", "/query=statements",
		"/api/v1/admin/tsdb/delete_series=admin", "/write=write", "/api/v1/query=read"} {
		if !seen[want] {
			t.Errorf("route rule %s not registered; got %v", want, rules)
		}
	}
}

// unauthorizedShape is the part of a 401 body each route's clients read.
func unauthorizedShape(pattern string) string {
	switch pattern {
	case "/write", "/query":
		return `{"error":"authorization failed`
	case "/api/v2/write", "/api/v2/buckets", "/api/v2/buckets/{id}":
		return `"code":"unauthorized"`
	}
	return `"errorType":"unauthorized"`
}

// TestRouteWithoutRuleStopsServer: a route registered without an auth
// rule is an error at start, not an open door.
func TestRouteWithoutRuleStopsServer(t *testing.T) {
	s := &server{mux: http.NewServeMux(), auth: &authSetup{}}
	m := &routeMux{s: s}
	m.HandleFunc("/health", func(http.ResponseWriter, *http.Request) {})
	m.HandleFunc("/api/v1/new_thing", func(http.ResponseWriter, *http.Request) {})
	if m.err == nil || !strings.Contains(m.err.Error(), `"/api/v1/new_thing" has no auth rule`) {
		t.Fatalf("err = %v", m.err)
	}
	if len(m.patterns) != 1 {
		t.Fatalf("registered %v", m.patterns)
	}
}
