package deid

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/textnorm"
)

// charsetCanary is a patient whose name is written in one DICOM character
// set, and the forms in which it comes back elsewhere in the object.
type charsetCanary struct {
	terms  []string // Specific Character Set
	enc    func(string) []byte
	pn     string // PatientName, decoded
	family string // what must not survive, in any case or encoding
	other  string // the family name in another case or form
	kept   string // a segment label in this script that must survive
}

func encodeWith(e encoding.Encoding) func(string) []byte {
	return func(s string) []byte {
		b, err := e.NewEncoder().Bytes([]byte(s))
		if err != nil {
			panic(err)
		}
		return b
	}
}

// iso2022 encodes s with an ISO 2022 escape before every run of the
// two-byte set (designated by esc, bytes from enc with the high bit as the
// set's G0 or G1 needs) and ESC ( B before ASCII again, per component.
func iso2022(esc string, enc encoding.Encoding, g0 bool) func(string) []byte {
	return func(s string) []byte {
		var out []byte
		in := false
		for _, r := range s {
			if r < 0x80 {
				if in && g0 {
					out = append(out, "\x1b(B"...)
				}
				in = false
				out = append(out, byte(r))
				continue
			}
			if !in {
				out = append(out, esc...)
				in = true
			}
			b, err := enc.NewEncoder().Bytes([]byte(string(r)))
			if err != nil {
				panic(err)
			}
			for _, c := range b {
				if g0 {
					c &^= 0x80
				}
				out = append(out, c)
			}
		}
		if in && g0 {
			out = append(out, "\x1b(B"...)
		}
		return out
	}
}

func charsetCanaries() map[string]charsetCanary {
	utf8 := func(s string) []byte { return []byte(s) }
	return map[string]charsetCanary{
		"latin1":      {[]string{"ISO_IR 100"}, encodeWith(charmap.ISO8859_1), "GRÜNWALD^GRETE", "GRÜNWALD", "Grünwald", "Lebersegment"},
		"latin2":      {[]string{"ISO_IR 101"}, encodeWith(charmap.ISO8859_2), "DVOŘÁKOVÁ^JANA", "DVOŘÁKOVÁ", "Dvořáková", "Játra"},
		"latin5":      {[]string{"ISO_IR 148"}, encodeWith(charmap.ISO8859_9), "ÖZTÜRK^AYŞE", "ÖZTÜRK", "Öztürk", "Karaciğer"},
		"latin9":      {[]string{"ISO_IR 203"}, encodeWith(charmap.ISO8859_15), "LÆRKESØN^ÅSE", "LÆRKESØN", "Lærkesøn", "Lever"},
		"cyrillic":    {[]string{"ISO_IR 144"}, encodeWith(charmap.ISO8859_5), "ИВАНОВА^МАРИЯ", "ИВАНОВА", "Иванова", "Печень"},
		"greek":       {[]string{"ISO_IR 126"}, encodeWith(charmap.ISO8859_7), "ΠΑΠΑΔΟΠΟΥΛΟΥ^ΕΛΕΝΗ", "ΠΑΠΑΔΟΠΟΥΛΟΥ", "Παπαδοπούλου", "Ήπαρ"},
		"hebrew":      {[]string{"ISO_IR 138"}, encodeWith(charmap.ISO8859_8), "כהן^שרה", "כהן", "כהן", "כבד"},
		"arabic":      {[]string{"ISO_IR 127"}, encodeWith(charmap.ISO8859_6), "الحسيني^فاطمة", "الحسيني", "الحسيني", "كبد"},
		"thai":        {[]string{"ISO_IR 166"}, encodeWith(charmap.Windows874), "สมบูรณ์^สมชาย", "สมบูรณ์", "สมบูรณ์", "ตับ"},
		"utf8":        {[]string{"ISO_IR 192"}, utf8, "MÜLLER^JÜRGEN", "MÜLLER", "Müller", "Leber"},
		"gb18030":     {[]string{"GB18030"}, encodeWith(simplifiedchinese.GB18030), "王^伟", "王伟", "王伟", "肝脏"},
		"gbk":         {[]string{"GBK"}, encodeWith(simplifiedchinese.GBK), "张^三丰", "张三丰", "张三丰", "肝脏"},
		"japanese":    {[]string{"", "ISO 2022 IR 87"}, iso2022("\x1b$B", japanese.EUCJP, true), "Yamada^Tarou=山田^太郎=やまだ^たろう", "山田", "山田", "肝臓"},
		"korean":      {[]string{"", "ISO 2022 IR 149"}, iso2022("\x1b$)C", korean.EUCKR, false), "Hong^Gildong=洪^吉洞=홍^길동", "홍길동", "홍길동", "간"},
		"chinese2022": {[]string{"", "ISO 2022 IR 58"}, iso2022("\x1b$)A", simplifiedchinese.GBK, false), "Zhang^San=张^三=", "张三", "张三", "肝脏"},
		"cyr2022":     {[]string{"ISO 2022 IR 144"}, encodeWith(charmap.ISO8859_5), "ПЕТРОВ^ИВАН", "ПЕТРОВ", "Петров", "Печень"},
	}
}

// charsetCT is a CT whose patient name is c.pn and whose descriptions,
// protocol, comments, ROI names, segment labels and SR text mention the
// family name in another case or form, as people write them.
func charsetCT(t testing.TB, c charsetCanary) []byte {
	e := func(tag dicomx.Tag, vr dicomx.VR, s string) *dicomx.Element {
		return dicomx.NewBytes(tag, vr, c.enc(s))
	}
	els := []*dicomx.Element{
		txt(0x00080005, dicomx.VRCS, c.terms...),
		txt(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		txt(tagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.778.3"),
		txt(0x00080020, dicomx.VRDA, "20170314"),
		txt(0x00080050, dicomx.VRSH, "ACC778"),
		txt(tagModality, dicomx.VRCS, "CT"),
		e(0x00081030, dicomx.VRLO, "CT "+c.other),
		e(0x0008103E, dicomx.VRLO, "CT "+c.family+" "+c.other),
		e(0x00081090, dicomx.VRLO, "SOMATOM "+c.other), // allowlisted text
		txt(tagPatientName, dicomx.VRPN, ""),
		txt(tagPatientID, dicomx.VRLO, "PID-778"),
		txt(0x00100030, dicomx.VRDA, "19700314"),
		e(0x00181030, dicomx.VRLO, c.other+" protocol"),
		txt(tagStudyInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.778.1"),
		txt(tagSeriesInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.778.2"),
		e(0x00204000, dicomx.VRLT, "Shown to "+c.other+" before surgery"),
		dicomx.NewSequence(tagContentSequence,
			item(txt(tagValueType, dicomx.VRCS, "TEXT"), dicomx.NewSequence(tagConceptNameCodeSequence, code("121106", "DCM", "Comment")), e(tagTextValue, dicomx.VRUT, "patient "+c.other)),
		),
		dicomx.NewSequence(0x00620002,
			item(dicomx.NewUint16(0x00620004, false, 1), e(0x00620005, dicomx.VRLO, c.kept)),
			item(dicomx.NewUint16(0x00620004, false, 2), e(0x00620005, dicomx.VRLO, "Tumor "+c.other)),
		),
		dicomx.NewSequence(0x30060020,
			item(dicomx.NewBytes(0x30060022, dicomx.VRIS, []byte("1 ")), e(0x30060026, dicomx.VRLO, c.other+"_femur")),
		),
		txt(0x00080008, dicomx.VRCS, "ORIGINAL", "PRIMARY", "AXIAL"),
		dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, canaryPixels),
	}
	for i, el := range els {
		if el.Tag == tagPatientName {
			els[i] = e(tagPatientName, dicomx.VRPN, c.pn)
		}
	}
	return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
}

// encodedForms are the byte strings of a name the output must not hold:
// each case form of it in the object's character set.
func encodedForms(c charsetCanary) [][]byte {
	var out [][]byte
	for _, s := range []string{c.family, c.other, strings.ToUpper(c.other), strings.ToLower(c.other)} {
		func() {
			defer func() { recover() }() // a form the set cannot encode cannot be there
			b := c.enc(s)
			if len(b) >= 2 {
				out = append(out, b)
			}
		}()
	}
	return out
}

// decodedTexts lists every text value of a dataset, decoded by the
// character set in force there.
func decodedTexts(ds *dicomx.Dataset, cs *dicomx.Charset, into *[]string) {
	cs = dicomx.CharsetOf(ds, cs)
	for _, el := range ds.Elements {
		if el.VR == dicomx.VRSQ {
			for _, it := range el.Items {
				decodedTexts(it, cs, into)
			}
			continue
		}
		if el.VR.IsText() {
			*into = append(*into, el.Text(cs))
		}
	}
}

// TestCharsetCanaries: in every character set, the patient's name comes
// back in no output value, in no encoding and no case, while text that
// names nobody (a segment label in the same script) and the registry's
// facts are kept.
func TestCharsetCanaries(t *testing.T) {
	for name, c := range charsetCanaries() {
		t.Run(name, func(t *testing.T) {
			for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
				e := newEngine(t, p)
				out, _, err := deidBytes(t, e, charsetCT(t, c), false)
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				for _, form := range encodedForms(c) {
					if bytes.Contains(out, form) {
						t.Errorf("%s: the name's bytes % x are in the output", p.Name, form)
					}
				}
				_, ds := readAll(t, out)
				var texts []string
				decodedTexts(ds, nil, &texts)
				fam := textnorm.Squeeze(textnorm.Fold(c.family))
				for _, s := range texts {
					if strings.Contains(textnorm.Squeeze(textnorm.Fold(s)), fam) {
						t.Errorf("%s: the name is in the output text %q", p.Name, s)
					}
				}
				if ds.Str(tagModality) != "CT" || ds.Str(tagSOPClassUID) != dicomx.CTImageStorage {
					t.Errorf("%s: registry facts lost", p.Name)
				}
				if got := strings.Join(ds.Strs(0x00080005), `\`); got != strings.Join(c.terms, `\`) {
					t.Errorf("%s: Specific Character Set %q, want %q (kept text stays in the input's set)", p.Name, got, strings.Join(c.terms, `\`))
				}
				labels := ds.Get(0x00620002)
				if p.Name == "registry" && (labels == nil || len(labels.Items) == 0 || labels.Items[0].Get(0x00620005).Text(dicomx.CharsetOf(ds, nil)) != c.kept) {
					t.Errorf("%s: the segment label %q was not kept", p.Name, c.kept)
				}
			}
		})
	}
}

// TestCharsetOutputsReadByDcmtkAndPydicom: kept text in another script
// (a segment label) reads back as the same characters in dcmtk and pydicom,
// since the output keeps the input's Specific Character Set and bytes.
func TestCharsetOutputsReadByDcmtkAndPydicom(t *testing.T) {
	dcmdump, err := exec.LookPath("dcmdump")
	py := pythonWithPydicom()
	if err != nil || py == "" {
		if os.Getenv("PRINTREG_REQUIRE_INTEGRATION") != "" {
			t.Fatal("dcmdump (Debian dcmtk) and pydicom (Debian python3-pydicom) are required")
		}
		t.Skip("dcmdump or pydicom not installed")
	}
	dir := t.TempDir()
	e := newEngine(t, RegistryProfile())
	for _, name := range []string{"latin1", "cyrillic", "greek", "gb18030", "japanese", "korean"} {
		c := charsetCanaries()[name]
		out, _, err := deidBytes(t, e, charsetCT(t, c), false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, name+".dcm")
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		dump, err := exec.Command(dcmdump, "-q", "+U8", "+P", "0062,0005", path).Output()
		if name == "japanese" {
			// Debian's dcmtk cannot convert ISO 2022 IR 87 at all ("Cannot
			// open character encoding"), pydicom's own chrH31.dcm included:
			// pydicom alone checks this one.
		} else if err != nil {
			t.Errorf("%s: dcmdump: %v", name, err)
		} else if !strings.Contains(string(dump), c.kept) {
			t.Errorf("%s: dcmdump shows %q, want the label %q", name, strings.TrimSpace(string(dump)), c.kept)
		}
		got, err := exec.Command(py, "-c", "import sys, pydicom; ds = pydicom.dcmread(sys.argv[1]); sys.stdout.buffer.write(ds.SegmentSequence[0].SegmentLabel.encode())", path).Output()
		if err != nil {
			t.Errorf("%s: pydicom: %v", name, err)
		} else if string(got) != c.kept {
			t.Errorf("%s: pydicom reads %q, want %q", name, got, c.kept)
		}
	}
}

// pythonWithPydicom returns a Python that imports pydicom: Debian's, which
// python3-pydicom installs into, before whatever python3 is first on PATH.
func pythonWithPydicom() string {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import pydicom").Run() == nil {
			return p
		}
	}
	return ""
}
