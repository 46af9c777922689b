package casemodel

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/printreg/printreg/pkg/siv"
)

// Free text is stored sealed, under a key derived from the site secret. The
// same text seals to the same bytes, so Encode stays deterministic and
// merging stays a join; the only thing a reader of the KV bucket learns is
// which values are equal.
//
// A sealed value is sealPrefix followed by one of two formats:
//
//   - sealSIV's "#", then AES-256-SIV (RFC 5297, package siv) of the text
//     with sealAD as its one associated-data component, in base64 (standard
//     alphabet, unpadded, canonical). Its 512-bit key is HKDF-Expand
//     (SHA-256) of the seal key (domainSealK) with the info sivKeyInfo. Every
//     value sealed now has this form.
//   - base64 alone: the first format, which earlier versions wrote and which
//     stays readable: AES-256-GCM under the seal key itself, the nonce the
//     first 12 bytes of an HMAC of the text (domainSealN), stored as nonce
//     then ciphertext.
//
// Stored state is never rewritten to the new format: a value keeps the bytes
// it was stored with until newer facts replace what holds it. Both formats
// share the prefix, which is all Decode and the sidecar rules check, so
// state holding either or both is valid, for earlier versions too. "#"
// sorts before every base64 character, so a new-format value sorts before
// any first-format value: a fact applied again after an upgrade (a
// redelivery, a replay, a scan) loses the tie-break by encoded bytes against
// the same fact stored in the first format, and the case does not change
// (TestSealUpgrade).

const (
	// sealPrefix marks sealed text in the stored case state.
	sealPrefix = "s1:"
	// sealSIV starts text sealed with AES-SIV.
	sealSIV = sealPrefix + "#"
	// sivKeyInfo names the AES-SIV key derived from the seal key.
	sivKeyInfo = "printreg/registry/seal/aes-256-siv"
)

// sealAD binds a sealed value to its use: the associated data of every
// AES-SIV seal.
var sealAD = []byte("printreg/registry/sealed-text")

var sealBase64 = base64.RawStdEncoding.Strict()

// sealCipher is Registry.aead: deterministic AES-256-SIV (no
// nonce), which seals and opens text, and beside it the first format's
// AES-256-GCM, which only opens text stored before.
type sealCipher struct {
	cipher.AEAD             // AES-SIV under a key expanded from the seal key
	first       cipher.AEAD // AES-GCM under the seal key itself
}

// newAEAD returns the cipher that seals text under sealKey, the seal key.
func newAEAD(sealKey [32]byte) (sealCipher, error) {
	k, err := hkdf.Expand(sha256.New, sealKey[:], sivKeyInfo, 64)
	if err != nil {
		return sealCipher{}, err
	}
	c, err := siv.New(k)
	clear(k)
	if err != nil {
		return sealCipher{}, err
	}
	block, err := aes.NewCipher(sealKey[:])
	if err != nil {
		return sealCipher{}, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return sealCipher{}, err
	}
	return sealCipher{AEAD: c.AEAD(), first: gcm}, nil
}

func (r *Registry) seal(s string) string {
	if s == "" || strings.HasPrefix(s, sealPrefix) && r.canOpen(s) {
		return s
	}
	out := r.aead.Seal(nil, nil, []byte(s), sealAD)
	return sealSIV + sealBase64.EncodeToString(out)
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
	if b64, found := strings.CutPrefix(s, sealSIV); found {
		b, err := sealBase64.DecodeString(b64)
		// The decoder skips line breaks: only the one encoding is sealed text.
		if err != nil || len(b64) != sealBase64.EncodedLen(len(b)) {
			return "", false
		}
		pt, err := r.aead.Open(nil, nil, b, sealAD)
		if err != nil {
			return "", false
		}
		return string(pt), true
	}
	if b64, found := strings.CutPrefix(s, sealPrefix); found {
		return r.openFirst(b64)
	}
	return "", false
}

// openFirst opens text sealed in the first format (AES-256-GCM under the
// seal key, the nonce before the ciphertext).
func (r *Registry) openFirst(b64 string) (string, bool) {
	b, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", false
	}
	gcm := r.aead.first
	ns := gcm.NonceSize()
	if len(b) < ns+gcm.Overhead() {
		return "", false
	}
	pt, err := gcm.Open(nil, b[:ns], b[ns:], nil)
	if err != nil {
		return "", false
	}
	return string(pt), true
}
