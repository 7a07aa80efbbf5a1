package main

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/auth"
)

// tokenSpec is one token a test creates: its scopes and limits.
type tokenSpec struct {
	name   string
	scopes []string
	dbs    []string
	match  []string
}

// writeTokens creates the tokens in a new token file (as `lightning-admin
// token create` does) and returns its path and each token's secret and ID
// by name.
func writeTokens(t *testing.T, dir string, specs ...tokenSpec) (path string, secret, id map[string]string) {
	t.Helper()
	path = filepath.Join(dir, "tokens.yaml")
	f, err := auth.ReadTokenFile(path)
	require.NoError(t, err)
	secret, id = map[string]string{}, map[string]string{}
	for _, sp := range specs {
		s, e, err := f.Create(auth.TokenEntry{Scopes: sp.scopes, Databases: sp.dbs, Matchers: sp.match, Description: sp.name}, time.Now())
		require.NoError(t, err)
		secret[sp.name], id[sp.name] = s, e.ID
	}
	require.NoError(t, f.Write(path))
	return path, secret, id
}

// call sends one request with the token as a Bearer token ("" for none)
// and returns the status and body.
func call(t *testing.T, c *http.Client, method, u, token string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		u += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// logLine polls the server's log until a line holds marker and returns it.
func (p *proc) logLine(marker string) string {
	p.t.Helper()
	var line string
	poll(p.t, 10*time.Second, 20*time.Millisecond, func() string {
		for _, l := range strings.Split(p.log.String(), "\n") {
			if strings.Contains(l, marker) {
				line = l
				return ""
			}
		}
		return "no log line with " + marker
	})
	return line
}

// bearer is a RoundTripper that adds a Bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// tokenClient returns a client that sends token with every request.
func tokenClient(token string) *http.Client {
	return &http.Client{Transport: bearer{token, http.DefaultTransport}}
}
