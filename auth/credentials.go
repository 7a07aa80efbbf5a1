package auth

import (
	"net/http"
	"strings"
)

// Credentials returns the secrets a request carries, in any form the
// clients send them: `Authorization: Token <t>` (InfluxDB 2) or
// `Token <user>:<t>` (1.8's v2-compatible form: both the whole value and
// the part after the colon are tried), `Authorization: Bearer <t>`
// (Prometheus), HTTP Basic with password <t>, or the InfluxDB 1.x
// parameter p=<t> (u= is ignored). It is empty when the request carries
// none.
func Credentials(r *http.Request) []string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Token "); ok {
		if _, pw, ok := strings.Cut(t, ":"); ok {
			return []string{t, pw}
		}
		return []string{t}
	}
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return []string{t}
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return []string{pw}
	}
	if p := r.URL.Query().Get("p"); p != "" {
		return []string{p}
	}
	return nil
}

// AuthenticateRequest returns the principal of the request's credentials.
// present is false when it carries none; claimedID names the token they
// claim for the audit log of a failure.
func (s *Store) AuthenticateRequest(r *http.Request) (p *Principal, present bool, claimedID string) {
	secrets := Credentials(r)
	for _, sec := range secrets {
		if p, ok := s.Authenticate(sec); ok {
			return p, true, p.ID
		}
		if id := ClaimedID(sec); id != "" {
			claimedID = id
		}
	}
	return nil, len(secrets) > 0, claimedID
}
