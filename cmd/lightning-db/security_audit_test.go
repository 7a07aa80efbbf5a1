package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/auth"
)

// TestTokensReloadOnSIGHUPAndAudit: a token created in the token file
// (as lightning-admin token create writes it) works after SIGHUP without
// a restart and stops working once revoked and reloaded; the audit log
// holds the reloads, the refused credentials and the admin actions with
// token IDs and source addresses, and no secret.
func TestTokensReloadOnSIGHUPAndAudit(t *testing.T) {
	dir := t.TempDir()
	file, sec, id := writeTokens(t, dir, tokenSpec{name: "admin", scopes: []string{"admin"}})
	audit := filepath.Join(dir, "audit.log")
	p := startServer(t, t.TempDir(), "--token-file", file, "--audit-log", audit, "--auth-tokens", "legacy-s3cret")
	defer p.stop()
	labels := p.url("/api/v1/labels")

	f, err := auth.ReadTokenFile(file)
	require.NoError(t, err)
	newSecret, e, err := f.Create(auth.TokenEntry{Scopes: []string{"read"}}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.Write(file))
	if code, _ := call(t, nil, http.MethodGet, labels, newSecret, nil); code != 401 {
		t.Fatalf("new token before SIGHUP: %d, want 401", code)
	}
	waitCode := func(token string, want int) {
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
		poll(t, 10*time.Second, 20*time.Millisecond, func() string {
			if code, body := call(t, nil, http.MethodGet, labels, token, nil); code != want {
				return "after SIGHUP: " + body
			}
			return ""
		})
	}
	waitCode(newSecret, 200)
	require.NoError(t, f.Revoke(e.ID))
	require.NoError(t, f.Write(file))
	waitCode(newSecret, 401)

	// An admin action, and the legacy token as p= (kept out of the log).
	code, body := call(t, nil, http.MethodPost, p.url("/api/v1/admin/tsdb/delete_series"), sec["admin"], url.Values{"match[]": {"nothing"}})
	require.Equal(t, 204, code, body)
	code, body = call(t, nil, http.MethodGet, p.url("/api/v1/labels?p=legacy-s3cret&u=x"), "", nil)
	require.Equal(t, 200, code, body)
	code, _ = call(t, nil, http.MethodGet, p.url("/api/v1/labels?p=wrong-s3cret"), "", nil)
	require.Equal(t, 401, code)

	data, err := os.ReadFile(audit)
	require.NoError(t, err)
	for _, s := range []string{newSecret, sec["admin"], "legacy-s3cret", "wrong-s3cret", strings.SplitN(newSecret, "_", 3)[2]} {
		require.NotContains(t, string(data), s, "a secret in the audit log")
	}
	var events []auth.Event
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var ev auth.Event
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		events = append(events, ev)
	}
	has := func(what string, ok func(auth.Event) bool) {
		t.Helper()
		for _, ev := range events {
			if ok(ev) {
				return
			}
		}
		t.Errorf("no %s in the audit log:\n%s", what, data)
	}
	has("reload adding the token", func(ev auth.Event) bool {
		return ev.Event == "token_reload" && strings.Contains(ev.Detail, "added ["+e.ID+"]")
	})
	has("reload revoking it", func(ev auth.Event) bool {
		return ev.Event == "token_reload" && strings.Contains(ev.Detail, "revoked ["+e.ID+"]")
	})
	has("refused revoked token, by ID", func(ev auth.Event) bool {
		return ev.Event == "auth_failure" && ev.TokenID == e.ID && strings.HasPrefix(ev.Source, "127.0.0.1:") && ev.Status == 401
	})
	has("the delete", func(ev auth.Event) bool {
		return ev.Event == "admin" && ev.TokenID == id["admin"] && ev.Path == "/api/v1/admin/tsdb/delete_series" &&
			ev.Status == 204 && ev.Params == "match%5B%5D=nothing"
	})
	has("refused p= without its value", func(ev auth.Event) bool {
		return ev.Event == "auth_failure" && ev.Path == "/api/v1/labels" && !strings.Contains(ev.Params, "p=")
	})

	// A token file that does not parse: logged, the loaded tokens stay.
	require.NoError(t, os.WriteFile(file, []byte("tokens: [oops\n"), 0o600))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	p.logLine("SIGHUP: tokens not reloaded")
	if code, body := call(t, nil, http.MethodGet, labels, sec["admin"], nil); code != 200 {
		t.Errorf("the admin token after a broken reload: %d %s", code, body)
	}
}

// TestLegacyTokensInEveryForm: --auth-tokens keeps working as full-access
// tokens, in every form the InfluxDB and Prometheus clients send them.
func TestLegacyTokensInEveryForm(t *testing.T) {
	p := startServer(t, t.TempDir(), "--auth-tokens", "tok1,tok2")
	defer p.stop()
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
	}{
		{"Token", func(r *http.Request) { r.Header.Set("Authorization", "Token tok2") }},
		{"Token user:pw", func(r *http.Request) { r.Header.Set("Authorization", "Token me:tok1") }},
		{"Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok1") }},
		{"basic", func(r *http.Request) { r.SetBasicAuth("me", "tok2") }},
		{"u/p", func(r *http.Request) { r.URL.RawQuery += "&u=me&p=tok1" }},
	} {
		for _, path := range []string{"/write?db=x", "/api/v1/query?query=1", "/api/v1/admin/tsdb/clean_tombstones?"} {
			req, err := http.NewRequest(http.MethodPost, p.url(path), strings.NewReader("m v=1\n"))
			require.NoError(t, err)
			tc.set(req)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				t.Errorf("%s on %s: %d", tc.name, path, resp.StatusCode)
			}
		}
	}
	if code, _ := call(t, nil, http.MethodGet, p.url("/api/v1/query?query=1"), "nope", nil); code != 401 {
		t.Errorf("a wrong token: %d", code)
	}
}
