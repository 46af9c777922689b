package deid

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

var update = flag.Bool("update", false, "rewrite the canary objects in testdata/deid")

// Canary tokens: every one must be gone from every output byte. They all
// start with CNRY so one search finds any of them.
const (
	cnryFamily  = "CNRYFAMILY"
	cnryGiven   = "CNRYGIVEN"
	cnryPID     = "CNRYPID0042"
	cnryStudy   = "1.2.826.0.1.3680043.10.543.1"
	cnrySeries  = "1.2.826.0.1.3680043.10.543.2"
	cnrySOP     = "1.2.826.0.1.3680043.10.543.3"
	cnryFoR     = "1.2.826.0.1.3680043.10.543.4"
	cnryRefSOP  = "1.2.826.0.1.3680043.10.543.5"
	cnryDate    = "20170314"
	cnryBirth   = "19610723"
	cnryAcqDT   = "20170314093015.250000+0100"
	canaryFacts = "registry facts"
)

var cnryDates = []string{cnryDate, "2017-03-14", "2017.03.14", cnryBirth, "1961-07-23"}
var cnryUIDs = []string{cnryStudy, cnrySeries, cnrySOP, cnryFoR, cnryRefSOP}

func txt(t dicomx.Tag, vr dicomx.VR, v ...string) *dicomx.Element { return dicomx.NewText(t, vr, v...) }

func item(els ...*dicomx.Element) *dicomx.Dataset { return &dicomx.Dataset{Elements: els} }

func code(value, scheme, meaning string) *dicomx.Dataset {
	return item(txt(0x00080100, dicomx.VRSH, value), txt(0x00080102, dicomx.VRSH, scheme), txt(0x00080104, dicomx.VRLO, meaning))
}

// unSequence encodes one item holding one implicit VR text element, as the
// value of a UN element of defined length.
func unSequence(t dicomx.Tag, text string) []byte {
	var el bytes.Buffer
	binary.Write(&el, binary.LittleEndian, t.Group())
	binary.Write(&el, binary.LittleEndian, t.Element())
	binary.Write(&el, binary.LittleEndian, uint32(len(text)))
	el.WriteString(text)
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint16(0xFFFE))
	binary.Write(&b, binary.LittleEndian, uint16(0xE000))
	binary.Write(&b, binary.LittleEndian, uint32(el.Len()))
	b.Write(el.Bytes())
	return b.Bytes()
}

var canaryPixels = func() []byte {
	b := make([]byte, 4*4*2)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	return b
}()

// canaryCT is a CT object with canaries in every kind of place the
// de-identifier must reach.
func canaryCT(t testing.TB, ts string) []byte {
	name := cnryFamily + "^" + cnryGiven
	deep := item( // depth 3
		txt(tagPatientName, dicomx.VRPN, "CNRYDEEPNAME^X"),
		txt(0x00321060, dicomx.VRLO, "CNRYDEEPPROC"),
		txt(0x00080080, dicomx.VRLO, "CNRYDEEPINST"),
		txt(0x00080020, dicomx.VRDA, cnryDate),
		txt(0x00291010, dicomx.VRLO, "CNRY DEEP CREATOR"),
		txt(0x00291001, dicomx.VRLO, "CNRYDEEPPRIVATE"),
		txt(0x00080070, dicomx.VRLO, "SIEMENS "+cnryFamily),
		txt(0x00081155, dicomx.VRUI, cnryRefSOP),
	)
	els := []*dicomx.Element{
		txt(0x00080005, dicomx.VRCS, "ISO_IR 100"),
		txt(0x00080008, dicomx.VRCS, "ORIGINAL", "PRIMARY", "AXIAL"),
		txt(0x00080012, dicomx.VRDA, cnryDate),
		txt(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		txt(tagSOPInstanceUID, dicomx.VRUI, cnrySOP),
		txt(0x00080020, dicomx.VRDA, cnryDate),
		txt(0x00080021, dicomx.VRDA, cnryDate),
		txt(0x0008002A, dicomx.VRDT, cnryAcqDT),
		txt(0x00080030, dicomx.VRTM, "093015"),
		txt(0x00080050, dicomx.VRSH, "CNRYACC77"),
		txt(0x00080055, dicomx.VRAE, "CNRYSTATIONAE"),
		txt(tagModality, dicomx.VRCS, "CT"),
		txt(0x00080070, dicomx.VRLO, "SIEMENS"),
		txt(0x00080080, dicomx.VRLO, "CNRY GENERAL HOSPITAL"),
		txt(0x00080081, dicomx.VRST, "CNRYSTREET 12"),
		txt(0x00080090, dicomx.VRPN, "CNRYREFERRER^DOC"),
		txt(0x00081010, dicomx.VRSH, "CNRYSTATION"),
		txt(0x00081030, dicomx.VRLO, "CT CHEST "+cnryFamily),
		txt(0x0008103E, dicomx.VRLO, "Thorax 1.0 B30f"),
		txt(0x00081070, dicomx.VRPN, "CNRYOPERATOR"),
		txt(0x00081090, dicomx.VRLO, "SOMATOM Force"),
		dicomx.NewSequence(0x00081115, item(
			txt(tagSeriesInstanceUID, dicomx.VRUI, cnrySeries),
			dicomx.NewSequence(0x0008114A, item(
				txt(0x00081150, dicomx.VRUI, dicomx.CTImageStorage),
				dicomx.NewSequence(0x00081199, deep),
			)),
		)),
		dicomx.NewBytes(0x00081110, dicomx.VRUN, unSequence(tagPatientName, "CNRYUNSQNAME")),
		txt(0x00082111, dicomx.VRST, "CNRYDERIVATION"),
		// private blocks: one with a creator, one orphan
		txt(0x00090010, dicomx.VRLO, "CNRY_PRIVATE_CREATOR"),
		txt(0x00091001, dicomx.VRLO, "CNRYPRIVATE1"),
		txt(0x00091002, dicomx.VRPN, name),
		txt(0x000B1001, dicomx.VRLO, "CNRYORPHAN"),
		txt(tagPatientName, dicomx.VRPN, name),
		txt(tagPatientID, dicomx.VRLO, cnryPID),
		txt(0x00100030, dicomx.VRDA, cnryBirth),
		txt(0x00100040, dicomx.VRCS, "F"),
		dicomx.NewBytes(0x00101000, dicomx.VRUN, []byte("CNRYUNOTHERID")),
		txt(0x00101010, dicomx.VRAS, "093Y"),
		txt(0x00101040, dicomx.VRLO, "CNRYADDRESS"),
		txt(0x00104000, dicomx.VRLT, "CNRYPATIENTCOMMENT"),
		txt(0x00180015, dicomx.VRCS, "CHEST"),
		txt(0x00180050, dicomx.VRDS, "1.0"),
		txt(0x00180060, dicomx.VRDS, "120"),
		txt(0x00181000, dicomx.VRLO, "CNRYSERIAL"),
		txt(0x00181030, dicomx.VRLO, "CNRYPROTOCOL"),
		txt(0x00181210, dicomx.VRSH, "Br40d"),
		txt(tagStudyInstanceUID, dicomx.VRUI, cnryStudy),
		txt(tagSeriesInstanceUID, dicomx.VRUI, cnrySeries),
		txt(0x00200010, dicomx.VRSH, "CNRYSTUDYID"),
		txt(0x00200032, dicomx.VRDS, "-100", "-120", "55.5"),
		txt(0x00200037, dicomx.VRDS, "1", "0", "0", "0", "1", "0"),
		txt(0x00200052, dicomx.VRUI, cnryFoR),
		txt(0x00204000, dicomx.VRLT, "CNRYIMAGECOMMENT"),
		dicomx.NewUint16(0x00280010, false, 4),
		dicomx.NewUint16(0x00280011, false, 4),
		txt(0x00280030, dicomx.VRDS, "0.5", "0.5"),
		txt(0x00280301, dicomx.VRCS, "NO"),
		// SR-like content and unlisted text
		dicomx.NewSequence(tagContentSequence,
			item(txt(tagValueType, dicomx.VRCS, "TEXT"), dicomx.NewSequence(tagConceptNameCodeSequence, code("121106", "DCM", "Comment")), txt(tagTextValue, dicomx.VRUT, "CNRYSRTEXT")),
			item(txt(tagValueType, dicomx.VRCS, "PNAME"), dicomx.NewSequence(tagConceptNameCodeSequence, code("121008", "DCM", "Person Observer Name")), txt(0x0040A123, dicomx.VRPN, "CNRYSRPN^X")),
		),
		txt(0x00420010, dicomx.VRST, "CNRYDOCTITLE"),
		// segmentation and RT facts the registry keeps
		dicomx.NewSequence(0x00620002, item(
			dicomx.NewUint16(0x00620004, false, 1),
			txt(0x00620005, dicomx.VRLO, "Liver"),
			txt(0x00620009, dicomx.VRLO, "CNRYALGO "+cnryFamily),
			dicomx.NewSequence(0x0062000F, code("10200004", "SCT", "Liver")),
		)),
		dicomx.NewSequence(0x30060020,
			item(dicomx.NewBytes(0x30060022, dicomx.VRIS, []byte("1 ")), txt(0x30060026, dicomx.VRLO, "Femur_L")),
			item(dicomx.NewBytes(0x30060022, dicomx.VRIS, []byte("2 ")), txt(0x30060026, dicomx.VRLO, "CNRYROI")),
		),
		// curves and overlays
		dicomx.NewUint16(0x50000005, false, 2),
		dicomx.NewBytes(0x50003000, dicomx.VROW, []byte("CNRYCURVEDATA1")),
		txt(0x50002500, dicomx.VRLO, "CNRYCURVELABEL"),
		dicomx.NewUint16(0x60000010, false, 4),
		dicomx.NewUint16(0x60000011, false, 4),
		txt(0x60000022, dicomx.VRLO, "CNRYOVERLAYDESC"),
		txt(0x60001500, dicomx.VRLO, "CNRYOVERLAYLABEL"),
		dicomx.NewBytes(0x60003000, dicomx.VROW, []byte("CNRYOVERLAYDATA1")),
		txt(0x60004000, dicomx.VRLT, "CNRYOVERLAYCOMMENT"),
		dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, canaryPixels),
		dicomx.NewBytes(tagTrailingPadding, dicomx.VROB, []byte("CNRYPADDING1")),
	}
	meta := []*dicomx.Element{
		txt(0x00020013, dicomx.VRSH, "CNRYIMPL"),
		txt(0x00020016, dicomx.VRAE, "CNRYSOURCEAE"),
	}
	b := writeObject(t, ts, meta, els)
	copy(b, "CNRYPREAMBLE "+cnryFamily)
	return b
}

// canarySTL is an Encapsulated STL whose header, title and identifiers carry
// canaries; its triangle must survive.
func canarySTL(t testing.TB) []byte {
	stl := make([]byte, 84+50)
	copy(stl, "solid CNRYSTLHEADER "+cnryFamily)
	binary.LittleEndian.PutUint32(stl[80:], 1)
	for i, f := range []float32{0, 0, 1, 0, 0, 0, 10, 0, 0, 0, 10, 0} {
		binary.LittleEndian.PutUint32(stl[84+4*i:], math.Float32bits(f))
	}
	els := []*dicomx.Element{
		txt(tagSOPClassUID, dicomx.VRUI, dicomx.EncapsulatedSTLStorage),
		txt(tagSOPInstanceUID, dicomx.VRUI, cnrySOP+".9"),
		txt(0x00080020, dicomx.VRDA, cnryDate),
		txt(0x00080023, dicomx.VRDA, cnryDate),
		txt(tagModality, dicomx.VRCS, "M3D"),
		txt(0x00080070, dicomx.VRLO, "3D Slicer"),
		txt(tagPatientName, dicomx.VRPN, cnryFamily+"^"+cnryGiven),
		txt(tagPatientID, dicomx.VRLO, cnryPID),
		txt(tagStudyInstanceUID, dicomx.VRUI, cnryStudy),
		txt(tagSeriesInstanceUID, dicomx.VRUI, cnrySeries+".9"),
		txt(0x00200052, dicomx.VRUI, cnryFoR),
		txt(0x00280301, dicomx.VRCS, "NO"),
		dicomx.NewSequence(0x00420013, item( // Source Instance Sequence
			txt(0x00081150, dicomx.VRUI, dicomx.CTImageStorage),
			txt(0x00081155, dicomx.VRUI, cnrySOP),
		)),
		txt(0x00420010, dicomx.VRST, "CNRYMODELTITLE"),
		dicomx.NewBytes(tagEncapsulatedDocument, dicomx.VROB, stl),
		txt(tagMIMEType, dicomx.VRLO, "model/stl"),
		dicomx.NewUint32(tagEncapsulatedDocumentLength, false, uint32(len(stl))),
	}
	return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
}

// leaks lists every canary found in b (case-insensitive), by token.
func leaks(b []byte) []string {
	u := bytes.ToUpper(b)
	var out []string
	if i := bytes.Index(u, []byte("CNRY")); i >= 0 {
		end := min(i+24, len(b))
		out = append(out, "token near "+strings.Map(func(r rune) rune {
			if r < 32 || r > 126 {
				return '.'
			}
			return r
		}, string(b[max(i-8, 0):end])))
	}
	for _, s := range append(append([]string{}, cnryDates...), cnryUIDs...) {
		if bytes.Contains(b, []byte(s)) {
			out = append(out, s)
		}
	}
	return out
}

func TestCanary(t *testing.T) {
	inputs := map[string][]byte{
		"ct-explicit-le": canaryCT(t, dicomx.ExplicitVRLittleEndian),
		"ct-implicit-le": canaryCT(t, dicomx.ImplicitVRLittleEndian),
		"ct-explicit-be": canaryCT(t, dicomx.ExplicitVRBigEndian),
		"ct-deflated":    canaryCT(t, dicomx.DeflatedExplicitVRLittleEndian),
		"stl":            canarySTL(t),
	}
	if *update {
		dir := "../../testdata/deid/canary"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range inputs {
			if err := os.WriteFile(filepath.Join(dir, "CNRY_"+cnryFamily+"_"+name+".dcm"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range []Profile{RegistryProfile(), BasicProfile(), {Name: "all-options", RetainSafePrivate: true, RetainDeviceIdentity: false,
		RetainPatientCharacteristics: true, RetainModifiedDates: true, CleanDescriptors: true, CleanStructuredContent: true, CleanGraphics: true, KeepModelGeometry: true}} {
		e := newEngine(t, p)
		for name, in := range inputs {
			t.Run(p.Name+"/"+name, func(t *testing.T) {
				if len(leaks(in)) == 0 {
					t.Fatal("the input carries no canary")
				}
				out, res, err := deidBytes(t, e, in, false)
				if err != nil {
					t.Fatal(err)
				}
				if l := leaks(out); len(l) > 0 {
					t.Fatalf("canaries in the output: %v", l)
				}
				meta, ds := readAll(t, out)
				if got := meta.Str(0x00020003); got != ds.Str(tagSOPInstanceUID) || got != res.SOPInstanceUID {
					t.Errorf("MediaStorageSOPInstanceUID %q does not follow SOPInstanceUID %q", got, ds.Str(tagSOPInstanceUID))
				}
				if !bytes.Equal(out[:128], make([]byte, 128)) {
					t.Error("preamble not zeroed")
				}
				if ds.Str(tagPatientIdentityRemoved) != "YES" || ds.Seq(tagDeidentificationMethodSeq) == nil {
					t.Error("provenance attributes missing")
				}
				if name == "stl" {
					checkSTLFacts(t, p, ds)
					return
				}
				_, ids := readAll(t, in)
				if !bytes.Equal(ids.Get(dicomx.TagPixelData).Value, ds.Get(dicomx.TagPixelData).Value) {
					t.Error("pixel data not copied byte for byte")
				}
				checkCTFacts(t, p, ds, e)
			})
		}
	}
}

func checkCTFacts(t *testing.T, p Profile, ds *dicomx.Dataset, e *Engine) {
	t.Helper()
	want := map[dicomx.Tag]string{
		tagModality: "CT", tagSOPClassUID: dicomx.CTImageStorage, 0x00080070: "SIEMENS",
		0x00081090: "SOMATOM Force", 0x00180015: "CHEST", 0x00180050: "1.0", 0x00180060: "120",
		0x00181210: "Br40d", 0x00280030: `0.5\0.5`, 0x00200032: `-100\-120\55.5`,
		0x00200037: `1\0\0\0\1\0`,
	}
	if p.RetainPatientCharacteristics {
		want[0x00100040] = "F"
		want[tagPatientAge] = "090Y"
	}
	if p.CleanDescriptors {
		want[0x0008103E] = "Thorax 1.0 B30f"
	}
	for tag, v := range want {
		if got := ds.Str(tag); got != v {
			t.Errorf("%s %s: got %q, want %q", tag, dicomx.Keyword(tag), got, v)
		}
	}
	if rows, _ := ds.Int(0x00280010); rows != 4 {
		t.Errorf("Rows: %d", rows)
	}
	if px := ds.Get(dicomx.TagPixelData); px == nil || len(px.Value) != len(canaryPixels) {
		t.Error("pixel data lost")
	}
	if seg := ds.Item(0x00620002); seg == nil || seg.Str(0x00620005) != "Liver" || seg.Item(0x0062000F).Str(0x00080104) != "Liver" {
		t.Error("segment label or code lost")
	}
	rois := ds.Seq(0x30060020)
	if len(rois) != 2 {
		t.Fatalf("ROIs: %d", len(rois))
	}
	if p.CleanDescriptors && rois[0].Str(0x30060026) != "Femur_L" {
		t.Errorf("anatomical ROI name lost: %q", rois[0].Str(0x30060026))
	}
	if rois[1].Str(0x30060026) != "" {
		t.Error("identifying ROI name kept")
	}
	if p.RetainModifiedDates {
		d := ds.Str(0x00080020)
		if w, _ := shiftDA(cnryDate, DateOffsetDays(e.key, cnryPID, "")); d != w || d == "" {
			t.Errorf("StudyDate %q, want shifted %q", d, w)
		}
		if dt := ds.Str(0x0008002A); !strings.HasSuffix(dt, "093015.250000+0100") {
			t.Errorf("AcquisitionDateTime lost its time or zone: %q", dt)
		}
	}
	ref := ds.Item(0x00081115)
	if ref == nil || ref.Str(tagSeriesInstanceUID) != ds.Str(tagSeriesInstanceUID) {
		t.Error("reference to the series does not follow the remapped Series Instance UID")
	}
	if ds.Str(tagPatientID) == "" || ds.Str(tagPatientID) != ds.Str(tagPatientName) {
		t.Error("pseudonym missing")
	}
}

func checkSTLFacts(t *testing.T, p Profile, ds *dicomx.Dataset) {
	t.Helper()
	doc := ds.Get(tagEncapsulatedDocument)
	if doc == nil {
		t.Fatal("encapsulated document removed")
	}
	n, _ := ds.Int(tagEncapsulatedDocumentLength)
	if int(n) > len(doc.Value) || len(doc.Value)-int(n) > 1 {
		t.Errorf("EncapsulatedDocumentLength %d for %d bytes", n, len(doc.Value))
	}
	if !p.KeepModelGeometry {
		if n != 84 {
			t.Errorf("basic profile: want an empty STL, got %d bytes", n)
		}
		return
	}
	if n != 134 || binary.LittleEndian.Uint32(doc.Value[80:]) != 1 {
		t.Fatalf("model geometry lost: %d bytes", n)
	}
	if bytes.Contains(bytes.ToUpper(doc.Value[:80]), []byte("CNRY")) {
		t.Error("STL header not blanked")
	}
	if ds.Str(tagModality) != "M3D" {
		t.Error("modality lost")
	}
}

// TestAfterPixelData: elements after Pixel Data (a private block, a digital
// signature, trailing padding) are processed like the rest, and a large
// removed value before the patient module is skipped unread.
func TestAfterPixelData(t *testing.T) {
	big := bytes.Repeat([]byte("CNRYBIGPRIVATE"), 30000) // over the bulk threshold
	els := []*dicomx.Element{
		txt(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		txt(tagSOPInstanceUID, dicomx.VRUI, cnrySOP),
		txt(0x00090010, dicomx.VRLO, "CNRY BIG CREATOR"),
		dicomx.NewBytes(0x00091001, dicomx.VROB, big),
		txt(tagPatientName, dicomx.VRPN, cnryFamily+"^"+cnryGiven),
		txt(tagPatientID, dicomx.VRLO, cnryPID),
		txt(tagStudyInstanceUID, dicomx.VRUI, cnryStudy),
		dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, bytes.Repeat([]byte{1, 2}, 200000)),
		txt(0x7FE10010, dicomx.VRLO, "CNRY AFTER CREATOR"),
		txt(0x7FE11001, dicomx.VRLO, "CNRYAFTERPIXELS"),
		dicomx.NewSequence(0xFFFAFFFA, item(txt(0x04000015, dicomx.VRCS, "SHA256"), dicomx.NewBytes(0x04000120, dicomx.VROB, []byte("CNRYSIGNATURE1")))),
		dicomx.NewBytes(tagTrailingPadding, dicomx.VROB, []byte("CNRYPADDING2")),
	}
	for _, ts := range []string{dicomx.ExplicitVRLittleEndian, dicomx.ImplicitVRLittleEndian, dicomx.ExplicitVRBigEndian, dicomx.DeflatedExplicitVRLittleEndian} {
		in := writeObject(t, ts, nil, els)
		for _, p := range []Profile{RegistryProfile(), {Name: "safe", RetainSafePrivate: true}} {
			out, res, err := deidBytes(t, newEngine(t, p), in, true)
			if err != nil {
				t.Fatalf("%s %s: %v", ts, p.Name, err)
			}
			if l := leaks(out); len(l) > 0 {
				t.Errorf("%s %s: canaries in the output: %v", ts, p.Name, l)
			}
			_, ds := readAll(t, out)
			if px := ds.Get(dicomx.TagPixelData); px == nil || len(px.Value) != 400000 {
				t.Errorf("%s %s: pixel data lost", ts, p.Name)
			}
			if ds.Get(tagPatientIdentityRemoved) == nil {
				t.Errorf("%s %s: provenance missing", ts, p.Name)
			}
			if len(res.Steps) == 0 {
				t.Error("no explain steps")
			}
		}
	}
}
