package casemodel

import (
	"fmt"
	"slices"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

func TestCPTSuggestion(t *testing.T) {
	seg := func(n int, segs ...Segment) Fact {
		return segFact(testRegistry(t, Config{}), 1, 50+n, 500+n, 2, n, segs...)
	}
	kidney := Segment{Number: 1, Type: sct("64033007", "Kidney"), TypeModifiers: []registry.Code{left}}
	kidneyR := Segment{Number: 2, Type: sct("64033007", "Kidney"), TypeModifiers: []registry.Code{{Code: "24028007", Scheme: "SCT"}}}
	tumor := Segment{Number: 3, Type: sct("108369006", "Neoplasm")}
	uncoded := Segment{Number: 4, Label: "stuff"}
	threeMF := func(objects int) Fact {
		f := stlFact(testRegistry(t, Config{}), fmt.Sprintf("m%d.3mf", objects), 1, "x", 10, 10)
		f.Format = "3mf"
		for range objects - 1 {
			f.Objects = append(f.Objects, f.Objects[0])
		}
		return f
	}
	sidecar := func(js string) Fact {
		s, err := ParseSidecar([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return SidecarFact{Origin: Origin{ID: "0123456789abcdef0123", Time: t0}, Sidecar: *s}
	}
	parts := func(n int) string {
		out := `{"object_type": "anatomic_model", "parts": [`
		for i := range n {
			if i > 0 {
				out += ","
			}
			out += `{"region": "Thorax", "structure": "Part"}`
		}
		return out + "]}"
	}
	tests := []struct {
		name  string
		facts []Fact
		basis string
		want  []registry.CPTCode
		note  bool
	}{
		{"nothing", nil, registry.BasisNone, nil, false},
		{"segments only, no model", []Fact{seg(1, kidney, tumor)}, registry.BasisNone, nil, false},
		{"model, segmented structures", []Fact{threeMF(1), seg(1, kidney, kidneyR, tumor), seg(2, kidney)}, registry.BasisSegmentedStructures,
			[]registry.CPTCode{{Code: "0559T", Units: 1}, {Code: "0560T", Units: 2}}, true},
		{"uncoded segments count each", []Fact{threeMF(1), seg(1, uncoded, tumor)}, registry.BasisSegmentedStructures,
			[]registry.CPTCode{{Code: "0559T", Units: 1}, {Code: "0560T", Units: 1}}, true},
		{"model objects", []Fact{threeMF(4)}, registry.BasisModelObjects, []registry.CPTCode{{Code: "0559T", Units: 1}, {Code: "0560T", Units: 3}}, true},
		{"lab parts win", []Fact{threeMF(4), seg(1, kidney), sidecar(parts(2))}, registry.BasisLabParts, []registry.CPTCode{{Code: "0559T", Units: 1}, {Code: "0560T", Units: 1}}, false},
		{"one part", []Fact{threeMF(1), sidecar(parts(1))}, registry.BasisLabParts, []registry.CPTCode{{Code: "0559T", Units: 1}}, false},
		{"above the MUE", []Fact{threeMF(1), sidecar(parts(7))}, registry.BasisLabParts, []registry.CPTCode{{Code: "0559T", Units: 1}, {Code: "0560T", Units: 6}}, true},
		{"guides from the lab", []Fact{threeMF(1), sidecar(`{"object_type": "anatomic_guide", "guides": [{"type": "cutting"}, {"type": "drilling"}, {"type": "other"}]}`)},
			registry.BasisLabGuides, []registry.CPTCode{{Code: "0561T", Units: 1}, {Code: "0562T", Units: 2}}, false},
		{"guides from model objects", []Fact{threeMF(2), sidecar(`{"object_type": "anatomic_guide"}`)}, registry.BasisModelObjects,
			[]registry.CPTCode{{Code: "0561T", Units: 1}, {Code: "0562T", Units: 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testRegistry(t, Config{})
			c, _ := NewCase(CaseID(r.key, "cpt"))
			r.Apply(c, r.IdentityFact(planted), t0)
			for _, f := range tt.facts {
				r.Apply(c, f, t0)
			}
			s := r.Snapshot(c).CPT
			var got []registry.CPTCode
			for _, cc := range s.Codes {
				if cc.Descriptor == "" {
					t.Errorf("%s has no descriptor", cc.Code)
				}
				got = append(got, registry.CPTCode{Code: cc.Code, Units: cc.Units})
			}
			if s.Basis != tt.basis || !slices.Equal(got, tt.want) || s.BasisDetail == "" {
				t.Errorf("got %s %v (%s), want %s %v", s.Basis, got, s.BasisDetail, tt.basis, tt.want)
			}
			if (len(s.Notes) > 0) != tt.note {
				t.Errorf("notes %v", s.Notes)
			}
		})
	}
}

// TestRegistryReadyConfigurable: the required set decides what is missing.
func TestRegistryReadyConfigurable(t *testing.T) {
	tests := []struct {
		required []string
		tick     bool
		want     []string
	}{
		{[]string{registry.ReqImaging}, false, []string{}},
		{[]string{registry.ReqImaging, registry.ReqStable}, false, []string{registry.ReqStable}},
		{[]string{registry.ReqImaging, registry.ReqStable}, true, []string{}},
		{[]string{registry.ReqSegmentation, registry.ReqThinSlice, registry.ReqModel}, false, []string{registry.ReqSegmentation, registry.ReqModel}},
		{[]string{registry.ReqIntendedUse, registry.ReqProcedure, registry.ReqAssessment}, false, []string{registry.ReqIntendedUse, registry.ReqProcedure, registry.ReqAssessment}},
	}
	for _, tt := range tests {
		r := testRegistry(t, Config{Required: tt.required})
		c, _ := NewCase(CaseID(r.key, "ready"))
		r.Apply(c, ctInstance(r, 1, 2, 3, 1, 0), at(0))
		if tt.tick {
			r.Tick(c, at(1000))
		}
		s := r.Snapshot(c)
		if !slices.Equal(s.Missing, tt.want) || s.RegistryReady != (len(tt.want) == 0) {
			t.Errorf("required %v tick %v: missing %v ready %v, want %v", tt.required, tt.tick, s.Missing, s.RegistryReady, tt.want)
		}
	}
}
