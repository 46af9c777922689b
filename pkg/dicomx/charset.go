package dicomx

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Charset is the character repertoire of an object's text values, from
// Specific Character Set (0008,0005). A nil *Charset is the default repertoire (ISO_IR 6).
//
// Decoding follows PS3.3 C.12.1.1.2 and PS3.5 6.1:
//
//   - Single-byte sets: ISO_IR 6 (ASCII), ISO_IR 100, 101, 109, 110, 144,
//     127, 126, 138, 148, 203 (ISO 8859-1, 2, 3, 4, 5, 6, 7, 8, 9, 15),
//     ISO_IR 166 (TIS 620, read as Windows-874 for 0xA0–0xFF) and ISO_IR 13
//     (JIS X 0201: 0x5C is ¥ and 0x7E is ‾ in G0, 0xA1–0xDF half-width
//     katakana in G1).
//   - ISO 2022 code extensions: the "ISO 2022 IR n" terms of the same sets
//     and ISO 2022 IR 87 and 159 (JIS X 0208 and 0212 in G0), 149 (KS X 1001
//     in G1) and 58 (GB 2312 in G1). The first value of (0008,0005) gives the
//     initial G0 and G1 (an empty first value is ASCII with no G1; a first
//     value of IR 87 or 159, which cannot be active at a delimiter, starts in
//     ASCII too). Escape sequences switch G0 or G1 to any of these sets,
//     whether or not (0008,0005) lists it. The initial state returns at CR,
//     LF, FF and TAB, at each value delimiter (not in LT, ST, UT and UR) and,
//     in PN, at each ^ and =; delimiters are recognised only while G0 is a
//     single-byte set, because 0x5C, 0x5E and 0x3D are halves of characters
//     in JIS X 0208 and 0212.
//   - ISO_IR 192 (UTF-8), GB18030 and GBK, each the only set of the object:
//     further values are ignored and escape sequences are text.
//
// Fallback: with no (0008,0005), with ISO_IR 6, with an unknown first term,
// and for bytes 0x80–0xFF while no G1 set is designated, a value is read as
// UTF-8 when the whole value is valid UTF-8 and as ISO 8859-1 otherwise. Bytes
// that do not decode in the active set (a lead byte without its trail, an
// unassigned code, a byte outside the set) are read one at a time as ISO
// 8859-1 code points (U+0000–U+00FF): never dropped and never U+FFFD, so that
// no text is hidden from screening and invalid bytes are not merged into one
// replacement character. A two-byte code of the right form that the set does
// not assign yields its two bytes that way, so the following characters keep
// their alignment. An unrecognised escape sequence yields ESC (U+001B) and its
// bytes as text.
//
// Values of VRs outside the reach of (0008,0005) — AE, AS, CS, DA, DS, DT,
// IS, TM, UI and UR, whose repertoire is the default one — are always decoded
// as the default repertoire. Every other VR (including UN) is decoded in the
// object's sets.
//
// A Charset is immutable and safe for concurrent use.
type Charset struct {
	terms []string
	kind  csKind
	g0    g0Set // initial G0
	g1    g1Set // initial G1
	ext   bool  // ISO 2022 code extensions: escape sequences switch G0 and G1
}

// CharsetError says which terms of Specific Character Set (0008,0005) are
// not defined terms. Their values are decoded by the fallback.
type CharsetError struct {
	Unknown []string
}

func (e *CharsetError) Error() string {
	var b strings.Builder
	b.WriteString("unknown Specific Character Set term")
	if len(e.Unknown) > 1 {
		b.WriteString("s")
	}
	for i, t := range e.Unknown {
		if i == 8 {
			fmt.Fprintf(&b, " and %d more", len(e.Unknown)-i)
			break
		}
		if i > 0 {
			b.WriteString(",")
		}
		if len(t) > 64 {
			t = t[:64] + "…"
		}
		fmt.Fprintf(&b, " %q", t)
	}
	b.WriteString(" (decoded as UTF-8 when valid, else ISO 8859-1)")
	return b.String()
}

type csKind uint8

const (
	csISO2022 csKind = iota // single-byte sets, with or without code extensions
	csUTF8
	csGB18030
	csGBK
)

// g0Set is a set designated to G0 (bytes 0x21–0x7E).
type g0Set uint8

const (
	g0ASCII   g0Set = iota
	g0Roman         // JIS X 0201 Roman (ISO-IR 14)
	g0JIS0208       // JIS X 0208 (ISO-IR 87), two bytes
	g0JIS0212       // JIS X 0212 (ISO-IR 159), two bytes
)

// g1Set is a set designated to G1 (bytes 0xA0–0xFF).
type g1Set uint8

const (
	g1None     g1Set = iota
	g1Katakana       // JIS X 0201 katakana (ISO-IR 13)
	g1Latin1         // ISO 8859-1 (ISO-IR 100)
	g1Latin2         // ISO 8859-2 (ISO-IR 101)
	g1Latin3         // ISO 8859-3 (ISO-IR 109)
	g1Latin4         // ISO 8859-4 (ISO-IR 110)
	g1Cyrillic       // ISO 8859-5 (ISO-IR 144)
	g1Arabic         // ISO 8859-6 (ISO-IR 127)
	g1Greek          // ISO 8859-7 (ISO-IR 126)
	g1Hebrew         // ISO 8859-8 (ISO-IR 138)
	g1Latin5         // ISO 8859-9 (ISO-IR 148)
	g1Latin9         // ISO 8859-15 (ISO-IR 203)
	g1Thai           // TIS 620 (ISO-IR 166)
	g1KSX1001        // KS X 1001 (ISO-IR 149), two bytes
	g1GB2312         // GB 2312 (ISO-IR 58), two bytes
	g1Count
)

// g1Single holds, for each single-byte G1 set, the code point of bytes
// 0x80–0xFF with the fallback applied: C1 controls (0x80–0x9F) and bytes the
// set leaves unassigned are their ISO 8859-1 code points.
var g1Single = func() (t [g1Count]*[128]rune) {
	maps := map[g1Set]*charmap.Charmap{
		g1Latin1: charmap.ISO8859_1, g1Latin2: charmap.ISO8859_2, g1Latin3: charmap.ISO8859_3,
		g1Latin4: charmap.ISO8859_4, g1Cyrillic: charmap.ISO8859_5, g1Arabic: charmap.ISO8859_6,
		g1Greek: charmap.ISO8859_7, g1Hebrew: charmap.ISO8859_8, g1Latin5: charmap.ISO8859_9,
		g1Latin9: charmap.ISO8859_15, g1Thai: charmap.Windows874,
	}
	for set, cm := range maps {
		tab := new([128]rune)
		for i := range tab {
			b := byte(0x80 + i)
			tab[i] = rune(b)
			if r := cm.DecodeByte(b); b >= 0xA0 && r != utf8.RuneError {
				tab[i] = r
			}
		}
		t[set] = tab
	}
	kana := new([128]rune)
	for i := range kana {
		b := 0x80 + i
		kana[i] = rune(b)
		if b >= 0xA1 && b <= 0xDF {
			kana[i] = 0xFF61 + rune(b-0xA1)
		}
	}
	t[g1Katakana] = kana
	return t
}()

// Multi-byte decoders of golang.org/x/text. Their transformers keep no state,
// so one of each serves every goroutine.
var (
	decEUCJP   = japanese.EUCJP.NewDecoder()
	decEUCKR   = korean.EUCKR.NewDecoder()
	decGBK     = simplifiedchinese.GBK.NewDecoder()
	decGB18030 = simplifiedchinese.GB18030.NewDecoder()
)

type termInfo struct {
	kind csKind
	g0   g0Set
	g1   g1Set
	ext  bool
}

// definedTerms are the defined terms of PS3.3 Tables C.12-2 to C.12-5.
var definedTerms = map[string]termInfo{
	"ISO_IR 6":   {g0: g0ASCII},
	"ISO_IR 100": {g1: g1Latin1},
	"ISO_IR 101": {g1: g1Latin2},
	"ISO_IR 109": {g1: g1Latin3},
	"ISO_IR 110": {g1: g1Latin4},
	"ISO_IR 144": {g1: g1Cyrillic},
	"ISO_IR 127": {g1: g1Arabic},
	"ISO_IR 126": {g1: g1Greek},
	"ISO_IR 138": {g1: g1Hebrew},
	"ISO_IR 148": {g1: g1Latin5},
	"ISO_IR 203": {g1: g1Latin9},
	"ISO_IR 166": {g1: g1Thai},
	"ISO_IR 13":  {g0: g0Roman, g1: g1Katakana},

	"ISO 2022 IR 6":   {ext: true},
	"ISO 2022 IR 100": {g1: g1Latin1, ext: true},
	"ISO 2022 IR 101": {g1: g1Latin2, ext: true},
	"ISO 2022 IR 109": {g1: g1Latin3, ext: true},
	"ISO 2022 IR 110": {g1: g1Latin4, ext: true},
	"ISO 2022 IR 144": {g1: g1Cyrillic, ext: true},
	"ISO 2022 IR 127": {g1: g1Arabic, ext: true},
	"ISO 2022 IR 126": {g1: g1Greek, ext: true},
	"ISO 2022 IR 138": {g1: g1Hebrew, ext: true},
	"ISO 2022 IR 148": {g1: g1Latin5, ext: true},
	"ISO 2022 IR 203": {g1: g1Latin9, ext: true},
	"ISO 2022 IR 166": {g1: g1Thai, ext: true},
	"ISO 2022 IR 13":  {g0: g0Roman, g1: g1Katakana, ext: true},
	"ISO 2022 IR 87":  {g0: g0JIS0208, ext: true},
	"ISO 2022 IR 159": {g0: g0JIS0212, ext: true},
	"ISO 2022 IR 149": {g1: g1KSX1001, ext: true},
	"ISO 2022 IR 58":  {g1: g1GB2312, ext: true},

	"ISO_IR 192": {kind: csUTF8},
	"GB18030":    {kind: csGB18030},
	"GBK":        {kind: csGBK},
}

// singleTerm holds the Charset of each defined term used alone, so that the
// common case allocates nothing.
var singleTerm = func() map[string]*Charset {
	m := make(map[string]*Charset, len(definedTerms))
	for t := range definedTerms {
		m[t] = build([]string{t})
	}
	return m
}()

// defaultCharset is the default repertoire, used for a nil *Charset.
var defaultCharset = &Charset{}

// ParseCharset reads the values of (0008,0005) (already split on backslash,
// trimmed; the first value may be empty). It always returns a usable Charset; the
// error (nil when every term is known) says which terms are unknown (terms are not PHI).
//
// No terms, or only empty ones, give nil: the default repertoire. The error
// is a *CharsetError.
func ParseCharset(terms []string) (*Charset, error) {
	empty := true
	var unknown []string
	for _, t := range terms {
		if t = strings.Trim(t, " \x00"); t == "" {
			continue
		}
		empty = false
		if _, ok := definedTerms[t]; !ok {
			unknown = append(unknown, t)
		}
	}
	if empty {
		return nil, nil
	}
	var err error
	if len(unknown) > 0 {
		err = &CharsetError{Unknown: unknown}
	}
	if len(terms) == 1 {
		if c := singleTerm[strings.Trim(terms[0], " \x00")]; c != nil {
			return c, nil
		}
	}
	return build(terms), err
}

func build(terms []string) *Charset {
	c := &Charset{terms: make([]string, len(terms))}
	for i, t := range terms {
		c.terms[i] = strings.Trim(t, " \x00")
	}
	first, known := definedTerms[c.terms[0]]
	switch {
	case known && first.kind != csISO2022:
		c.kind = first.kind
		return c
	case known && (first.g0 == g0JIS0208 || first.g0 == g0JIS0212):
		// A two-byte G0 cannot be the initial state (delimiters must be
		// readable in it): start in ASCII and keep the extensions.
		c.ext = true
	case known:
		c.g0, c.g1, c.ext = first.g0, first.g1, first.ext
	}
	if len(c.terms) > 1 {
		c.ext = true
	}
	return c
}

// CharsetOf returns the charset of a dataset: its own (0008,0005) if present,
// else parent (for sequence items, which inherit the object's), else nil.
func CharsetOf(d *Dataset, parent *Charset) *Charset {
	e := d.Get(TagSpecificCharacterSet)
	if e == nil {
		return parent
	}
	c, _ := ParseCharset(e.Strs())
	return c
}

// Terms returns the defined terms as parsed (nil for the default repertoire).
func (c *Charset) Terms() []string {
	if c == nil {
		return nil
	}
	return slices.Clone(c.terms)
}

// ASCIIIsIdentity reports whether bytes < 0x80 (without ESC) decode to themselves
// (false only when G0 is JIS X 0201 Roman, ISO_IR 13 / ISO 2022 IR 13). Callers use it
// to skip decoding of pure-ASCII values.
func (c *Charset) ASCIIIsIdentity() bool {
	return c == nil || c.kind != csISO2022 || c.g0 != g0Roman
}

// Decode returns the text of a value as valid UTF-8. It does not trim padding.
// vr decides where ISO 2022 code extensions reset to the initial state (see below).
// Fast path: a value with no byte >= 0x80 and no ESC under a charset whose G0 is ASCII
// returns string(b) without further work.
//
// See Charset for the rules; in short, value delimiters (0x5C outside LT, ST,
// UT and UR) come out as a backslash, PN component and group delimiters as ^
// and =, and VRs with the default repertoire only (CS, UI, …) are decoded as
// the default repertoire whatever c is.
func (c *Charset) Decode(b []byte, vr VR) string {
	s, _ := c.decode(b, vr, false)
	return s
}

// decode is Decode that also returns, when cuts is set, the offsets in the
// text of the backslashes that delimit values.
func (c *Charset) decode(b []byte, vr VR, cuts bool) (string, []int) {
	if c == nil || defaultRepertoire(vr) {
		c = defaultCharset
	}
	multi := multiValued(vr)
	cuts = cuts && multi
	if c.ASCIIIsIdentity() && plainASCII(b) {
		s := string(b)
		if !cuts {
			return s, nil
		}
		var at []int
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' {
				at = append(at, i)
			}
		}
		return s, at
	}
	o := textOut{cuts: cuts}
	o.Grow(len(b) + len(b)/2 + 8)
	switch {
	case c.kind == csUTF8:
		if utf8.Valid(b) {
			o.whole(b, multi)
		} else {
			o.utf8OrLatin1(b, multi)
		}
	case c.kind == csGB18030 || c.kind == csGBK:
		o.gb(b, multi, c.kind == csGB18030)
	case !c.ext && c.g1 == g1None && c.g0 == g0ASCII:
		if utf8.Valid(b) {
			o.whole(b, multi)
		} else {
			o.latin1(b, multi)
		}
	case !c.ext && g1Single[c.g1] != nil:
		o.single(b, multi, c.g0 == g0Roman, g1Single[c.g1])
	default:
		o.iso2022(b, vr, c)
	}
	return o.String(), o.at
}

// defaultRepertoire reports whether (0008,0005) leaves values of vr in the
// default repertoire (PS3.5 6.1.2.3).
func defaultRepertoire(vr VR) bool {
	switch vr {
	case VRAE, VRAS, VRCS, VRDA, VRDS, VRDT, VRIS, VRTM, VRUI, VRUR:
		return true
	}
	return false
}

// multiValued reports whether a backslash delimits values of vr.
func multiValued(vr VR) bool {
	switch vr {
	case VRLT, VRST, VRUT, VRUR:
		return false
	}
	return true
}

// plainASCII reports whether b has no byte >= 0x80 and no ESC.
// PlainASCII reports a value of ASCII bytes with no escape sequence: under
// every character set whose G0 is ASCII its text is its bytes.
func PlainASCII(b []byte) bool { return plainASCII(b) }

func plainASCII(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		v := binary.LittleEndian.Uint64(b)
		e := v ^ (0x1B * ones) // a zero byte where b has ESC
		if (v|(e-ones)&^e)&highs != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x >= 0x80 || x == 0x1B {
			return false
		}
	}
	return true
}

// textOut collects decoded text and, when cuts is set, where values end.
type textOut struct {
	strings.Builder
	cuts bool
	at   []int
	buf  *charBuf // scratch for decodeChar, made when first needed
}

// charBuf holds one character on its way through a decoder of
// golang.org/x/text (whose interface would otherwise move a fresh buffer to
// the heap for each character).
type charBuf struct {
	src [4]byte
	dst [8]byte
}

// char decodes exactly one character with dec; ok is false when src is not
// one assigned character of the encoding.
func (o *textOut) char(dec *encoding.Decoder, src ...byte) (rune, bool) {
	if o.buf == nil {
		o.buf = new(charBuf)
	}
	n := copy(o.buf.src[:], src)
	return decodeChar(dec, o.buf.src[:n], o.buf.dst[:])
}

func (o *textOut) cut() {
	if o.cuts {
		o.at = append(o.at, o.Len())
	}
	o.WriteByte('\\')
}

// cutsAt reports whether x ends a value whose end must be recorded.
func (o *textOut) cutsAt(x byte, multi bool) bool { return x == '\\' && multi && o.cuts }

// ascii writes a byte < 0x80 of a set where 0x5C delimits values.
func (o *textOut) ascii(x byte, multi bool) {
	if x == '\\' && multi {
		o.cut()
		return
	}
	o.WriteByte(x)
}

// whole writes valid UTF-8 as it is.
func (o *textOut) whole(b []byte, multi bool) {
	if !o.cuts || !multi {
		o.Write(b)
		return
	}
	for _, x := range b {
		o.ascii(x, multi) // bytes of multi-byte sequences are >= 0x80
	}
}

// latin1 writes every byte as its ISO 8859-1 code point.
func (o *textOut) latin1(b []byte, multi bool) {
	start := 0
	for i, x := range b {
		if x < utf8.RuneSelf && !o.cutsAt(x, multi) {
			continue
		}
		o.Write(b[start:i])
		start = i + 1
		if x < utf8.RuneSelf {
			o.cut()
		} else {
			o.WriteRune(rune(x))
		}
	}
	o.Write(b[start:])
}

// utf8OrLatin1 writes UTF-8 sequences as they are and every other byte as
// its ISO 8859-1 code point.
func (o *textOut) utf8OrLatin1(b []byte, multi bool) {
	for i := 0; i < len(b); {
		x := b[i]
		if x < utf8.RuneSelf {
			o.ascii(x, multi)
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			o.WriteRune(rune(x))
		} else {
			o.Write(b[i : i+n])
		}
		i += n
	}
}

// single writes a value of a single-byte set without code extensions.
func (o *textOut) single(b []byte, multi, roman bool, g1 *[128]rune) {
	start := 0
	for i, x := range b {
		if x < 0x80 && !(roman && (x == 0x5C || x == 0x7E)) && !o.cutsAt(x, multi) {
			continue // runs of ASCII are copied at once
		}
		o.Write(b[start:i])
		start = i + 1
		switch {
		case x >= 0x80:
			o.WriteRune(g1[x-0x80])
		case roman && x == 0x5C && !multi:
			o.WriteRune('¥')
		case roman && x == 0x7E:
			o.WriteRune('‾')
		default:
			o.ascii(x, multi)
		}
	}
	o.Write(b[start:])
}

// gb writes a value of GB18030 or GBK, character by character.
func (o *textOut) gb(b []byte, multi, gb18030 bool) {
	dec := decGBK
	if gb18030 {
		dec = decGB18030
	}
	for i := 0; i < len(b); {
		x := b[i]
		if x < utf8.RuneSelf {
			o.ascii(x, multi)
			i++
			continue
		}
		n := 1
		if x >= 0x81 && x <= 0xFE && i+1 < len(b) {
			y := b[i+1]
			switch {
			case y >= 0x40 && y <= 0xFE && y != 0x7F:
				n = 2
			case gb18030 && y >= 0x30 && y <= 0x39 && i+3 < len(b) &&
				b[i+2] >= 0x81 && b[i+2] <= 0xFE && b[i+3] >= 0x30 && b[i+3] <= 0x39:
				n = 4
			}
		}
		if r, ok := o.char(dec, b[i:i+n]...); ok {
			o.WriteRune(r)
			i += n
			continue
		}
		o.WriteRune(rune(x))
		i++
	}
}

// gb18030FFFD is the GB18030 code of U+FFFD, the one code whose decoding is
// the replacement character rightly.
var gb18030FFFD = []byte{0x84, 0x31, 0xA4, 0x37}

// decodeChar decodes exactly one character; ok is false when src is not one
// assigned character of the encoding.
func decodeChar(dec *encoding.Decoder, src, dst []byte) (rune, bool) {
	nDst, nSrc, err := dec.Transform(dst, src, true)
	if err != nil || nSrc != len(src) {
		return 0, false
	}
	r, n := utf8.DecodeRune(dst[:nDst])
	if n != nDst || n == 0 || (r == utf8.RuneError && !(dec == decGB18030 && string(src) == string(gb18030FFFD))) {
		return 0, false
	}
	return r, true
}

// iso2022 writes a value of a set with ISO 2022 code extensions (and of any
// set the simpler writers do not cover; without extensions, ESC is text).
func (o *textOut) iso2022(b []byte, vr VR, c *Charset) {
	multi, pn := multiValued(vr), vr == VRPN
	g0, g1 := c.g0, c.g1
	utf8ok := -1 // whether b is valid UTF-8, for bytes >= 0x80 with no G1; -1 until needed
	for i := 0; i < len(b); {
		x := b[i]
		switch {
		case x == 0x1B && c.ext:
			n, set0, set1 := escape(b[i+1:])
			if n == 0 {
				o.WriteByte(x)
				i++
				continue
			}
			if set1 == g1None {
				g0 = set0
			} else {
				g1 = set1
			}
			i += 1 + n
		case x == '\t' || x == '\n' || x == '\f' || x == '\r':
			g0, g1 = c.g0, c.g1
			o.WriteByte(x)
			i++
		case x <= 0x20 || x == 0x7F: // controls (ESC when escapes are text), space, DEL
			o.WriteByte(x)
			i++
		case x < 0x80 && (g0 == g0JIS0208 || g0 == g0JIS0212):
			if i+1 < len(b) && b[i+1] > 0x20 && b[i+1] < 0x7F {
				var r rune
				ok := false
				if g0 == g0JIS0208 {
					r, ok = o.char(decEUCJP, x|0x80, b[i+1]|0x80)
				} else {
					r, ok = o.char(decEUCJP, 0x8F, x|0x80, b[i+1]|0x80)
				}
				if ok {
					o.WriteRune(r)
				} else {
					o.WriteByte(x)
					o.WriteByte(b[i+1])
				}
				i += 2
				continue
			}
			o.WriteByte(x)
			i++
		case x < 0x80:
			if (x == '\\' && multi) || (pn && (x == '^' || x == '=')) {
				g0, g1 = c.g0, c.g1
			}
			switch {
			case g0 == g0Roman && x == 0x5C && !multi:
				o.WriteRune('¥')
			case g0 == g0Roman && x == 0x7E:
				o.WriteRune('‾')
			default:
				o.ascii(x, multi)
			}
			i++
		case g1 == g1None:
			if utf8ok < 0 {
				utf8ok = 0
				if utf8.Valid(b) {
					utf8ok = 1
				}
			}
			if utf8ok == 1 {
				if r, n := utf8.DecodeRune(b[i:]); r != utf8.RuneError || n > 1 {
					o.Write(b[i : i+n])
					i += n
					continue
				}
			}
			o.WriteRune(rune(x))
			i++
		case g1 == g1KSX1001 || g1 == g1GB2312:
			if x >= 0xA1 && x <= 0xFE && i+1 < len(b) && b[i+1] >= 0xA1 && b[i+1] <= 0xFE {
				dec := decEUCKR
				if g1 == g1GB2312 {
					dec = decGBK
				}
				if r, ok := o.char(dec, b[i], b[i+1]); ok {
					o.WriteRune(r)
				} else {
					o.WriteRune(rune(x))
					o.WriteRune(rune(b[i+1]))
				}
				i += 2
				continue
			}
			o.WriteRune(rune(x))
			i++
		default:
			o.WriteRune(g1Single[g1][x-0x80])
			i++
		}
	}
}

// escape reads the escape sequence after an ESC (PS3.3 Tables C.12-3 and
// C.12-4). It returns how many bytes it used (0 when b starts no known
// sequence) and the set designated: set1 for G1, else set0 for G0.
func escape(b []byte) (n int, set0 g0Set, set1 g1Set) {
	if len(b) < 2 {
		return 0, 0, 0
	}
	switch b[0] {
	case '(':
		switch b[1] {
		case 'B':
			return 2, g0ASCII, g1None
		case 'J':
			return 2, g0Roman, g1None
		}
	case ')':
		if b[1] == 'I' {
			return 2, 0, g1Katakana
		}
	case '-':
		if s, ok := g1Finals[b[1]]; ok {
			return 2, 0, s
		}
	case '$':
		switch b[1] {
		case 'B', '@':
			return 2, g0JIS0208, g1None
		case '(':
			if len(b) >= 3 && b[2] == 'D' {
				return 3, g0JIS0212, g1None
			}
		case ')':
			if len(b) >= 3 && b[2] == 'C' {
				return 3, 0, g1KSX1001
			}
			if len(b) >= 3 && b[2] == 'A' {
				return 3, 0, g1GB2312
			}
		}
	}
	return 0, 0, 0
}

// g1Finals maps the final byte of ESC - F (a 96-character set to G1) to the set.
var g1Finals = map[byte]g1Set{
	'A': g1Latin1, 'B': g1Latin2, 'C': g1Latin3, 'D': g1Latin4, 'L': g1Cyrillic,
	'G': g1Arabic, 'F': g1Greek, 'H': g1Hebrew, 'M': g1Latin5, 'b': g1Latin9, 'T': g1Thai,
}

// Text returns a text value decoded through cs (the charset of the dataset
// that holds e, see CharsetOf) with its padding and surrounding spaces
// removed (all values, backslashes included), like Str.
func (e *Element) Text(cs *Charset) string {
	if e == nil || len(e.Value) == 0 {
		return ""
	}
	b := trimPadding(e.Value)
	return strings.Trim(cs.Decode(b, e.VR), " \x00")
}

// Texts decodes a text value through cs and splits it into its values, each
// trimmed, like Strs. Values are split where the encoding delimits them, so a
// 0x5C byte inside a two-byte character does not split a value. LT, ST, UT
// and UR are single-valued.
func (e *Element) Texts(cs *Charset) []string {
	if e == nil || len(e.Value) == 0 {
		return nil
	}
	if !multiValued(e.VR) {
		return []string{e.Text(cs)}
	}
	s, at := cs.decode(e.Value, e.VR, true)
	parts := make([]string, 0, len(at)+1)
	prev := 0
	for _, i := range at {
		parts = append(parts, strings.Trim(s[prev:i], " \x00"))
		prev = i + 1
	}
	return append(parts, strings.Trim(s[prev:], " \x00"))
}

// trimPadding removes leading and trailing spaces and NULs, which decode to
// themselves in every set and state.
func trimPadding(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == 0) {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == 0) {
		j--
	}
	return b[i:j]
}

// Text returns the value of t decoded through cs and trimmed ("" when absent).
func (d *Dataset) Text(t Tag, cs *Charset) string { return d.Get(t).Text(cs) }

// Texts returns the values of t decoded through cs.
func (d *Dataset) Texts(t Tag, cs *Charset) []string { return d.Get(t).Texts(cs) }
