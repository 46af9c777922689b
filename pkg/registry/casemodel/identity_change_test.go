package casemodel

import (
	"slices"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// TestNewTokensChangeOnlyWhatTheyWithhold: a later instance of a study that
// is still receiving brings an identifier the case did not know (another
// Other Patient ID). When no published text holds it, the change is minor
// (stored without an event of its own); when the series description holds
// it, the change is published and the description withheld.
func TestNewTokensChangeOnlyWhatTheyWithhold(t *testing.T) {
	const extraID = "ZX-4417"
	for _, tc := range []struct {
		name      string
		desc      string
		wantMinor bool
	}{
		{"nothing withheld", "Arterial 0.6mm", true},
		{"description withheld", "Arterial ZX4417", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRegistry(t, DefaultConfig())
			c, err := NewCase(CaseID(r.key, "ACC-TOKENS"))
			if err != nil {
				t.Fatal(err)
			}
			first := ctInstance(r, 1, 2, 10, 3, 0)
			first.Description = tc.desc
			if _, ok := r.Apply(c, first, at(0)); !ok {
				t.Fatal("first instance changed nothing")
			}
			if s := r.Snapshot(c); s.Studies[0].Series[0].Description != tc.desc {
				t.Fatalf("description %q published before the new identifier, want %q", s.Studies[0].Series[0].Description, tc.desc)
			}
			second := ctInstance(r, 1, 2, 11, 3, 1)
			ids := planted
			ids.OtherPatientIDs = append(slices.Clone(ids.OtherPatientIDs), extraID)
			second.Identity = r.IdentityFact(ids)
			second.Description = tc.desc
			ch, ok := r.Apply(c, second, at(1))
			if !ok {
				t.Fatal("second instance changed nothing")
			}
			if ch.Minor != tc.wantMinor {
				t.Errorf("change minor = %v, want %v (%+v)", ch.Minor, tc.wantMinor, ch)
			}
			s := r.Snapshot(c)
			withheld := slices.Contains(s.Withheld, registry.Withheld{Field: "studies[0].series[0].description", Rule: registry.RuleCaseIdentifier})
			if withheld == tc.wantMinor {
				t.Errorf("description withheld = %v, want %v (withheld: %v)", withheld, !tc.wantMinor, s.Withheld)
			}
			// A third instance with the same identifiers changes only counts.
			third := ctInstance(r, 1, 2, 12, 3, 2)
			third.Identity, third.Description = second.Identity, tc.desc
			if ch, ok := r.Apply(c, third, at(2)); !ok || !ch.Minor {
				t.Errorf("third instance: change %+v, %v; want a minor change", ch, ok)
			}
		})
	}
}
