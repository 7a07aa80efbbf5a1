// Package encrypt is Lightning DB's encryption at rest: a keyring read
// from a key file, and the sealed file format (a header naming the key,
// then frames each sealed on its own with AES-256-GCM). The engine uses it
// through its file-system seam (engine.EncFS); the small files kept beside
// the engine (the InfluxQL catalog, the retention policies) through
// ReadFile and Seal. docs/security.md "Encryption at rest" has the design.
package encrypt

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// KeyID names a key: the first 4 bytes of SHA-256 of a fixed prefix and
// the key, so that a key has the same ID in every key file that holds it
// and an operator never assigns one. Written as 8 hex digits.
type KeyID uint32

func (id KeyID) String() string { return fmt.Sprintf("%08x", uint32(id)) }

// IDOf returns the ID of key.
func IDOf(key []byte) KeyID {
	h := sha256.New()
	h.Write([]byte("lightningdb key id\x00"))
	h.Write(key)
	return KeyID(binary.BigEndian.Uint32(h.Sum(nil)))
}

// Keyring holds the keys of a key file. New files are sealed with the
// active key, the last one in the file; files sealed with any key of the
// ring are read.
type Keyring struct {
	source string // the key file, for errors
	keys   map[KeyID][]byte
	order  []KeyID
}

// Source names where the keys came from (the key file's path).
func (k *Keyring) Source() string { return k.source }

// Active returns the ID of the key new files are sealed with.
func (k *Keyring) Active() KeyID { return k.order[len(k.order)-1] }

// IDs returns the IDs of the keys in file order, the active one last.
func (k *Keyring) IDs() []KeyID { return append([]KeyID(nil), k.order...) }

// LoadKeyFile reads a key file (ParseKeyFile).
func LoadKeyFile(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	return ParseKeyFile(path, b)
}

// ParseKeyFile parses a key file: either exactly 32 raw bytes (`head -c 32
// /dev/urandom > key`), or text with one key per line as 64 hex digits
// (`lightning-admin keygen >> key`); blank lines and lines starting with #
// are ignored, and text after the hex digits and a space is a comment.
// The last key is the active one. Every problem names the file and line.
func ParseKeyFile(source string, b []byte) (*Keyring, error) {
	k := &Keyring{source: source, keys: map[KeyID][]byte{}}
	if len(b) == KeySize && !isHexText(b) {
		k.add(bytes.Clone(b))
		return k, nil
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		field, _, _ := strings.Cut(line, " ")
		key, err := hex.DecodeString(field)
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("encryption key file %s line %d: want 64 hex digits (a 32-byte AES-256 key), got %d characters%s",
				source, i+1, len(field), hexHint(err))
		}
		id := IDOf(key)
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("encryption key file %s line %d: key %s appears twice", source, i+1, id)
		}
		k.add(key)
	}
	if len(k.order) == 0 {
		return nil, fmt.Errorf("encryption key file %s: no key (want 32 raw bytes, or lines of 64 hex digits)", source)
	}
	return k, nil
}

func hexHint(err error) string {
	if err != nil {
		return " (not hex)"
	}
	return ""
}

func isHexText(b []byte) bool {
	for _, c := range b {
		if !strings.ContainsRune("0123456789abcdefABCDEF \n\r\t#", rune(c)) {
			return false
		}
	}
	return true
}

func (k *Keyring) add(key []byte) {
	id := IDOf(key)
	k.keys[id] = key
	k.order = append(k.order, id)
}

// NewKeyring returns a keyring of keys (tests), the last one active.
func NewKeyring(source string, keys ...[]byte) (*Keyring, error) {
	k := &Keyring{source: source, keys: map[KeyID][]byte{}}
	for _, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("encryption key of %d bytes, want %d", len(key), KeySize)
		}
		k.add(bytes.Clone(key))
	}
	if len(k.order) == 0 {
		return nil, errors.New("no encryption key")
	}
	return k, nil
}

// GenerateKey returns a new random key as a key file line: 64 hex digits
// and its ID as a comment.
func GenerateKey() (string, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s id=%s", hex.EncodeToString(key), IDOf(key)), nil
}
