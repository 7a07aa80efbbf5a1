package auth

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"
)

// Event is one line of the audit log. It never holds a secret: requests
// are named by method, path and parameters with p= removed.
type Event struct {
	Time time.Time `json:"time"`
	// Event: auth_failure, forbidden, admin, token_reload.
	Event   string `json:"event"`
	TokenID string `json:"token_id,omitempty"`
	Source  string `json:"source,omitempty"` // the client's address
	Method  string `json:"method,omitempty"`
	Path    string `json:"path,omitempty"`
	Params  string `json:"params,omitempty"`
	Status  int    `json:"status,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// Audit appends events as JSON lines to a file. A nil *Audit logs
// nothing. It is safe for concurrent use.
type Audit struct {
	mu  sync.Mutex // mu protects f and orders the lines
	f   *os.File
	now func() time.Time
}

// OpenAudit opens (appends to) the audit log at path; "" returns nil.
func OpenAudit(path string) (*Audit, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	return &Audit{f: f, now: time.Now}, nil
}

// Log writes ev, its Time set to now when zero. A failed write is
// returned for the caller to log; the request goes on.
func (a *Audit) Log(ev Event) error {
	if a == nil {
		return nil
	}
	if ev.Time.IsZero() {
		ev.Time = a.now().UTC()
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("audit event: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	return nil
}

// Close closes the file.
func (a *Audit) Close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}

// SafeParams returns a URL query without the secrets clients put in it
// (p=, and u= with it).
func SafeParams(q url.Values) string {
	if !q.Has("p") && !q.Has("u") {
		return q.Encode()
	}
	c := url.Values{}
	for k, v := range q {
		if k != "p" && k != "u" {
			c[k] = v
		}
	}
	return c.Encode()
}
