package textnorm

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	cases := []struct{ a, b string }{
		{"Müller", "MULLER"},
		{"GRÜNWALD", "grünwald"},
		{"Grünwald", "Grunwald"},
		{"ИВАНОВА", "Иванова"},
		{"ΠΑΠΑΔΟΠΟΥΛΟΣ", "παπαδοπουλος"},
		{"Παπαδόπουλος", "ΠΑΠΑΔΟΠΟΥΛΟΣ"},
		{"STRASSE", "straße"},
		{"ＹＡＭＡＤＡ", "yamada"},
		{"１９７０", "1970"},
		{"ﾔﾏﾀﾞ", "ヤマダ"},
		{"홍길동", "홍길동"},
		{"DOE^JOHN", "doe^john"},
	}
	for _, c := range cases {
		if Fold(c.a) != Fold(c.b) {
			t.Errorf("Fold(%q) = %q, Fold(%q) = %q", c.a, Fold(c.a), c.b, Fold(c.b))
		}
	}
	// Kana voicing marks and Hangul are not diacritics to drop.
	for _, pair := range [][2]string{{"ガ", "カ"}, {"바", "파"}} {
		if Fold(pair[0]) == Fold(pair[1]) {
			t.Errorf("%q and %q fold alike", pair[0], pair[1])
		}
	}
	if got := Fold("홍길동"); got != "홍길동" {
		t.Errorf("Hangul decomposed: %q", got)
	}
}

func TestFoldASCIIIsLower(t *testing.T) {
	for _, s := range []string{"", "abc", "ABC def 123", "Thorax 1.0 B30f"} {
		if Fold(s) != strings.ToLower(s) {
			t.Errorf("Fold(%q) = %q", s, Fold(s))
		}
	}
}

func TestSqueeze(t *testing.T) {
	cases := map[string]string{
		"CT 山 田":     "CT 山田",
		"山・田 太郎":     "山田太郎",
		"王伟 胸部":      "王伟胸部",
		"John Doe":   "John Doe",
		"CT 山 chest": "CT 山 chest",
		"홍 길동":       "홍길동",
	}
	for in, want := range cases {
		if got := Squeeze(in); got != want {
			t.Errorf("Squeeze(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDates(t *testing.T) {
	cases := []struct {
		text string
		want string // one of the dates found
	}{
		{"CT 1970 03 14", "19700314"},
		{"CT 1970-03-14", "19700314"},
		{"born 14.03.1970", "19700314"},
		{"14/3/1970", "19700314"},
		{"3/14/1970", "19700314"},
		{"14 Mar 1970", "19700314"},
		{"14 MARCH 1970", "19700314"},
		{"March 14, 1970", "19700314"},
		{"14. März 1970", "19700314"},
		{"14 mars 1970", "19700314"},
		{"14-MAR-1970", "19700314"},
		{"1970 Mar 14", "19700314"},
		{"19700314", "19700314"},
		{"1970年3月14日", "19700314"},
		{"１９７０年３月１４日", "19700314"},
		{"1970년 3월 14일", "19700314"},
		{"14/03/70", "19700314"},
	}
	for _, c := range cases {
		if got := Dates(c.text); !slices.Contains(got, c.want) {
			t.Errorf("Dates(%q) = %v, want %s among them", c.text, got, c.want)
		}
	}
	for _, text := range []string{"Thorax 1.0 B30f", "CT CHEST", "slice 5 of 120", "Br40d 3 mm", "2.25.1234", "kV 120 mAs 250", "T2 SPACE 0.9 iso", "1131"} {
		if got := Dates(text); len(got) > 0 {
			t.Errorf("Dates(%q) = %v, want none", text, got)
		}
	}
}

func TestDA(t *testing.T) {
	for in, want := range map[string]string{"19700314": "19700314", "1970-03-14": "19700314", "1970.03.14 ": "19700314"} {
		if got, ok := DA(in); !ok || got != want {
			t.Errorf("DA(%q) = %q %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "1970031", "19701314", "abcdefgh"} {
		if _, ok := DA(in); ok {
			t.Errorf("DA(%q) accepted", in)
		}
	}
}

func FuzzFold(f *testing.F) {
	for _, s := range []string{"Müller", "ИВАНОВА", "山田^太郎", "ＹＡＭＡＤＡ", "14 März 1970", "\xff\xfe", "ꮤᏔ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := Fold(s)
		if utf8.ValidString(s) && Fold(a) != a {
			t.Errorf("Fold is not idempotent on %q: %q then %q", s, a, Fold(a))
		}
		Squeeze(s)
		Dates(s)
	})
}

// TestFoldIdempotentOnEveryRune checks each code point once, so a case pair
// that folding swaps instead of merging (as Cherokee did) is found here and
// not by chance in fuzzing.
func TestFoldIdempotentOnEveryRune(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		a := Fold(string(r))
		if b := Fold(a); b != a {
			t.Errorf("Fold(%U) = %U, folded again %U", r, []rune(a), []rune(b))
		}
	}
	if Fold("ꮤ") != Fold("Ꮤ") {
		t.Error("the two cases of a Cherokee letter fold apart")
	}
}
