package dicomx

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// readCharsetFile reads a file of testdata/dicom/charset (pydicom's copies of
// David Clunie's character set examples, see PROVENANCE.md).
func readCharsetFile(t *testing.T, name string) *Object {
	t.Helper()
	b := readCorpus(t, "charset/"+name)
	obj, err := ReadMeta(bytes.NewReader(b), int64(len(b)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestCharsetFiles decodes Patient's Name of every example file. The expected
// text is what charset/FileInfo.txt states (its bytes decoded by hand) and,
// for the files it does not list, what pydicom's own tests expect. The value
// is the text as encoded: the empty third component group of chrX1 and chrX2
// keeps its "=" (pydicom's PersonName drops it).
func TestCharsetFiles(t *testing.T) {
	tests := []struct {
		file  string
		terms []string
		want  string
	}{
		{"chrArab.dcm", []string{"ISO_IR 127"}, "قباني^لنزار"},
		{"chrFren.dcm", []string{"ISO_IR 100"}, "Buc^Jérôme"},
		{"chrFrenMulti.dcm", []string{"ISO_IR 100"}, "Buc^Jérôme"},
		{"chrGerm.dcm", []string{"ISO_IR 100"}, "Äneas^Rüdiger"},
		{"chrGreek.dcm", []string{"ISO_IR 126"}, "Διονυσιος"},
		{"chrH31.dcm", []string{"", "ISO 2022 IR 87"}, "Yamada^Tarou=山田^太郎=やまだ^たろう"},
		{"chrH32.dcm", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"},
		{"chrHbrw.dcm", []string{"ISO_IR 138"}, "שרון^דבורה"},
		{"chrI2.dcm", []string{"", "ISO 2022 IR 149"}, "Hong^Gildong=洪^吉洞=홍^길동"},
		{"chrJapMulti.dcm", []string{"", "ISO 2022 IR 87"}, "やまだ^たろう"},
		{"chrJapMultiExplicitIR6.dcm", []string{"ISO 2022 IR 6", "ISO 2022 IR 87"}, "やまだ^たろう"},
		{"chrKoreanMulti.dcm", []string{"", "ISO 2022 IR 149"}, "김희중"},
		{"chrRuss.dcm", []string{"ISO_IR 144"}, "Люкceмбypг"},
		{"chrX1.dcm", []string{"ISO_IR 192"}, "Wang^XiaoDong=王^小東="},
		{"chrX2.dcm", []string{"GB18030"}, "Wang^XiaoDong=王^小东="},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			obj := readCharsetFile(t, tc.file)
			cs := CharsetOf(obj.Dataset, nil)
			if got := cs.Terms(); !slices.Equal(got, tc.terms) {
				t.Errorf("terms %q, want %q", got, tc.terms)
			}
			if _, err := ParseCharset(obj.Dataset.Strs(TagSpecificCharacterSet)); err != nil {
				t.Errorf("ParseCharset: %v", err)
			}
			if got := obj.Dataset.Text(TagPatientName, cs); got != tc.want {
				t.Errorf("PatientName = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCharsetFilesMultiValued: the files with multi-valued PN and an LT.
func TestCharsetFilesMultiValued(t *testing.T) {
	tests := []struct {
		file, name, lt string
	}{
		{"chrFrenMulti.dcm", "Buc^Jérôme", ""},
		{"chrJapMulti.dcm", "やまだ^たろう", "たろう"},
		{"chrJapMultiExplicitIR6.dcm", "やまだ^たろう", "たろう"},
		{"chrKoreanMulti.dcm", "김희중", "김희중"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ds := readCharsetFile(t, tc.file).Dataset
			cs := CharsetOf(ds, nil)
			if got := ds.Texts(TagOtherPatientNames, cs); !slices.Equal(got, []string{tc.name, tc.name}) {
				t.Errorf("OtherPatientNames = %q", got)
			}
			if got := ds.Text(TagAdditionalPatientHistory, cs); got != tc.lt {
				t.Errorf("AdditionalPatientHistory = %q, want %q", got, tc.lt)
			}
		})
	}
	ds := readCharsetFile(t, "chrKoreanMulti.dcm").Dataset
	if got := ds.Text(TagOperatorsName, CharsetOf(ds, nil)); got != "김희중" {
		t.Errorf("OperatorsName = %q", got)
	}
}

// TestCharsetOfSequenceItem: chrSQEncoding is UTF-8 with an item in ISO 2022
// IR 13/87; chrSQEncoding1 declares IR 13/87 only at the top, which the item
// inherits.
func TestCharsetOfSequenceItem(t *testing.T) {
	const want = "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"
	for _, tc := range []struct {
		file      string
		top, item []string
	}{
		{"chrSQEncoding.dcm", []string{"ISO_IR 192"}, []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}},
		{"chrSQEncoding1.dcm", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ds := readCharsetFile(t, tc.file).Dataset
			top := CharsetOf(ds, nil)
			if !slices.Equal(top.Terms(), tc.top) {
				t.Errorf("dataset terms %q", top.Terms())
			}
			it := ds.Item(TagRequestedProcedureCodeSequence)
			cs := CharsetOf(it, top)
			if !slices.Equal(cs.Terms(), tc.item) {
				t.Errorf("item terms %q", cs.Terms())
			}
			if got := it.Text(TagPatientName, cs); got != want {
				t.Errorf("item PatientName = %q, want %q", got, want)
			}
			if got := ds.Text(TagRequestingPhysician, top); got != "Doctor^Who^^MD" {
				t.Errorf("RequestingPhysician = %q", got)
			}
			if got := it.Text(TagCodeValue, cs); got != "CodeValue" {
				t.Errorf("item CodeValue = %q", got)
			}
		})
	}
	if CharsetOf(nil, nil) != nil || CharsetOf(&Dataset{}, nil) != nil {
		t.Error("no (0008,0005) and no parent is not the default repertoire")
	}
}

func mustCharset(t *testing.T, terms ...string) *Charset {
	t.Helper()
	cs, err := ParseCharset(terms)
	if err != nil {
		t.Fatalf("%q: %v", terms, err)
	}
	return cs
}

const (
	esc    = "\x1b"
	jis    = esc + "$B"  // JIS X 0208 to G0
	jis212 = esc + "$(D" // JIS X 0212 to G0
	ascii  = esc + "(B"  // ASCII to G0
	roman  = esc + "(J"  // JIS X 0201 Roman to G0
	kana   = esc + ")I"  // JIS X 0201 katakana to G1
	ksx    = esc + "$)C" // KS X 1001 to G1
	gb2312 = esc + "$)A" // GB 2312 to G1
)

// TestDecodeTerms covers every defined term with hand-made values.
func TestDecodeTerms(t *testing.T) {
	tests := []struct {
		name  string
		terms []string
		vr    VR
		in    string
		want  string
	}{
		{"ascii", []string{"ISO_IR 6"}, VRLO, "Smith^John", "Smith^John"},
		{"latin1", []string{"ISO_IR 100"}, VRPN, "M\xfcller", "Müller"},
		{"latin2", []string{"ISO_IR 101"}, VRPN, "Wa\xb3\xeasa", "Wałęsa"},
		{"latin3", []string{"ISO_IR 109"}, VRPN, "anta\xfdnomo", "antaŭnomo"},
		{"latin4", []string{"ISO_IR 110"}, VRPN, "v\xe0rds", "vārds"},
		{"cyrillic", []string{"ISO_IR 144"}, VRPN, "\xb8\xb2\xb0\xbd\xbe\xb2\xb0", "ИВАНОВА"},
		{"arabic", []string{"ISO_IR 127"}, VRPN, "\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1", "قباني^لنزار"},
		{"greek", []string{"ISO_IR 126"}, VRPN, "\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος"},
		{"hebrew", []string{"ISO_IR 138"}, VRPN, "\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4", "שרון^דבורה"},
		{"latin5", []string{"ISO_IR 148"}, VRPN, "\xc7avu\xfeo\xf0lu", "Çavuşoğlu"},
		{"latin9", []string{"ISO_IR 203"}, VRLO, "\xbcuvre \xa4", "Œuvre €"},
		{"thai", []string{"ISO_IR 166"}, VRPN, "\xb9\xd2\xc1\xca\xa1\xd8\xc5", "นามสกุล"},
		{"jisx0201 katakana", []string{"ISO_IR 13"}, VRPN, "\xd4\xcf\xc0\xde^\xc0\xdb\xb3", "ﾔﾏﾀﾞ^ﾀﾛｳ"},
		{"jisx0201 roman in LT", []string{"ISO_IR 13"}, VRLT, "100\\ ~1", "100¥ ‾1"},
		{"jisx0201 roman delimiter", []string{"ISO_IR 13"}, VRLO, "A\\B~", "A\\B‾"},
		{"utf-8", []string{"ISO_IR 192"}, VRPN, "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1=", "Wang^XiaoDong=王^小東="},
		{"gb18030", []string{"GB18030"}, VRPN, "Wang^Wei=\xcd\xf5^\xce\xb0", "Wang^Wei=王^伟"},
		{"gb18030 four bytes", []string{"GB18030"}, VRLO, "\x95\x32\x82\x36", "𠀀"},
		{"gb18030 U+FFFD", []string{"GB18030"}, VRLO, "\x84\x31\xa4\x37", "\ufffd"},
		{"gbk", []string{"GBK"}, VRPN, "\xcd\xf5^\xce\xb0", "王^伟"},

		{"2022 ir 6", []string{"ISO 2022 IR 6"}, VRLO, "ab" + ascii + "c", "abc"},
		{"2022 ir 100", []string{"ISO 2022 IR 100"}, VRPN, esc + "-ABuc^" + esc + "-AJ\xe9r\xf4me", "Buc^Jérôme"},
		{"2022 ir 101", []string{"ISO 2022 IR 101"}, VRPN, esc + "-BWa\xb3\xeasa", "Wałęsa"},
		{"2022 ir 109", []string{"ISO 2022 IR 109"}, VRPN, esc + "-Canta\xfdnomo", "antaŭnomo"},
		{"2022 ir 110", []string{"ISO 2022 IR 110"}, VRPN, esc + "-Dv\xe0rds", "vārds"},
		{"2022 ir 144", []string{"ISO 2022 IR 144"}, VRPN, esc + "-L\xb8\xb2\xb0\xbd\xbe\xb2\xb0", "ИВАНОВА"},
		{"2022 ir 127", []string{"ISO 2022 IR 127"}, VRPN, esc + "-G\xe2\xc8\xc7\xe6\xea", "قباني"},
		{"2022 ir 126", []string{"ISO 2022 IR 126"}, VRPN, esc + "-F\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2", "Διονυσιος"},
		{"2022 ir 138", []string{"ISO 2022 IR 138"}, VRPN, esc + "-H\xf9\xf8\xe5\xef", "שרון"},
		{"2022 ir 148", []string{"ISO 2022 IR 148"}, VRPN, esc + "-M\xc7avu\xfeo\xf0lu", "Çavuşoğlu"},
		{"2022 ir 203", []string{"ISO 2022 IR 203"}, VRLO, esc + "-b\xbcuvre", "Œuvre"},
		{"2022 ir 166", []string{"ISO 2022 IR 166"}, VRPN, esc + "-T\xb9\xd2\xc1\xca\xa1\xd8\xc5", "นามสกุล"},
		{"2022 ir 13", []string{"ISO 2022 IR 13"}, VRPN, kana + "\xd4\xcf\xc0\xde^" + kana + "\xc0\xdb\xb3", "ﾔﾏﾀﾞ^ﾀﾛｳ"},
		{"2022 ir 13 initial G1", []string{"ISO 2022 IR 13"}, VRPN, "\xd4\xcf\xc0\xde", "ﾔﾏﾀﾞ"},
		{"2022 ir 87 person name", []string{"", "ISO 2022 IR 87"}, VRPN,
			"YAMADA^TARO=" + jis + ";3ED" + ascii + "^" + jis + "B@O:" + ascii + "=" + jis + "$d$^$@" + ascii + "^" + jis + "$?$m$&" + ascii,
			"YAMADA^TARO=山田^太郎=やまだ^たろう"},
		{"2022 ir 87 old designation", []string{"", "ISO 2022 IR 87"}, VRLO, esc + "$@;3ED" + ascii, "山田"},
		{"2022 ir 159", []string{"", "ISO 2022 IR 159"}, VRLO, jis212 + "0!" + ascii, "丂"},
		{"2022 ir 149", []string{"", "ISO 2022 IR 149"}, VRPN,
			"Hong^Gildong=" + ksx + "\xfb\xf3^" + ksx + "\xd1\xce\xd4\xd7=" + ksx + "\xc8\xab^" + ksx + "\xb1\xe6\xb5\xbf",
			"Hong^Gildong=洪^吉洞=홍^길동"},
		{"2022 ir 149 as first value", []string{"ISO 2022 IR 149"}, VRPN, "\xb1\xe8\xc8\xf1\xc1\xdf", "김희중"},
		{"2022 ir 58", []string{"", "ISO 2022 IR 58"}, VRPN, "Wang^XiaoDong=" + gb2312 + "\xcd\xf5^" + gb2312 + "\xd0\xa1\xb6\xab=", "Wang^XiaoDong=王^小东="},
		{"2022 ir 13 roman and kanji", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, VRPN,
			"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=" + jis + ";3ED" + roman + "^" + jis + "B@O:" + roman, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎"},

		// Resets to the initial state.
		{"PN ^ resets G1", []string{"", "ISO 2022 IR 149"}, VRPN, ksx + "\xfb\xf3^\xd1\xce", "洪^ÑÎ"},
		{"LO ^ does not reset", []string{"", "ISO 2022 IR 149"}, VRLO, ksx + "\xfb\xf3^\xd1\xce", "洪^吉"},
		{"PN = resets G0", []string{"", "ISO 2022 IR 87"}, VRPN, "A" + roman + "~=~", "A‾=~"},
		{"LO = does not reset", []string{"", "ISO 2022 IR 87"}, VRLO, "A" + roman + "~=~", "A‾=‾"},
		{"backslash resets", []string{"", "ISO 2022 IR 149"}, VRLO, ksx + "\xfb\xf3\\\xd1\xce", "洪\\ÑÎ"},
		{"LT backslash is text", []string{"", "ISO 2022 IR 149"}, VRLT, ksx + "\xfb\xf3\\\xd1\xce", "洪\\吉"},
		{"CR LF reset", []string{"", "ISO 2022 IR 149"}, VRLT, ksx + "\xfb\xf3\r\n\xd1\xce", "洪\r\nÑÎ"},
		{"TAB resets", []string{"", "ISO 2022 IR 100"}, VRLT, esc + "-L\xb8\t\xb8", "И\t¸"},
		{"FF resets", []string{"ISO 2022 IR 100"}, VRST, esc + "-L\xb8\f\xb8", "И\f¸"},
		{"reset to IR 13", []string{"ISO 2022 IR 13", "ISO 2022 IR 87"}, VRPN, ascii + "~^~", "~^‾"},
		{"^ and = inside kanji", []string{"", "ISO 2022 IR 87"}, VRPN, jis + "$^=!$d" + ascii, "ま" + decodeJIS(t, "=!") + "や"},
		{"0x5C inside kanji", []string{"", "ISO 2022 IR 87"}, VRLO, jis + "$\\\\!" + ascii + "\\x", "ぼ棔\\x"},
		{"0x7E inside kanji", []string{"", "ISO 2022 IR 87"}, VRLO, jis + "0~" + ascii, decodeJIS(t, "0~")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := mustCharset(t, tc.terms...)
			got := cs.Decode([]byte(tc.in), tc.vr)
			if got != tc.want {
				t.Errorf("Decode(%q, %s) = %q, want %q", tc.in, tc.vr, got, tc.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8 %q", got)
			}
		})
	}
}

// decodeJIS returns the character of a JIS X 0208 code by its EUC-JP form.
func decodeJIS(t *testing.T, code string) string {
	t.Helper()
	var o textOut
	r, ok := o.char(decEUCJP, code[0]|0x80, code[1]|0x80)
	if !ok {
		t.Fatalf("JIS X 0208 %q unassigned", code)
	}
	return string(r)
}

func TestTexts(t *testing.T) {
	tests := []struct {
		name  string
		terms []string
		vr    VR
		in    string
		want  []string
	}{
		{"ascii", nil, VRLO, "a\\ b \\c ", []string{"a", "b", "c"}},
		{"latin1", []string{"ISO_IR 100"}, VRPN, "M\xfcller\\Jos\xe9 ", []string{"Müller", "José"}},
		{"jis 0x5C is half of a character", []string{"", "ISO 2022 IR 87"}, VRPN,
			jis + "$\\" + ascii + "\\" + jis + "\\!" + ascii, []string{"ぼ", "棔"}},
		{"jis without switching back", []string{"", "ISO 2022 IR 87"}, VRLO,
			jis + "$\\\\!", []string{"ぼ棔"}},
		{"value delimiter resets", []string{"", "ISO 2022 IR 149"}, VRLO,
			ksx + "\xb1\xe8\\" + ksx + "\xb1\xe8\\\xb1\xe8", []string{"김", "김", "±è"}},
		{"roman", []string{"ISO_IR 13"}, VRLO, "A~\\B", []string{"A‾", "B"}},
		{"gbk trail 0x5C", []string{"GBK"}, VRLO, "\x81\\\\x", []string{"乗", "x"}},
		{"gb18030 trail 0x5C", []string{"GB18030"}, VRLO, "\x81\\\\\xcd\xf5", []string{"乗", "王"}},
		{"utf-8", []string{"ISO_IR 192"}, VRLO, "\xe7\x8e\x8b\\\xe4\xbc\x9f", []string{"王", "伟"}},
		{"utf-8 with a bad byte", []string{"ISO_IR 192"}, VRLO, "\xe7\x8e\x8b\\\xe9", []string{"王", "é"}},
		{"LT is one value", []string{"ISO_IR 100"}, VRLT, " a\\b ", []string{"a\\b"}},
		{"LT under IR 13", []string{"ISO_IR 13"}, VRLT, "a\\b", []string{"a¥b"}},
		{"UR keeps the default repertoire", []string{"ISO_IR 13"}, VRUR, "http://h/~a\\b", []string{"http://h/~a\\b"}},
		{"CS keeps the default repertoire", []string{"ISO_IR 13"}, VRCS, "A~\\B", []string{"A~", "B"}},
		{"empty values", []string{"ISO_IR 100"}, VRLO, "\\\xe9\\", []string{"", "é", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := mustCharset(t, tc.terms...)
			e := &Element{Tag: TagOtherPatientNames, VR: tc.vr, Value: []byte(tc.in)}
			if got := e.Texts(cs); !slices.Equal(got, tc.want) {
				t.Errorf("Texts = %q, want %q", got, tc.want)
			}
			if got, want := e.Text(cs), strings.Trim(cs.Decode(e.Value, e.VR), " \x00"); got != want {
				t.Errorf("Text = %q, Decode = %q", got, want)
			}
		})
	}
	var e *Element
	if e.Text(nil) != "" || e.Texts(nil) != nil || (&Element{VR: VRLO}).Texts(nil) != nil {
		t.Error("nil or empty element has text")
	}
	if got := (&Element{VR: VRLO, Value: []byte(" M\xfcller\x00")}).Text(mustCharset(t, "ISO_IR 100")); got != "Müller" {
		t.Errorf("Text = %q", got)
	}
}

// TestCharsetFallback: no (0008,0005), unknown terms and bytes that do not
// decode in the active set.
func TestCharsetFallback(t *testing.T) {
	var none *Charset
	for _, tc := range []struct {
		name string
		cs   *Charset
		vr   VR
		in   string
		want string
	}{
		{"absent, UTF-8", none, VRLO, "M\xc3\xbcller", "Müller"},
		{"absent, Latin-1", none, VRLO, "M\xfcller", "Müller"},
		{"absent, mixed is Latin-1", none, VRLO, "\xc3\xbc\xfc", "Ã¼ü"},
		{"absent, escape is text", none, VRPN, jis + ";3ED", "\x1b$B;3ED"},
		{"ISO_IR 6, Latin-1", mustCharset(t, "ISO_IR 6"), VRLO, "M\xfcller", "Müller"},
		{"2022 no G1, UTF-8", mustCharset(t, "", "ISO 2022 IR 87"), VRLO, "M\xc3\xbcller " + jis + ";3ED", "Müller 山田"},
		{"2022 no G1, Latin-1", mustCharset(t, "", "ISO 2022 IR 87"), VRLO, "M\xfcller " + jis + ";3ED", "Müller 山田"},
		{"utf-8 invalid bytes", mustCharset(t, "ISO_IR 192"), VRLO, "Ren\xe9 \xe2\x9c\x93 \xff\xfe", "René ✓ ÿþ"},
		{"utf-8 truncated", mustCharset(t, "ISO_IR 192"), VRLO, "a\xe2\x9c", "aâ\u009c"},
		{"gb18030 lone bytes", mustCharset(t, "GB18030"), VRLO, "\xff\xcd\xf5\x81", "ÿ王\u0081"},
		{"gb18030 bad trail", mustCharset(t, "GB18030"), VRLO, "\x81\x20x", "\u0081 x"},
		{"gbk euro", mustCharset(t, "GBK"), VRLO, "\x80", "€"},
		{"ksx1001 unassigned pair", mustCharset(t, "", "ISO 2022 IR 149"), VRLO, ksx + "\xad\xa1\xb1\xe8", "\u00ad¡김"},
		{"ksx1001 lone lead", mustCharset(t, "", "ISO 2022 IR 149"), VRLO, ksx + "\xb1a", "±a"},
		{"ksx1001 C1", mustCharset(t, "", "ISO 2022 IR 149"), VRLO, ksx + "\x85", "\u0085"},
		{"jis odd byte", mustCharset(t, "", "ISO 2022 IR 87"), VRLO, jis + ";3E" + ascii, "山E"},
		{"jis unassigned pair", mustCharset(t, "", "ISO 2022 IR 87"), VRLO, jis + "\x29\x21;3" + ascii, ")!山"},
		{"katakana outside the set", mustCharset(t, "ISO_IR 13"), VRLO, "\xe0\xa0", "à\u00a0"},
		{"iso 8859-3 unassigned", mustCharset(t, "ISO_IR 109"), VRLO, "\xa5", "¥"},
		{"iso 8859 C1", mustCharset(t, "ISO_IR 144"), VRLO, "\x85", "\u0085"},
		{"thai C1", mustCharset(t, "ISO_IR 166"), VRLO, "\x80", "\u0080"},
		{"unknown escape", mustCharset(t, "", "ISO 2022 IR 87"), VRLO, esc + "(Z" + esc + "$" + esc, "\x1b(Z\x1b$\x1b"},
		{"CS under GB18030", mustCharset(t, "GB18030"), VRCS, "\xcd\xf5", "Íõ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cs.Decode([]byte(tc.in), tc.vr)
			if got != tc.want {
				t.Errorf("Decode(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.ContainsRune(got, utf8.RuneError) {
				t.Errorf("%q holds U+FFFD", got)
			}
		})
	}

	cs, err := ParseCharset([]string{"ISO_IR 999"})
	var ce *CharsetError
	if !errors.As(err, &ce) || !slices.Equal(ce.Unknown, []string{"ISO_IR 999"}) || !strings.Contains(err.Error(), `"ISO_IR 999"`) {
		t.Errorf("unknown term: err %v", err)
	}
	if got := cs.Decode([]byte("M\xfcller"), VRLO); got != "Müller" {
		t.Errorf("unknown term: %q", got)
	}
	if got := cs.Decode([]byte("M\xc3\xbcller"), VRLO); got != "Müller" {
		t.Errorf("unknown term: %q", got)
	}
	if !slices.Equal(cs.Terms(), []string{"ISO_IR 999"}) {
		t.Errorf("unknown term: terms %q", cs.Terms())
	}
	cs, err = ParseCharset([]string{"latin1", "ISO 2022 IR 87", "x"})
	if !errors.As(err, &ce) || !slices.Equal(ce.Unknown, []string{"latin1", "x"}) {
		t.Errorf("unknown terms: err %v", err)
	}
	if got := cs.Decode([]byte("\xfc"+jis+";3ED"), VRLO); got != "ü山田" {
		t.Errorf("unknown first term with extensions: %q", got)
	}
	for _, terms := range [][]string{nil, {}, {""}, {"", " "}} {
		if cs, err := ParseCharset(terms); cs != nil || err != nil {
			t.Errorf("%q: %v %v, want the default repertoire", terms, cs, err)
		}
	}

	// Different invalid bytes give different text.
	for _, terms := range [][]string{nil, {"ISO_IR 192"}, {"GB18030"}, {"GBK"}, {"", "ISO 2022 IR 149"}, {"", "ISO 2022 IR 58"}, {"ISO_IR 13"}} {
		cs := mustCharset(t, terms...)
		seen := map[string]byte{}
		for _, x := range []byte{0x80, 0x81, 0x9f, 0xa0, 0xa1, 0xfe, 0xff} {
			in := []byte{'a', x}
			if len(terms) > 1 && terms[1] == "ISO 2022 IR 149" {
				in = append([]byte(ksx), in...)
			} else if len(terms) > 1 {
				in = append([]byte(gb2312), in...)
			}
			got := cs.Decode(in, VRLO)
			if prev, dup := seen[got]; dup {
				t.Errorf("%q: bytes %#x and %#x both decode to %q", terms, prev, x, got)
			}
			seen[got] = x
		}
	}
}

func TestASCIIIsIdentity(t *testing.T) {
	var none *Charset
	if !none.ASCIIIsIdentity() || none.Terms() != nil {
		t.Error("default repertoire")
	}
	for term := range definedTerms {
		cs := mustCharset(t, term)
		roman := term == "ISO_IR 13" || term == "ISO 2022 IR 13"
		if cs.ASCIIIsIdentity() == roman {
			t.Errorf("%s: ASCIIIsIdentity = %v", term, cs.ASCIIIsIdentity())
		}
		in := "Smith^John\\x=y ~"
		got := cs.Decode([]byte(in), VRPN)
		if (got == in) != !roman {
			t.Errorf("%s: Decode(%q) = %q", term, in, got)
		}
		if !slices.Equal(cs.Terms(), []string{term}) {
			t.Errorf("%s: terms %q", term, cs.Terms())
		}
	}
	cs := mustCharset(t, "ISO 2022 IR 13", "ISO 2022 IR 87")
	if cs.ASCIIIsIdentity() || !mustCharset(t, "", "ISO 2022 IR 87").ASCIIIsIdentity() {
		t.Error("multi-term ASCIIIsIdentity")
	}
	terms := cs.Terms()
	terms[0] = "changed"
	if cs.Terms()[0] != "ISO 2022 IR 13" {
		t.Error("Terms exposes the charset's own slice")
	}
}

func TestPlainASCII(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true}, {"abc", true}, {"abcdefghijklmnop", true}, {"abcdefgh\x1b", false},
		{"\x1babcdefgh", false}, {"abcdefg\x80", false}, {"abcdefgh\xff", false}, {"\x00\x1a\x1c\x7f0123456789", true},
		{"abcdefghijklmn\x1bo", false}, {"\x9b\x9b\x9b\x9b\x9b\x9b\x9b\x9b", false},
	} {
		if got := plainASCII([]byte(tc.in)); got != tc.want {
			t.Errorf("plainASCII(%q) = %v", tc.in, got)
		}
	}
}

// allTerms are the terms FuzzCharset draws from: every defined term, the
// empty first value and one unknown term.
var allTerms = func() []string {
	out := []string{"", "ISO_IR 999"}
	for t := range definedTerms {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}()

var fuzzVRs = []VR{VRPN, VRLO, VRSH, VRLT, VRST, VRUT, VRUC, VRUR, VRCS, VRUN}

// FuzzCharset: any terms, bytes and VR. Decoding never panics, always gives
// valid UTF-8 without U+FFFD (unless the input spells U+FFFD), leaves pure
// ASCII alone under a charset whose ASCII is the identity, and Texts agrees
// with Text.
func FuzzCharset(f *testing.F) {
	f.Add(byte(0), byte(5), byte(0), []byte("Smith^John"))
	f.Add(byte(3), byte(20), byte(0), []byte("YAMADA^TARO="+jis+";3ED"+ascii+"^"+jis+"B@O:"+ascii))
	f.Add(byte(7), byte(0), byte(1), []byte(ksx+"\xb1\xe8\xc8\xf1\\\xc1\xdf"))
	f.Add(byte(9), byte(9), byte(3), []byte("\x81\\\\\x95\x32\x82\x36\xff"))
	f.Add(byte(11), byte(2), byte(0), []byte("M\xfcller\\\xe9"))
	f.Fuzz(func(t *testing.T, t1, t2, v byte, b []byte) {
		terms := []string{allTerms[int(t1)%len(allTerms)]}
		if t2 != 0 {
			terms = append(terms, allTerms[int(t2)%len(allTerms)])
		}
		vr := fuzzVRs[int(v)%len(fuzzVRs)]
		cs, _ := ParseCharset(terms)
		got := cs.Decode(b, vr)
		if !utf8.ValidString(got) {
			t.Fatalf("%q %s %q: invalid UTF-8 %q", terms, vr, b, got)
		}
		if strings.ContainsRune(got, utf8.RuneError) && !bytes.Contains(b, []byte("\ufffd")) && !bytes.Contains(b, gb18030FFFD) {
			t.Fatalf("%q %s %q: U+FFFD in %q", terms, vr, b, got)
		}
		if cs.ASCIIIsIdentity() && plainASCII(b) && got != string(b) {
			t.Fatalf("%q %s %q: pure ASCII decoded to %q", terms, vr, b, got)
		}
		e := &Element{VR: vr, Value: b}
		text, texts := e.Text(cs), e.Texts(cs)
		if len(b) > 0 && len(texts) == 0 {
			t.Fatalf("%q %s %q: no values", terms, vr, b)
		}
		if len(texts) == 1 && texts[0] != text {
			t.Fatalf("%q %s %q: Text %q, Texts %q", terms, vr, b, text, texts)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	asciiValue := []byte("CT CHEST ABDOMEN PELVIS W CONTRAST 1.25MM AXIAL ")
	latin1Value := []byte("Th\xf6rax-Abdomen nativ, Weichteilfenster, M\xfcller ")
	latin1 := mustCharsetB(b, "ISO_IR 100")
	for _, bc := range []struct {
		name string
		cs   *Charset
		in   []byte
	}{
		{"ascii/default", nil, asciiValue},
		{"ascii/ISO_IR_100", latin1, asciiValue},
		{"latin1/ISO_IR_100", latin1, latin1Value},
		{"latin1/default", nil, latin1Value},
		{"jis/ISO_2022_IR_87", mustCharsetB(b, "", "ISO 2022 IR 87"), []byte("YAMADA^TARO=" + jis + ";3ED" + ascii + "^" + jis + "B@O:" + ascii)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for i := 0; i < b.N; i++ {
				_ = bc.cs.Decode(bc.in, VRLO)
			}
		})
	}
}

func mustCharsetB(b *testing.B, terms ...string) *Charset {
	cs, err := ParseCharset(terms)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// TestExtractDecodesText: the facts carry text decoded through the object's
// charset, and through an item's own.
func TestExtractDecodesText(t *testing.T) {
	latin1 := func(tag Tag, vr VR, b string) *Element { return NewBytes(tag, vr, []byte(b)) }
	ct := writeObject(t, ExplicitVRLittleEndian,
		NewText(TagSpecificCharacterSet, VRCS, "ISO_IR 100"),
		NewText(TagSOPClassUID, VRUI, CTImageStorage),
		NewText(TagSOPInstanceUID, VRUI, "1.2.3.4.5"),
		NewText(TagSeriesInstanceUID, VRUI, "1.2.3.4"),
		NewText(TagStudyInstanceUID, VRUI, "1.2.3"),
		NewText(TagModality, VRCS, "CT"),
		latin1(TagSeriesDescription, VRLO, "M\xfcller"),
		latin1(TagManufacturer, VRLO, "Sch\xe4fer AG"),
		latin1(TagManufacturerModelName, VRLO, "Tomograph \xc9lite"),
		latin1(TagConvolutionKernel, VRSH, "B30f\\Kern\xe9"),
		latin1(TagAccessionNumber, VRSH, "A\xe91"),
	)
	obj, err := ReadMeta(bytes.NewReader(ct), int64(len(ct)), MetaOptions(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	in := Extract(obj).Instance
	if in.SeriesDescription != "Müller" || in.Manufacturer != "Schäfer AG" || in.ManufacturerModel != "Tomograph Élite" ||
		in.ConvolutionKernel != `B30f\Kerné` || in.AccessionNumber != "Aé1" {
		t.Errorf("instance text: %q %q %q %q %q", in.SeriesDescription, in.Manufacturer, in.ManufacturerModel, in.ConvolutionKernel, in.AccessionNumber)
	}

	// A SEG in ISO 8859-1 whose second segment declares ISO 8859-5.
	seg := writeObject(t, ExplicitVRLittleEndian,
		NewText(TagSpecificCharacterSet, VRCS, "ISO_IR 100"),
		NewText(TagSOPClassUID, VRUI, SegmentationStorage),
		NewText(TagSOPInstanceUID, VRUI, "1.2.3.4.6"),
		NewText(TagSeriesInstanceUID, VRUI, "1.2.3.5"),
		NewText(TagStudyInstanceUID, VRUI, "1.2.3"),
		NewText(TagModality, VRCS, "SEG"),
		latin1(TagContentLabel, VRCS, "LEBER"),
		NewSequence(TagSegmentSequence,
			item(NewUint16(TagSegmentNumber, false, 1),
				latin1(TagSegmentLabel, VRLO, "Le\xe7on"),
				latin1(TagSegmentAlgorithmName, VRLO, "3D Sl\xefcer"),
				code(TagSegmentedPropertyTypeCodeSequence, "10200004", "SCT", "F\xf6tal")),
			item(NewText(TagSpecificCharacterSet, VRCS, "ISO_IR 144"),
				NewUint16(TagSegmentNumber, false, 2),
				latin1(TagSegmentLabel, VRLO, "\xbf\xd5\xe7\xd5\xdd\xec"),
				code(TagSegmentedPropertyTypeCodeSequence, "10200004", "SCT", "\xbf\xd5\xe7\xd5\xdd\xec"))),
	)
	obj, err = ReadMeta(bytes.NewReader(seg), int64(len(seg)), MetaOptions(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	sg := Extract(obj).Segmentation
	if sg == nil || len(sg.Segments) != 2 {
		t.Fatalf("segmentation %+v", sg)
	}
	if s := sg.Segments[0]; s.Label != "Leçon" || s.AlgorithmName != "3D Slïcer" || s.Type == nil || s.Type.Meaning != "Fötal" {
		t.Errorf("segment 1: %q %q %+v", s.Label, s.AlgorithmName, s.Type)
	}
	if s := sg.Segments[1]; s.Label != "Печень" || s.Type == nil || s.Type.Meaning != "Печень" {
		t.Errorf("segment 2: %q %+v", s.Label, s.Type)
	}
}
