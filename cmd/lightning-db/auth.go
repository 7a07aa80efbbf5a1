package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/series"
)

// AuthConfig configures who may do what (config section auth:;
// docs/security.md). Authentication is on when token_file is set or
// influx.tokens (--auth-tokens) is not empty.
type AuthConfig struct {
	// TokenFile holds the hashed tokens that `lightning-admin token`
	// creates and revokes; the server reloads it on SIGHUP.
	TokenFile string `yaml:"token_file"`
	// AuditLog is the file the audit log appends JSON lines to: admin
	// actions, token reloads and refused credentials. Empty: none.
	AuditLog string `yaml:"audit_log"`
	// OpenMetrics serves /metrics without credentials (for a scraper that
	// cannot send a token). Default false: /metrics needs a read token.
	OpenMetrics bool `yaml:"open_metrics"`
}

// authSetup is the server's live token store and audit log.
type authSetup struct {
	cfg    AuthConfig
	legacy []string // influx.tokens: full access
	dbl    string   // the database label a token's databases limit
	store  atomic.Pointer[auth.Store]
	audit  *auth.Audit
}

// setupAuth loads the token store and opens the audit log.
func (s *server) setupAuth() error {
	a := &authSetup{cfg: s.cfg.Auth, legacy: s.cfg.Influx.Tokens, dbl: s.cfg.Influx.DBLabel}
	st, err := a.load()
	if err != nil {
		return err
	}
	a.store.Store(st)
	if a.audit, err = auth.OpenAudit(a.cfg.AuditLog); err != nil {
		return err
	}
	s.auth = a
	if a.enabled() {
		s.log.Info("authentication on", "tokens", st.Len(), "token_file", a.cfg.TokenFile)
	}
	return nil
}

// enabled reports whether requests must carry credentials. A configured
// token file turns it on even while empty (no access until a token is
// created and the file reloaded).
func (a *authSetup) enabled() bool {
	return a.cfg.TokenFile != "" || len(a.legacy) > 0
}

// load reads the token file into a new store.
func (a *authSetup) load() (*auth.Store, error) {
	var f *auth.TokenFile
	if a.cfg.TokenFile != "" {
		var err error
		if f, err = auth.ReadTokenFile(a.cfg.TokenFile); err != nil {
			return nil, err
		}
	}
	return auth.NewStore(f, a.legacy, a.dbl)
}

// reload replaces the store with the token file's current content; on
// error the old store stays.
func (a *authSetup) reload() error {
	st, err := a.load()
	if err != nil {
		return fmt.Errorf("reload tokens: %w", err)
	}
	old := a.store.Swap(st)
	added, removed := diffIDs(old.IDs(), st.IDs())
	return a.audit.Log(auth.Event{Event: "token_reload",
		Detail: fmt.Sprintf("%d tokens; added %v; revoked %v", st.Len(), added, removed)})
}

// diffIDs returns the IDs of now not in was, and of was not in now.
func diffIDs(was, now []string) (added, removed []string) {
	for _, id := range now {
		if !slices.Contains(was, id) {
			added = append(added, id)
		}
	}
	for _, id := range was {
		if !slices.Contains(now, id) {
			removed = append(removed, id)
		}
	}
	return added, removed
}

// scopedAppender refuses batches holding a series outside the scope of
// the caller a request's context carries (a write token limited to some
// databases or label matchers); every other caller appends unchecked.
type scopedAppender struct{ ingest.Appender }

func (a scopedAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	if p := auth.FromContext(ctx); p.Limited() {
		if err := checkScope(p, b); err != nil {
			return series.AppendResult{}, err
		}
	}
	return a.Appender.Append(ctx, b)
}

// checkScope returns series.ErrForbidden for the first series of b that
// p's scope does not match.
func checkScope(p *auth.Principal, b *series.Batch) error {
	var ls series.Labels
	for i := range b.Len() {
		canon, _, _, _ := b.Series(i)
		var err error
		if ls, err = series.UnmarshalLabels(ls[:0], canon); err != nil || !p.Matches(ls.Get) {
			return fmt.Errorf("%w: token %s may not write series %s", series.ErrForbidden, p.ID, ls)
		}
	}
	return nil
}
