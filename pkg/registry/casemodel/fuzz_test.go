package casemodel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

// FuzzParseSidecar: no input panics the case.json parser; what it accepts
// re-validates, applies to a case, and yields a schema-valid event.
func FuzzParseSidecar(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(testdata, "sidecar", "*.json"))
	files = append(files, "../../../config/case.example.jsonc")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{validSidecar, `{"object_type":"anatomic_guide","guides":[{"type":"cutting"}]}`, `/*`, `"`, `{"effort":{"cad":{"clinician":"unknown"}}}`, `[[[[[[`, `{"prints":[{"parts":[1e9]}]}`} {
		f.Add([]byte(s))
	}
	r := testRegistry(f, Config{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSidecar(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid case.json: ") {
				t.Fatalf("unexpected error form: %v", err)
			}
			return
		}
		if issues := checkSidecar(s, false); len(issues) > 0 {
			t.Fatalf("accepted a case.json that does not re-validate: %v", issues)
		}
		c, _ := NewCase(CaseID(r.key, "fuzz"))
		r.Apply(c, r.IdentityFact(planted), t0)
		ch, changed := r.Apply(c, SidecarFact{Origin: Origin{ID: "00112233445566778899", Time: t0}, Sidecar: *s}, t0)
		if !changed {
			t.Fatal("a valid case.json did not change the case")
		}
		if ch.Kind != registry.KindSidecarAdded {
			t.Fatalf("a valid case.json was recorded as %s", ch.Kind)
		}
		ev, id, err := r.Event(c, ch)
		if err != nil {
			t.Fatal(err)
		}
		validateEvent(t, ev, id)
		enc, _ := c.Encode()
		if _, err := Decode(enc); err != nil {
			t.Fatalf("the state with this case.json does not decode: %v", err)
		}
	})
}

// FuzzDecode: no stored state panics Decode; what it accepts re-encodes to
// the same bytes and yields a schema-valid event.
func FuzzDecode(f *testing.F) {
	r := testRegistry(f, Config{})
	for _, n := range []int{1, 3} {
		if b, err := fullCase(f, r, n).Encode(); err == nil {
			f.Add(b)
		}
	}
	empty, _ := NewCase(CaseID(r.key, "empty"))
	b, _ := empty.Encode()
	f.Add(b)
	f.Add([]byte(`{"format":1,"case_id":"9be848846331c87db38b17fe09e15d6c","version":0}`))
	f.Add([]byte(`{"format":1,"case_id":"9be848846331c87db38b17fe09e15d6c","version":1,"studies":[{"uid":"2.25.1","status":"stable","first":"2026-01-01T00:00:00Z","last":"2026-01-01T00:00:00Z","phase_start":"2026-01-01T00:00:00Z","series":[]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if bytes.Contains(b, []byte("Quisling")) && strings.Contains(err.Error(), "Quisling") {
				t.Fatalf("the error quotes the input: %v", err)
			}
			return
		}
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(enc)
		if err != nil {
			t.Fatalf("Encode wrote what Decode refuses: %v", err)
		}
		if enc2, _ := d.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatal("Encode is not stable")
		}
		if last, ok := c.LastChange(); ok {
			ev, id, err := r.Event(c, last)
			if err != nil {
				t.Fatal(err)
			}
			validateEvent(t, ev, id)
		}
		r.Tick(c, t0)
		r.Apply(c, ctInstance(r, 1, 2, 3, 1, 0), t0)
	})
}

// FuzzScreen: screening any text neither panics nor takes unbounded work,
// and a refusal only names the field and the rule.
func FuzzScreen(f *testing.F) {
	for _, s := range []string{"Quisling", "born 12.04.1965", "MRN-0077349", "a@b.cd", "+1 555 123 4567", "Ünïcödé", "\xff", strings.Repeat("ab ", 3000)} {
		f.Add(s)
	}
	r := testRegistry(f, Config{})
	s := screenerFor(f, r, planted)
	f.Fuzz(func(t *testing.T, text string) {
		err := s.Screen("field", text)
		if err != nil {
			se := err.(*ScreenError)
			if se.Field != "field" || ruleText[se.Rule] == "" {
				t.Fatalf("bad refusal %+v", se)
			}
		}
		_ = ScreenPatterns("field", text)
		_ = candidates(text)
	})
}
