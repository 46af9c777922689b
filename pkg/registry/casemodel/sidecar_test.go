package casemodel

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

const validSidecar = `{
  "object_type": "anatomic_model",
  "ordering_service": "urology",
  "indications": [{"text": "Renal mass", "icd10cm": ["C64.1"]}],
  "parts": [{"region": "Abdomen", "structure": "Kidney", "laterality": "left"}],
  "prints": [{"parts": [1], "printer": {"label": "J750", "technology": "material_jetting"}, "material": "Vero"}]
}`

// edit returns validSidecar with one top-level member replaced (or removed
// when value is "").
func edit(tb testing.TB, key, value string) string {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validSidecar), &m); err != nil {
		tb.Fatal(err)
	}
	if value == "" {
		delete(m, key)
	} else {
		m[key] = json.RawMessage(value)
	}
	return string(mustJSON(tb, m))
}

// TestParseSidecarErrors: every validation error names the field and the
// rule, never the value; the JSON Schema agrees unless the rule is one only
// the validator can check (screening, cross references).
func TestParseSidecarErrors(t *testing.T) {
	_, sch := schemas(t)
	tests := []struct {
		name       string
		in         string
		field      string
		rule       string
		secret     string // must not appear in the error
		schemaSees bool
	}{
		{"missing object type", edit(t, "object_type", ""), "object_type", "required", "", true},
		{"bad object type", edit(t, "object_type", `"printed_thing"`), "object_type", "enum", "printed_thing", true},
		{"unknown field", edit(t, "colour", `"red"`), "(document)", "unknown_field", "colour", true},
		{"a name as a field name", edit(t, "john_doe_12345678", `"x"`), "(document)", "unknown_field", "john_doe", true},
		{"unknown odd field name", edit(t, "Dr Smith's notes", `"x"`), "(document)", "unknown_field", "Smith", true},
		{"email", edit(t, "intended_use_text", `"mail jane.roe@example.org"`), "intended_use_text", registry.RuleEmail, "jane.roe", false},
		{"phone", edit(t, "intended_use_text", `"call +1 (555) 123-4567"`), "intended_use_text", registry.RulePhone, "123-4567", false},
		{"mrn-like number", edit(t, "intended_use_text", `"ref 4471093"`), "intended_use_text", registry.RuleLongNumber, "4471093", false},
		{"dicom name", edit(t, "intended_use_text", `"for Roe^Jane"`), "intended_use_text", registry.RuleDicomName, "Roe", false},
		{"iso date", edit(t, "intended_use_text", `"scan of 2024-03-01"`), "intended_use_text", registry.RuleDate, "2024-03-01", false},
		{"dotted date", edit(t, "intended_use_text", `"born 12.04.1965"`), "intended_use_text", registry.RuleDate, "1965", false},
		{"month name date", edit(t, "intended_use_text", `"seen April 12, 1965"`), "intended_use_text", registry.RuleDate, "1965", false},
		{"identifier label", edit(t, "intended_use_text", `"see MRN in chart"`), "intended_use_text", registry.RuleIdentifierLabel, "chart", false},
		{"too long", edit(t, "intended_use_text", `"`+strings.Repeat("a", 501)+`"`), "intended_use_text", "max_length", "aaaa", true},
		{"empty text", edit(t, "intended_use_text", `"  "`), "intended_use_text", "min_length", "", false},
		{"text not string", edit(t, "intended_use_text", `12`), "intended_use_text", "type", "", true},
		{"lowercase icd", edit(t, "indications", `[{"icd10cm": ["c64.1"]}]`), "indications[0].icd10cm[0]", "pattern", "c64", true},
		{"duplicate icd", edit(t, "indications", `[{"icd10cm": ["C64.1", "C64.1"]}]`), "indications[0].icd10cm[1]", "unique", "C64", true},
		{"empty indication", edit(t, "indications", `[{}]`), "indications[0]", "required", "", true},
		{"no indications", edit(t, "indications", `[]`), "indications", "min_items", "", true},
		{"21 parts", edit(t, "parts", `[`+strings.Repeat(`{"region":"A","structure":"B"},`, 20)+`{"region":"A","structure":"B"}]`), "parts", "max_items", "", true},
		{"part without structure", edit(t, "parts", `[{"region": "Abdomen"}]`), "parts[0].structure", "required", "", true},
		{"bad laterality", edit(t, "parts", `[{"region": "Abdomen", "structure": "Kidney", "laterality": "sinister"}]`), "parts[0].laterality", "enum", "sinister", true},
		{"guides on a model", edit(t, "guides", `[{"type": "cutting"}]`), "guides", "dependency", "", true},
		{"six prints", edit(t, "prints", `[`+strings.Repeat(`{"printer":{"label":"P","technology":"material_jetting"},"material":"M"},`, 5)+`{"printer":{"label":"P","technology":"material_jetting"},"material":"M"}]`), "prints", "max_items", "", true},
		{"print names a missing part", edit(t, "prints", `[{"parts": [2], "printer": {"label": "P", "technology": "material_jetting"}, "material": "M"}]`), "prints[0].parts[0]", "reference", "", false},
		{"print without material", edit(t, "prints", `[{"printer": {"label": "P", "technology": "material_jetting"}}]`), "prints[0].material", "required", "", true},
		{"printer without name", edit(t, "prints", `[{"printer": {"technology": "material_jetting"}, "material": "M"}]`), "prints[0].printer", "required", "", true},
		{"bad technology", edit(t, "prints", `[{"printer": {"label": "P", "technology": "fdm"}, "material": "M"}]`), "prints[0].printer.technology", "enum", "fdm", true},
		{"zero copies", edit(t, "prints", `[{"printer": {"label": "P", "technology": "material_jetting"}, "material": "M", "copies": 0}]`), "prints[0].copies", "range", "", true},
		{"huge scale", edit(t, "prints", `[{"printer": {"label": "P", "technology": "material_jetting"}, "material": "M", "scale": 11}]`), "prints[0].scale", "range", "", true},
		{"effort incomplete", edit(t, "effort", `{"consultation": {"clinician": 1, "non_clinician": 2}}`), "effort.segmentation", "required", "", true},
		{"effort negative", edit(t, "effort", `{"consultation": {"clinician": -1, "non_clinician": 2}, "segmentation": {"clinician": 1, "non_clinician": 2}, "cad": {"clinician": 1, "non_clinician": 2}, "post_processing": {"clinician": 1, "non_clinician": 2}}`), "effort.consultation.clinician", "range", "", true},
		{"effort word", edit(t, "effort", `{"consultation": {"clinician": "lots", "non_clinician": 2}, "segmentation": {"clinician": 1, "non_clinician": 2}, "cad": {"clinician": 1, "non_clinician": 2}, "post_processing": {"clinician": 1, "non_clinician": 2}}`), "effort.consultation.clinician", "type", "lots", true},
		{"procedure used", edit(t, "procedure", `{"used": "maybe"}`), "procedure.used", "enum", "maybe", true},
		{"likert", edit(t, "assessment", `{"confidence_after": 6}`), "assessment.confidence_after", "range", "", true},
		{"not an object", `[1, 2]`, "(document)", "type", "", true},
		{"syntax", `{"object_type": "anatomic_model",}`, "(document)", "json", "", true},
		{"two documents", `{"object_type": "anatomic_model"} {}`, "(document)", "json", "", false},
		{"not utf-8", "{\"object_type\": \"\xff\"}", "(document)", "utf8", "", false},
		{"unterminated comment", `{"object_type": "anatomic_model"} /*`, "(document)", "json", "", false},
		{"too large", `{"intended_use_text": "` + strings.Repeat("a", MaxSidecarBytes) + `"}`, "(document)", "max_size", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSidecar([]byte(tt.in))
			var se *SidecarError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidSidecar) {
				t.Fatalf("got %v, want a SidecarError", err)
			}
			if !slices.ContainsFunc(se.Issues, func(i FieldIssue) bool { return i.Field == tt.field && i.Rule == tt.rule }) {
				t.Errorf("issues %v lack field %s rule %s", se.Issues, tt.field, tt.rule)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error repeats the value: %v", err)
			}
			if !tt.schemaSees || len(tt.in) > MaxSidecarBytes {
				return
			}
			clean, ok := stripComments([]byte(tt.in))
			inst, uerr := unmarshalAny(clean)
			if !ok || uerr != nil {
				return // not JSON at all: nothing for the schema to say
			}
			if sch.Validate(inst) == nil {
				t.Errorf("the JSON Schema accepts what the validator refuses (%s)", tt.rule)
			}
		})
	}
}

// TestParseSidecarValid: valid documents pass both the validator and the
// schema, comments included, and the parsed values are what was written.
func TestParseSidecarValid(t *testing.T) {
	_, sch := schemas(t)
	example, err := os.ReadFile("../../../config/case.example.jsonc")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
	}{
		{"minimal", `{"object_type": "anatomic_guide"}`},
		{"base", validSidecar},
		{"with comments", "// lab file\n{\"object_type\": /* the type */ \"anatomic_model\", \"intended_use_text\": \"a // b /* c */\"}"},
		{"effort unknown", edit(t, "effort", `{"consultation": {"clinician": "unknown", "non_clinician": 0}, "segmentation": {"clinician": 0, "non_clinician": 10080}, "cad": {"clinician": 1, "non_clinician": 2}, "post_processing": {"clinician": 1, "non_clinician": 2}}`)},
		{"short numbers and sizes pass", edit(t, "intended_use_text", `"0.6 mm slices, 3 parts, 1:1 scale, 120 kV, C64.1, ICD-10"`)},
		{"config example", string(example)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSidecar([]byte(tt.in))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if s.ObjectType == "" {
				t.Error("object_type not read")
			}
			clean, _ := stripComments([]byte(tt.in))
			inst, err := unmarshalAny(clean)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("the JSON Schema refuses it: %v", err)
			}
			if issues := checkSidecar(s, false); len(issues) > 0 {
				t.Errorf("the parsed value does not re-validate: %v", issues)
			}
		})
	}
	s, _ := ParseSidecar(example)
	if len(s.Parts) != 3 || s.Prints[0].Copies != 2 || !s.Effort.PostProcessing.NonClinician.Unknown || s.Effort.Segmentation.NonClinician.Value != 150 {
		t.Errorf("example read as %+v", s)
	}
}

func TestStripComments(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": 1} // x`, `{"a": 1}     `},
		{`{"a": "//not"}`, `{"a": "//not"}`},
		{`{"a": "\"//"}`, `{"a": "\"//"}`},
		{"/* a\nb */{}", "    \n    {}"},
	}
	for _, tt := range tests {
		got, ok := stripComments([]byte(tt.in))
		if !ok || string(got) != tt.want {
			t.Errorf("stripComments(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
	if _, ok := stripComments([]byte(`{"a": "open`)); ok {
		t.Error("an unterminated string was accepted")
	}
}

// TestUnknownFieldSuggestsTheSchemaName: a misspelt field is answered with
// the schema's name for it, never with what was typed.
func TestUnknownFieldSuggestsTheSchemaName(t *testing.T) {
	_, err := ParseSidecar([]byte(edit(t, "Intended-Usee", `"x"`)))
	if err == nil || !strings.Contains(err.Error(), `did you mean "intended_use"?`) || strings.Contains(err.Error(), "Usee") {
		t.Errorf("got %v", err)
	}
	_, err = ParseSidecar([]byte(edit(t, "john_doe_12345678", `"x"`)))
	if err == nil || strings.Contains(err.Error(), "did you mean") {
		t.Errorf("a far-off key got a suggestion: %v", err)
	}
}

// TestEnumSuggestsTheSchemaValue: a value in other letter case or within
// two edits of the schema's is answered with the schema's value, never
// with what was typed; a far-off value gets no suggestion.
func TestEnumSuggestsTheSchemaValue(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"capitalised", "ordering_service", `"Urology"`, `did you mean "urology"?`},
		{"upper case", "object_type", `"ANATOMIC_MODEL"`, `did you mean "anatomic_model"?`},
		{"spaces for underscores", "intended_use", `"surgical planning"`, `did you mean "surgical_planning"?`},
		{"two edits", "ordering_service", `"urolgy"`, `did you mean "urology"?`},
		{"nested", "parts", `[{"region": "Abdomen", "structure": "Kidney", "laterality": "Left"}]`, `did you mean "left"?`},
		{"far off", "ordering_service", `"Smith clinic"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSidecar([]byte(edit(t, tt.key, tt.value)))
			var se *SidecarError
			if !errors.As(err, &se) {
				t.Fatalf("got %v", err)
			}
			msg := err.Error()
			if tt.want == "" {
				if strings.Contains(msg, "did you mean") {
					t.Errorf("a far-off value got a suggestion: %v", err)
				}
			} else if !strings.Contains(msg, tt.want) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
			typed := strings.Trim(tt.value, `"`)
			if strings.HasPrefix(tt.value, `"`) && strings.Contains(msg, typed) {
				t.Errorf("the error repeats the value: %v", err)
			}
			if strings.Contains(msg, "Left") || strings.Contains(msg, "Smith") {
				t.Errorf("the error repeats the value: %v", err)
			}
		})
	}
}

// TestSidecarIssuePositions: syntax errors and field errors carry the line
// and column they were found at, comments included, and the syntax error's
// sentence says where in lines and columns rather than bytes.
func TestSidecarIssuePositions(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		field     string
		rule      string
		line, col int
		msgHas    string
	}{
		{"trailing comma", "{\n  \"object_type\": \"anatomic_model\",\n}", "(document)", "json", 3, 1, "line 3, column 1"},
		{"missing comma", "{\n  \"object_type\": \"anatomic_model\"\n  \"intended_use\": \"research\"\n}", "(document)", "json", 3, 3, "line 3, column 3"},
		{"cut short", "{\n  \"object_type\": \"anat", "(document)", "json", 0, 0, "unterminated"},
		{"unfinished", "{\n  \"object_type\": 1", "(document)", "json", 2, 19, "ends at line 2"},
		{"empty", "  \n", "(document)", "json", 0, 0, "is empty"},
		{"after the object", "{\"object_type\": \"anatomic_model\"}\n{}", "(document)", "json", 2, 1, "content after"},
		{"enum after comments", "// lab file\n/* two\n lines */\n{\n  \"object_type\": \"anatomic_model\",\n  \"ordering_service\":  \"Urology\"\n}", "ordering_service", "enum", 6, 24, "did you mean"},
		{"non-ASCII before", "{\"intended_use_text\": \"Résumé\", \"ordering_service\": \"x\", \"object_type\": \"anatomic_model\"}", "ordering_service", "enum", 1, 53, ""},
		{"nested value", "{\n \"object_type\": \"anatomic_model\",\n \"prints\": [\n  {\"printer\": {\"label\": \"P\", \"technology\": \"fdm\"}, \"material\": \"M\"}\n ]\n}", "prints[0].printer.technology", "enum", 4, 44, ""},
		{"unknown field name", "{\n \"object_type\": \"anatomic_model\",\n   \"colour\": \"red\"\n}", "(document)", "unknown_field", 3, 4, ""},
		{"missing field", "{\n \"object_type\": \"anatomic_model\",\n \"parts\": [\n   {\"region\": \"Abdomen\"}\n ]\n}", "parts[0].structure", "required", 4, 4, ""},
		{"missing at the top", "\n\n  {\"intended_use\": \"research\"}", "object_type", "required", 3, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSidecar([]byte(tt.in))
			var se *SidecarError
			if !errors.As(err, &se) {
				t.Fatalf("got %v", err)
			}
			i := slices.IndexFunc(se.Issues, func(i FieldIssue) bool { return i.Field == tt.field && i.Rule == tt.rule })
			if i < 0 {
				t.Fatalf("issues %v lack field %s rule %s", se.Issues, tt.field, tt.rule)
			}
			is := se.Issues[i]
			if is.Line != tt.line || is.Column != tt.col {
				t.Errorf("at %d:%d, want %d:%d (%v)", is.Line, is.Column, tt.line, tt.col, is)
			}
			if !strings.Contains(is.Message, tt.msgHas) {
				t.Errorf("message %q lacks %q", is.Message, tt.msgHas)
			}
			if strings.Contains(err.Error(), "byte") || strings.Contains(err.Error(), "colour") {
				t.Errorf("error %v", err)
			}
		})
	}
}
