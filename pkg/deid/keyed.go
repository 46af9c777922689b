package deid

import (
	"encoding/hex"
	"math/big"
	"strings"

	"github.com/printreg/printreg/pkg/sitekey"
)

// Domains of the keyed derivations (sitekey separates them).
const (
	domainUID      = "deid/uid/v1"
	domainPatient  = "deid/patient/v1"
	domainDateDays = "deid/date-offset/v1"
)

// wellKnownRoots are UID roots that name things, not people or events: the
// DICOM registry (SOP classes, transfer syntaxes, well-known frames of
// reference, context groups, templates, coding schemes) and the HL7 OID arcs
// for code systems (SNOMED CT, LOINC, UCUM, ICD …) and identifier systems.
// Remapping them would break the objects' meaning and hide nothing.
var wellKnownRoots = []string{
	"1.2.840.10008.",
	"2.16.840.1.113883.6.",
	"2.16.840.1.113883.4.",
}

// WellKnownUID reports whether uid is left alone by UID remapping.
func WellKnownUID(uid string) bool {
	for _, r := range wellKnownRoots {
		if strings.HasPrefix(uid, r) || strings.TrimSuffix(r, ".") == uid {
			return true
		}
	}
	return false
}

// RemapUID returns the keyed replacement of uid: the first 128 bits of
// HMAC-SHA256(secret, uid), shaped as an RFC 9562 version 8 (custom) UUID,
// written under the UUID arc 2.25 (ITU-T X.667): at most 44 characters.
// Well-known UIDs and empty values are returned unchanged. Surrounding
// spaces and the NUL padding byte are ignored, so every encoding of one UID
// maps the same way.
func RemapUID(k *sitekey.Key, uid string) string {
	uid = trimPad(uid)
	if uid == "" || WellKnownUID(uid) {
		return uid
	}
	s := k.Sum(domainUID, uid)
	b := s[:16]
	b[6] = b[6]&0x0F | 0x80 // version 8
	b[8] = b[8]&0x3F | 0x80 // RFC 4122/9562 variant
	return "2.25." + new(big.Int).SetBytes(b).String()
}

// trimPad is strings.Trim(s, " \x00"), for a string or a value as read:
// the spaces and NUL bytes that pad DICOM values.
func trimPad[T string | []byte](s T) T {
	i, j := 0, len(s)
	for i < j && (s[i] == ' ' || s[i] == 0) {
		i++
	}
	for j > i && (s[j-1] == ' ' || s[j-1] == 0) {
		j--
	}
	return s[i:j]
}

// NormalizeName prepares a person name for keyed mapping and comparison:
// upper case, inner whitespace collapsed, spaces around component separators
// dropped, and empty trailing components removed, so "Doe^John^^^" and
// "DOE ^ john" are the same person.
func NormalizeName(pn string) string {
	pn = strings.ToUpper(trimPad(pn))
	pn = strings.Join(strings.Fields(pn), " ")
	pn = strings.ReplaceAll(pn, " ^", "^")
	pn = strings.ReplaceAll(pn, "^ ", "^")
	pn = strings.ReplaceAll(pn, " =", "=")
	pn = strings.ReplaceAll(pn, "= ", "=")
	groups := strings.Split(pn, "=")
	for i, g := range groups {
		groups[i] = strings.TrimRight(g, "^")
	}
	for len(groups) > 0 && groups[len(groups)-1] == "" {
		groups = groups[:len(groups)-1]
	}
	return strings.Join(groups, "=")
}

// NormalizeID prepares a patient ID for keyed mapping: surrounding spaces
// and padding removed, upper case.
func NormalizeID(id string) string {
	return strings.ToUpper(trimPad(id))
}

// patientKey is what identifies a patient for pseudonyms and date offsets:
// the normalised Patient ID, or the normalised name when the ID is empty.
func patientKey(id, name string) string {
	if n := NormalizeID(id); n != "" {
		return "id:" + n
	}
	if n := NormalizeName(name); n != "" {
		return "name:" + n
	}
	return ""
}

// Pseudonym returns the keyed patient pseudonym written as Patient ID and
// Patient's Name: "PR" and 20 upper-case hex digits.
func Pseudonym(k *sitekey.Key, patientID, patientName string) string {
	s := k.Sum(domainPatient, patientKey(patientID, patientName))
	return "PR" + strings.ToUpper(hex.EncodeToString(s[:10]))
}

// Date offsets: whole weeks, so times of day and weekdays are kept, between
// minOffsetWeeks and maxOffsetWeeks into the past.
const (
	minOffsetWeeks = 52
	maxOffsetWeeks = 520
)

// DateOffsetDays returns the per-patient date shift in days (negative, a
// multiple of 7, between −3640 and −364), derived from the secret and the
// normalised Patient ID, so every study of a patient, on every worker,
// shifts by the same amount and intervals are kept.
func DateOffsetDays(k *sitekey.Key, patientID, patientName string) int {
	n := k.Uint64(domainDateDays, patientKey(patientID, patientName))
	weeks := minOffsetWeeks + int(n%uint64(maxOffsetWeeks-minOffsetWeeks+1))
	return -7 * weeks
}
