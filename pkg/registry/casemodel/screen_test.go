package casemodel

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

func screenerFor(tb testing.TB, r *Registry, ids ...Identifiers) *Screener {
	tb.Helper()
	c, _ := NewCase(CaseID(r.key, "screen-test"))
	for _, id := range ids {
		r.Apply(c, r.IdentityFact(id), t0)
	}
	return r.Screener(c)
}

// TestScreenRefusesPlantedIdentifiers: text that spells any of the case's
// identifiers, in any usual form, is refused as a case identifier, and the
// error never repeats the value.
func TestScreenRefusesPlantedIdentifiers(t *testing.T) {
	r := testRegistry(t, Config{})
	s := screenerFor(t, r, planted)
	hits := []string{
		"Wilhelmina",
		"for QUISLING",
		"quïsling family",          // diacritics folded
		"Quisling-Ottilie",         // hyphenated
		"QuislingWilhelmina model", // run together
		"wilhelmina quisling",
		"MRN-0077349",
		"mrn 0077349",
		"77349",
		"id 0077349 left",
		"ACC2024011733",
		"acc 2024011733",
		"Acc-2024-011733",
		"NHS 943 476 5919",
		"9434765919",
		"born 1965-04-12",
		"born 12.04.1965",
		"DOB 04/12/1965",
		"12 April 1965",
		"Apr. 12, 1965",
		"19650412",
	}
	for _, text := range hits {
		err := s.Screen("lab.parts[0].comment", text)
		var se *ScreenError
		if !errors.As(err, &se) || se.Rule != registry.RuleCaseIdentifier {
			t.Errorf("Screen(%q) = %v, want rule %s", text, err, registry.RuleCaseIdentifier)
			continue
		}
		if se.Field != "lab.parts[0].comment" || !strings.Contains(err.Error(), "lab.parts[0].comment") {
			t.Errorf("the error does not name the field: %v", err)
		}
		low := strings.ToLower(err.Error())
		for _, w := range words(normalize(text)) {
			if len(w) > 3 && strings.Contains(low, w) {
				t.Errorf("the error for %q repeats %q: %v", text, w, err)
			}
		}
	}
	passes := []string{"Left kidney", "Renal mass, nephron-sparing surgery planning", "0.6 mm", "Br40d",
		"Omnipaque 350", "VeroClear and Agilus30", "J750 Digital Anatomy", "3D Slicer", "C64.1", "Richard",
		"Roe", "Printed in 2024", "Model revision 3, scale 1:1", "Heart and great vessels"}
	for _, text := range passes {
		if err := s.Screen("f", text); err != nil {
			t.Errorf("Screen(%q) = %v, want nil", text, err)
		}
	}
}

// TestScreenOtherCase: another patient's identifiers are not this case's,
// but the identifier patterns still catch the obvious ones.
func TestScreenOtherCase(t *testing.T) {
	r := testRegistry(t, Config{})
	s := screenerFor(t, r, Identifiers{PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: "B-17"})
	if err := s.Screen("f", "Wilhelmina"); err != nil {
		t.Errorf("another case's name was refused: %v", err)
	}
	if err := s.Screen("f", "Richard"); err == nil {
		t.Error("this case's name passed")
	}
	if err := s.Screen("f", "record 0077349"); err == nil || err.(*ScreenError).Rule != registry.RuleLongNumber {
		t.Errorf("a long number passed: %v", err)
	}
}

func TestScreenPatterns(t *testing.T) {
	tests := []struct{ text, rule string }{
		{"write to a.b@example.org", registry.RuleEmail},
		{"tel. 030 1234 5678", registry.RulePhone},
		{"+44 20 7946 0958", registry.RulePhone},
		{"case 12345678", registry.RuleLongNumber},
		{"SSN 123-45-6789", registry.RuleLongNumber},
		{"DOE^JOHN", registry.RuleDicomName},
		{"on 2023-11-05", registry.RuleDate},
		{"on 5/11/23", registry.RuleDate},
		{"on 5 Nov 2023", registry.RuleDate},
		{"on November 5th, 2023", registry.RuleDate},
		{"the patient name is on the box", registry.RuleIdentifierLabel},
		{"DOB unknown", registry.RuleIdentifierLabel},
		{"date of birth", registry.RuleIdentifierLabel},
		{"bell\x07", registry.RuleInvalidText},
		{"\xff\xfe", registry.RuleInvalidText},
		{"Left kidney", ""},
		{"v2.5.10 export", ""},
		{"1.25 mm, 512 x 512", ""},
		{"birth defect repair", ""},
		{"ICD-10 C64.1", ""},
	}
	for _, tt := range tests {
		err := ScreenPatterns("x", tt.text)
		got := ""
		if err != nil {
			got = err.(*ScreenError).Rule
		}
		if got != tt.rule {
			t.Errorf("ScreenPatterns(%q) rule %q, want %q", tt.text, got, tt.rule)
		}
	}
}

func TestScreenIdentityUnknown(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "x"))
	err := r.Screener(c).Screen("lab.material", "PLA")
	if err == nil || err.(*ScreenError).Rule != registry.RuleIdentityUnknown {
		t.Errorf("got %v, want %s", err, registry.RuleIdentityUnknown)
	}
	if err := r.Screener(c).Screen("f", ""); err != nil {
		t.Errorf("empty text: %v", err)
	}
}

// TestIdentityFactHoldsNoIdentifier: the identity fact is hashes only.
func TestIdentityFactHoldsNoIdentifier(t *testing.T) {
	r := testRegistry(t, Config{})
	f := r.IdentityFact(planted)
	b, _ := json.Marshal(struct {
		A, T []string
	}{f.Aliases, f.Tokens})
	assertNoPlanted(t, "identity fact", b)
	if len(f.Aliases) != 2 || len(f.Tokens) < 8 {
		t.Errorf("aliases %d tokens %d", len(f.Aliases), len(f.Tokens))
	}
	// Another key gives unrelated hashes.
	other, _ := testKeyFrom("another site secret of at least thirty-two bytes")
	k2, err := New(Config{}, other)
	if err != nil {
		t.Fatal(err)
	}
	if g := k2.IdentityFact(planted); g.Tokens[0] == f.Tokens[0] || g.Aliases[0] == f.Aliases[0] {
		t.Error("hashes do not depend on the site secret")
	}
}

// TestScreenAnonymisedUpstream: identifiers read but all empty (an object
// anonymised before it reached printreg) still release text that passes the
// patterns; a zero IdentityFact (none read) does not.
func TestScreenAnonymisedUpstream(t *testing.T) {
	r := testRegistry(t, Config{})
	c, _ := NewCase(CaseID(r.key, "anon"))
	if _, changed := r.Apply(c, IdentityFact{}, t0); changed {
		t.Error("an empty identity fact changed the case")
	}
	if err := r.Screener(c).Screen("f", "Heart"); err == nil || err.(*ScreenError).Rule != registry.RuleIdentityUnknown {
		t.Errorf("got %v before identifiers were read", err)
	}
	if _, changed := r.Apply(c, r.IdentityFact(Identifiers{}), t0); !changed {
		t.Error("reading empty identifiers did not change the case")
	}
	if err := r.Screener(c).Screen("f", "Heart"); err != nil {
		t.Errorf("got %v after identifiers were read", err)
	}
	if err := r.Screener(c).Screen("f", "MRN 12"); err == nil {
		t.Error("patterns are not applied")
	}
}

// TestScreenEveryScript: a patient whose name reached the worker in another
// character set (decoded to Unicode) is found in lab text written in any
// case or form, in scripts with and without spaces; text that names nobody
// in the same script passes.
func TestScreenEveryScript(t *testing.T) {
	r := testRegistry(t, Config{})
	cases := []struct {
		pn        string
		hits      []string
		harmless  string
		birthDate string
	}{
		{"GRÜNWALD^GRETE", []string{"Shown to Mr Grünwald before surgery", "grunwald", "GRUENWALD? no: GRÜNWALD"}, "Zeigen vor der Operation", ""},
		{"ИВАНОВА^МАРИЯ", []string{"Иванова бедро", "для ивановой? нет: Иванова", "МАРИЯ"}, "Печень и бедро", ""},
		{"ΠΑΠΑΔΟΠΟΥΛΟΥ^ΕΛΕΝΗ", []string{"κα Παπαδοπούλου", "Ελένη"}, "Ήπαρ", ""},
		{"王^伟", []string{"王伟 胸部", "CT 王 伟", "伟"}, "肝脏模型", ""},
		{"张^三", []string{"患者张三", "张三"}, "肝脏模型", ""},
		{"Yamada^Tarou=山田^太郎=やまだ^たろう", []string{"CT 山 田", "山田様", "ヤマダ? no: やまだ", "yamada"}, "肝臓モデル", ""},
		{"Hong^Gildong=洪^吉洞=홍^길동", []string{"홍길동 환자", "홍 길동"}, "간 모델", ""},
		{"SMITH^ANNA", []string{"CT 1970 03 14", "14 MAR 1970", "1970年3月14日", "14. März 1970"}, "CT chest", "19700314"},
	}
	for _, c := range cases {
		s := screenerFor(t, r, Identifiers{PatientName: c.pn, PatientID: "PID-4477", BirthDate: c.birthDate})
		for _, text := range c.hits {
			err := s.Screen("lab.comment", text)
			var se *ScreenError
			if !errors.As(err, &se) || se.Rule != registry.RuleCaseIdentifier {
				t.Errorf("%s: Screen(%q) = %v, want %s", c.pn, text, err, registry.RuleCaseIdentifier)
			}
		}
		if err := s.Screen("lab.comment", c.harmless); err != nil {
			t.Errorf("%s: harmless %q refused: %v", c.pn, c.harmless, err)
		}
	}
}

// TestPatternsReadFoldedText: full-width digits and letters are held to the
// same rules as ASCII.
func TestPatternsReadFoldedText(t *testing.T) {
	for text, rule := range map[string]string{
		"call ０３ １２３４ ５６７８":         registry.RulePhone,
		"ref １２３４５６７８":              registry.RuleLongNumber,
		"see ＭＲＮ in chart":          registry.RuleIdentifierLabel,
		"for Roe＾Jane":              registry.RuleDicomName,
		"mail jane．roe＠example.org": registry.RuleEmail,
	} {
		var se *ScreenError
		if err := ScreenPatterns("f", text); !errors.As(err, &se) || se.Rule != rule {
			t.Errorf("ScreenPatterns(%q) = %v, want %s", text, err, rule)
		}
	}
}

// TestScreenVerdictsSharedAcrossCases: what one case's screening leaves in
// the process-wide text cache never changes another case's verdict. The
// same texts are screened for three cases, in turn and in several orders
// (one with the planted identifiers, one with another patient's, one not
// yet identified), each against a registry of its own, which has an empty
// cache, as the reference.
func TestScreenVerdictsSharedAcrossCases(t *testing.T) {
	texts := []string{"Wilhelmina", "for QUISLING", "Richard", "MRN-0077349", "record 0077349", "Left kidney",
		"born 12.04.1965", "Renal mass, nephron-sparing surgery planning", "Roe", "55501", "B-17", "jane@example.org",
		strings.Repeat("long text without identifiers ", 30)} // past the cached length
	ids := []Identifiers{planted, {PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: "B-17"}, {}}
	want := func(who Identifiers, text string) string {
		r := testRegistry(t, Config{})
		return fmt.Sprint(screenWith(t, r, who).Screen("f", text))
	}
	shared := testRegistry(t, Config{})
	for round, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		for _, i := range order {
			s := screenWith(t, shared, ids[i])
			for _, text := range texts {
				if got, w := fmt.Sprint(s.Screen("f", text)), want(ids[i], text); got != w {
					t.Errorf("round %d, case %d, %.20q: %s, want %s", round, i, text, got, w)
				}
			}
		}
	}
}

// screenWith returns a screener for a case with identifiers who (none: a
// case whose identifiers were not read).
func screenWith(t *testing.T, r *Registry, who Identifiers) *Screener {
	t.Helper()
	if who.PatientName == "" && who.PatientID == "" && who.AccessionNumber == "" {
		return screenerFor(t, r)
	}
	return screenerFor(t, r, who)
}
