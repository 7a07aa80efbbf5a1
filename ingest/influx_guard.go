package ingest

import (
	"net/http"
	"strings"
)

// Guard wraps next (an admin endpoint of another API, such as Prometheus'
// delete_series) in the write authentication of the handler: with Tokens
// configured, a request must carry one as /write requires it, or as
// `Authorization: Bearer <t>` (Prometheus clients), or get 401.
func (h *InfluxHandler) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && h.validToken(tok) || h.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Www-Authenticate", `Bearer realm="lightningdb"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"status": "error", "errorType": "unauthorized", "error": "authorization failed"})
	})
}
