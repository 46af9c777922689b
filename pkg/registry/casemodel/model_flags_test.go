package casemodel

import (
	"slices"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// TestEmptyModelDoesNotMeetModel: a model with no triangles, or whose
// triangles cover no area or enclose no volume, is listed with a flag, does
// not meet the model requirement and is not counted for CPT; a real model
// next to it does.
func TestEmptyModelDoesNotMeetModel(t *testing.T) {
	real := func(r *Registry) ModelFact { return stlFact(r, "ACC/kidney.stl", 10, "Kidney", 120000, 150000) }
	tests := []struct {
		name  string
		edit  func(*ModelFact)
		flags []string
	}{
		{"real", func(*ModelFact) {}, nil},
		{"empty", func(m *ModelFact) {
			m.ModelMetrics = ModelMetrics{}
			m.Objects = nil
		}, []string{registry.ModelEmpty}},
		{"empty solid in an ASCII STL", func(m *ModelFact) {
			m.ModelMetrics = ModelMetrics{}
			m.Objects = []ModelObject{{Name: "Kidney"}}
		}, []string{registry.ModelEmpty}},
		{"no area", func(m *ModelFact) {
			m.ModelMetrics = ModelMetrics{Triangles: 12, Vertices: 3}
			m.Objects = nil
		}, []string{registry.ModelDegenerate}},
		{"flat", func(m *ModelFact) {
			m.ModelMetrics.VolumeMM3 = 0
			m.Objects = nil
		}, []string{registry.ModelDegenerate}},
		{"tiny but real", func(m *ModelFact) {
			m.ModelMetrics = ModelMetrics{Triangles: 12, Vertices: 8, VolumeMM3: 0.001, SurfaceAreaMM2: 0.06, Watertight: true, Shells: 1}
			m.Objects = nil
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRegistry(t, Config{Required: []string{registry.ReqImaging, registry.ReqModel}})
			c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
			r.Apply(c, ctInstance(r, 1, 2, 10, 1, 0), at(0))
			m := real(r)
			m.Origin.ID = objectKey(r, "ACC/"+tc.name+".stl")
			tc.edit(&m)
			ch, ok := r.Apply(c, m, at(10))
			if !ok {
				t.Fatal("no change")
			}
			b, id, err := r.Event(c, ch)
			if err != nil {
				t.Fatal(err)
			}
			validateEvent(t, b, id)
			s := r.Snapshot(c)
			if len(s.Models) != 1 || !slices.Equal(s.Models[0].Flags, tc.flags) {
				t.Fatalf("models %+v, want flags %v", s.Models, tc.flags)
			}
			usable := tc.flags == nil
			if s.RegistryReady != usable || slices.Contains(s.Missing, registry.ReqModel) == usable {
				t.Errorf("ready %v missing %v", s.RegistryReady, s.Missing)
			}
			if (len(s.CPT.Codes) > 0) != usable || (s.CPT.ObjectTypeBasis == "assumed") != usable {
				t.Errorf("CPT %+v", s.CPT)
			}
			if usable {
				return
			}
			// A real model next to the flagged one meets the requirement.
			if _, ok := r.Apply(c, real(r), at(20)); !ok {
				t.Fatal("no change")
			}
			s = r.Snapshot(c)
			if !s.RegistryReady || s.CPT.Components != 1 {
				t.Errorf("with a real model: ready %v missing %v CPT %+v", s.RegistryReady, s.Missing, s.CPT)
			}
		})
	}
}
