package deid

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
)

// rowSeq is the sequence the row test nests every attribute in: it is not
// named by Table E.1-1, so it is kept and processed item by item.
const rowSeq = dicomx.Tag(0x52009229) // Shared Functional Groups Sequence

// rowVR is the VR the row test writes an attribute with.
func rowVR(t dicomx.Tag) dicomx.VR {
	if d, ok := dicomx.Lookup(t); ok && d.VR != dicomx.VRNone && d.VR != dicomx.VRUN {
		return d.VR
	}
	return dicomx.VRLO
}

// rowValue is a valid value for a VR; text is a safe descriptor, so that
// cleaning keeps it and removal is visible.
func rowValue(vr dicomx.VR) []byte {
	switch vr {
	case dicomx.VRAE:
		return []byte("STATIONAE1")
	case dicomx.VRAS:
		return []byte("045Y")
	case dicomx.VRCS:
		return []byte("VALUE1")
	case dicomx.VRDA:
		return []byte("20200102")
	case dicomx.VRDT:
		return []byte("20200102101112")
	case dicomx.VRTM:
		return []byte("101112")
	case dicomx.VRDS:
		return []byte("1.5")
	case dicomx.VRIS:
		return []byte("7")
	case dicomx.VRPN:
		return []byte("ROWFAMILY^ROWGIVEN")
	case dicomx.VRUI:
		return []byte("1.2.826.0.1.3680043.10.999.1")
	case dicomx.VRUR:
		return []byte("http://example.org/x")
	}
	if n := vr.FixedSize(); n > 0 {
		return make([]byte, n)
	}
	if vr.IsText() {
		return []byte("CT CHEST")
	}
	return []byte{1, 2, 3, 4}
}

// identityTag reports attributes the engine reads as this patient's
// identifiers; the row test gives them unique values so that they do not
// collide with the descriptor text.
func identityTag(t dicomx.Tag) bool {
	for _, x := range append(append([]dicomx.Tag{}, identityIDs...), identityNames...) {
		if x == t {
			return true
		}
	}
	return false
}

func rowText(t dicomx.Tag, vr dicomx.VR) []byte {
	if identityTag(t) && vr != dicomx.VRDA && vr != dicomx.VRPN {
		return []byte(fmt.Sprintf("ID%08X", uint32(t)))
	}
	return rowValue(vr)
}

func rowElement(t dicomx.Tag) *dicomx.Element {
	vr := rowVR(t)
	if vr == dicomx.VRSQ {
		return dicomx.NewSequence(t, &dicomx.Dataset{Elements: []*dicomx.Element{
			dicomx.NewText(0x00200013, dicomx.VRIS, "1"),
		}})
	}
	if vr.IsText() {
		return dicomx.NewText(t, vr, string(rowText(t, vr)))
	}
	return dicomx.NewBytes(t, vr, rowValue(vr))
}

// testableRow skips rows the engine treats outside the table on purpose:
// command group elements are never kept in a stored object, and the
// provenance attributes are rewritten.
func testableRow(r *tableRow) bool {
	return r.Tag.Group() != 0x0000 && r.Tag.Group() != 0x0002
}

// buildRowObject writes one CT object carrying every row at the top level
// and inside a sequence item.
func buildRowObject(t *testing.T) []byte {
	t.Helper()
	var top, nested []*dicomx.Element
	for i := range tableE11 {
		r := &tableE11[i]
		if !testableRow(r) {
			continue
		}
		top = append(top, rowElement(r.Tag))
		nested = append(nested, rowElement(r.Tag))
	}
	// The object needs a SOP instance and a patient to key on.
	set := func(els []*dicomx.Element, e *dicomx.Element) []*dicomx.Element {
		for i, o := range els {
			if o.Tag == e.Tag {
				els[i] = e
				return els
			}
		}
		return append(els, e)
	}
	top = set(top, dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage))
	top = set(top, dicomx.NewText(tagPatientID, dicomx.VRLO, "ROWPATIENT"))
	top = set(top, dicomx.NewSequence(rowSeq, &dicomx.Dataset{Elements: nested}))
	return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, top)
}

// writeObject writes a Part 10 object with the project's writer.
func writeObject(t testing.TB, ts string, extraMeta []*dicomx.Element, els []*dicomx.Element) []byte {
	t.Helper()
	ds := &dicomx.Dataset{}
	for _, e := range els {
		ds.Set(e)
	}
	sop := ds.Str(tagSOPInstanceUID)
	if sop == "" {
		sop = "1.2.826.0.1.3680043.10.999.2"
	}
	meta := &dicomx.Dataset{}
	meta.Set(dicomx.NewBytes(0x00020001, dicomx.VROB, []byte{0, 1}))
	meta.Set(dicomx.NewText(0x00020002, dicomx.VRUI, ds.Str(tagSOPClassUID)))
	meta.Set(dicomx.NewText(0x00020003, dicomx.VRUI, sop))
	meta.Set(dicomx.NewText(0x00020010, dicomx.VRUI, ts))
	meta.Set(dicomx.NewText(0x00020012, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.3"))
	for _, e := range extraMeta {
		meta.Set(e)
	}
	var buf bytes.Buffer
	w := dicomx.NewWriter(&buf, dicomx.SyntaxFor(ts))
	if err := w.WriteFileHeader(nil, meta); err != nil {
		t.Fatal(err)
	}
	for _, e := range ds.Elements {
		if err := w.WriteElement(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// expectation is what a row's attribute must look like in the output.
type expectation int

const (
	expAbsent expectation = iota
	expEmpty
	expChanged   // present, non-empty, different
	expSame      // present, unchanged
	expUID       // every value a 2.25 UID, different
	expShifted   // date shifted by the patient's offset
	expPresentSQ // sequence present
)

var expNames = []string{"absent", "empty", "changed", "same", "new-uid", "shifted", "present-sequence"}

// expected is the test's own reading of Table E.1-1 and the documented
// resolutions (docs/deid.md), independent of the engine's code paths.
func expected(r *tableRow, opt int) expectation {
	vr := rowVR(r.Tag)
	a := r.Basic
	if opt >= 0 && r.Opt[opt] != actNone {
		a = r.Opt[opt]
	}
	switch r.Tag {
	case tagPatientID, tagPatientName, tagEncapsulatedDocument:
		return expChanged
	}
	if a == ActC {
		switch {
		case opt == optModifiedDates && (vr == dicomx.VRDA || vr == dicomx.VRDT):
			return expShifted
		case opt == optModifiedDates && (vr == dicomx.VRTM || r.Tag == tagTimezoneOffset):
			return expSame
		case vr == dicomx.VRSQ:
			return expPresentSQ
		case vr == dicomx.VRCS && opt == optCleanDescriptors:
			return expSame
		case vr.IsText() && vr != dicomx.VRAE && vr != dicomx.VRPN && vr != dicomx.VRUI && (opt == optCleanDescriptors || opt == optPatientChars):
			return expSame // "CT CHEST" is a safe descriptor
		}
		a = r.Basic // no cleaner: the Basic action
	}
	// Combined codes, as documented.
	switch a {
	case ActZD:
		a = ActZ
		if combinedType1[r.Tag] {
			a = ActD
		}
	case ActXZ:
		a = ActX
		if combinedType2[r.Tag] {
			a = ActZ
		}
	case ActXD:
		a = ActX
		if combinedType1[r.Tag] {
			a = ActD
		}
	case ActXZD:
		a = ActX
		if combinedType1[r.Tag] {
			a = ActD
		} else if combinedType2[r.Tag] {
			a = ActZ
		}
	case ActXZU:
		return expPresentSQ
	}
	switch a {
	case ActX:
		return expAbsent
	case ActZ:
		return expEmpty
	case ActK:
		if vr == dicomx.VRSQ {
			return expPresentSQ
		}
		return expSame
	case ActU:
		return expUID
	case ActD:
		if vr == dicomx.VRSQ {
			return expPresentSQ
		}
		if vr == dicomx.VRUI {
			return expUID
		}
		return expChanged
	}
	return expAbsent
}

func checkRow(el *dicomx.Element, r *tableRow, want expectation, offset int) error {
	vr := rowVR(r.Tag)
	orig := rowText(r.Tag, vr)
	got := "absent"
	if el != nil {
		got = fmt.Sprintf("%q", el.Value)
	}
	bad := func() error {
		return fmt.Errorf("%s %s: want %s, got %s", r.Tag, r.Name, expNames[want], got)
	}
	switch want {
	case expAbsent:
		if el != nil {
			return bad()
		}
		return nil
	}
	if el == nil {
		return bad()
	}
	switch want {
	case expEmpty:
		if len(el.Value) != 0 || len(el.Items) != 0 {
			return bad()
		}
	case expPresentSQ:
		if el.VR != dicomx.VRSQ {
			return bad()
		}
	case expSame:
		if vr == dicomx.VRSQ {
			return nil
		}
		if el.Str() != strings.Trim(string(orig), " \x00") && !bytes.Equal(el.Value, orig) {
			return bad()
		}
	case expChanged:
		if len(el.Value) == 0 || el.Str() == string(orig) {
			return bad()
		}
	case expUID:
		for _, v := range el.Strs() {
			if !strings.HasPrefix(v, "2.25.") || v == string(orig) {
				return bad()
			}
		}
	case expShifted:
		var w string
		if vr == dicomx.VRDA {
			w, _ = shiftDA(string(orig), offset)
		} else {
			w, _ = shiftDT(string(orig), offset)
		}
		if el.Str() != w {
			return bad()
		}
	}
	return nil
}

// TestTableRows: every Table E.1-1 row, at the top level and inside a
// sequence, gets its action under the Basic Profile and under each option
// that changes it.
func TestTableRows(t *testing.T) {
	in := buildRowObject(t)
	profiles := []int{-1}
	for o := 1; o < numOptions; o++ { // Retain Safe Private names only the private wildcard row
		profiles = append(profiles, o)
	}
	for _, opt := range profiles {
		p := BasicProfile()
		name := "basic"
		if opt >= 0 {
			on := [numOptions]bool{}
			on[opt] = true
			p.RetainSafePrivate, p.RetainUIDs, p.RetainDeviceIdentity, p.RetainInstitutionIdentity = on[0], on[1], on[2], on[3]
			p.RetainPatientCharacteristics, p.RetainFullDates, p.RetainModifiedDates = on[4], on[5], on[6]
			p.CleanDescriptors, p.CleanStructuredContent, p.CleanGraphics = on[7], on[8], on[9]
			name = optionNames[opt]
		}
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, p)
			out, _, err := deidBytes(t, e, in, false)
			if err != nil {
				t.Fatal(err)
			}
			_, ds := readAll(t, out)
			nested := ds.Item(rowSeq)
			if nested == nil {
				t.Fatal("the carrier sequence is gone")
			}
			offset := DateOffsetDays(e.key, "ROWPATIENT", "")
			checked := 0
			for i := range tableE11 {
				r := &tableE11[i]
				if !testableRow(r) || (opt >= 0 && r.Opt[opt] == actNone) {
					continue
				}
				want := expected(r, opt)
				if r.Tag == tagPatientID {
					continue // the top-level one carries the test patient; checked in TestPseudonyms
				}
				if err := checkRow(ds.Get(r.Tag), r, want, offset); err != nil {
					t.Errorf("top level: %v", err)
				}
				if err := checkRow(nested.Get(r.Tag), r, want, offset); err != nil {
					t.Errorf("in a sequence: %v", err)
				}
				checked++
			}
			if checked == 0 {
				t.Fatal("no row checked")
			}
		})
	}
}

// TestWildcardRows covers the curve, overlay and private rows.
func TestWildcardRows(t *testing.T) {
	els := []*dicomx.Element{
		dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		dicomx.NewText(tagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.7"),
		dicomx.NewUint16(0x50000005, false, 2),
		dicomx.NewBytes(0x50003000, dicomx.VROW, []byte("CURVEDATA1")),
		dicomx.NewText(0x50002500, dicomx.VRLO, "CURVELABEL1"),
		dicomx.NewUint16(0x60000010, false, 2),
		dicomx.NewUint16(0x60000011, false, 2),
		dicomx.NewBytes(0x60003000, dicomx.VROW, []byte("OVERLAYDATA1")),
		dicomx.NewText(0x60004000, dicomx.VRLT, "OVERLAYCOMMENT1"),
		dicomx.NewText(0x60000022, dicomx.VRLO, "OVERLAYDESC1"),
		dicomx.NewText(0x00090010, dicomx.VRLO, "GEMS_ACQU_01"),
		dicomx.NewText(0x00091001, dicomx.VRLO, "PRIVATE1"),
		dicomx.NewText(0x00191010, dicomx.VRLO, "ORPHAN1"),
		// Table E.3.10-1 lists (0019,xx9E) of SIEMENS MR HEADER... use a GE row:
		dicomx.NewText(0x00190010, dicomx.VRLO, "GEMS_ACQU_01"),
	}
	in := writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
	for _, p := range []Profile{BasicProfile(), {Name: "graphics", CleanGraphics: true}, {Name: "safe", RetainSafePrivate: true}} {
		out, _, err := deidBytes(t, newEngine(t, p), in, false)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		_, ds := readAll(t, out)
		for _, e := range ds.Elements {
			g := e.Tag.Group()
			if isCurveGroup(g) || isOverlayGroup(g) {
				t.Errorf("%s: %s survived", p.Name, e.Tag)
			}
		}
		if ds.Get(0x00191010) != nil || ds.Get(0x00091001) != nil {
			t.Errorf("%s: unsafe or orphan private element kept", p.Name)
		}
	}
}

// TestSafePrivateMatch matches Table E.3.10-1 by group, creator and low byte,
// whatever the block and the creator's case.
func TestSafePrivateMatch(t *testing.T) {
	var r safePrivateRow
	for _, x := range safePrivateTable {
		if x.VR == "DS" || x.VR == "FL" || x.VR == "US" {
			r = x
			break
		}
	}
	if r.Creator == "" {
		t.Fatal("no numeric safe private row")
	}
	for _, block := range []uint16{0x10, 0x11, 0x4F} {
		creator := dicomx.NewTag(r.Group, block)
		elem := dicomx.NewTag(r.Group, block<<8|uint16(r.Elem))
		vr, _ := dicomx.ParseVR(r.VR[0], r.VR[1])
		els := []*dicomx.Element{
			dicomx.NewText(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
			dicomx.NewText(tagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.8"),
			dicomx.NewText(creator, dicomx.VRLO, strings.ToUpper(r.Creator)),
			dicomx.NewBytes(elem, vr, rowValue(vr)),
			dicomx.NewText(dicomx.NewTag(r.Group, block<<8|0xFE), dicomx.VRLO, "NOTSAFE1"),
		}
		in := writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
		for _, p := range []Profile{BasicProfile(), {Name: "safe", RetainSafePrivate: true}} {
			out, _, err := deidBytes(t, newEngine(t, p), in, false)
			if err != nil {
				t.Fatal(err)
			}
			_, ds := readAll(t, out)
			kept := ds.Get(elem) != nil
			if kept != p.RetainSafePrivate {
				t.Errorf("%s block %02X: safe element kept=%v", p.Name, block, kept)
			}
			if (ds.Get(creator) != nil) != p.RetainSafePrivate {
				t.Errorf("%s block %02X: creator kept=%v", p.Name, block, ds.Get(creator) != nil)
			}
			if ds.Get(dicomx.NewTag(r.Group, block<<8|0xFE)) != nil {
				t.Errorf("%s: element not in E.3.10-1 kept", p.Name)
			}
		}
	}
}
