package casemodel

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// TestPatientKey: the keyed patient identity ignores how an ID or a name is
// written, tells different patients apart, falls back to name and birth
// date without an ID, and is unrelated to the other keyed values.
func TestPatientKey(t *testing.T) {
	r := testRegistry(t, Config{})
	base := planted
	with := func(edit func(*Identifiers)) Identifiers {
		id := base
		edit(&id)
		return id
	}
	key := r.patientKey(base)
	idHalf, ndHalf := splitPatientKey(key)
	if !validPatientKey(key) || idHalf == "" || ndHalf == "" {
		t.Fatalf("key %q", key)
	}
	tests := []struct {
		name     string
		id       Identifiers
		sameID   bool // same ID half as base
		sameND   bool // same name-and-birth-date half
		emptyID  bool
		emptyND  bool
		emptyKey bool
	}{
		{"same", base, true, true, false, false, false},
		{"ID written otherwise", with(func(i *Identifiers) { i.PatientID = " mrn 0077349\x00" }), true, true, false, false, false},
		{"name in other case and padding", with(func(i *Identifiers) { i.PatientName = "QUISLING^WILHELMINA^OTTILIE^^" }), true, true, false, false, false},
		{"other accession and study", with(func(i *Identifiers) { i.AccessionNumber, i.StudyInstanceUID = "2", "1.2.3" }), true, true, false, false, false},
		{"other ID", with(func(i *Identifiers) { i.PatientID = "MRN-0077350" }), false, true, false, false, false},
		{"other birth date", with(func(i *Identifiers) { i.BirthDate = "19650413" }), true, false, false, false, false},
		{"no ID", with(func(i *Identifiers) { i.PatientID = "" }), false, true, true, false, false},
		{"no birth date", with(func(i *Identifiers) { i.BirthDate = "" }), true, false, false, true, false},
		{"nothing", Identifiers{AccessionNumber: "2"}, false, false, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := r.patientKey(tc.id)
			if tc.emptyKey {
				if k != "" {
					t.Fatalf("key %q, want none", k)
				}
				return
			}
			if !validPatientKey(k) {
				t.Fatalf("key %q is not valid", k)
			}
			id, nd := splitPatientKey(k)
			if (id == "") != tc.emptyID || (nd == "") != tc.emptyND {
				t.Errorf("key %q: halves empty %v %v, want %v %v", k, id == "", nd == "", tc.emptyID, tc.emptyND)
			}
			if !tc.emptyID && (id == idHalf) != tc.sameID {
				t.Errorf("ID half equal %v, want %v", id == idHalf, tc.sameID)
			}
			if !tc.emptyND && (nd == ndHalf) != tc.sameND {
				t.Errorf("name half equal %v, want %v", nd == ndHalf, tc.sameND)
			}
		})
	}
	// Domain separation: neither half is a screening token or a case id of
	// the same value.
	f := r.IdentityFact(base)
	if f.Patient != key {
		t.Errorf("IdentityFact carries %q, want %q", f.Patient, key)
	}
	for _, v := range []string{r.tokenHash(normPatientID(base.PatientID)), CaseID(r.key, base.PatientID), r.tokenHash("mrn0077349")} {
		if strings.Contains(key, v) || strings.Contains(key, v[:16]) {
			t.Errorf("the patient key shares a keyed value with another domain")
		}
	}
	assertNoPlanted(t, "patient key", []byte(key))
}

// study builds the first instance of a study of the given patient.
func studyOf(r *Registry, id Identifiers, study, sec int) SeriesFact {
	f := ctInstance(r, study, study*10, study*100, 1, sec)
	f.Identity = r.IdentityFact(id)
	return f
}

// TestPatientMismatch: studies of one case that name different patients
// give a patient_mismatch conflict (the case is not registry-ready, the
// event says so without an identifier) unless nothing tells them apart.
func TestPatientMismatch(t *testing.T) {
	other := Identifiers{PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: planted.AccessionNumber, BirthDate: "19700101"}
	noID := func(id Identifiers) Identifiers { id.PatientID = ""; return id }
	noNameDate := func(id Identifiers) Identifiers { id.PatientName, id.BirthDate = "", ""; return id }
	renamed := planted
	renamed.PatientName = "Quisling-Smith^Wilhelmina"
	tests := []struct {
		name   string
		ids    []Identifiers // one study each
		groups [][]int       // expected groups of study numbers (1-based); nil: no conflict
	}{
		{"one patient, two studies", []Identifiers{planted, planted}, nil},
		{"two patient IDs", []Identifiers{planted, other}, [][]int{{1}, {2}}},
		{"three studies, two patients", []Identifiers{planted, other, planted}, [][]int{{1, 3}, {2}}},
		{"same ID, name changed", []Identifiers{planted, renamed}, nil},
		{"no ID, same name and birth date", []Identifiers{planted, noID(planted)}, nil},
		{"no ID, other name and birth date", []Identifiers{planted, noID(other)}, [][]int{{1}, {2}}},
		{"nothing to tell them apart", []Identifiers{noNameDate(planted), noID(other)}, nil},
		{"two without IDs", []Identifiers{noID(planted), noID(other)}, [][]int{{1}, {2}}},
		{"anonymised upstream", []Identifiers{planted, {AccessionNumber: planted.AccessionNumber}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRegistry(t, Config{Required: []string{registry.ReqImaging}})
			c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
			var last registry.Change
			for i, id := range tc.ids {
				ch, ok := r.Apply(c, studyOf(r, id, i+1, i), at(i))
				if !ok {
					t.Fatalf("study %d changed nothing", i+1)
				}
				last = ch
			}
			s := r.Snapshot(c)
			if tc.groups == nil {
				if len(s.Conflicts) != 0 || !s.RegistryReady {
					t.Errorf("conflicts %+v ready %v", s.Conflicts, s.RegistryReady)
				}
				return
			}
			if len(s.Conflicts) != 1 || s.Conflicts[0].Kind != registry.ConflictPatientMismatch {
				t.Fatalf("conflicts %+v", s.Conflicts)
			}
			var want []registry.ConflictGroup
			for _, g := range tc.groups {
				var uids []string
				for _, n := range g {
					uids = append(uids, uid(n))
				}
				want = append(want, registry.ConflictGroup{StudyUIDs: uids})
			}
			if !slices.EqualFunc(s.Conflicts[0].Groups, want, func(a, b registry.ConflictGroup) bool { return slices.Equal(a.StudyUIDs, b.StudyUIDs) }) {
				t.Errorf("groups %+v, want %+v", s.Conflicts[0].Groups, want)
			}
			if s.RegistryReady || !slices.Equal(s.Missing, []string{registry.ReqNoConflict}) {
				t.Errorf("ready %v missing %v", s.RegistryReady, s.Missing)
			}
			if last.Minor || !last.ReadyChanged && len(tc.ids) == 2 {
				t.Errorf("the change that raised the conflict is %+v", last)
			}
			b, id, err := r.Event(c, last)
			if err != nil {
				t.Fatal(err)
			}
			validateEvent(t, b, id)
			assertNoPlanted(t, "event", b)
			for _, x := range []string{"roe", "richard", "55501", "19700101"} {
				if bytes.Contains(bytes.ToLower(b), []byte(x)) {
					t.Errorf("the event holds %q", x)
				}
			}
			enc, _ := c.Encode()
			assertNoPlanted(t, "stored case", enc)
			if d, err := Decode(enc); err != nil {
				t.Errorf("decode: %v", err)
			} else if enc2, _ := d.Encode(); !bytes.Equal(enc, enc2) {
				t.Error("encode(decode(x)) != x")
			}
		})
	}
}

// TestPatientMismatchFromOtherObjects: a segmentation, an Encapsulated
// model or an object applied with its identity alone (a refused DICOM
// object) of another patient raises the conflict too, under its study.
func TestPatientMismatchFromOtherObjects(t *testing.T) {
	other := Identifiers{PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: planted.AccessionNumber, StudyInstanceUID: "1.2.3"}
	r := testRegistry(t, Config{})
	alone := r.IdentityFact(other)
	alone.StudyUID = uid(7)
	seg := segFact(r, 8, 80, 800, 2, 3, kidneySegments()[:1]...)
	seg.Identity = r.IdentityFact(other)
	model := stlFact(r, "x", 4, "Kidney", 100, 1000)
	model.Origin.ID, model.Container, model.StudyUID, model.SeriesUID = uid(900), "dicom", uid(9), uid(90)
	model.Identity = r.IdentityFact(other)
	for _, tc := range []struct {
		name  string
		fact  Fact
		study string
	}{
		{"identity alone", alone, uid(7)},
		{"segmentation", seg, uid(8)},
		{"encapsulated model", model, uid(9)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
			r.Apply(c, ctInstance(r, 1, 2, 10, 1, 0), at(0))
			if _, ok := r.Apply(c, tc.fact, at(5)); !ok {
				t.Fatal("no change")
			}
			s := r.Snapshot(c)
			if len(s.Conflicts) != 1 || len(s.Conflicts[0].Groups) != 2 || !slices.Contains(s.Conflicts[0].Groups[1].StudyUIDs, tc.study) {
				t.Errorf("conflicts %+v", s.Conflicts)
			}
		})
	}
}

// TestResolveConflict: an operator excludes the study that does not belong
// (it leaves the snapshot with its segmentation) or accepts it as the same
// patient; either clears the conflict and the case becomes ready; a reset
// brings the conflict back; the latest decision wins whatever the order.
func TestResolveConflict(t *testing.T) {
	other := Identifiers{PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: planted.AccessionNumber}
	r := testRegistry(t, Config{Required: []string{registry.ReqImaging, registry.ReqSegmentation}})
	build := func() *Case {
		c, _ := NewCase(CaseID(r.key, planted.AccessionNumber))
		r.Apply(c, studyOf(r, planted, 1, 0), at(0))
		r.Apply(c, segFact(r, 1, 11, 110, 10, 1, kidneySegments()[:1]...), at(1))
		wrong := studyOf(r, other, 2, 2)
		r.Apply(c, wrong, at(2))
		seg := segFact(r, 2, 21, 210, 20, 3, kidneySegments()[1:2]...)
		seg.Identity = r.IdentityFact(other)
		r.Apply(c, seg, at(3))
		if s := r.Snapshot(c); len(s.Conflicts) != 1 || s.RegistryReady {
			t.Fatalf("no conflict: %+v", s.Conflicts)
		}
		return c
	}
	tests := []struct {
		name      string
		facts     []ResolutionFact
		conflict  bool
		studies   int
		segs      int
		decisions []registry.Resolution
	}{
		{"exclude", []ResolutionFact{{StudyUID: uid(2), Action: registry.ResolveExclude, Time: at(100)}}, false, 1, 1,
			[]registry.Resolution{{StudyUID: uid(2), Action: registry.ResolveExclude}}},
		{"accept", []ResolutionFact{{StudyUID: uid(2), Action: registry.ResolveAccept, Time: at(100)}}, false, 2, 2,
			[]registry.Resolution{{StudyUID: uid(2), Action: registry.ResolveAccept}}},
		{"exclude then reset", []ResolutionFact{{StudyUID: uid(2), Action: registry.ResolveExclude, Time: at(100)}, {StudyUID: uid(2), Action: registry.ResolveReset, Time: at(200)}}, true, 2, 2, nil},
		{"reset arriving first", []ResolutionFact{{StudyUID: uid(2), Action: registry.ResolveReset, Time: at(200)}, {StudyUID: uid(2), Action: registry.ResolveExclude, Time: at(100)}}, true, 2, 2, nil},
		{"exclude the other one", []ResolutionFact{{StudyUID: uid(1), Action: registry.ResolveExclude, Time: at(100)}}, false, 1, 1,
			[]registry.Resolution{{StudyUID: uid(1), Action: registry.ResolveExclude}}},
		{"unknown action", []ResolutionFact{{StudyUID: uid(2), Action: "merge", Time: at(100)}}, true, 2, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := build()
			var last registry.Change
			for _, f := range tc.facts {
				if ch, ok := r.Apply(c, f, at(300)); ok {
					last = ch
					if ch.Kind != registry.KindStudyResolution || !slices.Equal(ch.StudyUIDs, []string{f.StudyUID}) {
						t.Errorf("change %+v", ch)
					}
				}
			}
			s := r.Snapshot(c)
			if (len(s.Conflicts) > 0) != tc.conflict || s.RegistryReady == tc.conflict {
				t.Errorf("conflicts %+v ready %v missing %v", s.Conflicts, s.RegistryReady, s.Missing)
			}
			if len(s.Studies) != tc.studies || len(s.Segmentations) != tc.segs || s.Counts.Studies != tc.studies || s.Counts.Segmentations != tc.segs {
				t.Errorf("studies %d segmentations %d counts %+v", len(s.Studies), len(s.Segmentations), s.Counts)
			}
			if !slices.Equal(s.Resolutions, tc.decisions) {
				t.Errorf("resolutions %+v, want %+v", s.Resolutions, tc.decisions)
			}
			if last.Kind != "" {
				b, id, err := r.Event(c, last)
				if err != nil {
					t.Fatal(err)
				}
				validateEvent(t, b, id)
			}
			enc, _ := c.Encode()
			if d, err := Decode(enc); err != nil {
				t.Errorf("decode: %v", err)
			} else if enc2, _ := d.Encode(); !bytes.Equal(enc, enc2) {
				t.Error("encode(decode(x)) != x")
			}
			// Applying the decisions again changes nothing.
			for _, f := range tc.facts {
				if _, ok := r.Apply(c, f, at(400)); ok {
					t.Error("a decision applied twice changed the case")
				}
			}
		})
	}
}
