package casemodel

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// genFacts draws a random but plausible set of facts for one case:
// instances of a few series (some as several revisions), segmentations,
// models and case.json files with competing revisions, rejections of the
// same objects, and identifiers. Revisions share ids on purpose, some even
// share origin time and version, so the tie-breaks are exercised.
func genFacts(tb testing.TB, r *Registry, rng *rand.Rand) []Fact {
	var facts []Fact
	t := func() int { return rng.IntN(5000) }
	ids := []Identifiers{planted, {PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: "B-17", StudyInstanceUID: "1.2.3.4"}}
	for range rng.IntN(3) {
		f := r.IdentityFact(ids[rng.IntN(2)])
		if rng.IntN(2) == 0 {
			f.StudyUID = uid(1 + rng.IntN(3))
		}
		facts = append(facts, f)
	}
	actions := []string{registry.ResolveExclude, registry.ResolveAccept, registry.ResolveReset}
	for range rng.IntN(4) {
		// Same study and time with another action: the tie-break is exercised.
		facts = append(facts, ResolutionFact{StudyUID: uid(1 + rng.IntN(2)), Action: actions[rng.IntN(3)], Time: at(100 * rng.IntN(3))})
	}
	for st := range 1 + rng.IntN(2) {
		for se := range 1 + rng.IntN(3) {
			n := 1 + rng.IntN(6)
			for i := range n {
				f := ctInstance(r, 1+st, 10+10*st+se, 1000+100*st+10*se+i, 1+rng.IntN(n), t())
				if rng.IntN(4) == 0 {
					f.Origin.Version = version("rev", fmt.Sprint(rng.IntN(2)))
				}
				if rng.IntN(3) == 0 {
					f.Modality = "MR"
					f.Description = "Quisling T1" // screened out
				}
				if rng.IntN(5) == 0 {
					f.Identity = IdentityFact{}
				}
				if st == 1 && rng.IntN(3) == 0 {
					f.Identity = r.IdentityFact(ids[1]) // another patient under the same case
				}
				facts = append(facts, f)
			}
		}
	}
	segs := kidneySegments()
	for i := range rng.IntN(3) {
		for range 1 + rng.IntN(2) {
			k := 1 + rng.IntN(len(segs))
			f := segFact(r, 1, 90+i, 900+i, 10, t(), segs[:k]...)
			if rng.IntN(3) == 0 {
				f.Origin.Time = at(7) // same time, maybe same version: tie-break by content
				f.Origin.Version = "v"
			}
			facts = append(facts, f)
		}
	}
	for i := range rng.IntN(4) {
		key := fmt.Sprintf("models/case/part%d.stl", i)
		for range 1 + rng.IntN(2) {
			f := stlFact(r, key, t(), []string{"Kidney", "Tumor", "Quisling vessel", ""}[rng.IntN(4)], int64(1000+rng.IntN(9000)), float64(rng.IntN(100000))/7)
			if rng.IntN(4) == 0 {
				f.Origin.Time, f.Origin.Version = at(9), "same"
			}
			facts = append(facts, f)
		}
		if rng.IntN(4) == 0 {
			rj := RejectedFact{Origin: Origin{ID: objectKey(r, key), Version: "bad", Time: at(t())}, Reason: registry.ReasonMalformed, Detail: "truncated binary STL"}
			if rng.IntN(2) == 0 {
				rj.Issues = []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "stl: malformed model file: cannot read triangles 1 to 512"}}
			}
			facts = append(facts, rj)
		}
		if rng.IntN(5) == 0 {
			empty := stlFact(r, key, t(), "", 0, 0)
			empty.ModelMetrics, empty.Objects = ModelMetrics{}, nil
			facts = append(facts, empty)
		}
	}
	files := []string{"model_kidney.json", "guide_mandible.json", "model_early.json"}
	for i := range rng.IntN(3) {
		f := sidecarFact(tb, r, files[rng.IntN(len(files))], t())
		f.Origin.ID = objectKey(r, fmt.Sprintf("models/case/case%d.json", i))
		if rng.IntN(5) == 0 {
			f.Sidecar.ObjectType = "printed_thing" // invalid: recorded as a rejection
		}
		facts = append(facts, f)
	}
	return facts
}

// canonical is the stored state without the version and the last change,
// which count and name the updates and so depend on their order.
func canonical(tb testing.TB, c *Case) []byte {
	tb.Helper()
	cp := *c
	cp.version, cp.last = 0, nil
	b, err := cp.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func snapshotBytes(tb testing.TB, r *Registry, c *Case) []byte {
	tb.Helper()
	s := r.Snapshot(c)
	s.Version = 0
	return mustJSON(tb, s)
}

func applyAll(tb testing.TB, r *Registry, id string, facts []Fact) *Case {
	tb.Helper()
	c, err := NewCase(id)
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range facts {
		r.Apply(c, f, at(10000))
	}
	return c
}

// TestMergeOrderAndDuplication: the same facts in any order, any number of
// times, give the same stored state and the same snapshot; every random
// case's event validates against the schema.
func TestMergeOrderAndDuplication(t *testing.T) {
	r := testRegistry(t, Config{})
	id := CaseID(r.key, planted.AccessionNumber)
	rng := rand.New(rand.NewPCG(20260302, 1))
	iterations := 150
	if testing.Short() {
		iterations = 30
	}
	for it := range iterations {
		facts := genFacts(t, r, rng)
		base := applyAll(t, r, id, facts)
		want, wantSnap := canonical(t, base), snapshotBytes(t, r, base)
		for range 3 {
			perm := append([]Fact(nil), facts...)
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			for range rng.IntN(len(perm) + 1) { // duplicates anywhere
				perm = append(perm, perm[rng.IntN(len(perm))])
			}
			rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
			got := applyAll(t, r, id, perm)
			if !bytes.Equal(canonical(t, got), want) {
				t.Fatalf("iteration %d: state depends on the order of %d facts", it, len(facts))
			}
			if !bytes.Equal(snapshotBytes(t, r, got), wantSnap) {
				t.Fatalf("iteration %d: snapshot depends on the order", it)
			}
		}
		// Applying everything again changes nothing.
		for _, f := range facts {
			if _, changed := r.Apply(base, f, at(20000)); changed {
				t.Fatalf("iteration %d: a fact applied twice changed the case", it)
			}
		}
		// Ticking at the same moment gives the same result in every order.
		r.Tick(base, at(99999))
		ev, eid, err := r.Event(base, mustLast(t, base))
		if err != nil {
			t.Fatal(err)
		}
		validateEvent(t, ev, eid)
		assertNoPlanted(t, "random event", ev)
	}
}

func mustLast(tb testing.TB, c *Case) registry.Change {
	ch, ok := c.LastChange()
	if !ok {
		return registry.Change{Kind: registry.KindIdentity, Version: c.version}
	}
	return ch
}

// TestMergeCasesEqualsApply: splitting the facts between two cases and
// merging them gives what applying them all to one case gives (plus the
// merged case's id as an alias).
func TestMergeCasesEqualsApply(t *testing.T) {
	r := testRegistry(t, Config{})
	idA, idB := CaseID(r.key, "case-a"), CaseID(r.key, "case-b")
	rng := rand.New(rand.NewPCG(7, 7))
	for it := range 60 {
		facts := genFacts(t, r, rng)
		var fa, fb []Fact
		for _, f := range facts {
			if rng.IntN(2) == 0 {
				fa = append(fa, f)
			} else {
				fb = append(fb, f)
			}
		}
		a, b := applyAll(t, r, idA, fa), applyAll(t, r, idB, fb)
		r.Merge(a, b, at(10000))
		whole := applyAll(t, r, idA, append(facts, IdentityFact{Aliases: []string{idB}}))
		if !bytes.Equal(canonical(t, a), canonical(t, whole)) {
			t.Fatalf("iteration %d: merge differs from applying everything", it)
		}
	}
}

// TestSidecarTestdataValid keeps the testdata sidecars valid against both
// the validator and the JSON Schema.
func TestSidecarTestdataValid(t *testing.T) {
	_, sch := schemas(t)
	files, _ := filepath.Glob(filepath.Join(testdata, "sidecar", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		_, err := ParseSidecar(b)
		inst := mustUnmarshalAny(t, b)
		serr := sch.Validate(inst)
		invalid := filepath.Base(f) == "invalid_phi.json"
		if invalid != (err != nil) || invalid != (serr != nil) {
			t.Errorf("%s: validator %v, schema %v", f, err, serr)
		}
	}
}
