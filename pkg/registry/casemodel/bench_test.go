package casemodel

import (
	"testing"
)

// BenchmarkApplyInstance: merging one more CT instance into a case that
// already holds a 500-instance series, a SEG, three models and a case.json
// (the per-instance hot path of the pipeline: decode, apply, encode).
func BenchmarkApplyInstance(b *testing.B) {
	r := testRegistry(b, Config{})
	base, _ := fullCase(b, r, 500).Encode()
	b.ReportAllocs()
	b.SetBytes(int64(len(base)))
	i := 0
	for b.Loop() {
		c, err := Decode(base)
		if err != nil {
			b.Fatal(err)
		}
		i++
		if _, changed := r.Apply(c, ctInstance(r, 1, 2, 100000+i, 501, 1000), at(1000)); !changed {
			b.Fatal("not applied")
		}
		if _, err := c.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvent: building and encoding the event for a full case.
func BenchmarkEvent(b *testing.B) {
	r := testRegistry(b, Config{})
	c := fullCase(b, r, 500)
	ch, _ := c.LastChange()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Event(c, ch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScreen: screening a typical lab comment against a case's
// identifiers (no memo: a new screener each time).
func BenchmarkScreen(b *testing.B) {
	r := testRegistry(b, Config{})
	c, _ := NewCase(CaseID(r.key, "bench"))
	r.Apply(c, r.IdentityFact(planted), t0)
	text := "Exophytic lower pole mass, printed in two colours for the family meeting; artery and vein separate"
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := r.Screener(c).Screen("f", text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSidecar: parsing and validating a full case.json.
func BenchmarkParseSidecar(b *testing.B) {
	data := []byte(validSidecar)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseSidecar(data); err != nil {
			b.Fatal(err)
		}
	}
}
