package casemodel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/textnorm"
)

var ruleText = map[string]string{
	registry.RuleCaseIdentifier:  "matches one of this case's identifiers",
	registry.RuleIdentityUnknown: "withheld until the case's imaging identifiers are known and the text can be checked",
	registry.RuleEmail:           "looks like an e-mail address",
	registry.RulePhone:           "looks like a telephone number",
	registry.RuleLongNumber:      "contains a long number that could be a record or account number",
	registry.RuleDicomName:       "contains a DICOM person-name separator (^)",
	registry.RuleDate:            "contains a full calendar date",
	registry.RuleIdentifierLabel: "labels a patient identifier",
	registry.RuleInvalidText:     "is not valid UTF-8 text or holds control characters",
	registry.RuleUnreadable:      "stored text could not be opened with this site secret",
	registry.RuleTooLong:         "is too long to be screened",
}

// ScreenError is a refused free-text value. It names the field and the rule
// and never contains the value.
type ScreenError struct {
	Field string
	Rule  string
}

func (e *ScreenError) Error() string {
	return fmt.Sprintf("%s: value refused: %s (rule %s)", e.Field, ruleText[e.Rule], e.Rule)
}

// maxScreenRunes bounds the work of screening one value. Stored text is at
// most maxTextBytes, so it is always screened whole; longer text is refused.
const maxScreenRunes = 1100

var (
	reEmail = regexp.MustCompile(`[^\s@]+@[^\s@]+\.[^\s@]{2,}`)
	rePhone = regexp.MustCompile(`(?:\+\d{1,3}[\s.\-]?)?\(?\d{2,4}\)?[\s.\-]\d{3,4}[\s.\-]\d{3,4}`)
	reLong  = regexp.MustCompile(`\d(?:-?\d){5,}`)
	reLabel = regexp.MustCompile(`\b(?:mrn|dob|ssn|nhs\s*(?:no|number)|date\s+of\s+birth|birth\s*date|born\s+on|medical\s+record|record\s+(?:no|number)|patient\s*(?:id|name|number)|accession)\b`)
)

// ScreenPatterns refuses text that looks like an identifier whatever the
// case: e-mail addresses, telephone numbers, long digit runs (record
// numbers), DICOM person names, full dates and identifier labels. It needs no
// key and runs when a sidecar is parsed.
func ScreenPatterns(field, text string) error {
	if rule := patternRule(text); rule != "" {
		return &ScreenError{Field: field, Rule: rule}
	}
	return nil
}

func patternRule(text string) string {
	if !utf8.ValidString(text) {
		return registry.RuleInvalidText
	}
	if utf8.RuneCountInString(text) > maxScreenRunes {
		return registry.RuleTooLong
	}
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return registry.RuleInvalidText
		}
	}
	// The rules read folded text: full-width digits, ＠ and ＾ (NFKC)
	// and any letter case meet the ASCII the expressions are written for.
	text = textnorm.Fold(text)
	// Cheap tests first: most lab text has few digits and no @, and the
	// regular expressions only run when they could match.
	digits := 0
	for i := 0; i < len(text); i++ {
		if text[i] >= '0' && text[i] <= '9' {
			digits++
		}
	}
	switch {
	case strings.Contains(text, "^"):
		return registry.RuleDicomName
	case strings.Contains(text, "@") && reEmail.MatchString(text):
		return registry.RuleEmail
	case len(textnorm.DatesFolded(text)) > 0:
		return registry.RuleDate
	case digits >= 8 && rePhone.MatchString(text):
		return registry.RulePhone
	case digits >= 6 && reLong.MatchString(text):
		return registry.RuleLongNumber
	case reLabel.MatchString(text):
		return registry.RuleIdentifierLabel
	}
	return ""
}

// Screener checks free text against the hashed identifiers of one case. It
// remembers verdicts, so screening the same label on many segments costs one
// pass. Not safe for concurrent use.
type Screener struct {
	r      *Registry
	known  bool // identifiers were read
	tokens []string
	set    map[[tokenBytes]byte]struct{} // tokens, built at the first text that needs it
	memo   map[string]string
	mac    hash.Hash
}

// Screener returns a screener for the identifiers currently known to c.
func (r *Registry) Screener(c *Case) *Screener {
	// A copy: applying an identity to c inserts into its tokens in place.
	return r.screener(c.identified, slices.Clone(c.tokens))
}

// screener returns a screener for identifier tokens; known says whether a
// case's identifiers were read.
func (r *Registry) screener(known bool, tokens []string) *Screener {
	return &Screener{r: r, known: known, tokens: tokens}
}

// Screen returns nil when text may be published in field, else a
// *ScreenError. Identifier hashes are checked first (so a planted birth date
// is reported as a case identifier, not merely as a date), then the patterns.
// Until the case's identifiers have been read (an IdentityFact applied),
// text that passes the patterns is withheld with RuleIdentityUnknown.
func (s *Screener) Screen(field, text string) error {
	if text == "" {
		return nil
	}
	rule, ok := s.memo[text]
	if !ok {
		rule = s.rule(text)
		if s.memo == nil {
			s.memo = map[string]string{}
		}
		s.memo[text] = rule
	}
	if rule != "" {
		return &ScreenError{Field: field, Rule: rule}
	}
	return nil
}

func (s *Screener) rule(text string) string {
	if !utf8.ValidString(text) {
		return registry.RuleInvalidText
	}
	if utf8.RuneCountInString(text) > maxScreenRunes {
		return registry.RuleTooLong
	}
	if s.mac == nil {
		s.mac = s.r.tokenMAC()
	}
	var buf [sha256.Size]byte
	key := tokenSum(s.mac, text, buf[:0])
	v, ok := s.r.verdicts.get(key)
	changed := !ok
	if !ok {
		v.pattern = patternRule(text)
	}
	if len(s.tokens) > 0 && v.hashes == nil {
		v.hashes, changed = candidateHashes(s.mac, text), true
	}
	if changed {
		s.r.verdicts.put(key, v)
	}
	if len(s.tokens) > 0 {
		if s.set == nil {
			s.set = make(map[[tokenBytes]byte]struct{}, len(s.tokens))
			for _, t := range s.tokens {
				var h [tokenBytes]byte
				if n, err := hex.Decode(h[:], []byte(t)); err == nil && n == tokenBytes {
					s.set[h] = struct{}{}
				}
			}
		}
		for _, h := range v.hashes {
			if _, hit := s.set[h]; hit {
				return registry.RuleCaseIdentifier
			}
		}
	}
	if v.pattern != "" {
		return v.pattern
	}
	if !s.known {
		return registry.RuleIdentityUnknown
	}
	return ""
}

// textVerdict is what screening a text owes to the text alone: its
// pattern rule and the keyed hashes of its candidate tokens (the key is
// the site's, not the case's). Only the look-up of those hashes among a
// case's identifiers is left per case.
type textVerdict struct {
	pattern string
	hashes  [][tokenBytes]byte // nil until a case with identifiers asks
}

// candidateHashes returns the keyed hashes of text's candidate tokens.
func candidateHashes(mac hash.Hash, text string) [][tokenBytes]byte {
	cs := candidates(text)
	out := make([][tokenBytes]byte, len(cs))
	var buf [sha256.Size]byte
	for i, c := range cs {
		out[i] = tokenSum(mac, c, buf[:0])
	}
	return out
}

// verdictCache holds textVerdicts for the texts a worker keeps meeting
// (a series description, a lab's note) across objects and cases, keyed by
// the text's keyed hash, so no text is kept. It is bounded: at most
// maxVerdicts texts and maxVerdictHashes candidate hashes each (a text
// with more keeps its pattern rule only), an arbitrary entry making room.
type verdictCache struct {
	mu sync.Mutex
	m  map[[tokenBytes]byte]textVerdict
}

const (
	maxVerdicts      = 1024
	maxVerdictHashes = 256
)

func newVerdictCache() *verdictCache { return &verdictCache{m: map[[tokenBytes]byte]textVerdict{}} }

func (c *verdictCache) get(key [tokenBytes]byte) (textVerdict, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *verdictCache) put(key [tokenBytes]byte, v textVerdict) {
	if len(v.hashes) > maxVerdictHashes {
		v.hashes = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= maxVerdicts {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = v
}

// normalize puts text in textnorm's comparison form: NFKC, Latin, Greek
// and Cyrillic diacritics dropped, Unicode case folding, so "Müller",
// "MULLER" and "müller" give the same tokens, and so do "ИВАНОВА" and
// "Иванова".
func normalize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, " ")
	}
	return textnorm.Fold(s)
}

// words splits normalised text into runs of letters and digits.
func words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// canonDigits drops leading zeros of an all-digit token, so "00123" in one
// place and "123" in another match.
func canonDigits(s string) string {
	if !isDigits(s) {
		return s
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

// splitAlnum splits "mrn00123" into "mrn" and "00123".
func splitAlnum(w string) []string {
	var out []string
	start := 0
	rs := []rune(w)
	for i := 1; i <= len(rs); i++ {
		if i == len(rs) || unicode.IsDigit(rs[i]) != unicode.IsDigit(rs[i-1]) {
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	return out
}

// maxGram is the longest run of adjacent words joined into one candidate; it
// covers identifiers written with up to five separators.
const maxGram = 6

// candidates lists the normalised tokens of text that are hashed and looked
// up: each word, each word's letter and digit parts, runs of 2..maxGram
// adjacent words joined together, and every date the text may spell.
func candidates(text string) []string {
	if r := []rune(text); len(r) > maxScreenRunes {
		text = string(r[:maxScreenRunes])
	}
	n := normalize(text)
	ws := words(n)
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		t = canonDigits(t)
		if (len([]rune(t)) < 2 && !unspacedChar(t)) || seen[t] {
			return
		}
		seen[t] = true
		out = append(out, t)
	}
	for i, w := range ws {
		add(w)
		if parts := splitAlnum(w); len(parts) > 1 {
			for _, p := range parts {
				add(p)
			}
		}
		joined := w
		for n := 1; n < maxGram && i+n < len(ws); n++ {
			joined += ws[i+n]
			add(joined)
		}
	}
	// Scripts written without spaces: a name is a substring of a longer
	// run, so every run of up to maxUnspacedGram characters is a candidate
	// (after closing the spaces a writer put between characters).
	if textnorm.HasUnspaced(n) {
		for _, run := range unspacedRuns(textnorm.Squeeze(n)) {
			for i := range run {
				for k := 1; k <= maxUnspacedGram && i+k <= len(run); k++ {
					add(string(run[i : i+k]))
				}
			}
		}
	}
	for _, d := range textnorm.DatesFolded(n) {
		add("date:" + d)
	}
	return out
}

// maxUnspacedGram is the longest run of unspaced-script characters tried as
// one candidate: a family and a given name together.
const maxUnspacedGram = 8

// unspacedChar reports a single letter of an unspaced script, which is a
// word of its own (王 in 王^伟).
func unspacedChar(t string) bool {
	r, n := utf8.DecodeRuneInString(t)
	return n == len(t) && textnorm.Unspaced(r)
}

// unspacedRuns returns the maximal runs of unspaced-script letters in s.
func unspacedRuns(s string) [][]rune {
	var out [][]rune
	var cur []rune
	for _, r := range s {
		if textnorm.Unspaced(r) {
			cur = append(cur, r)
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// parseDA reads a DICOM date (YYYYMMDD, also YYYY-MM-DD or YYYY.MM.DD) into
// the canonical date token.
func parseDA(s string) (string, bool) {
	d, ok := textnorm.DA(cleanRef(s))
	if !ok {
		return "", false
	}
	return "date:" + d, true
}
