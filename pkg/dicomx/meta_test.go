package dicomx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"
)

// TestFileMetaBoundaries reads objects whose file meta or whose stray group
// 0002 elements once made the reader misplace where the meta ends, or lose
// the transfer syntax: each must read back element for element.
func TestFileMetaBoundaries(t *testing.T) {
	name := NewText(TagPatientName, VRPN, "Doe^Jane")
	sop := NewText(TagSOPInstanceUID, VRUI, "1.2.3.4")
	media := NewText(TagMediaStorageSOPInstanceUID, VRUI, "1.2.3.5")

	ts := func(uid string) *Element { return NewText(TagTransferSyntaxUID, VRUI, uid) }
	// A file meta written out of tag order: the transfer syntax first.
	unordered := writeAsGiven(t, ExplicitVRLittleEndian, []*Element{
		ts(ExplicitVRLittleEndian),
		NewText(TagMediaStorageSOPClassUID, VRUI, "1.2.840.10008.5.1.4.1.1.2"),
		NewText(TagMediaStorageSOPInstanceUID, VRUI, "1.2.3.4"),
	}, sop, name)
	// A dataset with a group 0002 element among its elements, which the
	// Writer writes explicit VR little endian, as the file meta is.
	stray := func(uid string) []byte { return writeAsGiven(t, uid, []*Element{ts(uid)}, sop, media, name) }
	// A deflated dataset whose compressed stream starts with the bytes 02 00,
	// as a group 0002 element would: an empty fixed-Huffman block, then the
	// dataset in a stored block, then an empty final block.
	ds := writeAsGiven(t, ExplicitVRLittleEndian, nil, sop, name)
	deflated := writeAsGiven(t, ExplicitVRLittleEndian, []*Element{ts(DeflatedExplicitVRLittleEndian)})
	deflated = append(deflated, 0x02, 0x00)
	deflated = binary.LittleEndian.AppendUint16(deflated, uint16(len(ds)))
	deflated = binary.LittleEndian.AppendUint16(deflated, ^uint16(len(ds)))
	deflated = append(deflated, ds...)
	deflated = append(deflated, 0x01, 0x00, 0x00, 0xFF, 0xFF)

	tests := []struct {
		name   string
		in     []byte
		syntax string
		want   []Tag
	}{
		{"file meta out of tag order", unordered, ExplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagPatientName}},
		{"group 0002 inside a big endian dataset", stray(ExplicitVRBigEndian), ExplicitVRBigEndian, []Tag{TagSOPInstanceUID, TagMediaStorageSOPInstanceUID, TagPatientName}},
		{"group 0002 inside an implicit VR dataset", stray(ImplicitVRLittleEndian), ImplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagMediaStorageSOPInstanceUID, TagPatientName}},
		{"deflated stream that starts like group 0002", deflated, DeflatedExplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagPatientName}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := NewReader(bytes.NewReader(tc.in), int64(len(tc.in)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rd.Syntax().UID; got != tc.syntax {
				t.Fatalf("transfer syntax %q, want %q", got, tc.syntax)
			}
			var got []Tag
			for {
				e, err := rd.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, e.Tag)
				if e.Tag == TagPatientName && e.Str() != "Doe^Jane" {
					t.Errorf("patient name read as %q", e.Str())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("elements %v, want %v", got, tc.want)
			}
		})
	}
}

// writeAsGiven encodes els in syntax uid in the order given, unlike
// writeObject, which sorts them; with meta nil it writes a bare dataset.
func writeAsGiven(t *testing.T, uid string, meta []*Element, els ...*Element) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b, SyntaxFor(uid))
	if meta != nil {
		if err := w.WriteFileHeader(nil, &Dataset{Elements: meta}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range els {
		if err := w.WriteElement(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
