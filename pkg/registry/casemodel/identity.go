package casemodel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Key-derivation domains. Changing one changes every derived value, so they
// carry a version.
const (
	domainCase   = "printreg/registry/case-ref/v1"
	domainToken  = "printreg/registry/screen-token/v1"
	domainObject = "printreg/registry/object-id/v1"
	domainUID    = "printreg/registry/uid/v1"
	domainSealK  = "printreg/registry/seal-key/v1"
	domainSealN  = "printreg/registry/seal-nonce/v1"
	// domainPatient keys a case's patient identity (see patientKey).
	domainPatient = "printreg/registry/patient/v1"
)

// CaseID returns the case id of a case reference (an AccessionNumber or a
// StudyInstanceUID, exactly as the hospital has it): a keyed hash, so the
// study and the lab's model folder meet without either revealing the
// reference. DICOM padding (spaces, NUL) and surrounding whitespace are
// ignored; case matters. An empty reference has no case id ("").
func CaseID(k *sitekey.Key, ref string) string {
	ref = cleanRef(ref)
	if ref == "" || k == nil {
		return ""
	}
	return k.Hex(registry.CaseIDLen/2, domainCase, ref)
}

// StudyAliases returns the case ids a study answers to: the accession's
// first (it names the order, which is what a case is), then the
// StudyInstanceUID's. The first element is the case the study's facts go to;
// the pipeline records the others as pointers to it. Empty references are
// skipped; the result is empty when both are.
func StudyAliases(k *sitekey.Key, accession, studyUID string) []string {
	var out []string
	for _, ref := range []string{accession, studyUID} {
		if id := CaseID(k, ref); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func cleanRef(s string) string {
	return strings.TrimSpace(strings.Trim(s, "\x00 "))
}

// Identifiers are the raw identifiers the pipeline sees in memory while it
// reads a DICOM object. They are never stored: IdentityFact turns them into
// keyed hashes first.
type Identifiers struct {
	PatientName      string   // PN, components separated by ^ (groups by =)
	PatientID        string   // the MRN
	AccessionNumber  string   // the order
	BirthDate        string   // DA, YYYYMMDD
	OtherPatientIDs  []string // Other Patient IDs and the like
	StudyInstanceUID string   // the raw (not remapped) StudyInstanceUID
}

// IdentityFact returns the hashed form of a DICOM object's identifiers: the
// case aliases (see StudyAliases), the screening tokens lab free text is
// checked against, and the keyed patient identity studies of one case are
// compared by. None can be reversed without the site secret. The caller sets
// StudyUID (remapped) when it applies the fact alone.
func (r *Registry) IdentityFact(id Identifiers) IdentityFact {
	f := IdentityFact{Aliases: StudyAliases(r.key, id.AccessionNumber, id.StudyInstanceUID), Checked: true, Patient: r.patientKey(id)}
	seen := map[string]bool{}
	add := func(tok string) {
		if tok == "" || seen[tok] {
			return
		}
		seen[tok] = true
		f.Tokens = append(f.Tokens, r.tokenHash(tok))
	}
	for _, t := range nameTokens(id.PatientName) {
		add(t)
	}
	for _, v := range append([]string{id.PatientID, id.AccessionNumber}, id.OtherPatientIDs...) {
		for _, t := range idTokens(v) {
			add(t)
		}
	}
	if d, ok := parseDA(id.BirthDate); ok {
		add(d)
	}
	slices.Sort(f.Tokens)
	slices.Sort(f.Aliases)
	return f
}

// tokenHash is the keyed hash of one normalised screening token, truncated to
// 128 bits: enough that a lab text's few hundred candidates never collide
// with a case's few dozen tokens by chance. The HMAC key is derived from the
// site secret once (domain-separated), so a Screener can reuse one HMAC.
func (r *Registry) tokenHash(tok string) string {
	var buf [sha256.Size]byte
	return tokenHex(r.tokenMAC(), tok, buf[:0])
}

func (r *Registry) tokenMAC() hash.Hash { return hmac.New(sha256.New, r.tokenKey[:]) }

func tokenHex(m hash.Hash, tok string, buf []byte) string {
	s := tokenSum(m, tok, buf)
	return hex.EncodeToString(s[:])
}

// tokenSum is the truncated keyed hash of tok under m (buf: room for the
// full sum, so it is not allocated).
func tokenSum(m hash.Hash, tok string, buf []byte) (out [tokenBytes]byte) {
	m.Reset()
	m.Write([]byte(tok))
	copy(out[:], m.Sum(buf))
	return out
}

// tokenBytes is how much of a token's keyed hash is kept.
const tokenBytes = 16

// nameTokens: each name word of two or more letters (one, in scripts written
// without spaces: 伟 in 王^伟), plus the words run
// together (all of them in order and reversed, and every pair either way:
// "doejohn", "johndoe"), so "John Doe", "DOE, John" and "JohnDoe" in lab
// text all match.
func nameTokens(pn string) []string {
	pn = strings.NewReplacer("^", " ", "=", " ").Replace(pn)
	ws := words(normalize(pn))
	var out []string
	for _, w := range ws {
		if (len([]rune(w)) >= 2 || unspacedChar(w)) && !isDigits(w) {
			out = append(out, w)
		}
	}
	if len(ws) >= 2 && len(ws) <= 8 {
		out = append(out, strings.Join(ws, ""))
		rev := slices.Clone(ws)
		slices.Reverse(rev)
		out = append(out, strings.Join(rev, ""))
		for i, a := range ws {
			for j, b := range ws {
				if i != j {
					out = append(out, a+b)
				}
			}
		}
	}
	return out
}

// idTokens: the identifier with separators removed ("mrn-00123" → "mrn00123")
// and its digits alone without leading zeros ("123") when it has four or
// more, so "MRN 00123", "00123" and "mrn00123" in lab text all match. Very
// short identifiers are skipped: they would refuse most numbers.
func idTokens(v string) []string {
	ws := words(normalize(v))
	var out []string
	joined := strings.Join(ws, "")
	if j := canonDigits(joined); len([]rune(j)) >= 3 {
		out = append(out, j)
	}
	var digits strings.Builder
	for _, r := range joined {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	if digits.Len() >= 4 {
		if d := canonDigits(digits.String()); len(d) >= 3 {
			out = append(out, d)
		}
	}
	return out
}

// patientKey is the keyed identity of a patient, "<id>:<name-birth-date>":
// 128-bit HMACs under the site secret (domain-separated from every other
// keyed value) of the normalised PatientID, and of the normalised name
// together with the birth date. Either half is empty when its identifiers
// are missing (the second needs both a name and a birth date); the key is
// "" when both are. Two keys name different patients when their ID halves
// are both present and differ, or, when either lacks an ID, their
// name-and-birth-date halves are both present and differ.
func (r *Registry) patientKey(id Identifiers) string {
	var pid, nd string
	if v := normPatientID(id.PatientID); v != "" {
		pid = r.key.Hex(16, domainPatient, "patient-id", v)
	}
	if n := normPatientName(id.PatientName); n != "" {
		if d, ok := parseDA(id.BirthDate); ok {
			nd = r.key.Hex(16, domainPatient, "name-birth-date", n, d)
		}
	}
	if pid == "" && nd == "" {
		return ""
	}
	return pid + ":" + nd
}

// normPatientID compares IDs without case, separators or the leading zeros
// of an all-digit ID: "mrn-00123" and "MRN00123" are one ID.
func normPatientID(v string) string {
	return canonDigits(strings.Join(words(normalize(cleanRef(v))), ""))
}

// normPatientName compares names by their words, without case or
// diacritics, from the first non-empty component group of the person name
// (the alphabetic one, usually).
func normPatientName(pn string) string {
	for _, g := range strings.Split(cleanRef(pn), "=") {
		ws := words(normalize(strings.ReplaceAll(g, "^", " ")))
		if len(ws) > 0 {
			return strings.Join(ws, " ")
		}
	}
	return ""
}

// validPatientKey: "<32 hex>:<32 hex>" with either half possibly empty, not
// both.
func validPatientKey(k string) bool {
	a, b, ok := strings.Cut(k, ":")
	half := func(h string) bool { return h == "" || len(h) == 32 && isLowerHex(h) }
	return ok && (a != "" || b != "") && half(a) && half(b)
}

// splitPatientKey returns the ID half and the name-and-birth-date half.
func splitPatientKey(k string) (id, nameBirth string) {
	id, nameBirth, _ = strings.Cut(k, ":")
	return id, nameBirth
}
