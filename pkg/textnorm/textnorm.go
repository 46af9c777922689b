// Package textnorm puts free text into the one form in which screening
// compares it, whatever script, case or layout it was written in: a name
// from a Cyrillic DICOM header and the same name typed by a lab in UTF-8,
// a birth date stored as 19700314 and written "14 Mar 1970".
//
// Fold normalises (NFKC, so full-width and compatibility forms meet their
// plain forms), drops the diacritics of Latin, Greek and Cyrillic letters
// ("Müller" and "MULLER" meet) and folds case by Unicode's rules ("ß" meets
// "SS", "Σ" meets "ς"). Scripts written without spaces between words (Han,
// Kana, Hangul, Thai and their neighbours) are searched as substrings, since
// a name there is not a separate word; Squeeze closes the spaces a writer
// may put between such characters. Dates lists the calendar dates a text may
// spell, in any common layout.
//
// Pure ASCII text takes a fast path: it is only lowered.
package textnorm

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ASCII reports whether s holds only ASCII bytes.
func ASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// Fold returns the comparison form of s: NFKC, Latin, Greek and Cyrillic
// diacritics dropped, Unicode case folding. Invalid UTF-8 bytes are kept as
// U+FFFD; callers decode by character set first (pkg/dicomx.Charset).
func Fold(s string) string {
	if ASCII(s) {
		return lowerASCII(s)
	}
	// Decompose, drop the marks on alphabetic letters, fold, then compose
	// (NFKC) so that CJK and Hangul keep their precomposed forms.
	d := norm.NFKD.String(s)
	var b strings.Builder
	b.Grow(len(d))
	var base rune
	for _, r := range d {
		if unicode.Is(unicode.Mn, r) {
			if base < 0x0530 { // Latin, Greek, Cyrillic, Armenian bases
				continue
			}
		} else {
			base = r
		}
		b.WriteRune(cherokeeSmall(r))
	}
	return norm.NFKC.String(cases.Fold().String(b.String()))
}

// cherokeeSmall writes a Cherokee capital as its small letter before
// folding. Unicode folds both cases to the capitals, but golang.org/x/text's
// Fold swaps the two blocks instead; given only small letters it gives the
// capitals, so a folded Cherokee name folds to itself again.
func cherokeeSmall(r rune) rune {
	switch {
	case r >= 0x13A0 && r <= 0x13EF:
		return r - 0x13A0 + 0xAB70
	case r >= 0x13F0 && r <= 0x13F5:
		return r + 8
	}
	return r
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Unspaced reports a letter of a script written without spaces between
// words: a name in it is found as a substring, and one character is a word.
func Unspaced(r rune) bool {
	if r < 0x0E00 {
		return false
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul,
		unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar, unicode.Tibetan, unicode.Yi)
}

// HasUnspaced reports whether s holds a letter of an unspaced script.
func HasUnspaced(s string) bool {
	if ASCII(s) {
		return false
	}
	for _, r := range s {
		if Unspaced(r) {
			return true
		}
	}
	return false
}

// Squeeze removes the spaces and punctuation between two letters of
// unspaced scripts ("CT 山 田" → "CT 山田", "山・田" → "山田"), so that a name
// broken up by a writer is still one substring. Other text is unchanged.
func Squeeze(s string) string {
	if !HasUnspaced(s) {
		return s
	}
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if isGap(r) && len(out) > 0 && Unspaced(out[len(out)-1]) {
			j := i
			for j < len(rs) && isGap(rs[j]) {
				j++
			}
			if j < len(rs) && Unspaced(rs[j]) {
				i = j - 1
				continue
			}
		}
		out = append(out, r)
	}
	return string(out)
}

// isGap is what a writer may put between the characters of a name: spaces,
// the name separators of DICOM (^ =) and of Japanese (・), dots and hyphens.
func isGap(r rune) bool {
	switch r {
	case '^', '=', '・', '･', '.', '-', '_', ',', '、':
		return true
	}
	return unicode.IsSpace(r)
}
