package casemodel

import (
	"slices"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/sitekey"
)

func testKeyFrom(secret string) (*sitekey.Key, error) { return sitekey.New([]byte(secret)) }

func TestCaseID(t *testing.T) {
	k := testKey(t)
	a := CaseID(k, "ACC2024011733")
	tests := []struct {
		name string
		ref  string
		same bool
	}{
		{"same reference", "ACC2024011733", true},
		{"DICOM padding", "ACC2024011733 ", true},
		{"NUL padding", "ACC2024011733\x00", true},
		{"surrounding space", "  ACC2024011733\n", true},
		{"case matters", "acc2024011733", false},
		{"another reference", "ACC2024011734", false},
	}
	for _, tt := range tests {
		if got := CaseID(k, tt.ref); (got == a) != tt.same {
			t.Errorf("%s: CaseID = %s, same = %v", tt.name, got, got == a)
		}
	}
	if !registry.IsCaseID(a) || CaseID(k, "  ") != "" || CaseID(nil, "x") != "" {
		t.Errorf("case id %q; empty reference %q", a, CaseID(k, " "))
	}
	k2, _ := testKeyFrom("another site secret of at least thirty-two bytes")
	if CaseID(k2, "ACC2024011733") == a {
		t.Error("the case id does not depend on the site secret")
	}
	if registry.Subject(a) != "registry.case."+a {
		t.Error(registry.Subject(a))
	}
}

func TestStudyAliases(t *testing.T) {
	k := testKey(t)
	acc, uid := CaseID(k, "A1"), CaseID(k, "1.2.3")
	tests := []struct {
		acc, uid string
		want     []string
	}{
		{"A1", "1.2.3", []string{acc, uid}},
		{"", "1.2.3", []string{uid}},
		{"A1", "", []string{acc}},
		{"A1", "A1", []string{acc}},
		{"", "", nil},
	}
	for _, tt := range tests {
		if got := StudyAliases(k, tt.acc, tt.uid); !slices.Equal(got, tt.want) {
			t.Errorf("StudyAliases(%q, %q) = %v, want %v", tt.acc, tt.uid, got, tt.want)
		}
	}
}

func TestNewCaseRejectsBadID(t *testing.T) {
	for _, id := range []string{"", "ACC2024011733", "9BE848846331C87DB38B17FE09E15D6C", "9be8488463"} {
		if _, err := NewCase(id); err == nil {
			t.Errorf("NewCase(%q) accepted", id)
		}
	}
}

// TestUnsafeIDsAreHashed: ids and UIDs that are not in remapped form never
// reach an event as they were given.
func TestUnsafeIDsAreHashed(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "x"))
	f := ctInstance(r, 1, 2, 3, 1, 0)
	f.Origin.ID = "lab-drop/Quisling_Wilhelmina/ct/001.dcm"
	f.StudyUID = planted.StudyInstanceUID
	f.SeriesUID = "1.2.826.0.1.3680043.8.498.99"
	r.Apply(c, f, t0)
	m := ModelFact{Origin: Origin{ID: "models/ACC2024011733/quisling.stl", Time: t0}, Format: "STL"}
	r.Apply(c, m, t0)
	b, id, err := r.Event(c, mustLast(t, c))
	if err != nil {
		t.Fatal(err)
	}
	assertNoPlanted(t, "event", b)
	validateEvent(t, b, id)
	s := r.Snapshot(c)
	if s.Studies[0].StudyUID == planted.StudyInstanceUID || !reRemapped.MatchString(s.Studies[0].Series[0].SeriesUID) {
		t.Errorf("UIDs not remapped: %+v", s.Studies[0])
	}
}
