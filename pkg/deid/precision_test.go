package deid

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/sitekey"
)

// ordinaryCT is an ordinary CT slice whose identifiers are given: the kind
// of object a hospital sends every day, with nothing planted.
func ordinaryCT(t testing.TB, pid, studyID, accession, studyDate string, n int) []byte {
	els := []*dicomx.Element{
		txt(0x00080005, dicomx.VRCS, "ISO_IR 100"),
		txt(0x00080008, dicomx.VRCS, "ORIGINAL", "PRIMARY", "AXIAL"),
		txt(tagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		txt(tagSOPInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.777."+strconv.Itoa(n)+".3"),
		txt(0x00080020, dicomx.VRDA, studyDate),
		txt(0x00080021, dicomx.VRDA, studyDate),
		txt(0x00080030, dicomx.VRTM, "101500"),
		txt(0x00080050, dicomx.VRSH, accession),
		txt(tagModality, dicomx.VRCS, "CT"),
		txt(0x00080070, dicomx.VRLO, "SIEMENS"),
		txt(0x00080080, dicomx.VRLO, "GENERAL HOSPITAL"),
		txt(0x00080090, dicomx.VRPN, "REFERRER^DOC"),
		txt(0x00081030, dicomx.VRLO, "CT CHEST"),
		txt(0x0008103E, dicomx.VRLO, "Thorax 1.0 B30f"),
		txt(0x00081090, dicomx.VRLO, "SOMATOM Force"),
		txt(tagPatientName, dicomx.VRPN, "SMITH^ANNA"),
		txt(tagPatientID, dicomx.VRLO, pid),
		txt(0x00100030, dicomx.VRDA, "19610723"),
		txt(0x00100040, dicomx.VRCS, "F"),
		txt(0x00101010, dicomx.VRAS, "055Y"),
		txt(0x00180050, dicomx.VRDS, "1.0"),
		txt(0x00181210, dicomx.VRSH, "Br40d"),
		txt(tagStudyInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.777."+strconv.Itoa(n)+".1"),
		txt(tagSeriesInstanceUID, dicomx.VRUI, "1.2.826.0.1.3680043.10.777."+strconv.Itoa(n)+".2"),
		txt(0x00200010, dicomx.VRSH, studyID),
		txt(0x00200013, dicomx.VRIS, "1"),
		txt(0x00200032, dicomx.VRDS, "-100", "-120", "55.5"),
		txt(0x00200037, dicomx.VRDS, "1", "0", "0", "0", "1", "0"),
		txt(0x00200052, dicomx.VRUI, "1.2.826.0.1.3680043.10.777."+strconv.Itoa(n)+".4"),
		dicomx.NewUint16(0x00280010, false, 4),
		dicomx.NewUint16(0x00280011, false, 4),
		txt(0x00280030, dicomx.VRDS, "0.5", "0.5"),
		txt(0x00281050, dicomx.VRDS, "40"),
		txt(0x00281051, dicomx.VRDS, "400"),
		dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, canaryPixels),
	}
	return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, els)
}

// collidingIDs are short identifiers that equal part of what the engine
// writes itself: method code values (CID 7050, 1131xx), years of shifted
// dates, digits of remapped UIDs and of the dummies.
func collidingIDs() []string {
	ids := []string{"113100", "113101", "113105", "113107", "113108", "113109", "113110", "113111", "19000101", "ANONYMIZED", "1131", "1310", "1311", "3101", "3105", "3107", "3108", "3109", "3110", "3111", "1900", "0101", "2250", "1000"}
	for y := 2010; y <= 2024; y++ {
		ids = append(ids, strconv.Itoa(y))
	}
	for i := 3100; i <= 3111; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	return ids
}

// TestNoFalseRefusals: ordinary studies whose short IDs happen to equal part
// of a value the engine writes are never refused, under many site secrets
// and both profiles.
func TestNoFalseRefusals(t *testing.T) {
	secrets := 12
	if testing.Short() {
		secrets = 3
	}
	refused, total := 0, 0
	for s := 0; s < secrets; s++ {
		key, err := sitekey.New([]byte(fmt.Sprintf("precision-secret-%02d-%s", s, "padding-to-thirty-two-bytes")))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []Profile{RegistryProfile(), BasicProfile()} {
			e, err := New(key, p)
			if err != nil {
				t.Fatal(err)
			}
			for i, id := range collidingIDs() {
				for j, where := range []string{"study", "patient", "accession", "shifted"} {
					sid, pid, acc := "S1", "PAT-887766", "ACC887766"
					switch where {
					case "study":
						sid = id
					case "patient":
						pid = id
					case "accession":
						acc = id
					}
					date := "2017031" + strconv.Itoa(j)
					if where == "shifted" {
						// The accession equals the date the engine writes.
						acc, _ = shiftDA(date, DateOffsetDays(key, pid, "SMITH^ANNA"))
					}
					in := ordinaryCT(t, pid, sid, acc, date, i)
					total++
					if _, _, err := deidBytes(t, e, in, false); err != nil {
						refused++
						var re *RefusedError
						if !errors.As(err, &re) || re.Reason != ReasonResidue {
							t.Errorf("secret %d, %s, %s ID %s: %v", s, p.Name, where, id, err)
							continue
						}
						if refused <= 5 {
							t.Errorf("secret %d, %s, %s ID %s: refused: %v", s, p.Name, where, id, err)
						}
					}
				}
			}
		}
	}
	if refused > 0 {
		t.Errorf("%d of %d ordinary objects refused", refused, total)
	}
	t.Logf("%d ordinary objects with colliding short IDs, %d refused", total, refused)
}

// withElement returns the ordinary CT with el added (or replacing its tag).
func withElement(t testing.TB, pid string, el ...*dicomx.Element) []byte {
	_, ds := readAll(t, ordinaryCT(t, pid, "S1", "ACC887766", "20170314", 1))
	for _, e := range el {
		ds.Set(e)
	}
	return writeObject(t, dicomx.ExplicitVRLittleEndian, nil, ds.Elements)
}

// blob is n bytes of filler with text written at each offset.
func blob(n int, text string, at ...int) []byte {
	b := bytes.Repeat([]byte("icc-profile-bytes "), n/18+1)[:n]
	for _, o := range at {
		copy(b[o:], " "+text+" ")
	}
	return b
}

// TestPlantedCopiesCaught: an original name, ID or date copied where the
// engine keeps values — kept text, a nested item, a small or large kept
// binary value — never reaches the output: the value is dropped or the
// object refused.
func TestPlantedCopiesCaught(t *testing.T) {
	const big = 600 << 10 // over the reader's bulk threshold: streamed
	cases := []struct {
		name, pid, planted string
		el                 *dicomx.Element
		mustRefuse         bool
	}{
		{"short ID in a small ICC profile", "4711", "4711", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(4096, "4711", 100)), true},
		{"name in a small ICC profile", "PAT-1", "SMITH", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(4096, "Smith", 100)), true},
		{"ID in a large ICC profile", "PAT-887766", "PAT-887766", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(big, "PAT-887766", 300000)), true},
		{"short ID at the end of a large ICC profile", "4711", "4711", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(big, "4711", big-6)), true},
		{"birth date across chunk boundaries", "PAT-1", "19610723", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(big, "19610723", 32764, 65533, 4093, 16381)), true},
		{"name in a large private-free binary", "PAT-1", "SMITH", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(big, "SMITH^ANNA", 1<<18)), true},
		{"short ID in kept text", "4711", "4711", txt(0x00081090, dicomx.VRLO, "SOMATOM 4711"), false},
		{"birth date with spaces in a description", "PAT-1", "1961", txt(0x0008103E, dicomx.VRLO, "CT 1961 07 23"), false},
		{"birth date with a month name in kept text", "PAT-1", "1961", txt(0x00081090, dicomx.VRLO, "SOMATOM 23 JUL 1961"), false},
		{"birth date with a month name in a large binary", "PAT-1", "1961", dicomx.NewBytes(0x00282000, dicomx.VROB, blob(big, "23 Jul 1961", 1<<18)), true},
		{"name in a nested item", "PAT-1", "SMITH", dicomx.NewSequence(0x00081115, item(txt(0x00080070, dicomx.VRLO, "ACME SMITH"))), false},
	}
	e := newEngine(t, RegistryProfile())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := withElement(t, c.pid, c.el)
			out, _, err := deidBytes(t, e, in, false)
			if err != nil {
				var re *RefusedError
				if !errors.As(err, &re) || re.Reason != ReasonResidue {
					t.Fatalf("refused for another reason: %v", err)
				}
				return
			}
			if c.mustRefuse {
				t.Fatal("not refused")
			}
			if bytes.Contains(bytes.ToUpper(out), []byte(strings.ToUpper(c.planted))) {
				t.Fatalf("%q is in the output", c.planted)
			}
		})
	}
}

// TestBurnedInPolicy: multi-valued modalities, whole slide label and
// overview images, and angiography without a clean declaration are refused;
// their ordinary neighbours are not.
func TestBurnedInPolicyByValue(t *testing.T) {
	const sm = "1.2.840.10008.5.1.4.1.1.77.1.6"
	cases := []struct {
		name   string
		els    []*dicomx.Element
		reason string // "" when accepted
	}{
		{"CT", nil, ""},
		{"CT and US in one Modality", []*dicomx.Element{txt(tagModality, dicomx.VRCS, "CT", "US")}, ReasonBurnedInModal},
		{"lower-case us", []*dicomx.Element{txt(tagModality, dicomx.VRCS, "us")}, ReasonBurnedInModal},
		{"XA, nothing declared", []*dicomx.Element{txt(tagModality, dicomx.VRCS, "XA")}, ReasonBurnedInModal},
		{"XA, burned-in NO", []*dicomx.Element{txt(tagModality, dicomx.VRCS, "XA"), txt(tagBurnedInAnnotation, dicomx.VRCS, "NO")}, ""},
		{"RF, burned-in YES", []*dicomx.Element{txt(tagModality, dicomx.VRCS, "RF"), txt(tagBurnedInAnnotation, dicomx.VRCS, "YES")}, ReasonBurnedIn},
		{"SM label", []*dicomx.Element{txt(tagSOPClassUID, dicomx.VRUI, sm), txt(tagModality, dicomx.VRCS, "SM"), txt(tagImageType, dicomx.VRCS, "ORIGINAL", "PRIMARY", "LABEL", "NONE")}, ReasonBurnedInSOP},
		{"SM overview", []*dicomx.Element{txt(tagSOPClassUID, dicomx.VRUI, sm), txt(tagModality, dicomx.VRCS, "SM"), txt(tagImageType, dicomx.VRCS, "ORIGINAL", "PRIMARY", "OVERVIEW", "NONE")}, ReasonBurnedInSOP},
		{"SM volume", []*dicomx.Element{txt(tagSOPClassUID, dicomx.VRUI, sm), txt(tagModality, dicomx.VRCS, "SM"), txt(tagImageType, dicomx.VRCS, "ORIGINAL", "PRIMARY", "VOLUME", "NONE")}, ""},
	}
	e := newEngine(t, RegistryProfile())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := deidBytes(t, e, withElement(t, "PAT-1", c.els...), false)
			var re *RefusedError
			switch {
			case c.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.reason != "" && (!errors.As(err, &re) || re.Reason != c.reason):
				t.Fatalf("got %v, want reason %s", err, c.reason)
			}
		})
	}
}
