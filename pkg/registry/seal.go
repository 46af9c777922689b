package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"strings"
)

// sealPrefix marks sealed text in the stored case state.
const sealPrefix = "s1:"

// Free text is stored sealed: AES-256-GCM under a key derived from the site
// secret, with the nonce derived from the text (SIV style). The same text
// seals to the same bytes, so Encode stays deterministic and merging stays a
// join; the only thing a reader of the KV bucket learns is which values are
// equal.

func newAEAD(key [32]byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (r *Registry) seal(s string) string {
	if s == "" || strings.HasPrefix(s, sealPrefix) && r.canOpen(s) {
		return s
	}
	n := r.key.Sum(domainSealN, s)
	nonce := n[:r.aead.NonceSize()]
	out := r.aead.Seal(append([]byte(nil), nonce...), nonce, []byte(s), nil)
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out)
}

func (r *Registry) canOpen(s string) bool {
	_, ok := r.open(s)
	return ok
}

// open returns the text of a sealed value; ok is false when the value is not
// sealed text this site secret can open.
func (r *Registry) open(s string) (string, bool) {
	if s == "" {
		return "", true
	}
	b64, found := strings.CutPrefix(s, sealPrefix)
	if !found {
		return "", false
	}
	b, err := base64.RawStdEncoding.DecodeString(b64)
	ns := r.aead.NonceSize()
	if err != nil || len(b) < ns+r.aead.Overhead() {
		return "", false
	}
	pt, err := r.aead.Open(nil, b[:ns], b[ns:], nil)
	if err != nil {
		return "", false
	}
	return string(pt), true
}
