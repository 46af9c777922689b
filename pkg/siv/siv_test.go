package siv

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type vector struct {
	name   string
	key    string
	ad     []string
	pt     string
	sealed string // V || C
}

// vectors: RFC 5297 Appendix A (A.1 and A.2, every example the RFC has),
// then the further examples of the Miscreant project's aes_siv.tjson (empty
// AD and plaintext, a one-block plaintext, and AES-256-SIV, whose keys the
// RFC has no example for; they come from NIST's SIV submission).
var vectors = []vector{
	{
		name: "RFC 5297 A.1 deterministic",
		key: `fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0
		      f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff`,
		ad: []string{`10111213 14151617 18191a1b 1c1d1e1f
		              20212223 24252627`},
		pt: `11223344 55667788 99aabbcc ddee`,
		sealed: `85632d07 c6e8f37f 950acd32 0a2ecc93
		         40c02b96 90c4dc04 daef7f6a fe5c`,
	},
	{
		name: "RFC 5297 A.2 nonce-based, two AD and a nonce",
		key: `7f7e7d7c 7b7a7978 77767574 73727170
		      40414243 44454647 48494a4b 4c4d4e4f`,
		ad: []string{
			`00112233 44556677 8899aabb ccddeeff
			 deaddada deaddada ffeeddcc bbaa9988
			 77665544 33221100`,
			`10203040 50607080 90a0`,
			`09f91102 9d74e35b d84156c5 635688c0`, // the nonce
		},
		pt: `74686973 20697320 736f6d65 20706c61
		     696e7465 78742074 6f20656e 63727970
		     74207573 696e6720 5349562d 414553`,
		sealed: `7bdb6e3b 432667eb 06f4d14b ff2fbd0f
		         cb900f2f ddbe4043 26601965 c889bf17
		         dba77ceb 094fa663 b7a3f748 ba8af829
		         ea64ad54 4a272e9c 485b62a3 fd5c0d`,
	},
	{
		name: "empty AD and plaintext",
		key: `fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0
		      f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff`,
		sealed: `f2007a5b eb2b8900 c588a7ad f599f172`,
	},
	{
		name: "empty AD, one-block plaintext",
		key: `fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0
		      f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff`,
		pt: `00112233 44556677 8899aabb ccddeeff`,
		sealed: `f304f912 863e303d 5b540e50 57c7010c
		         942ffaf4 5b0e5ca5 fb9a56a5 263bb065`,
	},
	{
		name: "AES-256-SIV, one AD",
		key: `fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0
		      6f6e6d6c 6b6a6968 67666564 63626160
		      f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff
		      00010203 04050607 08090a0b 0c0d0e0f`,
		ad: []string{`10111213 14151617 18191a1b 1c1d1e1f
		              20212223 24252627`},
		pt: `11223344 55667788 99aabbcc ddee`,
		sealed: `f125274c 598065cf c26b0e71 57502908
		         8b035217 e380cac8 919ee800 c126`,
	},
	{
		name: "AES-256-SIV, two AD and a nonce",
		key: `7f7e7d7c 7b7a7978 77767574 73727170
		      6f6e6d6c 6b6a6968 67666564 63626160
		      40414243 44454647 48494a4b 4c4d4e4f
		      50515253 54555657 58595a5b 5b5d5e5f`,
		ad: []string{
			`00112233 44556677 8899aabb ccddeeff
			 deaddada deaddada ffeeddcc bbaa9988
			 77665544 33221100`,
			`10203040 50607080 90a0`,
			`09f91102 9d74e35b d84156c5 635688c0`,
		},
		pt: `74686973 20697320 736f6d65 20706c61
		     696e7465 78742074 6f20656e 63727970
		     74207573 696e6720 5349562d 414553`,
		sealed: `85b81673 10038db7 dc4692c0 281ca358
		         68181b27 62f3c24f 2efa5fb8 0cb14351
		         6ce6c434 b898a6fd 8eb98a41 8842f51f
		         66fc67de 43ac185a 66dd7247 5bbb08`,
	},
}

func (v vector) decode(tb testing.TB) (key []byte, ad [][]byte, pt, sealed []byte) {
	key, pt, sealed = unhex(tb, v.key), unhex(tb, v.pt), unhex(tb, v.sealed)
	for _, a := range v.ad {
		ad = append(ad, unhex(tb, a))
	}
	return key, ad, pt, sealed
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			key, ad, pt, want := v.decode(t)
			c, err := New(key)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Seal(nil, pt, ad...)
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal\n got %x\nwant %x", got, want)
			}
			// Seal appends to dst and leaves what was there.
			prefix := []byte("prefix")
			if got := c.Seal(append([]byte(nil), prefix...), pt, ad...); !bytes.Equal(got, append(prefix, want...)) {
				t.Fatalf("Seal with a dst: %x", got)
			}
			open, err := c.Open(nil, want, ad...)
			if err != nil || !bytes.Equal(open, pt) {
				t.Fatalf("Open = %x, %v; want %x", open, err, pt)
			}
			if got, err := c.Open(prefix, want, ad...); err != nil || !bytes.Equal(got, append(prefix, pt...)) {
				t.Fatalf("Open with a dst = %x, %v", got, err)
			}
			// Every single-bit change of the value is refused.
			for i := range len(want) * 8 {
				bad := bytes.Clone(want)
				bad[i/8] ^= 1 << (i % 8)
				if out, err := c.Open(nil, bad, ad...); !errors.Is(err, ErrOpen) || out != nil {
					t.Fatalf("Open accepted the value with bit %d flipped", i)
				}
			}
			// So is any change of the associated data: a changed byte, a
			// component left out, added, or the components reordered.
			changed := [][][]byte{append(bytesClone(ad), []byte{}), append(bytesClone(ad), []byte("x"))}
			if len(ad) > 0 {
				a := bytesClone(ad)
				a[0] = append(bytes.Clone(a[0]), 0)
				changed = append(changed, ad[1:], a)
			}
			if len(ad) > 1 {
				a := bytesClone(ad)
				a[0], a[1] = a[1], a[0]
				changed = append(changed, a)
			}
			for _, a := range changed {
				if _, err := c.Open(nil, want, a...); !errors.Is(err, ErrOpen) {
					t.Fatalf("Open accepted associated data %x", a)
				}
			}
		})
	}
}

func bytesClone(ad [][]byte) [][]byte {
	out := make([][]byte, len(ad))
	for i, a := range ad {
		out[i] = bytes.Clone(a)
	}
	return out
}

// TestCMAC checks the AES-CMAC underneath S2V against RFC 4493 section 4
// (AES-128) and NIST SP 800-38B appendix D.3 (AES-256), which cover the
// empty message, a whole block, a partial last block and whole blocks.
func TestCMAC(t *testing.T) {
	const key128 = `2b7e1516 28aed2a6 abf71588 09cf4f3c`
	const key256 = `603deb10 15ca71be 2b73aef0 857d7781
	                1f352c07 3b6108d7 2d9810a3 0914dff4`
	const msg = `6bc1bee2 2e409f96 e93d7e11 7393172a
	             ae2d8a57 1e03ac9c 9eb76fac 45af8e51
	             30c81c46 a35ce411 e5fbc119 1a0a52ef
	             f69f2445 df4f9b17 ad2b417b e66c3710`
	tests := []struct {
		key  string
		n    int
		want string
	}{
		{key128, 0, `bb1d6929 e9593728 7fa37d12 9b756746`},
		{key128, 16, `070a16b4 6b4d4144 f79bdd9d d04a287c`},
		{key128, 40, `dfa66747 de9ae630 30ca3261 1497c827`},
		{key128, 64, `51f0bebf 7e3b9d92 fc497417 79363cfe`},
		{key256, 0, `028962f6 1b7bf89e fc6b551f 4667d983`},
		{key256, 16, `28a7023f 452e8f82 bd4bf28d 8c37c35c`},
		{key256, 40, `aaf3d8f1 de5640c2 32f5b169 b9c911e6`},
		{key256, 64, `e1992190 549f6ed5 696a2c05 6c315410`},
	}
	m := unhex(t, msg)
	for _, tt := range tests {
		b, err := aes.NewCipher(unhex(t, tt.key))
		if err != nil {
			t.Fatal(err)
		}
		mac := newCMAC(b)
		if got := mac.sum(m[:tt.n]); !bytes.Equal(got[:], unhex(t, tt.want)) {
			t.Errorf("CMAC(%d-bit key, %d bytes) = %x, want %s", len(tt.key)*4, tt.n, got, tt.want)
		}
	}
}

// TestDouble checks dbl on the values RFC 5297 A.1 doubles and on the
// carry: a set top bit folds 0x87 into the last byte.
func TestDouble(t *testing.T) {
	tests := []struct{ in, want string }{
		{`0e04dfaf c1efbf04 01405828 59bf073a`, `1c09bf5f 83df7e08 0280b050 b37e0e74`},
		{`edf09de8 76c642ee 4d78bce4 ceedfc4f`, `dbe13bd0 ed8c85dc 9af179c9 9ddbf819`},
		{`80000000 00000000 00000000 00000000`, `00000000 00000000 00000000 00000087`},
		{`ffffffff ffffffff ffffffff ffffffff`, `ffffffff ffffffff ffffffff ffffff79`},
	}
	for _, tt := range tests {
		var x [TagSize]byte
		copy(x[:], unhex(t, tt.in))
		if got := dbl(x); !bytes.Equal(got[:], unhex(t, tt.want)) {
			t.Errorf("dbl(%s) = %x, want %s", tt.in, got, tt.want)
		}
	}
}

// TestS2VSteps pins S2V step by step on the intermediate values RFC 5297
// prints for A.1 and A.2: the CMAC of the zero block and of each
// associated-data component, and the string the last CMAC is taken of.
func TestS2VSteps(t *testing.T) {
	tests := []struct {
		v     vector
		zero  string
		comps []string // CMAC of each associated-data component
		final string
	}{
		{vectors[0], `0e04dfaf c1efbf04 01405828 59bf073a`,
			[]string{`f1f922b7 f5193ce6 4ff80cb4 7d93f23b`},
			`cac30894 b8eaf254 035bc205 40357819`},
		{vectors[1], `c8b43b59 74960e7c e6a5dd85 231e591a`,
			[]string{
				`3c9b689a b41102e4 80954714 1dd0d15a`,
				`d98c9b0b e42cb2d7 aa98478e d11eda1b`,
				`128c62a1 ce3747a8 372c1c05 a538b96d`,
			},
			`74686973 20697320 736f6d65 20706c61
			 696e7465 78742074 6f20656e 63727966
			 2d0c6201 f3341575 342a3745 f5c625`},
	}
	for _, tt := range tests {
		key, ad, pt, sealed := tt.v.decode(t)
		c, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.zero[:], unhex(t, tt.zero)) {
			t.Errorf("%s: CMAC(zero) = %x", tt.v.name, c.zero)
		}
		for i, a := range ad {
			if got := c.mac.sum(a); !bytes.Equal(got[:], unhex(t, tt.comps[i])) {
				t.Errorf("%s: CMAC(AD%d) = %x", tt.v.name, i+1, got)
			}
		}
		final := c.s2vFinal(ad, pt)
		if !bytes.Equal(final, unhex(t, tt.final)) {
			t.Errorf("%s: final S2V input = %x", tt.v.name, final)
		}
		if got := c.mac.sum(final); !bytes.Equal(got[:], sealed[:TagSize]) {
			t.Errorf("%s: CMAC(final) = %x", tt.v.name, got)
		}
	}
}

// TestCTR checks the counter mode against crypto/cipher's for every length
// up to several blocks, from synthetic IVs whose low counter words are near
// their ends.
func TestCTR(t *testing.T) {
	c, err := New(bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	ivs := [][TagSize]byte{
		{},
		{0: 0xff, 7: 0xff, 8: 0xff, 11: 0xff, 12: 0xff, 15: 0xf0},
		{0: 0x12, 8: 0x7f, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0x7f, 13: 0xff, 14: 0xff, 15: 0xfe},
	}
	for _, iv := range ivs {
		q := iv
		q[8] &= 0x7f
		q[12] &= 0x7f
		for n := range 8*TagSize + 1 {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i * 7)
			}
			got, want := make([]byte, n), make([]byte, n)
			c.xor(iv, got, src)
			cipher.NewCTR(c.ctr, q[:]).XORKeyStream(want, src)
			if !bytes.Equal(got, want) {
				t.Fatalf("IV %x, %d bytes: %x, want %x", iv, n, got, want)
			}
		}
	}
}

func TestNewKeySizes(t *testing.T) {
	for n := range 80 {
		_, err := New(make([]byte, n))
		if ok := n == 32 || n == 48 || n == 64; ok != (err == nil) {
			t.Errorf("New with a %d-byte key: %v", n, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	c, err := New(make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	for n := range TagSize {
		if _, err := c.Open(nil, make([]byte, n)); !errors.Is(err, ErrOpen) {
			t.Errorf("Open of %d bytes: %v", n, err)
		}
	}
	sealed := c.Seal(nil, []byte("text"))
	other, _ := New(bytes.Repeat([]byte{1}, 64))
	if _, err := other.Open(nil, sealed); !errors.Is(err, ErrOpen) {
		t.Errorf("Open under another key: %v", err)
	}
	if _, err := c.Open(nil, sealed, make([][]byte, MaxAssociatedData+1)...); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with too many components: %v", err)
	}
	many := make([][]byte, MaxAssociatedData)
	if _, err := c.Open(nil, c.Seal(nil, []byte("text"), many...), many...); err != nil {
		t.Errorf("Open with %d components: %v", MaxAssociatedData, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Seal with too many components did not panic")
		}
	}()
	c.Seal(nil, nil, make([][]byte, MaxAssociatedData+1)...)
}

func TestAEAD(t *testing.T) {
	v := vectors[0]
	key, ad, pt, want := v.decode(t)
	c, _ := New(key)
	a := c.AEAD()
	if a.NonceSize() != 0 || a.Overhead() != TagSize {
		t.Fatalf("NonceSize %d, Overhead %d", a.NonceSize(), a.Overhead())
	}
	got := a.Seal(nil, nil, pt, ad[0])
	if !bytes.Equal(got, want) {
		t.Fatalf("AEAD Seal\n got %x\nwant %x", got, want)
	}
	if out, err := a.Open(nil, nil, got, ad[0]); err != nil || !bytes.Equal(out, pt) {
		t.Fatalf("AEAD Open = %x, %v", out, err)
	}
	if _, err := a.Open(nil, nil, got, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("AEAD Open with other data: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("AEAD Seal with a nonce did not panic")
		}
	}()
	a.Seal(nil, []byte{1}, pt, nil)
}

// FuzzSIV: what Seal returns, Open returns to the plaintext; sealing is
// deterministic; and a change of one bit of the value, or of the associated
// data, is refused.
func FuzzSIV(f *testing.F) {
	f.Add([]byte("key"), []byte("associated"), []byte("plaintext"), uint16(0), uint8(0))
	f.Add([]byte{}, []byte{}, []byte{}, uint16(7), uint8(1))
	f.Add([]byte{1}, []byte("ad"), bytes.Repeat([]byte("0123456789abcdef"), 3), uint16(300), uint8(2))
	f.Fuzz(func(t *testing.T, seed, ad, pt []byte, flip uint16, size uint8) {
		k := sha512.Sum512(seed)
		key := k[:32+16*int(size%3)]
		c, err := New(key)
		if err != nil {
			t.Fatal(err)
		}
		// Split ad into up to three components at its first two bytes.
		var comps [][]byte
		for len(ad) > 0 && len(comps) < 2 {
			n := min(int(ad[0]), len(ad)-1)
			comps, ad = append(comps, ad[1:1+n]), ad[1+n:]
		}
		comps = append(comps, ad)

		sealed := c.Seal(nil, pt, comps...)
		if len(sealed) != len(pt)+TagSize {
			t.Fatalf("sealed %d bytes into %d", len(pt), len(sealed))
		}
		if again := c.Seal(nil, pt, comps...); !bytes.Equal(again, sealed) {
			t.Fatal("Seal is not deterministic")
		}
		out, err := c.Open(nil, sealed, comps...)
		if err != nil || !bytes.Equal(out, pt) {
			t.Fatalf("Open = %x, %v; want %x", out, err, pt)
		}
		bit := int(flip) % (len(sealed) * 8)
		bad := bytes.Clone(sealed)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, err := c.Open(nil, bad, comps...); !errors.Is(err, ErrOpen) {
			t.Fatalf("Open accepted the value with bit %d flipped", bit)
		}
		if _, err := c.Open(nil, sealed, append(comps, nil)...); !errors.Is(err, ErrOpen) {
			t.Fatal("Open accepted an added component")
		}
		if _, err := c.Open(nil, sealed, comps[:len(comps)-1]...); !errors.Is(err, ErrOpen) {
			t.Fatal("Open accepted a missing component")
		}
		if last := comps[len(comps)-1]; len(last) > 0 {
			moved := bytesClone(comps)
			moved[len(moved)-1][int(flip)%len(last)] ^= 1 << (flip % 8)
			if _, err := c.Open(nil, sealed, moved...); !errors.Is(err, ErrOpen) {
				t.Fatal("Open accepted changed associated data")
			}
		}
	})
}
