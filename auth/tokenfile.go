package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lightningdb/lightningdb/internal/atomicfile"
)

// TokenPrefix starts every token lightning-admin creates:
// ldb_<id>_<secret>, the ID 12 hex digits, the secret 32 random bytes in
// base64url. Only the SHA-256 of the whole token is stored.
const TokenPrefix = "ldb_"

const idLen = 12

// TokenEntry is one token of the token file. The secret is not in it:
// only its SHA-256.
type TokenEntry struct {
	// ID names the token in logs, the audit log and `token revoke`.
	ID string `yaml:"id"`
	// Hash is "sha256:" and the hex SHA-256 of the whole token.
	Hash string `yaml:"hash"`
	// Scopes: read, write, admin (admin implies both others).
	Scopes []string `yaml:"scopes"`
	// Databases, when set, are the only values of the database label
	// (influx.db_label) the token may read or write.
	Databases []string `yaml:"databases,omitempty"`
	// Matchers, when set, are series selectors such as {team="a"} every
	// series the token reads or writes must match.
	Matchers []string `yaml:"matchers,omitempty"`
	// User is the MQTT username the token may connect as (besides its
	// ID), for the `user` lines of the MQTT ACL file.
	User        string    `yaml:"user,omitempty"`
	Description string    `yaml:"description,omitempty"`
	Created     time.Time `yaml:"created"`
}

// TokenFile is the file auth.token_file names, which lightning-admin
// token create/revoke edit and the server reloads on SIGHUP.
type TokenFile struct {
	Tokens []TokenEntry `yaml:"tokens"`
}

// ReadTokenFile reads path; a file that does not exist is empty.
func ReadTokenFile(path string) (*TokenFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &TokenFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	return parseTokenFile(data, path)
}

// parseTokenFile decodes a token file's content (name: for errors).
func parseTokenFile(data []byte, name string) (*TokenFile, error) {
	var f TokenFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w %s: %w", ErrBadTokenFile, name, err)
	}
	return &f, nil
}

// Write stores the file at path atomically, readable by its owner only.
func (f *TokenFile) Write(path string) error {
	data, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode token file: %w", err)
	}
	hdr := "# Lightning DB API tokens (hashed). Edit with `lightning-admin token`;\n# the server reloads this file on SIGHUP.\n"
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if err := atomicfile.Write(dir, name, append([]byte(hdr), data...)); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return os.Chmod(path, 0o600)
}

// Create adds a new token with the given limits and returns it with its
// secret, the one time the secret is shown.
func (f *TokenFile) Create(e TokenEntry, now time.Time) (secret string, _ TokenEntry, err error) {
	for _, s := range e.Scopes {
		if _, ok := ParsePerm(s); !ok {
			return "", e, fmt.Errorf("scope %q: want read, write or admin", s)
		}
	}
	if len(e.Scopes) == 0 {
		return "", e, errors.New("a token needs a scope: read, write or admin")
	}
	if _, err := compileScope("db", e.Databases, e.Matchers); err != nil {
		return "", e, fmt.Errorf("matchers: %w", err)
	}
	var raw [idLen/2 + 32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", e, fmt.Errorf("random token: %w", err)
	}
	e.ID = hex.EncodeToString(raw[:idLen/2])
	secret = TokenPrefix + e.ID + "_" + base64.RawURLEncoding.EncodeToString(raw[idLen/2:])
	sum := sha256.Sum256([]byte(secret))
	e.Hash = "sha256:" + hex.EncodeToString(sum[:])
	e.Created = now.UTC().Truncate(time.Second)
	f.Tokens = append(f.Tokens, e)
	return secret, e, nil
}

// Revoke removes the token with that ID.
func (f *TokenFile) Revoke(id string) error {
	i := slices.IndexFunc(f.Tokens, func(e TokenEntry) bool { return e.ID == id })
	if i < 0 {
		return fmt.Errorf("%w %q", ErrUnknownToken, id)
	}
	f.Tokens = slices.Delete(f.Tokens, i, i+1)
	return nil
}

// tokenID returns the ID part of a token lightning-admin created.
func tokenID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, TokenPrefix)
	if !ok || len(rest) < idLen+1 || rest[idLen] != '_' {
		return "", false
	}
	return rest[:idLen], true
}
