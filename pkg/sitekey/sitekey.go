// Package sitekey holds the site secret and the keyed derivations built on it.
//
// Every pseudonym printreg emits — remapped UIDs, patient pseudonyms, date
// offsets, case ids, object-key hashes — is an HMAC-SHA256 of the original
// value under the site secret, so that all workers and all runs agree without
// sharing state, while nobody without the secret can confirm a guess (PS3.15
// E.1.1 warns that unkeyed hashes of identifiers are open to dictionary attack).
//
// Each use names a domain, so the same input gives unrelated outputs in
// different roles (a StudyInstanceUID remapped as a UID and hashed as a case
// reference do not match).
package sitekey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
)

// MinBytes is the shortest secret accepted: 32 bytes, the HMAC-SHA256 block
// security level. Generate one with `head -c 48 /dev/urandom | base64`.
const MinBytes = 32

// ErrShort is returned when the secret is missing or shorter than MinBytes.
var ErrShort = errors.New("site secret is shorter than 32 bytes")

// ErrExposed is returned by Load for a secret file that users other than its
// owner can read: whoever reads it can reverse every keyed value.
var ErrExposed = errors.New("site secret file is readable by other users")

// Key is a loaded site secret. Its zero value is unusable; build it with Load
// or New. A Key never prints its content: String, GoString and Format redact.
type Key struct {
	k []byte
	// macs holds keyed HMAC states (and a scratch buffer) for reuse: a
	// worker derives several keyed values per object, and keying a fresh
	// HMAC each time was a few per cent of its CPU.
	macs *sync.Pool
}

// mac is one reusable HMAC-SHA256 under the key, with room for its input.
type mac struct {
	h   hash.Hash
	buf []byte
}

// New returns a Key for secret (copied). Surrounding whitespace is trimmed, so
// a file written with a trailing newline and the same secret passed through an
// environment variable give the same key.
func New(secret []byte) (*Key, error) {
	s := strings.TrimSpace(string(secret))
	if len(s) < MinBytes {
		return nil, fmt.Errorf("%w (got %d)", ErrShort, len(s))
	}
	k := &Key{k: []byte(s)}
	k.macs = &sync.Pool{New: func() any { return &mac{h: hmac.New(sha256.New, k.k)} }}
	return k, nil
}

// Load reads the secret from a file, which only its owner may read (mode
// 0600 or stricter). Errors name the file, never its content.
func Load(path string) (*Key, error) {
	if path == "" {
		return nil, fmt.Errorf("site secret: no file given: %w", ErrShort)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s (mode %v); chmod 600 it", ErrExposed, path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("site secret: %w", err)
	}
	k, err := New(b)
	if err != nil {
		return nil, fmt.Errorf("site secret %s: %w", path, err)
	}
	return k, nil
}

// Sum returns HMAC-SHA256(secret, domain, parts...). The domain and each part
// are length-prefixed, so ("ab","c") and ("a","bc") differ.
func (k *Key) Sum(domain string, parts ...string) [32]byte {
	m := k.macs.Get().(*mac)
	b := binary.BigEndian.AppendUint64(m.buf[:0], uint64(len(domain)))
	b = append(b, domain...)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
		b = append(b, p...)
	}
	m.h.Reset()
	m.h.Write(b)
	var out [32]byte
	m.h.Sum(out[:0])
	if cap(b) <= 4<<10 {
		m.buf = b
	}
	clear(b) // the input may hold identifiers
	k.macs.Put(m)
	return out
}

// Hex returns the first n bytes of Sum as lower-case hex (n ≤ 32; n ≤ 0 means 32).
func (k *Key) Hex(n int, domain string, parts ...string) string {
	s := k.Sum(domain, parts...)
	if n <= 0 || n > len(s) {
		n = len(s)
	}
	return hex.EncodeToString(s[:n])
}

// Uint64 returns the first 8 bytes of Sum as a big-endian integer, for
// deriving numbers such as day offsets.
func (k *Key) Uint64(domain string, parts ...string) uint64 {
	s := k.Sum(domain, parts...)
	return binary.BigEndian.Uint64(s[:8])
}

// String redacts the secret.
func (k *Key) String() string { return "sitekey(redacted)" }

// GoString redacts the secret.
func (k *Key) GoString() string { return "sitekey(redacted)" }

// Format redacts the secret for every verb.
func (k *Key) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("sitekey(redacted)")) }

// MarshalText redacts the secret, so a Key inside a logged struct stays secret.
func (k *Key) MarshalText() ([]byte, error) { return []byte("redacted"), nil }
