package casemodel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// invalidSidecarIssues parses testdata/sidecar/invalid_phi.json and returns
// its issues as the pipeline hands them over.
func invalidSidecarIssues(tb testing.TB) []RejectionIssue {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "sidecar", "invalid_phi.json"))
	if err != nil {
		tb.Fatal(err)
	}
	_, perr := ParseSidecar(b)
	var se *SidecarError
	if !errors.As(perr, &se) {
		tb.Fatalf("invalid_phi.json parsed: %v", perr)
	}
	return SidecarIssues(se.Issues)
}

// TestRejectionVisibleBeforeStudy: what a rejection holds that carries no
// value from the object (reason, case.json fields and rules, the
// validator's and readers' fixed sentences) is published in a case that has
// no study yet; only a free-text detail is withheld until the case's
// identifiers are known, and the case then shows the reason's sentence.
func TestRejectionVisibleBeforeStudy(t *testing.T) {
	r := testRegistry(t, Config{})
	origin := Origin{ID: objectKey(r, "ACC/case.json"), Version: "v1", Time: at(10)}
	issues := invalidSidecarIssues(t)
	bad := sidecarFact(t, r, "model_kidney.json", 10)
	bad.Origin = origin
	bad.Sidecar.Prints[0].Copies = 500
	bad.Sidecar.OrderingService = "Urology"

	tests := []struct {
		name         string
		fact         Fact
		reason       string
		wantIssues   []registry.IssueSnapshot // nil: no issues
		detailHas    []string
		detailLacks  []string
		wantWithheld []registry.Withheld
	}{
		{
			name:   "case.json field errors",
			fact:   RejectedFact{Origin: origin, Reason: registry.ReasonInvalidSidecar, Issues: issues},
			reason: registry.ReasonInvalidSidecar,
			wantIssues: []registry.IssueSnapshot{
				{Field: "(document)", Rule: "unknown_field", Message: "has a field name that is not part of case.json v1", Line: 7, Column: 3},
				{Field: "indications[0].text", Rule: "email", Message: "refused: looks like an e-mail address", Line: 4, Column: 28},
				{Field: "indications[0].icd10cm[0]", Rule: "pattern", Message: "must be an ICD-10-CM code such as Q21.3 (capital letters, dot after three characters)", Line: 4, Column: 101},
				{Field: "parts[0].comment", Rule: "date", Message: "refused: contains a full calendar date", Line: 5, Column: 69},
				{Field: "prints[0].parts[1]", Rule: "reference", Message: "must name one of the 1 parts listed (numbered from 1)", Line: 6, Column: 28},
				{Field: "prints[0].printer.technology", Rule: "enum", Message: "must be one of binder_jetting, directed_energy_deposition, material_extrusion, material_jetting, powder_bed_fusion, sheet_lamination, vat_photopolymerization", Line: 6, Column: 79},
				{Field: "prints[0].copies", Rule: "range", Message: "must be a whole number from 1 to 100", Line: 6, Column: 120},
			},
			detailHas:   []string{"invalid case.json: (document): has a field name", "prints[0].copies: must be a whole number from 1 to 100 (rule range)"},
			detailLacks: []string{"who@example.org", "12.04.1965", "colour", "inkjet"},
		},
		{
			name:   "a SidecarFact that breaks the rules",
			fact:   bad,
			reason: registry.ReasonInvalidSidecar,
			wantIssues: []registry.IssueSnapshot{
				{Field: "ordering_service", Rule: "enum", Message: `did you mean "urology"? (must be one of cardiology, cardiothoracic_surgery, congenital_cardiac_surgery, dentistry, general_surgery, hepatobiliary_surgery, interventional_radiology, neurosurgery, obstetrics_gynecology, ophthalmology, oral_maxillofacial_surgery, orthopedic_surgery, otolaryngology, pediatric_surgery, plastic_surgery, podiatry, radiation_oncology, radiology, surgical_oncology, thoracic_surgery, transplant_surgery, urology, vascular_surgery, other)`},
				{Field: "prints[0].copies", Rule: "range", Message: "must be a whole number from 1 to 100"},
			},
			detailHas: []string{`ordering_service: did you mean "urology"?`, "prints[0].copies"},
		},
		{
			name:       "a reader's fixed message",
			fact:       RejectedFact{Origin: origin, Reason: registry.ReasonMalformed, Issues: []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "3mf: malformed model file: not a zip package (no end-of-directory record)"}}},
			reason:     registry.ReasonMalformed,
			wantIssues: []registry.IssueSnapshot{{Rule: registry.ReasonMalformed, Message: "3mf: malformed model file: not a zip package (no end-of-directory record)"}},
			detailHas:  []string{"not a zip package"},
		},
		{
			name:       "numbers in a fixed message are positions, not record numbers",
			fact:       RejectedFact{Origin: origin, Reason: registry.ReasonMalformed, Issues: []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "malformed DICOM: value runs past the end (element (7FE0,0010) at byte 20240117)"}}},
			reason:     registry.ReasonMalformed,
			wantIssues: []registry.IssueSnapshot{{Rule: registry.ReasonMalformed, Message: "malformed DICOM: value runs past the end (element (7FE0,0010) at byte 20240117)"}},
			detailHas:  []string{"at byte 20240117"},
		},
		{
			name:   "a de-identification refusal keeps its own code",
			fact:   RejectedFact{Origin: origin, Reason: registry.ReasonBurnedInText, Issues: []RejectionIssue{{Rule: "burned_in_risk_modality", Message: "modality US often carries burned-in text"}}},
			reason: registry.ReasonBurnedInText,
			wantIssues: []registry.IssueSnapshot{
				{Rule: "burned_in_risk_modality", Message: "modality US often carries burned-in text"},
			},
			detailHas: []string{"the pixel data may carry burned-in text: modality US often carries burned-in text (rule burned_in_risk_modality)"},
		},
		{
			name:         "free-text detail waits for the identifiers",
			fact:         RejectedFact{Origin: origin, Reason: registry.ReasonUnsupported, Detail: "not DICOM, STL, 3MF, OBJ or case.json"},
			reason:       registry.ReasonUnsupported,
			detailHas:    []string{"is not DICOM, STL, 3MF, OBJ or case.json, or a variant", "dead-letter entry"},
			wantWithheld: []registry.Withheld{{Field: "rejected[0].detail", Rule: registry.RuleIdentityUnknown}},
		},
		{
			name:      "the worker's size cap under its earlier name",
			fact:      RejectedFact{Origin: origin, Reason: "over_size"},
			reason:    registry.ReasonTooLarge,
			detailHas: []string{"over a configured limit"},
		},
		{
			name:      "an unknown reason",
			fact:      RejectedFact{Origin: origin, Reason: "cosmic_rays"},
			reason:    "cosmic_rays",
			detailHas: []string{reasonDetailDefault},
		},
		{
			name:   "fields that are not case.json paths are dropped",
			fact:   RejectedFact{Origin: origin, Reason: registry.ReasonInvalidSidecar, Issues: []RejectionIssue{{Field: "quisling", Rule: "unknown_field", Message: "is not a field"}, {Field: "parts[0].Quisling", Rule: "x", Message: "m"}, {Field: "prints[3].printer.label", Rule: "Bad Rule!", Message: "m"}}},
			reason: registry.ReasonInvalidSidecar,
			wantIssues: []registry.IssueSnapshot{
				{Rule: "unknown_field", Message: "is not a field"}, {Rule: "x", Message: "m"}, {Field: "prints[3].printer.label", Rule: registry.ReasonOther, Message: "m"},
			},
		},
		{
			name:   "a message that looks like an identifier is withheld",
			fact:   RejectedFact{Origin: origin, Reason: registry.ReasonMalformed, Issues: []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "ask who@example.org"}, {Rule: registry.ReasonMalformed, Message: "DOE^JOHN"}}},
			reason: registry.ReasonMalformed,
			wantIssues: []registry.IssueSnapshot{
				{Rule: registry.ReasonMalformed}, {Rule: registry.ReasonMalformed},
			},
			wantWithheld: []registry.Withheld{{Field: "rejected[0].issues[0].message", Rule: registry.RuleEmail}, {Field: "rejected[0].issues[1].message", Rule: registry.RuleDicomName}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCase(CaseID(r.key, "ACC-REJECT"))
			if err != nil {
				t.Fatal(err)
			}
			ch, ok := r.Apply(c, tc.fact, at(10))
			if !ok || ch.Kind != registry.KindObjectRejected || ch.Reason != tc.reason {
				t.Fatalf("change %+v, %v", ch, ok)
			}
			b, id, err := r.Event(c, ch)
			if err != nil {
				t.Fatal(err)
			}
			validateEvent(t, b, id)
			assertNoPlanted(t, "event", b)
			s := r.Snapshot(c)
			if len(s.Studies) != 0 || len(s.Rejected) != 1 {
				t.Fatalf("studies %d rejected %d", len(s.Studies), len(s.Rejected))
			}
			rj := s.Rejected[0]
			if rj.Reason != tc.reason {
				t.Errorf("reason %q, want %q", rj.Reason, tc.reason)
			}
			if !slices.Equal(rj.Issues, tc.wantIssues) {
				t.Errorf("issues\n got %+v\nwant %+v", rj.Issues, tc.wantIssues)
			}
			for _, h := range tc.detailHas {
				if !strings.Contains(rj.Detail, h) {
					t.Errorf("detail %q lacks %q", rj.Detail, h)
				}
			}
			for _, h := range tc.detailLacks {
				if bytes.Contains(b, []byte(h)) {
					t.Errorf("event holds %q", h)
				}
			}
			if !slices.Equal(s.Withheld, nonNil(tc.wantWithheld)) {
				t.Errorf("withheld %+v, want %+v", s.Withheld, tc.wantWithheld)
			}
			// The stored form round-trips.
			enc, err := c.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(enc, []byte("not a zip package")) || bytes.Contains(enc, []byte("must be one of")) {
				t.Error("an issue message is stored unsealed")
			}
			d, err := Decode(enc)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if enc2, _ := d.Encode(); !bytes.Equal(enc, enc2) {
				t.Error("encode(decode(x)) != x")
			}
		})
	}
}

// TestRejectionIssueScreenedOnceIdentified: once the case's identifiers
// are known, an issue message holding one of them is withheld; the
// free-text detail is published when it passes.
func TestRejectionIssueScreenedOnceIdentified(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
	r.Apply(c, ctInstance(r, 1, 2, 10, 1, 0), at(0))
	origin := Origin{ID: objectKey(r, "ACC/heart.stl"), Version: "v1", Time: at(5)}
	r.Apply(c, RejectedFact{Origin: origin, Reason: registry.ReasonMalformed, Detail: "truncated binary STL",
		Issues: []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "stl: object Quisling cannot be read"}}}, at(5))
	s := r.Snapshot(c)
	rj := s.Rejected[0]
	if rj.Detail != "truncated binary STL" || rj.Issues[0].Message != "" {
		t.Errorf("rejected %+v", rj)
	}
	if !slices.Contains(s.Withheld, registry.Withheld{Field: "rejected[0].issues[0].message", Rule: registry.RuleCaseIdentifier}) {
		t.Errorf("withheld %+v", s.Withheld)
	}
}

// TestReasonVocabularyDocumented: every reason code (and its earlier name)
// has a sentence and a row in docs/registry-events.md.
func TestReasonVocabularyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/registry-events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range append(registry.Reasons(), "over_size") {
		if txt, ok := registry.ReasonText(code); !ok || txt == "" {
			t.Errorf("%s has no sentence", code)
		}
		if !regexp.MustCompile("(?m)^\\| `" + code + "`").Match(doc) {
			t.Errorf("docs/registry-events.md has no row for reason %s", code)
		}
	}
	for _, code := range []string{registry.ReasonMalformed, registry.ReasonUnsupported, registry.ReasonPHIResidue, registry.ReasonBurnedInText, registry.ReasonInvalidSidecar,
		registry.ReasonTooLarge, registry.ReasonNoCaseReference, registry.ReasonInvalidKey, registry.ReasonOther, registry.ReasonUnknownBucket, registry.ReasonBadWork,
		registry.ReasonRetriesExhausted, registry.ReasonMaxDeliveries} {
		if !slices.Contains(registry.Reasons(), code) {
			t.Errorf("%s is not in Reasons()", code)
		}
	}
}
