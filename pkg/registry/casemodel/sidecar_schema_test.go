package casemodel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSidecarSchemaKnown: every node of the case.json schema is of a kind
// the validator turns into issues, with the sentences a person wrote where
// a schema keyword cannot say it; a schema change the validator does not
// understand fails here rather than in a lab's rejection.
func TestSidecarSchemaKnown(t *testing.T) {
	cs, err := compileSidecarSchema()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema, where string)
	walk = func(s *jsonschema.Schema, where string) {
		s = deref(s)
		if seen[s] {
			return
		}
		seen[s] = true
		p := pointer(s)
		switch node(s) {
		case nodeOther:
			t.Errorf("%s (%s): a kind of schema node the validator does not know", where, p)
		case nodeObject:
			if s.AdditionalProperties != false {
				t.Errorf("%s: an object must say additionalProperties: false", where)
			}
			order := cs.order[p]
			if len(order) != len(s.Properties) {
				t.Errorf("%s: properties %d, in order %v", where, len(s.Properties), order)
			}
			for _, k := range order {
				if s.Properties[k] == nil {
					t.Errorf("%s: %s listed but not a property", where, k)
				}
				walk(s.Properties[k], join(where, k))
			}
			if len(s.AnyOf) > 0 && needsText[p] == "" {
				t.Errorf("%s: anyOf without a sentence in needsText", where)
			}
			for _, a := range s.AllOf {
				if a.Then == nil || a.Then.Not == nil || len(a.Then.Not.Required) != 1 || excludedText[pointer(a.Then)] == "" {
					t.Errorf("%s: allOf other than if/then not required [field] with a sentence in excludedText", where)
				}
			}
		case nodeArray:
			if s.MinItems == nil || s.MaxItems == nil || s.Items2020 == nil {
				t.Errorf("%s: an array needs minItems, maxItems and items", where)
			}
			if k := node(deref(s.Items2020)); s.UniqueItems && k != nodePattern && k != nodeInteger {
				t.Errorf("%s: uniqueItems is named only for codes and numbers", where)
			}
			walk(s.Items2020, where+"[]")
		case nodePattern:
			if patternText[p] == "" {
				t.Errorf("%s: pattern without a sentence in patternText", where)
			}
		case nodeEnum:
			for _, v := range s.Enum.Values {
				if _, ok := v.(string); !ok {
					t.Errorf("%s: enum values must be strings", where)
				}
			}
		case nodeText:
			if s.MinLength == nil || *s.MinLength != 1 {
				t.Errorf("%s: free text has minLength 1 (text is trimmed and must not be empty)", where)
			}
		}
	}
	walk(cs.root, "")
	if len(seen) < 20 {
		t.Errorf("walked only %d nodes", len(seen))
	}
	// Texts and cross references the Go rules rely on.
	for _, f := range []string{"parts", "guides"} {
		if node(deref(cs.root.Properties[f])) != nodeArray {
			t.Errorf("%s is not an array", f)
		}
	}
}

// TestSidecarSchemaOrder: issues follow the schema's order of fields.
func TestSidecarSchemaOrder(t *testing.T) {
	cs := sidecarSchema()
	if got := cs.order[""]; !slices.Equal(got[:3], []string{"$schema", "object_type", "intended_use"}) {
		t.Errorf("top-level order %v", got)
	}
	_, err := ParseSidecar([]byte(`{"assessment": {"comment": 1}, "intended_use": "x", "object_type": 1, "zz": 1}`))
	var got []string
	for _, is := range err.(*SidecarError).Issues {
		got = append(got, is.Field+"/"+is.Rule)
	}
	want := []string{"(document)/unknown_field", "object_type/type", "intended_use/enum", "assessment.comment/type"}
	if !slices.Equal(got, want) {
		t.Errorf("issues %v, want %v", got, want)
	}
}

// TestSidecarNumbers: whole numbers are written as such, and a number
// beyond float64 costs nothing and is refused by its range.
func TestSidecarNumbers(t *testing.T) {
	for _, tc := range []struct{ copies, rule string }{{"1.0", "range"}, {"1e0", "range"}, {"1e999999", "range"}, {"-1e999999", "range"}, {`"2"`, "range"}, {"2", ""}} {
		_, err := ParseSidecar([]byte(edit(t, "prints", `[{"printer": {"label": "P", "technology": "material_jetting"}, "material": "M", "copies": `+tc.copies+`}]`)))
		switch {
		case tc.rule == "" && err != nil:
			t.Errorf("copies %s: %v", tc.copies, err)
		case tc.rule != "" && (err == nil || !strings.Contains(err.Error(), "prints[0].copies: must be a whole number from 1 to 100 (rule range)")):
			t.Errorf("copies %s: %v", tc.copies, err)
		}
	}
	// Stored as float64: a scale that rounds to 10 is 10, one that
	// rounds to 0 is refused.
	for _, tc := range []struct {
		scale string
		ok    bool
	}{{"10.0000000000000000001", true}, {"1e-999999", false}, {"10.001", false}, {"0.5", true}} {
		_, err := ParseSidecar([]byte(edit(t, "prints", `[{"printer": {"label": "P", "technology": "material_jetting"}, "material": "M", "scale": `+tc.scale+`}]`)))
		if (err == nil) != tc.ok {
			t.Errorf("scale %s: %v", tc.scale, err)
		}
	}
}

// TestSidecarRepeats: every repetition in a list is named, after the
// first, and a repeated item that is wrong anyway is named for that.
func TestSidecarRepeats(t *testing.T) {
	_, err := ParseSidecar([]byte(edit(t, "indications", `[{"icd10cm": ["C64.1", "C64.1", "c64", "C64.1", "c64"]}]`)))
	var got []string
	for _, is := range err.(*SidecarError).Issues {
		got = append(got, is.Field+"/"+is.Rule)
	}
	want := []string{"indications[0].icd10cm[1]/unique", "indications[0].icd10cm[2]/pattern", "indications[0].icd10cm[3]/unique", "indications[0].icd10cm[4]/pattern"}
	if !slices.Equal(got, want) {
		t.Errorf("issues %v, want %v", got, want)
	}
}

// sidecarIssuesGolden holds case.json documents and what ParseSidecar makes
// of them: the lines `ingest validate` prints, or the document as read.
const sidecarIssuesGolden = testdata + "/sidecar_issues.json"

type sidecarCase struct {
	In     string   `json:"in"`
	Issues []string `json:"issues,omitempty"`
	Read   *Sidecar `json:"read,omitempty"`
}

func sidecarOutcome(in string, parse func([]byte) (*Sidecar, error)) sidecarCase {
	c := sidecarCase{In: in}
	s, err := parse([]byte(in))
	if err == nil {
		c.Read = s
		return c
	}
	for _, is := range err.(*SidecarError).Issues {
		c.Issues = append(c.Issues, fmt.Sprintf("%d:%d %s", is.Line, is.Column, is))
	}
	return c
}

// TestSidecarIssuesGolden: valid and invalid documents (written by hand
// and by mutating valid ones) give the same issues, in the same order, at
// the same lines and columns, or are read the same (rewrite with -update).
func TestSidecarIssuesGolden(t *testing.T) {
	b, err := os.ReadFile(sidecarIssuesGolden)
	if err != nil {
		t.Fatal(err)
	}
	var want []sidecarCase
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	var got []sidecarCase
	for _, c := range want {
		got = append(got, sidecarOutcome(c.In, ParseSidecar))
	}
	gb, _ := json.MarshalIndent(got, "", "  ")
	gb = append(gb, '\n')
	if *update {
		if err := os.WriteFile(sidecarIssuesGolden, gb, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(gb, b) {
		for i := range want {
			if !reflect.DeepEqual(want[i], got[i]) {
				t.Errorf("case %d %q:\n got %v %+v\nwant %v %+v", i, want[i].In, got[i].Issues, got[i].Read, want[i].Issues, want[i].Read)
			}
		}
		if !t.Failed() {
			t.Error("the golden file is not written as the test writes it")
		}
	}
}

// TestParseSidecarConcurrent: workers validate case.json files at once
// with the one compiled schema.
func TestParseSidecarConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			in := validSidecar
			if i%2 == 1 {
				in = edit(t, "ordering_service", `"Urology"`)
			}
			for range 20 {
				_, err := ParseSidecar([]byte(in))
				if (err == nil) != (i%2 == 0) {
					t.Errorf("worker %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
