package encrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The sealed file format, version 1:
//
//	header (32 bytes)
//	  magic "LDBENC" (6) | version (1) = 1 | reserved (1) = 0
//	  key ID (4, little endian) | salt (16, random per file)
//	  crc32c (4) of the 28 bytes before it
//	frames, each sealed on its own:
//	  length n (4, little endian): ciphertext bytes including the 16-byte tag,
//	    16 <= n <= MaxFramePlain+16
//	  plaintext offset (8, little endian) of the frame's first byte
//	  nonce (12, random)
//	  ciphertext (n)
//
// The file key is HKDF-SHA256(key, salt, "lightningdb file v1"): every
// file has its own AES-256-GCM key, so random 96-bit nonces stay far from
// collisions whatever the data volume under one key. The additional data
// of a frame is its length and offset fields, so frames cannot be
// reordered, moved or resized unnoticed; the file key binds them to their
// file. The offset in clear lets a reader find the frames after a damaged
// one (resync) and know how much plaintext the damage covers.
const (
	HeaderSize    = 32
	MaxFramePlain = 64 << 10
	frameHead     = 4 + 8 + nonceSize
	nonceSize     = 12
	tagSize       = 16
	// FrameOverhead is the bytes a frame adds to its plaintext.
	FrameOverhead = frameHead + tagSize
	version       = 1
)

var magic = []byte("LDBENC")

// ErrUnknownKey is matched by the error for a file sealed with a key the
// key file does not hold (*KeyError).
var ErrUnknownKey = errors.New("encryption key not in the key file")

// ErrDamaged is matched by the error for a damaged header.
var ErrDamaged = errors.New("damaged encrypted file")

// ErrEncrypted is matched by the error for a sealed file read without a
// key.
var ErrEncrypted = errors.New("file is encrypted")

// KeyError is the error for a file sealed with a key the keyring lacks.
type KeyError struct {
	File   string
	KeyID  KeyID
	Source string // the key file
	Have   []KeyID
}

func (e *KeyError) Error() string {
	return fmt.Sprintf("%s is encrypted with key %s, which the key file %s does not hold (it holds %v); "+
		"add that key back to the key file (keep old keys until compaction has rewritten every file sealed with them)",
		e.File, e.KeyID, e.Source, e.Have)
}

func (e *KeyError) Is(target error) bool { return target == ErrUnknownKey }

// IsSealed reports whether b, the start of a file, is a sealed file's
// header or a torn prefix of one (a file cut within its first 32 bytes).
func IsSealed(b []byte) bool {
	n := min(len(b), len(magic))
	return n > 0 && string(b[:n]) == string(magic[:n])
}

// NotEncryptedCheck returns an error naming name when b, its content or
// start, is a sealed file: the plain read paths call it on data that
// failed their own checks, so that a database opened without its key
// fails with a clear error rather than a "damaged file" one.
func NotEncryptedCheck(name string, b []byte) error {
	if len(b) < HeaderSize || !IsSealed(b) {
		return nil
	}
	return fmt.Errorf("%w: %s is sealed with key %s; start with encryption.key_file (--encryption-key-file) naming a key file that holds it",
		ErrEncrypted, name, KeyID(binary.LittleEndian.Uint32(b[8:12])))
}

// Cipher seals and opens the frames of one file.
type Cipher struct {
	aead   cipher.AEAD
	KeyID  KeyID
	Header []byte
}

// NewFile returns the header and cipher of a new file, sealed with the
// active key.
func (k *Keyring) NewFile() (*Cipher, error) {
	h := make([]byte, HeaderSize)
	copy(h, magic)
	h[6] = version
	id := k.Active()
	binary.LittleEndian.PutUint32(h[8:12], uint32(id))
	if _, err := rand.Read(h[12:28]); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(h[28:], crc32.Checksum(h[:28], crcTable))
	return newCipher(k.keys[id], id, h)
}

// OpenHeader checks the header of the sealed file name and returns its
// cipher: a *KeyError when the keyring lacks its key, an error matching
// ErrDamaged when the header fails its checksum.
func (k *Keyring) OpenHeader(name string, h []byte) (*Cipher, error) {
	if len(h) < HeaderSize || !IsSealed(h) {
		return nil, fmt.Errorf("%w: %s: encryption header cut short (%d bytes)", ErrDamaged, name, len(h))
	}
	h = h[:HeaderSize]
	if binary.LittleEndian.Uint32(h[28:]) != crc32.Checksum(h[:28], crcTable) {
		return nil, fmt.Errorf("%w: %s: encryption header fails its checksum", ErrDamaged, name)
	}
	if h[6] != version {
		return nil, fmt.Errorf("%w: %s: encryption format version %d, this binary reads %d", ErrDamaged, name, h[6], version)
	}
	id := KeyID(binary.LittleEndian.Uint32(h[8:12]))
	key, ok := k.keys[id]
	if !ok {
		return nil, &KeyError{File: name, KeyID: id, Source: k.source, Have: k.IDs()}
	}
	return newCipher(key, id, h)
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func newCipher(key []byte, id KeyID, h []byte) (*Cipher, error) {
	fk, err := hkdf.Key(sha256.New, key, h[12:28], "lightningdb file v1", KeySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(fk)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Cipher{aead: aead, KeyID: id, Header: h}, nil
}

// AppendFrame appends to dst the frame sealing plain (at most
// MaxFramePlain bytes) at plaintext offset off.
func (c *Cipher) AppendFrame(dst, plain []byte, off int64) []byte {
	if len(plain) > MaxFramePlain {
		panic("encrypt: frame too large")
	}
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(plain)+tagSize))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(off))
	dst = append(dst, make([]byte, nonceSize)...)
	head := dst[start : start+frameHead]
	if _, err := rand.Read(head[12:]); err != nil {
		panic("encrypt: crypto/rand: " + err.Error()) // never fails on Linux (Go 1.24+ panics itself)
	}
	return c.aead.Seal(dst, head[12:], plain, head[:12])
}

// AppendFrames seals plain in frames of at most MaxFramePlain bytes from
// plaintext offset off.
func (c *Cipher) AppendFrames(dst, plain []byte, off int64) []byte {
	for len(plain) > 0 {
		n := min(len(plain), MaxFramePlain)
		dst = c.AppendFrame(dst, plain[:n], off)
		plain, off = plain[n:], off+int64(n)
	}
	return dst
}

// OpenFrame appends the plaintext of frame (a whole frame: head and
// ciphertext) to dst; it fails when the frame does not authenticate.
func (c *Cipher) OpenFrame(dst, frame []byte) ([]byte, error) {
	return c.aead.Open(dst, frame[12:frameHead], frame[frameHead:], frame[:12])
}

// FrameHead parses the frame head at the start of b: the frame's size
// (head and ciphertext) and plaintext offset. ok is false when the head
// is cut short or its length is out of range; the frame may still be cut
// short (n > len(b)).
func FrameHead(b []byte) (n int, off int64, ok bool) {
	if len(b) < frameHead {
		return 0, 0, false
	}
	ct := int(binary.LittleEndian.Uint32(b))
	off = int64(binary.LittleEndian.Uint64(b[4:]))
	if ct < tagSize || ct > MaxFramePlain+tagSize || off < 0 {
		return 0, 0, false
	}
	return frameHead + ct, off, true
}

// Frame is one frame of a sealed file as Decode found it.
type Frame struct {
	Phys    int64 // offset in the file of its length field
	Off     int64 // plaintext offset
	Len     int   // plaintext bytes
	Damaged bool  // did not authenticate, or cut short: reads as zeros
}
