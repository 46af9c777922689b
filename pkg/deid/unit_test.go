package deid

import (
	"errors"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

func TestShiftDates(t *testing.T) {
	tests := []struct {
		vr       dicomx.VR
		in, want string
		ok       bool
	}{
		{dicomx.VRDA, "20200302", "20200301", true},
		{dicomx.VRDA, "2020.03.02", "20200301", true},
		{dicomx.VRDA, `20200302\20210101`, `20200301\20201231`, true},
		{dicomx.VRDA, "20200101-20200302", "20191231-20200301", true},
		{dicomx.VRDA, "-20200302", "-20200301", true},
		{dicomx.VRDA, "20200302-", "20200301-", true},
		{dicomx.VRDA, "", "", true},
		{dicomx.VRDA, "2020030", "", false},
		{dicomx.VRDA, "20201302", "", false},
		{dicomx.VRDA, "JOHN", "", false},
		{dicomx.VRDT, "20200302101112.123456+0100", "20200301101112.123456+0100", true},
		{dicomx.VRDT, "20200302-0500", "20200301-0500", true},
		{dicomx.VRDT, "2020030210", "2020030110", true},
		{dicomx.VRDT, "202003", "202003", true},
		{dicomx.VRDT, "2020", "2020", true},
		{dicomx.VRDT, "20200101000000-20200302", "20191231000000-20200301", true},
		{dicomx.VRDT, "20200302+01", "", false},
		{dicomx.VRDT, "2020x", "", false},
	}
	for _, tt := range tests {
		var got string
		var ok bool
		if tt.vr == dicomx.VRDA {
			got, ok = shiftDA(tt.in, -1)
		} else {
			got, ok = shiftDT(tt.in, -1)
		}
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s %q: got %q %v, want %q %v", tt.vr, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCapAge(t *testing.T) {
	for in, want := range map[string]string{"045Y": "045Y", "089Y": "089Y", "090Y": "090Y", "104Y": "090Y",
		"1100M": "", "1079M": "", "900M": "900M", "011M": "011M", "999W": "999W", "033000D": "", "45Y": "", "": ""} {
		got, ok := capAge(in)
		if want == "" && in != "" {
			if ok {
				t.Errorf("%q: accepted as %q", in, got)
			}
			continue
		}
		if got != want {
			t.Errorf("%q: got %q want %q", in, got, want)
		}
	}
}

func TestRemapUID(t *testing.T) {
	k := testKey(t, "uid-secret-")
	a := RemapUID(k, "1.2.826.0.1.3680043.10.1")
	if a != RemapUID(k, "1.2.826.0.1.3680043.10.1\x00") || a != RemapUID(k, " 1.2.826.0.1.3680043.10.1 ") {
		t.Error("padding changes the mapping")
	}
	if !strings.HasPrefix(a, "2.25.") || len(a) > 64 || strings.Contains(a[5:], ".") || (len(a) > 5 && a[5] == '0') {
		t.Errorf("not a valid 2.25 UID: %q", a)
	}
	if a == RemapUID(k, "1.2.826.0.1.3680043.10.2") || a == RemapUID(testKey(t, "other-secret-"), "1.2.826.0.1.3680043.10.1") {
		t.Error("collision")
	}
	for _, w := range []string{dicomx.CTImageStorage, dicomx.ExplicitVRLittleEndian, "1.2.840.10008.1.1", "2.16.840.1.113883.6.96", ""} {
		if RemapUID(k, w) != w {
			t.Errorf("well-known UID %q remapped", w)
		}
	}
}

// TestWellKnownUID: a UID under a well-known root, or the root itself, is
// well known; a UID that only shares the root's leading digits is not.
func TestWellKnownUID(t *testing.T) {
	for _, tc := range []struct {
		uid  string
		want bool
	}{
		{"1.2.840.10008.1.2.1", true},
		{"1.2.840.10008", true},
		{"2.16.840.1.113883.6", true},
		{"2.16.840.1.113883.4.1", true},
		{"1.2.840.1000", false},
		{"1.2.840.100081", false},
		{"1.2.840.10008.", true},
		{"1.2.826.0.1.3680043.10.1", false},
		{"", false},
	} {
		if got := WellKnownUID(tc.uid); got != tc.want {
			t.Errorf("WellKnownUID(%q) = %v, want %v", tc.uid, got, tc.want)
		}
	}
}

func TestPseudonymNormalisation(t *testing.T) {
	k := testKey(t, "pn-secret-")
	same := [][2]string{{"", "Doe^John^^^"}, {"", "DOE^JOHN"}, {"", " doe ^ john "}, {"", "Doe^John="}}
	p0 := Pseudonym(k, same[0][0], same[0][1])
	for _, s := range same[1:] {
		if Pseudonym(k, s[0], s[1]) != p0 {
			t.Errorf("%q maps differently", s[1])
		}
	}
	if Pseudonym(k, "MRN1", "Doe^John") != Pseudonym(k, " mrn1 ", "Other^Name") {
		t.Error("the patient ID decides the pseudonym")
	}
	if Pseudonym(k, "MRN1", "") == Pseudonym(k, "MRN2", "") {
		t.Error("two patients share a pseudonym")
	}
	d := DateOffsetDays(k, "MRN1", "")
	if d%7 != 0 || d > -364 || d < -3640 || d != DateOffsetDays(k, "mrn1", "x") {
		t.Errorf("offset %d", d)
	}
}

func TestDescriptorCleaning(t *testing.T) {
	v := newVocabulary([]string{"SiteWord"})
	id := newIdentity()
	id.addName("Brustmann^Anna")
	id.addID("MRN12345")
	for text, want := range map[string]bool{
		"CT CHEST ABD PELVIS W CONTRAST": true,
		"Thorax 1.0 B30f":                true, // kernel names split into single letters and numbers
		"AXIAL 1.25mm":                   true,
		"PTV70":                          true,
		"SpinalCord":                     true,
		"Femur_L":                        true,
		"Liver segment 4":                true,
		"siteword":                       true,
		"Dr Smith":                       false,
		"ANNA liver":                     false,
		"liver MRN12345":                 false,
		"chest 2024-03-12":               false,
		"chest 20240312":                 false,
		"":                               true,
	} {
		if got := v.safeDescriptor(text, id); got != want {
			t.Errorf("%q: got %v", text, got)
		}
	}
	if got := tokens("PTVHigh_70Gy SpinalCord"); strings.Join(got, ",") != "PTV,High,70,Gy,Spinal,Cord" {
		t.Errorf("tokens: %v", got)
	}
}

func TestMatcher(t *testing.T) {
	m := newMatcher([]string{"john", "DOE", "ohn^d", "19610723", "he"})
	var hits []int
	m.find([]byte("xx JOHN^DOE yy 19610723 she"), func(i int) { hits = append(hits, i) })
	sort.Ints(hits)
	if len(hits) != 5 || hits[0] != 0 || hits[1] != 1 || hits[2] != 2 || hits[3] != 3 || hits[4] != 4 {
		t.Errorf("hits %v", hits)
	}
	newMatcher(nil).find([]byte("abc"), func(int) { t.Error("empty matcher hit") })
}

func TestProfiles(t *testing.T) {
	for _, f := range []string{"../../config/deid-registry.yaml", "../../config/deid-basic.yaml"} {
		p, err := LoadProfile(f)
		if err != nil {
			t.Fatal(err)
		}
		want := RegistryProfile()
		if strings.Contains(f, "basic") {
			want = BasicProfile()
		}
		if strings.Join(p.Options(), ",") != strings.Join(want.Options(), ",") || p.Name != want.Name {
			t.Errorf("%s: %v, built-in %v", f, p.Options(), want.Options())
		}
		if strings.Join(p.BurnedIn.RefuseModalities, ",") != strings.Join(want.BurnedIn.RefuseModalities, ",") {
			t.Errorf("%s: burned-in modalities differ from the built-in profile", f)
		}
	}
	bad := map[string]string{
		"unknown key":     "name: x\nretain_uid: true\n",
		"both date modes": "retain_longitudinal_full_dates: true\nretain_longitudinal_modified_dates: true\n",
		"bad allowlist":   "text_allowlist: [\"PatientName\"]\n",
		"private":         "text_allowlist: [\"(0009,1001)\"]\n",
		"wrong type":      "clean_descriptors: maybe\n",
	}
	for name, y := range bad {
		if _, err := ParseProfile([]byte(y)); !errors.Is(err, ErrProfile) {
			t.Errorf("%s: %v", name, err)
		}
	}
	p, err := ParseProfile([]byte("name: site\nclean_descriptors: true\ntext_allowlist: [\"(0008,103E)\"]\n"))
	if err != nil || !p.CleanDescriptors || len(p.BurnedIn.RefuseModalities) == 0 {
		t.Errorf("%+v %v", p, err)
	}
}

func TestBurnedInPolicy(t *testing.T) {
	base := func(extra ...*dicomx.Element) []byte {
		els := append([]*dicomx.Element{
			dicomx.NewText(tagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.9"),
		}, extra...)
		return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
	}
	e := newEngine(t, RegistryProfile())
	cases := map[string]struct {
		in     []byte
		reason string
	}{
		"flag":     {base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage), dicomx.NewText(tagBurnedInAnnotation, dicomx.VRCS, "YES")), ReasonBurnedIn},
		"US class": {base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.UltrasoundImageStorage)), ReasonBurnedInSOP},
		"modality": {base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage), dicomx.NewText(tagModality, dicomx.VRCS, "XC")), ReasonBurnedInModal},
		"overlay":  {base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage), dicomx.NewUint16(0x60000010, false, 4)), ReasonOverlayInPixels},
		"dicomdir": {base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, mediaStorageDirectory)), ReasonDICOMDIR},
	}
	for name, c := range cases {
		_, _, err := deidBytes(t, e, c.in, false)
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("%s: not refused: %v", name, err)
			continue
		}
		if c.reason != "" && re.Reason != c.reason {
			t.Errorf("%s: reason %s", name, re.Reason)
		}
	}
	if _, _, err := deidBytes(t, e, base(dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage), dicomx.NewText(tagBurnedInAnnotation, dicomx.VRCS, "NO")), false); err != nil {
		t.Errorf("clean CT refused: %v", err)
	}
}

// TestResidueRefuses: a removed value found in an output value refuses the
// object, naming both places and never the value.
func TestResidueRefuses(t *testing.T) {
	st := newState(newEngine(t, RegistryProfile()), false, dicomx.SyntaxFor(dicomx.ExplicitVRLittleEndian))
	st.addPattern("SMITHSON", pos{nil, tagPatientName})
	st.scan = append(st.scan, scanItem{path: pos{nil, 0x00081030}, vr: dicomx.VRLO, b: []byte("CT smithson head")})
	err := st.residue()
	var re *RefusedError
	if !errors.As(err, &re) || re.Reason != ReasonResidue || !strings.Contains(re.Detail, "(0008,1030)") || strings.Contains(strings.ToUpper(re.Detail), "SMITHSON") {
		t.Fatalf("%v", err)
	}
	// A value kept on purpose elsewhere is not residue.
	st.kept = append(st.kept, "SMITHSON MEDICAL")
	if err := st.residue(); err != nil {
		t.Fatalf("kept value reported: %v", err)
	}
}

func TestExplain(t *testing.T) {
	in, err := os.ReadFile(corpusDir + "/pydicom/CT_small.dcm")
	if err != nil {
		t.Fatal(err)
	}
	_, res, err := deidBytes(t, newEngine(t, RegistryProfile()), in, true)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]Step{}
	for _, s := range res.Steps {
		seen[s.Path] = s
		if s.Rule == "" || s.Action == "" {
			t.Errorf("step without rule: %+v", s)
		}
	}
	for path, action := range map[string]string{"(0010,0010)": "pseudonym", "(0008,0018)": "remap-uid", "(7FE0,0010)": "keep", "(0008,0080)": "remove", "(0008,0020)": "shift-date"} {
		if seen[path].Action != action {
			t.Errorf("%s: %+v", path, seen[path])
		}
	}
}

// TestRemapValues: every value of a UID element is remapped as
// Element.Strs splits it (padding trimmed, empty values kept empty), and
// a text VR holding a UID is one value.
func TestRemapValues(t *testing.T) {
	e := newEngine(t, RegistryProfile())
	for _, c := range []struct {
		vr dicomx.VR
		in string
	}{
		{dicomx.VRUI, "1.2.3"},
		{dicomx.VRUI, "1.2.3\\ 4.5.6 \\\\1.2.840.10008.1.2\x00"},
		{dicomx.VRUI, "\\"},
		{dicomx.VRUN, "1.2.3\\4.5"},
		{dicomx.VRLT, "1.2.3\\4.5"},
		{dicomx.VRUI, ""},
	} {
		st := newState(e, false, dicomx.SyntaxFor(dicomx.ExplicitVRLittleEndian))
		el := dicomx.NewText(tagStudyInstanceUID, c.vr, c.in)
		orig := &dicomx.Element{Tag: el.Tag, VR: c.vr, Value: append([]byte(nil), el.Value...)}
		st.apply(el, dicomx.VRUI, decision{v: vRemap}, pos{nil, el.Tag}, &st.top, false)
		vals := orig.Strs()
		for i, v := range vals {
			vals[i] = RemapUID(e.key, v)
		}
		if want := strings.Join(vals, `\`); string(el.Value) != want || el.Value == nil {
			t.Errorf("%q (%s): %q, want %q", c.in, c.vr, el.Value, want)
		}
		if len(vals) > 0 && st.res.StudyInstanceUID != vals[0] {
			t.Errorf("%q: study UID %q, want %q", c.in, st.res.StudyInstanceUID, vals[0])
		}
	}
}
