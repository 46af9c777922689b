package deid

import (
	"sort"
	"strings"

	"github.com/printreg/printreg/pkg/dicomx"
)

//go:generate go run ./internal/gentable -standard standard -out table_gen.go -edition 2026d

// Action is a Table E.1-1 action code (Table E.1-1a).
type Action uint8

// Action codes. The combined codes (Z/D … X/Z/U*) depend on the attribute's
// Type in the IOD; resolveCombined says how printreg chooses without per-IOD
// Type tables.
const (
	actNone Action = iota // not named by the table (or option column blank)
	ActD                  // replace with a non-empty dummy valid for the VR
	ActZ                  // replace with an empty value
	ActX                  // remove (a sequence with all its items)
	ActK                  // keep (a sequence is still processed item by item)
	ActC                  // clean: keep the meaning, remove identity
	ActU                  // replace the UID by a keyed, consistent one
	ActZD                 // Z, or D when Type 1
	ActXZ                 // X, or Z when Type 2
	ActXD                 // X, or D when Type 1
	ActXZD                // X, or Z when Type 2, or D when Type 1
	ActXZU                // X, or Z when Type 2, or keep with UIDs replaced when Type 1
)

var actionCodes = [...]string{"", "D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"}

// String returns the code as printed in Table E.1-1.
func (a Action) String() string {
	if int(a) < len(actionCodes) {
		return actionCodes[a]
	}
	return "?"
}

// Option indexes: the option columns of Table E.1-1, in table order.
const (
	optSafePrivate = iota
	optUIDs
	optDevice
	optInstitution
	optPatientChars
	optFullDates
	optModifiedDates
	optCleanDescriptors
	optCleanStructured
	optCleanGraphics
	numOptions
)

var optionNames = [numOptions]string{
	"Retain Safe Private", "Retain UIDs", "Retain Device Identity", "Retain Institution Identity",
	"Retain Patient Characteristics", "Retain Longitudinal Temporal Information Full Dates",
	"Retain Longitudinal Temporal Information Modified Dates", "Clean Descriptors",
	"Clean Structured Content", "Clean Graphics",
}

type tableRow struct {
	Tag     dicomx.Tag
	Name    string
	Retired bool
	InIOD   bool
	Basic   Action
	Opt     [numOptions]Action
}

type wildKind uint8

const (
	wildCurve wildKind = iota + 1
	wildOverlayData
	wildOverlayComments
	wildPrivate
)

type wildRow struct {
	Kind    wildKind
	Name    string
	Retired bool
	Basic   Action
	Opt     [numOptions]Action
}

type safePrivateRow struct {
	Group   uint16
	Creator string // lower case, trimmed
	Elem    uint8  // low byte of the element number
	VR      string
}

type structuredRow struct {
	Scheme, Value, Meaning, ValueType string
	Basic                             Action
	Opt                               [numOptions]Action
}

// MethodCode is a CID 7050 De-identification Method code.
type MethodCode struct {
	Scheme  string `json:"scheme"`
	Value   string `json:"value"`
	Meaning string `json:"meaning"`
}

// lookupRow finds the Table E.1-1 row of an exact (non-wildcard) tag.
func lookupRow(t dicomx.Tag) *tableRow {
	i := sort.Search(len(tableE11), func(i int) bool { return tableE11[i].Tag >= t })
	if i < len(tableE11) && tableE11[i].Tag == t {
		return &tableE11[i]
	}
	return nil
}

func wild(k wildKind) *wildRow {
	for i := range tableE11Wild {
		if tableE11Wild[i].Kind == k {
			return &tableE11Wild[i]
		}
	}
	return nil
}

// isCurveGroup reports a retired curve group (50xx, even, 5000–501E).
func isCurveGroup(g uint16) bool { return g&0xFF00 == 0x5000 && g&1 == 0 && g <= 0x501E }

// isOverlayGroup reports an overlay group (60xx, even, 6000–601E).
func isOverlayGroup(g uint16) bool { return g&0xFF00 == 0x6000 && g&1 == 0 && g <= 0x601E }

// safePrivate reports whether a private element (group, creator, low byte)
// is in Table E.3.10-1. Creators compare case-insensitively, ignoring
// surrounding spaces.
func safePrivate(group uint16, creator string, lo uint8) (safePrivateRow, bool) {
	c := strings.ToLower(strings.TrimSpace(creator))
	i := sort.Search(len(safePrivateTable), func(i int) bool {
		r := &safePrivateTable[i]
		if r.Group != group {
			return r.Group >= group
		}
		if r.Creator != c {
			return r.Creator >= c
		}
		return r.Elem >= lo
	})
	if i < len(safePrivateTable) {
		r := safePrivateTable[i]
		if r.Group == group && r.Creator == c && r.Elem == lo {
			return r, true
		}
	}
	return safePrivateRow{}, false
}

// structuredAction returns the Table E.3.4-1 row for a content item's concept
// name and value type; ok is false when the table does not name it.
func structuredAction(scheme, value, valueType string) (structuredRow, bool) {
	var fallback *structuredRow
	for i := range structuredTable {
		r := &structuredTable[i]
		if r.Value != value || !strings.EqualFold(schemeBase(r.Scheme), schemeBase(scheme)) {
			continue
		}
		if valueType == "" || strings.EqualFold(r.ValueType, valueType) {
			return *r, true
		}
		if fallback == nil {
			fallback = r
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return structuredRow{}, false
}

// schemeBase drops a version suffix such as "NCDR [2.0b]".
func schemeBase(s string) string {
	if i := strings.IndexByte(s, '['); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func methodCode(value string) MethodCode {
	for _, c := range cid7050 {
		if c.Value == value {
			return c
		}
	}
	return MethodCode{}
}
