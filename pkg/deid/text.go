package deid

import (
	_ "embed"
	"strings"
	"unicode"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/textnorm"
)

//go:embed vocabulary.txt
var vocabularyText string

// vocabulary is the safe word list of Clean Descriptors, lower case.
type vocabulary map[string]bool

func newVocabulary(extra []string) vocabulary {
	v := vocabulary{}
	for _, line := range strings.Split(vocabularyText, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, w := range strings.Fields(line) {
			v[strings.ToLower(w)] = true
		}
	}
	for _, line := range extra {
		for _, w := range strings.Fields(line) {
			v[strings.ToLower(w)] = true
		}
		for _, w := range tokens(line) {
			v[strings.ToLower(w)] = true
		}
	}
	// Upper-case forms too: most DICOM text is upper case, and an exact
	// lookup needs no conversion; folded forms for text in other scripts.
	for w := range v {
		v[strings.ToUpper(w)] = true
		v[textnorm.Fold(w)] = true
	}
	return v
}

// tokens splits text into words: runs of letters and runs of digits,
// broken again at case changes ("SpinalCord" → Spinal, Cord; "PTV70" →
// PTV, 70). Everything else separates words.
func tokens(s string) []string {
	if ascii(s) {
		return asciiTokens(s)
	}
	var out []string
	r := []rune(s)
	start := -1
	flush := func(i int) {
		if start >= 0 {
			out = append(out, string(r[start:i]))
			start = -1
		}
	}
	kind := func(c rune) int {
		switch {
		case unicode.IsLetter(c):
			return 1
		case unicode.IsDigit(c):
			return 2
		}
		return 0
	}
	for i, c := range r {
		k := kind(c)
		if k == 0 {
			flush(i)
			continue
		}
		if start >= 0 {
			pk := kind(r[i-1])
			switch {
			case pk != k:
				flush(i)
			case k == 1 && unicode.IsLower(r[i-1]) && unicode.IsUpper(c):
				flush(i)
			case k == 1 && unicode.IsUpper(r[i-1]) && unicode.IsUpper(c) && i+1 < len(r) && unicode.IsLower(r[i+1]):
				flush(i)
			}
		}
		if start < 0 {
			start = i
		}
	}
	flush(len(r))
	return out
}

// looksLikeDate catches dates and long numbers written with separators
// (2024-03-12, 12/03/2024, 2024.03.12) and dates in other layouts (spaces,
// month names, 年月日), which tokenising would cut into harmless-looking
// short numbers and words.
func looksLikeDate(s string) bool {
	return separatedNumbers(s) || len(textnorm.Dates(s)) > 0
}

func separatedNumbers(s string) bool {
	var groups []int
	n := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			n++
			continue
		}
		if n > 0 {
			groups = append(groups, n)
			if i < len(s) && (s[i] == '-' || s[i] == '/' || s[i] == '.') {
				n = 0
				continue
			}
			if len(groups) >= 3 {
				return true
			}
			groups = groups[:0]
		}
		n = 0
	}
	return false
}

// identity holds what identifies this patient and study: name components,
// IDs, accession, dates. Clean Descriptors and the allowlist refuse any text
// that mentions one of them. Everything is kept in textnorm's folded form,
// decoded from the object's character set, so a name written in another
// case, with or without diacritics, or in full-width forms is found.
type identity struct {
	words    map[string]bool // folded name components and IDs, matched as words
	strings  []string        // folded IDs and whole names (≥ 4 bytes), matched as substrings
	unspaced []string        // folded name components in unspaced scripts, matched as substrings of squeezed text
	dates    map[string]bool // YYYYMMDD, matched in any layout
}

func newIdentity() *identity {
	return &identity{words: map[string]bool{}, dates: map[string]bool{}}
}

func (id *identity) reset() {
	clear(id.words)
	clear(id.dates)
	id.strings, id.unspaced = id.strings[:0], id.unspaced[:0]
}

// addName adds a decoded person name.
func (id *identity) addName(pn string) {
	for _, w := range tokens(pn) {
		f := textnorm.Fold(w)
		switch {
		case textnorm.HasUnspaced(f):
			// One character of an unspaced script is a word, and it is
			// found inside longer runs.
			id.unspaced = append(id.unspaced, f)
		case len([]rune(w)) >= 2:
			id.words[f] = true
		}
	}
	for _, c := range strings.FieldsFunc(pn, func(r rune) bool { return r == '^' || r == '=' }) {
		if f := textnorm.Fold(strings.TrimSpace(c)); textnorm.HasUnspaced(f) {
			id.unspaced = append(id.unspaced, textnorm.Squeeze(f))
		}
	}
	if n := textnorm.Fold(NormalizeName(pn)); len(n) >= 4 {
		id.strings = append(id.strings, n)
	}
}

// addID adds a decoded identifier or date.
func (id *identity) addID(s string) {
	s = textnorm.Fold(trimPad(s))
	if s == "" {
		return
	}
	if d, ok := textnorm.DA(s); ok {
		id.dates[d] = true
	}
	id.words[s] = true
	// A short number is a word only: inside a longer number it is no copy.
	if len(s) >= 4 && !shortNumber(s) {
		id.strings = append(id.strings, s)
	}
}

// mentions reports whether decoded text contains an identifier of this
// patient.
func (id *identity) mentions(text string) bool {
	if id == nil {
		return false
	}
	if len(id.strings) == 0 && len(id.words) == 0 && len(id.unspaced) == 0 && len(id.dates) == 0 {
		return false
	}
	if ascii(text) {
		return id.mentionsASCII(text)
	}
	f := textnorm.Fold(text)
	for _, s := range id.strings {
		if strings.Contains(f, s) {
			return true
		}
	}
	if len(id.unspaced) > 0 && textnorm.HasUnspaced(f) {
		sq := textnorm.Squeeze(f)
		for _, u := range id.unspaced {
			if strings.Contains(sq, u) {
				return true
			}
		}
	}
	found := false
	for _, w := range tokens(text) {
		if found = id.words[textnorm.Fold(w)]; found {
			break
		}
	}
	if !found && len(id.dates) > 0 {
		for _, d := range textnorm.DatesFolded(f) {
			if found = id.dates[d]; found {
				break
			}
		}
	}
	return found
}

// mentionsASCII is mentions for ASCII text, without allocating: the
// identity's strings and words are folded (lower case), and ASCII folds by
// lowering.
func (id *identity) mentionsASCII(text string) bool {
	for _, s := range id.strings {
		if containsLowerASCII(text, s) {
			return true
		}
	}
	found := false
	var buf [64]byte
	eachTokenAt(text, func(s, e int) bool {
		if e-s > len(buf) {
			found = id.words[strings.ToLower(text[s:e])]
		} else {
			w := buf[:e-s]
			for i := range w {
				w[i] = lowerByte(text[s+i])
			}
			found = id.words[string(w)]
		}
		return !found
	})
	if !found && len(id.dates) > 0 {
		for _, d := range textnorm.Dates(text) {
			if found = id.dates[d]; found {
				break
			}
		}
	}
	return found
}

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// containsLowerASCII reports whether s holds sub (lower case) ignoring the
// case of s's ASCII letters.
func containsLowerASCII(s, sub string) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		if lowerByte(s[i]) != sub[0] {
			continue
		}
		j := 1
		for j < n && lowerByte(s[i+j]) == sub[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// safeDescriptor reports whether every word of decoded text is in the
// vocabulary or is a short number, no date is written in it, and it names
// nobody.
func (v vocabulary) safeDescriptor(text string, id *identity) bool {
	// Words first: most text fails there, before the date and identity
	// checks cost anything.
	ok := true
	eachToken(text, func(w string) bool {
		switch {
		case digits(w):
			ok = len(w) <= 4
		case len(w) == 1 || (len(w) <= 4 && len([]rune(w)) == 1):
		default:
			ok = v[w] || v[strings.ToLower(w)] || (!ascii(w) && v[textnorm.Fold(w)])
		}
		return ok
	})
	return ok && !looksLikeDate(text) && !id.mentions(text)
}

// allSafeWords is safeDescriptor without the identity check: the residue
// scanner does not search for removed values made only of safe words.
func (v vocabulary) allSafeWords(text string) bool { return v.safeDescriptor(text, nil) }

// DefaultTextAllowlist is the set of standard attributes with a text VR that
// Table E.1-1 does not name and whose values state facts about equipment,
// codes or segmentations rather than people: they are kept under every
// profile, after a check that they do not mention this patient's
// identifiers. Every other unnamed free-text attribute is removed (or, with
// Clean Descriptors, kept only when it passes the safe vocabulary).
var DefaultTextAllowlist = []dicomx.Tag{
	0x00080100, // Code Value
	0x00080102, // Coding Scheme Designator
	0x00080103, // Coding Scheme Version
	0x00080104, // Code Meaning
	0x00080115, // Coding Scheme Name
	0x00080119, // Long Code Value
	0x00080120, // URN Code Value
	0x00080070, // Manufacturer
	0x00081090, // Manufacturer's Model Name
	0x00181020, // Software Versions
	0x00181016, // Secondary Capture Device Manufacturer
	0x00181018, // Secondary Capture Device Manufacturer's Model Name
	0x00181019, // Secondary Capture Device Software Versions
	0x00181160, // Filter Type
	0x00181210, // Convolution Kernel
	0x00180024, // Sequence Name
	0x00189005, // Pulse Sequence Name
	0x00181250, // Receive Coil Name
	0x00181251, // Transmit Coil Name
	0x00281054, // Rescale Type
	0x00281055, // Window Center & Width Explanation
	0x00620005, // Segment Label
	0x00620009, // Segment Algorithm Name
	0x00660031, // Algorithm Version
	0x00660036, // Algorithm Name
	0x00420012, // MIME Type of Encapsulated Document
	0x00420014, // List of MIME Types
	0x00189004, // Content Qualification
}

// dateAllowlist are DA/DT attributes Table E.1-1 does not name that date a
// coding resource or template, not a patient event: kept as they are.
var dateAllowlist = map[dicomx.Tag]bool{
	0x00080106: true, // Context Group Version
	0x00080107: true, // Context Group Local Version
	0x0040DB06: true, // Template Version
	0x0040DB07: true, // Template Local Version
}

// classUID reports UI attributes that name a class, syntax or scheme rather
// than an instance; they are never remapped.
func classUID(t dicomx.Tag) bool {
	switch t {
	case 0x0008010C, // Coding Scheme UID
		0x0008010D, // Context Group Extension Creator UID
		0x00080118, // Mapping Resource UID
		0x0040DB0D, // Template Extension Creator UID
		0x00020010, // Transfer Syntax UID
		0x00041512, // Referenced Transfer Syntax UID in File
		0x00080062: // SOP Classes in Study
		return true
	}
	kw := dicomx.Keyword(t)
	return strings.HasSuffix(kw, "ClassUID") || strings.HasSuffix(kw, "TransferSyntaxUID") ||
		strings.HasSuffix(kw, "ClassUIDInFile") || strings.HasSuffix(kw, "SOPClassesInStudy")
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiKind(c byte) int {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		return 1
	case c >= '0' && c <= '9':
		return 2
	}
	return 0
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }

// asciiTokens is tokens for ASCII text, without converting to runes.
func asciiTokens(s string) []string {
	var out []string
	start := -1
	for i := 0; i < len(s); i++ {
		k := asciiKind(s[i])
		if k == 0 {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		}
		if start >= 0 {
			pk := asciiKind(s[i-1])
			if pk != k || (k == 1 && isLower(s[i-1]) && isUpper(s[i])) ||
				(k == 1 && isUpper(s[i-1]) && isUpper(s[i]) && i+1 < len(s) && isLower(s[i+1])) {
				out = append(out, s[start:i])
				start = -1
			}
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// eachTokenAt is eachToken for ASCII text, by offsets.
func eachTokenAt(s string, f func(start, end int) bool) {
	start := -1
	for i := 0; i < len(s); i++ {
		k := asciiKind(s[i])
		if k == 0 {
			if start >= 0 {
				if !f(start, i) {
					return
				}
				start = -1
			}
			continue
		}
		if start >= 0 {
			pk := asciiKind(s[i-1])
			if pk != k || (k == 1 && isLower(s[i-1]) && isUpper(s[i])) ||
				(k == 1 && isUpper(s[i-1]) && isUpper(s[i]) && i+1 < len(s) && isLower(s[i+1])) {
				if !f(start, i) {
					return
				}
				start = -1
			}
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		f(start, len(s))
	}
}

// eachToken calls f with each word of s, as tokens splits it, until f
// returns false; ASCII text is split without allocating.
func eachToken(s string, f func(string) bool) {
	if !ascii(s) {
		for _, w := range tokens(s) {
			if !f(w) {
				return
			}
		}
		return
	}
	eachTokenAt(s, func(a, b int) bool { return f(s[a:b]) })
}
