package deid

import (
	"github.com/printreg/printreg/pkg/dicomx"
)

// verdict is what the engine does with one element, after Table E.1-1, the
// options, the combined-code resolution and the VR fallbacks have spoken.
type verdict uint8

const (
	vKeep       verdict = iota // keep the value (a sequence: process its items)
	vRemove                    // remove the element
	vEmpty                     // zero-length value (a sequence: no items)
	vDummy                     // non-empty dummy valid for the VR (a sequence: process its items)
	vRemap                     // replace every UID by its keyed replacement
	vShift                     // shift DA/DT by the patient's offset
	vClean                     // keep text only when it is a safe descriptor
	vCapAge                    // keep an age, writing ages over 89 as 090Y
	vPseudonym                 // Patient ID / Patient's Name: keyed pseudonym
	vModel                     // Encapsulated Document of a model: blank its free text
	vDocDummy                  // Encapsulated Document: replace with a dummy document
	vCheckText                 // allowlisted text: keep unless it names this patient
	vStructured                // Content Sequence under Clean Structured Content
	numVerdicts
)

var verdictNames = [numVerdicts]string{
	"keep", "remove", "empty", "dummy", "remap-uid", "shift-date", "clean-text", "cap-age",
	"pseudonym", "sanitize-model", "dummy-document", "check-text", "clean-structured",
}

func (v verdict) String() string { return verdictNames[v] }

// decision is the verdict for one element, the verdict to fall back to
// when cleaning cannot keep the value, and the rule that chose them.
type decision struct {
	v        verdict
	fallback verdict
	rule     string
}

// Tags the engine handles outside the table.
const (
	tagPatientName                = dicomx.Tag(0x00100010)
	tagPatientID                  = dicomx.Tag(0x00100020)
	tagPatientAge                 = dicomx.Tag(0x00101010)
	tagEncapsulatedDocument       = dicomx.Tag(0x00420011)
	tagEncapsulatedDocumentLength = dicomx.Tag(0x00420015)
	tagMIMEType                   = dicomx.Tag(0x00420012)
	tagPatientIdentityRemoved     = dicomx.Tag(0x00120062)
	tagDeidentificationMethod     = dicomx.Tag(0x00120063)
	tagDeidentificationMethodSeq  = dicomx.Tag(0x00120064)
	tagLongitudinalModified       = dicomx.Tag(0x00280303)
	tagBurnedInAnnotation         = dicomx.Tag(0x00280301)
	tagTimezoneOffset             = dicomx.Tag(0x00080201)
	tagContentSequence            = dicomx.Tag(0x0040A730)
	tagConceptNameCodeSequence    = dicomx.Tag(0x0040A043)
	tagValueType                  = dicomx.Tag(0x0040A040)
	tagTextValue                  = dicomx.Tag(0x0040A160)
	tagTrailingPadding            = dicomx.Tag(0xFFFCFFFC)
	tagEncryptedAttributes        = dicomx.Tag(0x04000500)
	tagSOPClassUID                = dicomx.Tag(0x00080016)
	tagSOPInstanceUID             = dicomx.Tag(0x00080018)
	tagStudyInstanceUID           = dicomx.Tag(0x0020000D)
	tagSeriesInstanceUID          = dicomx.Tag(0x0020000E)
	tagModality                   = dicomx.Tag(0x00080060)
	tagCodeValue                  = dicomx.Tag(0x00080100)
	tagCodingSchemeDesignator     = dicomx.Tag(0x00080102)
	tagCodeMeaning                = dicomx.Tag(0x00080104)
)

// combinedType1 lists attributes with a combined code that printreg knows to
// be Type 1 in an IOD it handles: they get a dummy (D) instead of removal.
//   - Content Date/Time: Type 1 in the Multi-frame Functional Groups module
//     (enhanced CT/MR, SEG).
//   - Acquisition DateTime: Type 1C in the Enhanced CT/MR Image modules.
//   - Device Serial Number: Type 1 in the Enhanced General Equipment module
//     (SEG, Encapsulated STL/OBJ, enhanced images).
var combinedType1 = map[dicomx.Tag]bool{
	0x00080023: true, // Content Date (Z/D)
	0x00080033: true, // Content Time (Z/D)
	0x0008002A: true, // Acquisition DateTime (X/Z/D)
	0x00181000: true, // Device Serial Number (X/Z/D)
}

// combinedType2 lists attributes with a combined code that printreg knows to
// be Type 2 in an IOD it handles: they are emptied (Z) instead of removed.
var combinedType2 = map[dicomx.Tag]bool{
	0x00400555: true, // Acquisition Context Sequence (X/Z): Type 2 in the Acquisition Context module
}

// resolveCombined turns a combined action code into one action without
// per-IOD Type tables. The stricter branch is taken unless the attribute is
// listed above as Type 1 (D) or Type 2 (Z) in an IOD printreg handles:
// Z/D → Z, X/Z → X, X/D → X, X/Z/D → X. X/Z/U* (Referenced Image Sequence,
// Source Image Sequence) keeps the sequence with every UID inside replaced:
// it is Type 1 inside a SEG's Derivation Image Sequence, and removing it
// would cut a segmentation from its source images.
func resolveCombined(t dicomx.Tag, a Action) (Action, string) {
	switch a {
	case ActZD:
		if combinedType1[t] {
			return ActD, "Z/D → D (Type 1 in a handled IOD)"
		}
		return ActZ, "Z/D → Z"
	case ActXZ:
		if combinedType2[t] {
			return ActZ, "X/Z → Z (Type 2 in a handled IOD)"
		}
		return ActX, "X/Z → X"
	case ActXD:
		if combinedType1[t] {
			return ActD, "X/D → D (Type 1 in a handled IOD)"
		}
		return ActX, "X/D → X"
	case ActXZD:
		if combinedType1[t] {
			return ActD, "X/Z/D → D (Type 1 in a handled IOD)"
		}
		if combinedType2[t] {
			return ActZ, "X/Z/D → Z (Type 2 in a handled IOD)"
		}
		return ActX, "X/Z/D → X"
	case ActXZU:
		return ActK, "X/Z/U* → keep, UIDs inside replaced (Type 1 in SEG derivation)"
	}
	return a, ""
}

// cleanPriority orders the options whose C column says how to clean.
var cleanPriority = []int{optModifiedDates, optCleanStructured, optCleanGraphics, optCleanDescriptors, optPatientChars, optDevice, optSafePrivate}

// rowAction applies the enabled options to a table row: an option column
// that is not blank replaces the Basic action; when several apply, C (clean)
// wins over K (keep), so a retain option never undoes a cleaning one. It
// returns the action, the option that chose it (-1 for Basic) and a rule.
func rowAction(basic Action, opts *[numOptions]Action, on *[numOptions]bool) (Action, int) {
	for _, i := range cleanPriority {
		if on[i] && opts[i] == ActC {
			return ActC, i
		}
	}
	for i := 0; i < numOptions; i++ {
		if on[i] && opts[i] != actNone {
			return opts[i], i
		}
	}
	return basic, -1
}

// ruleText says which rule chose an action, for Explain; without Explain
// it is not built.
func (st *state) ruleText(source, name string, basic, got Action, opt int, extra string) string {
	if !st.explain {
		return ""
	}
	s := source + name + " " + basic.String()
	if opt >= 0 {
		s += "; " + optionNames[opt] + " → " + got.String()
	}
	if extra != "" {
		s += "; " + extra
	}
	return s
}
