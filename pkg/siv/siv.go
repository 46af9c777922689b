// Package siv implements AES-SIV (RFC 5297): deterministic authenticated
// encryption with associated data.
//
// A sealed value is the synthetic IV (an AES-CMAC based PRF, S2V, over the
// associated data and the plaintext) followed by the plaintext encrypted in
// AES-CTR under that IV. The same key, associated data and plaintext always
// give the same sealed value, and nothing else about the plaintext leaks;
// changing any byte of the value or of the associated data makes Open fail.
// A random or unique nonce, passed as the last associated-data component,
// turns it into nonce-based encryption that stays safe if a nonce repeats.
//
// The package is checked against every example of RFC 5297 Appendix A and
// the AES-CMAC examples of RFC 4493.
package siv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// TagSize is the length of the synthetic IV that starts every sealed
	// value: a sealed value is TagSize bytes longer than its plaintext.
	TagSize = 16
	// MaxAssociatedData is the most associated-data components Seal and
	// Open accept: S2V is defined for at most 127 strings (one fewer than
	// the block size in bits), and the plaintext is one of them.
	MaxAssociatedData = 126
)

// ErrOpen is returned by Open when the sealed value, the associated data or
// the key is not the one it was sealed with.
var ErrOpen = errors.New("siv: message authentication failed")

// Cipher is AES-SIV under one key. It is safe for concurrent use.
type Cipher struct {
	mac  cmac         // S2V, under the first half of the key
	ctr  cipher.Block // CTR, under the second half
	zero [TagSize]byte
}

// New returns AES-SIV under key, which is 32, 48 or 64 bytes long
// (AES-128-SIV, AES-192-SIV, AES-256-SIV): its first half keys S2V, its
// second half the encryption, as SIV-Encrypt splits it (RFC 5297 section
// 2.6).
func New(key []byte) (*Cipher, error) {
	switch len(key) {
	case 32, 48, 64:
	default:
		return nil, fmt.Errorf("siv: key must be 32, 48 or 64 bytes, not %d", len(key))
	}
	half := len(key) / 2
	m, err := aes.NewCipher(key[:half])
	if err != nil {
		return nil, err
	}
	e, err := aes.NewCipher(key[half:])
	if err != nil {
		return nil, err
	}
	c := &Cipher{mac: newCMAC(m), ctr: e}
	c.zero = c.mac.sum(make([]byte, TagSize))
	return c, nil
}

// Seal appends to dst the plaintext sealed with the associated-data
// components ad (at most MaxAssociatedData; none is allowed): the synthetic
// IV, then the ciphertext. dst must not overlap plaintext other than
// exactly.
func (c *Cipher) Seal(dst, plaintext []byte, ad ...[]byte) []byte {
	if len(ad) > MaxAssociatedData {
		panic("siv: too many associated-data components")
	}
	v := c.s2v(ad, plaintext)
	ret, out := grow(dst, TagSize+len(plaintext))
	// Encrypt first: a buffer overlap panics in XORKeyStream before
	// anything is written.
	c.xor(v, out[TagSize:], plaintext)
	copy(out, v[:])
	return ret
}

// Open appends to dst the plaintext of sealed, a value Seal returned with
// the same key and associated-data components. It returns ErrOpen if the
// value or the associated data was changed.
func (c *Cipher) Open(dst, sealed []byte, ad ...[]byte) ([]byte, error) {
	if len(sealed) < TagSize || len(ad) > MaxAssociatedData {
		return nil, ErrOpen
	}
	var v [TagSize]byte
	copy(v[:], sealed)
	ret, out := grow(dst, len(sealed)-TagSize)
	c.xor(v, out, sealed[TagSize:])
	t := c.s2v(ad, out)
	if subtle.ConstantTimeCompare(t[:], v[:]) != 1 {
		clear(out)
		return nil, ErrOpen
	}
	return ret, nil
}

// AEAD returns c as a cipher.AEAD for deterministic use: its NonceSize is
// 0, and Seal and Open pass their additional data as the one
// associated-data component (S2V over additionalData, plaintext). They
// panic if given a nonce.
func (c *Cipher) AEAD() cipher.AEAD { return aead{c} }

type aead struct{ c *Cipher }

func (aead) NonceSize() int { return 0 }
func (aead) Overhead() int  { return TagSize }

func (a aead) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != 0 {
		panic("siv: deterministic AEAD given a nonce")
	}
	return a.c.Seal(dst, plaintext, additionalData)
}

func (a aead) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != 0 {
		panic("siv: deterministic AEAD given a nonce")
	}
	return a.c.Open(dst, ciphertext, additionalData)
}

// s2v is RFC 5297's S2V over the components ad..., p (section 2.4).
func (c *Cipher) s2v(ad [][]byte, p []byte) [TagSize]byte {
	return c.mac.sum(c.s2vFinal(ad, p))
}

// s2vFinal returns the string S2V's last CMAC is taken of: p xorend D when
// p is a block or longer, else dbl(D) xor pad(p), where D folds in the
// associated data.
func (c *Cipher) s2vFinal(ad [][]byte, p []byte) []byte {
	d := c.zero
	for _, a := range ad {
		m := c.mac.sum(a)
		d = dbl(d)
		subtle.XORBytes(d[:], d[:], m[:])
	}
	if len(p) >= TagSize {
		t := make([]byte, len(p))
		copy(t, p)
		tail := t[len(t)-TagSize:]
		subtle.XORBytes(tail, tail, d[:])
		return t
	}
	d = dbl(d)
	t := make([]byte, TagSize)
	copy(t, p)
	t[len(p)] = 0x80
	subtle.XORBytes(t, t, d[:])
	return t
}

// xor runs AES-CTR from the synthetic IV v with bits 31 and 63 (counted
// from the right) cleared, as SIV-Encrypt and SIV-Decrypt do (RFC 5297
// sections 2.6 and 2.7): the counter is the whole block, incremented as a
// 128-bit big-endian number. (The key stream is made block by block rather
// than with cipher.NewCTR, whose per-call copy of the key schedule costs
// more than a short text's few blocks.)
func (c *Cipher) xor(v [TagSize]byte, dst, src []byte) {
	if len(src) == 0 {
		return
	}
	v[8] &= 0x7f
	v[12] &= 0x7f
	hi, lo := binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
	ks := make([]byte, (len(src)+TagSize-1)/TagSize*TagSize)
	for i := 0; i < len(ks); i += TagSize {
		binary.BigEndian.PutUint64(v[:8], hi)
		binary.BigEndian.PutUint64(v[8:], lo)
		c.ctr.Encrypt(ks[i:], v[:])
		lo++
		if lo == 0 {
			hi++
		}
	}
	// One XOR of the whole text: it panics, writing nothing, if dst
	// overlaps src other than exactly.
	subtle.XORBytes(dst[:len(src)], src, ks)
}

// grow returns in an append of n bytes to dst, and the n bytes.
func grow(dst []byte, n int) (ret, out []byte) {
	total := len(dst) + n
	if cap(dst) >= total {
		ret = dst[:total]
	} else {
		ret = make([]byte, total)
		copy(ret, dst)
	}
	return ret, ret[len(dst):]
}

// cmac is AES-CMAC (RFC 4493, NIST SP 800-38B) under one key.
type cmac struct {
	b      cipher.Block
	k1, k2 [TagSize]byte
}

func newCMAC(b cipher.Block) cmac {
	var l [TagSize]byte
	b.Encrypt(l[:], l[:])
	m := cmac{b: b, k1: dbl(l)}
	m.k2 = dbl(m.k1)
	return m
}

// sum returns the AES-CMAC of msg.
func (m *cmac) sum(msg []byte) [TagSize]byte {
	var x [TagSize]byte
	for len(msg) > TagSize {
		subtle.XORBytes(x[:], x[:], msg[:TagSize])
		m.b.Encrypt(x[:], x[:])
		msg = msg[TagSize:]
	}
	// The last block: whole and xored with K1, or padded (10*) and xored
	// with K2; an empty message is one padded block.
	var last [TagSize]byte
	if len(msg) == TagSize {
		subtle.XORBytes(last[:], msg, m.k1[:])
	} else {
		copy(last[:], msg)
		last[len(msg)] = 0x80
		subtle.XORBytes(last[:], last[:], m.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	m.b.Encrypt(x[:], x[:])
	return x
}

// dbl multiplies x by the generator of GF(2^128) (RFC 5297 section 2.3):
// a left shift by one bit, with 0x87 folded into the last byte when the bit
// shifted out is set. It does not branch on x.
func dbl(x [TagSize]byte) [TagSize]byte {
	var out [TagSize]byte
	for i := 0; i < TagSize-1; i++ {
		out[i] = x[i]<<1 | x[i+1]>>7
	}
	out[TagSize-1] = x[TagSize-1]<<1 ^ 0x87&-(x[0]>>7)
	return out
}
