package casemodel

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
)

// firstFormat holds values sealed under testSecret by the first format
// (AES-256-GCM with a nonce derived from the text), captured from that code
// before AES-SIV replaced it. Case state written by earlier versions holds
// such values, and must stay readable.
var firstFormat = []struct{ text, sealed string }{
	{"a", "s1:HVz8GjR/XKGYxaW3mTqJ0yuxMx02KeQuVsO47S8"},
	{"SOMATOM Definition Edge", "s1:0m6kYCbuqMcqxN70UkHGRpXpvcW/4m8XzimDVdTii2/njCCME2a/1hPgzxtz6pr2xjCp"},
	{"Exophytic renal mass, left lower pole — 3D print for planning", "s1:p2wdCh5mFZnIv/YesHWvxTqGsvwNvfyTinK0IrgA4ydb1MmClda8lwwQmdUZHKDDFu8fgGyiM7FVTIbEnzFnpme0PzlESfYFLcrRKJywrP0X5RP0mCyBFZhcQQ"},
	{"Ünïcödé 日本語 ✓", "s1:/LaS5afC6cT3ALqt3fvh1umKE2SEcXfnBBEr7DIujV6Je511NYFBngLVutC+yQaMJP8iOEs"},
	{"s1:not sealed", "s1:jJNB4LDEKrEBnLwOC+/w9nGChVdjD/Sfs2eaNgoJl4C+FjfskzGb+wA"},
}

// sivFormat pins what the current format writes under testSecret: a change
// of the key derivation, the associated data or the encoding would leave
// every stored value unreadable, and fails here first.
var sivFormat = []struct{ text, sealed string }{
	{"a", "s1:#EJdNgf2/GwcPaj9KmT4TIFk"},
	{"SOMATOM Definition Edge", "s1:#RmEM673qozihUbSgNP3n8h4whAwCgFf83KlXyDHqWdjcXePlNHh9"},
	{"Ünïcödé 日本語 ✓", "s1:#8zCRTpeM5VLCG9RTRddVUHFxGd/FKkfy0LRhwmy0p48KoljVbaJFh3A"},
}

// sealFirst seals s in the first format, as versions before AES-SIV did;
// TestSealFirstFormat checks it against values that code wrote.
func sealFirst(tb testing.TB, r *Registry, s string) string {
	tb.Helper()
	k := r.key.Sum(domainSealK)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		tb.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		tb.Fatal(err)
	}
	n := r.key.Sum(domainSealN, s)
	nonce := n[:gcm.NonceSize()]
	return sealPrefix + base64.RawStdEncoding.EncodeToString(gcm.Seal(bytes.Clone(nonce), nonce, []byte(s), nil))
}

func otherRegistry(tb testing.TB) *Registry {
	tb.Helper()
	k, err := sitekey.New([]byte("another site's secret, at least 32 bytes long"))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := New(Config{Source: "urn:printreg:other-site"}, k)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestSealFirstFormat: values the earlier versions stored open, and are
// kept as they are when met again; nobody else's key opens them.
func TestSealFirstFormat(t *testing.T) {
	r, other := testRegistry(t, Config{}), otherRegistry(t)
	for _, v := range firstFormat {
		if got, ok := r.open(v.sealed); !ok || got != v.text {
			t.Errorf("open(%q) = %q, %v; want %q", v.sealed, got, ok, v.text)
		}
		if got := r.seal(v.sealed); got != v.sealed {
			t.Errorf("seal of a stored value rewrote it: %q", got)
		}
		if got := sealFirst(t, r, v.text); got != v.sealed {
			t.Errorf("sealFirst(%q) = %q, not what the first format wrote", v.text, got)
		}
		if _, ok := other.open(v.sealed); ok {
			t.Errorf("another site's key opens %q", v.sealed)
		}
	}
}

func TestSealFormat(t *testing.T) {
	r, other := testRegistry(t, Config{}), otherRegistry(t)
	for _, v := range sivFormat {
		if got := r.seal(v.text); got != v.sealed {
			t.Errorf("seal(%q) = %q, want %q", v.text, got, v.sealed)
		}
	}
	texts := []string{"a", "SOMATOM Definition Edge", "Ünïcödé 日本語 ✓", "s1:#not sealed", "s1:not sealed",
		strings.Repeat("x", 15), strings.Repeat("x", 16), strings.Repeat("y", 17), strings.Repeat("é", maxTextBytes/2)}
	seen := map[string]string{}
	for _, s := range texts {
		v := r.seal(s)
		if !strings.HasPrefix(v, sealSIV) {
			t.Fatalf("seal(%q) = %q, not in the AES-SIV format", s, v)
		}
		if len(v) > 2*len(s)+64 {
			t.Errorf("seal(%q) is %d bytes, more than Decode accepts", s, len(v))
		}
		if again := r.seal(s); again != v {
			t.Errorf("seal(%q) is not deterministic", s)
		}
		if got, ok := r.open(v); !ok || got != s {
			t.Errorf("open(seal(%q)) = %q, %v", s, got, ok)
		}
		if got := r.seal(v); got != v {
			t.Errorf("sealing a sealed value sealed it again")
		}
		if _, ok := other.open(v); ok {
			t.Errorf("another site's key opens seal(%q)", s)
		}
		if got := other.seal(s); got == v {
			t.Errorf("another site's key seals %q to the same value", s)
		}
		if prev, dup := seen[v]; dup {
			t.Errorf("%q and %q seal to the same value", prev, s)
		}
		seen[v] = s
	}
	if r.seal("") != "" {
		t.Error("the empty text is sealed")
	}
}

// TestSealRefuses: a changed or forged AES-SIV value is not sealed text.
func TestSealRefuses(t *testing.T) {
	r := testRegistry(t, Config{})
	v := r.seal("SOMATOM Definition Edge")
	b, _ := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(v, sealSIV))
	for i := range len(b) * 8 {
		bad := bytes.Clone(b)
		bad[i/8] ^= 1 << (i % 8)
		if _, ok := r.open(sealSIV + base64.RawStdEncoding.EncodeToString(bad)); ok {
			t.Fatalf("open accepted the value with bit %d flipped", i)
		}
	}
	pt := []byte("SOMATOM Definition Edge")
	first := firstFormat[1].sealed
	// seal("a") is 17 bytes: its last base64 character carries two spare
	// bits, which a lax decoder ignores.
	a := r.seal("a")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	spare := a[:len(a)-1] + string(alphabet[strings.IndexByte(alphabet, a[len(a)-1])^1])
	for _, s := range []string{
		"s1:", sealSIV, sealSIV + "AAAA", // too short to hold a tag
		v[:len(v)-1],           // truncated
		v[:20] + "\n" + v[20:], // a line break the decoder would skip
		v + "=",                // padded
		spare,                  // a spare bit set
		sealSIV + sealBase64.EncodeToString(r.aead.Seal(nil, nil, pt, []byte("other use"))), // other associated data
		sealSIV + sealBase64.EncodeToString(r.aead.Seal(nil, nil, pt, nil)),
		sealPrefix + strings.TrimPrefix(v, sealSIV),     // AES-SIV bytes without the format mark
		sealSIV + strings.TrimPrefix(first, sealPrefix), // first-format bytes with it
		strings.TrimPrefix(v, sealPrefix),
	} {
		if got, ok := r.open(s); ok {
			t.Errorf("open(%q) = %q, want refused", s, got)
		}
	}
}

// TestSealSortsBeforeFirstFormat: the format mark sorts before every base64
// character and is not escaped in JSON, so an AES-SIV value sorts before
// any first-format value in the encoded state (see TestSealUpgrade).
func TestSealSortsBeforeFirstFormat(t *testing.T) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for _, c := range alphabet {
		if sealSIV >= sealPrefix+string(c) {
			t.Errorf("%q does not sort before %q", sealSIV, sealPrefix+string(c))
		}
	}
	if b, _ := json.Marshal(sealSIV); string(b) != `"`+sealSIV+`"` {
		t.Errorf("JSON escapes the format mark: %s", b)
	}
}

var sealedInState = regexp.MustCompile(`"` + regexp.QuoteMeta(sealSIV) + `[A-Za-z0-9+/]*"`)

// toFirstFormat rewrites every sealed value in an encoded state to the
// first format: the state an earlier version wrote for the same facts.
func toFirstFormat(tb testing.TB, r *Registry, state []byte) []byte {
	tb.Helper()
	n := 0
	out := sealedInState.ReplaceAllFunc(state, func(q []byte) []byte {
		text, ok := r.open(string(q[1 : len(q)-1]))
		if !ok {
			tb.Fatalf("cannot open %s", q)
		}
		n++
		return []byte(`"` + sealFirst(tb, r, text) + `"`)
	})
	if n == 0 {
		tb.Fatal("no sealed value in the state")
	}
	return out
}

type timedFact struct {
	f  Fact
	at time.Time
}

// upgradeFacts are the facts of fullCase(3): a CT series, a segmentation,
// three models, a case.json and a refused object, all with free text.
func upgradeFacts(tb testing.TB, r *Registry) []timedFact {
	var fs []timedFact
	for i := range 3 {
		fs = append(fs, timedFact{ctInstance(r, 1, 2, 10+i, i+1, i), at(i)})
	}
	fs = append(fs, timedFact{segFact(r, 1, 3, 5, 2, 100, kidneySegments()...), at(100)})
	for i, n := range []string{"kidney", "tumor", "artery"} {
		fs = append(fs, timedFact{stlFact(r, "models/case/"+n+".stl", 200+i, n, 1000, 1000), at(200)})
	}
	fs = append(fs, timedFact{sidecarFact(tb, r, "model_kidney.json", 300), at(300)})
	fs = append(fs, timedFact{RejectedFact{Origin: Origin{ID: objectKey(r, "bad.3mf"), Time: at(301)}, Reason: registry.ReasonTooLarge, Detail: "larger than the 2 GiB cap"}, at(301)})
	return fs
}

// TestSealUpgrade: a case stored by an earlier version (every text in the
// first format) decodes and shows the same snapshot, and applying its facts
// again, as a redelivery, a replay or a scan after the upgrade does,
// changes nothing and leaves its stored values as they were.
func TestSealUpgrade(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
	facts := upgradeFacts(t, r)
	for _, f := range facts {
		r.Apply(c, f.f, f.at)
	}
	r.Tick(c, at(100000))
	state, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	old := toFirstFormat(t, r, state)
	if bytes.Contains(old, []byte(sealSIV)) {
		t.Fatal("an AES-SIV value is left in the earlier version's state")
	}
	d, err := Decode(old)
	if err != nil {
		t.Fatalf("Decode of the earlier version's state: %v", err)
	}
	if got, want := mustJSON(t, r.Snapshot(d)), mustJSON(t, r.Snapshot(c)); !bytes.Equal(got, want) {
		t.Fatalf("the earlier version's state shows another snapshot:\n%s\nwant\n%s", got, want)
	}
	for i, f := range facts {
		if ch, changed := r.Apply(d, f.f, f.at.Add(time.Hour)); changed {
			t.Errorf("fact %d (%T) applied again changed the case: %+v", i, f.f, ch)
		}
	}
	if again, _ := d.Encode(); !bytes.Equal(again, old) {
		t.Error("applying the facts again rewrote the stored state")
	}

	// A new revision is sealed in the current format beside the old values.
	if _, changed := r.Apply(d, stlFact(r, "models/case/tumor.stl", 500, "tumor margin", 1000, 1000), at(500)); !changed {
		t.Fatal("a new revision did not change the case")
	}
	mixed, _ := d.Encode()
	if !bytes.Contains(mixed, []byte(sealSIV)) || !bytes.Contains(mixed, []byte(firstFormatMark(t, r, "kidney"))) {
		t.Fatal("the state does not hold both formats")
	}
	e, err := Decode(mixed)
	if err != nil {
		t.Fatalf("Decode of a state holding both formats: %v", err)
	}
	snap := string(mustJSON(t, r.Snapshot(e)))
	for _, s := range []string{`"tumor margin"`, `"kidney"`} {
		if !strings.Contains(snap, s) {
			t.Errorf("the snapshot does not show %s", s)
		}
	}
}

// firstFormatMark is the first-format value of text, as it appears in state.
func firstFormatMark(tb testing.TB, r *Registry, text string) string {
	return `"` + sealFirst(tb, r, text) + `"`
}

// FuzzSeal: any text seals to a value that opens to it (or is kept, if it
// is sealed text already), and a value with one bit changed does not open.
func FuzzSeal(f *testing.F) {
	f.Add("SOMATOM Definition Edge", uint16(0))
	f.Add("", uint16(1))
	f.Add(firstFormat[0].sealed, uint16(2))
	f.Add("s1:#", uint16(3))
	r := testRegistry(f, Config{})
	f.Fuzz(func(t *testing.T, s string, flip uint16) {
		v := r.seal(s)
		switch {
		case s == "":
			if v != "" {
				t.Fatalf("seal(\"\") = %q", v)
			}
			return
		case strings.HasPrefix(s, sealPrefix) && r.canOpen(s):
			if v != s {
				t.Fatalf("sealed text %q sealed again", s)
			}
			return
		}
		if !strings.HasPrefix(v, sealSIV) || r.seal(s) != v {
			t.Fatalf("seal(%q) = %q", s, v)
		}
		if got, ok := r.open(v); !ok || got != s {
			t.Fatalf("open(seal(%q)) = %q, %v", s, got, ok)
		}
		b, err := sealBase64.DecodeString(strings.TrimPrefix(v, sealSIV))
		if err != nil {
			t.Fatal(err)
		}
		bit := int(flip) % (len(b) * 8)
		b[bit/8] ^= 1 << (bit % 8)
		if _, ok := r.open(sealSIV + sealBase64.EncodeToString(b)); ok {
			t.Fatalf("seal(%q) with bit %d flipped opens", s, bit)
		}
	})
}
