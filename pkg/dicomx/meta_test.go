package dicomx

import (
	"bytes"
	"encoding/binary"
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

	// A file meta written out of tag order: the transfer syntax first.
	unordered := func() []byte {
		var b bytes.Buffer
		w := NewWriter(&b, SyntaxFor(ExplicitVRLittleEndian))
		meta := &Dataset{Elements: []*Element{
			NewText(TagTransferSyntaxUID, VRUI, ExplicitVRLittleEndian),
			NewText(TagMediaStorageSOPClassUID, VRUI, "1.2.840.10008.5.1.4.1.1.2"),
			NewText(TagMediaStorageSOPInstanceUID, VRUI, "1.2.3.4"),
		}}
		if err := w.WriteFileHeader(nil, meta); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Element{sop, name} {
			if err := w.WriteElement(e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}

	// A dataset with a group 0002 element among its elements, which the
	// Writer writes explicit VR little endian, as the file meta is.
	stray := func(ts string) []byte {
		var b bytes.Buffer
		w := NewWriter(&b, SyntaxFor(ts))
		if err := w.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, ts)}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Element{sop, media, name} {
			if err := w.WriteElement(e); err != nil {
				t.Fatal(err)
			}
		}
		return b.Bytes()
	}

	// A deflated dataset whose compressed stream starts with the bytes 02 00,
	// as a group 0002 element would: an empty fixed-Huffman block, then the
	// dataset in a stored block, then an empty final block.
	deflated := func() []byte {
		var ds bytes.Buffer
		w := NewWriter(&ds, SyntaxFor(ExplicitVRLittleEndian))
		for _, e := range []*Element{sop, name} {
			if err := w.WriteElement(e); err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		mw := NewWriter(&b, SyntaxFor(ExplicitVRLittleEndian))
		if err := mw.WriteFileHeader(nil, &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, DeflatedExplicitVRLittleEndian)}}); err != nil {
			t.Fatal(err)
		}
		b.Write([]byte{0x02, 0x00})
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(ds.Len())))
		b.Write(binary.LittleEndian.AppendUint16(nil, ^uint16(ds.Len())))
		b.Write(ds.Bytes())
		b.Write([]byte{0x01, 0x00, 0x00, 0xFF, 0xFF})
		return b.Bytes()
	}

	tests := []struct {
		name   string
		in     []byte
		syntax string
		want   []Tag
	}{
		{"file meta out of tag order", unordered(), ExplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagPatientName}},
		{"group 0002 inside a big endian dataset", stray(ExplicitVRBigEndian), ExplicitVRBigEndian, []Tag{TagSOPInstanceUID, TagMediaStorageSOPInstanceUID, TagPatientName}},
		{"group 0002 inside an implicit VR dataset", stray(ImplicitVRLittleEndian), ImplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagMediaStorageSOPInstanceUID, TagPatientName}},
		{"deflated stream that starts like group 0002", deflated(), DeflatedExplicitVRLittleEndian, []Tag{TagSOPInstanceUID, TagPatientName}},
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
				if err == io.EOF {
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
