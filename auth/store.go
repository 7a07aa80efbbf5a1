package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Store authenticates secrets against the token file's hashed tokens and
// the legacy plain tokens (influx.tokens / --auth-tokens, full access).
// It is immutable: a reload builds a new one.
type Store struct {
	byID   map[string]storeEntry
	legacy [][]byte
}

type storeEntry struct {
	hash [sha256.Size]byte
	p    *Principal
}

// LegacyID is the principal ID of the plain influx.tokens.
const LegacyID = "legacy"

// NewStore builds a store from a token file (nil: none) and the legacy
// tokens; dbLabel is the label a token's databases limit.
func NewStore(f *TokenFile, legacy []string, dbLabel string) (*Store, error) {
	s := &Store{byID: map[string]storeEntry{}}
	for _, t := range legacy {
		s.legacy = append(s.legacy, []byte(t))
	}
	if f == nil {
		return s, nil
	}
	for i, e := range f.Tokens {
		se, err := newStoreEntry(e, dbLabel)
		if err != nil {
			return nil, fmt.Errorf("%w: token %d (%s): %w", ErrBadTokenFile, i, e.ID, err)
		}
		if _, dup := s.byID[e.ID]; dup {
			return nil, fmt.Errorf("%w: token id %s twice", ErrBadTokenFile, e.ID)
		}
		s.byID[e.ID] = se
	}
	return s, nil
}

func newStoreEntry(e TokenEntry, dbLabel string) (storeEntry, error) {
	var se storeEntry
	h, ok := strings.CutPrefix(e.Hash, "sha256:")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != sha256.Size {
		return se, fmt.Errorf("hash %q: want sha256:<64 hex digits>", e.Hash)
	}
	copy(se.hash[:], b)
	p := &Principal{ID: e.ID, User: e.User, Databases: e.Databases}
	for _, sc := range e.Scopes {
		perm, ok := ParsePerm(sc)
		if !ok {
			return se, fmt.Errorf("scope %q: want read, write or admin", sc)
		}
		p.Perm |= perm
	}
	if p.Scope, err = compileScope(dbLabel, e.Databases, e.Matchers); err != nil {
		return se, fmt.Errorf("matchers: %w", err)
	}
	se.p = p
	return se, nil
}

// Enabled reports whether the store holds any token: without one,
// authentication is off.
func (s *Store) Enabled() bool { return s != nil && (len(s.byID) > 0 || len(s.legacy) > 0) }

// Len returns the number of tokens, legacy ones included.
func (s *Store) Len() int { return len(s.byID) + len(s.legacy) }

// Authenticate returns the principal of secret. The comparison of the
// secret is constant-time; the lookup by ID is not (an ID is not secret).
func (s *Store) Authenticate(secret string) (*Principal, bool) {
	if secret == "" {
		return nil, false
	}
	if id, ok := tokenID(secret); ok {
		if e, ok := s.byID[id]; ok {
			sum := sha256.Sum256([]byte(secret))
			if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
				return e.p, true
			}
			return nil, false
		}
	}
	ok := 0
	for _, want := range s.legacy {
		ok |= subtle.ConstantTimeCompare([]byte(secret), want)
	}
	if ok == 1 {
		return &Principal{ID: LegacyID, Perm: Full.Perm}, true
	}
	return nil, false
}

// ClaimedID returns the token ID a secret names, for the audit log of a
// failed attempt ("" when it names none). It never returns the secret.
func ClaimedID(secret string) string {
	id, _ := tokenID(secret)
	return id
}

// IDs returns the IDs of the token file's tokens, sorted.
func (s *Store) IDs() []string {
	ids := make([]string, 0, len(s.byID))
	for id := range s.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Known reports whether the store still holds the token with that ID (a
// connection authenticated before a revoke asks it again).
func (s *Store) Known(id string) bool {
	_, ok := s.byID[id]
	return ok
}
