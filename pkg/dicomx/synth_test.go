package dicomx

import (
	"bytes"
	"testing"
)

func item(els ...*Element) *Dataset { return &Dataset{Elements: els} }

func code(t Tag, value, scheme, meaning string, extra ...*Element) *Element {
	return NewSequence(t, item(append([]*Element{
		NewText(TagCodeValue, VRSH, value), NewText(TagCodingSchemeDesignator, VRSH, scheme), NewText(TagCodeMeaning, VRLO, meaning),
	}, extra...)...))
}

// writeObject encodes a dataset as a Part 10 file in syntax ts.
func writeObject(t *testing.T, ts string, els ...*Element) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b, SyntaxFor(ts))
	meta := &Dataset{Elements: []*Element{NewText(TagTransferSyntaxUID, VRUI, ts)}}
	if err := w.WriteFileHeader(nil, meta); err != nil {
		t.Fatal(err)
	}
	ds := &Dataset{}
	for _, e := range els {
		ds.Set(e)
	}
	for _, e := range ds.Elements {
		if err := w.WriteElement(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSurfaceSegmentationAndOBJ(t *testing.T) {
	for _, ts := range []string{ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian} {
		t.Run(ts, func(t *testing.T) {
			surf := writeObject(t, ts,
				NewText(TagSOPClassUID, VRUI, SurfaceSegmentationStorage),
				NewText(TagSOPInstanceUID, VRUI, "1.2.3.4.5"),
				NewText(TagStudyInstanceUID, VRUI, "1.2.3"),
				NewText(TagSeriesInstanceUID, VRUI, "1.2.3.4"),
				NewText(TagModality, VRCS, "SEG"),
				NewSequence(TagReferencedSeriesSequence, item(NewText(TagSeriesInstanceUID, VRUI, "1.2.3.9"))),
				NewSequence(TagSegmentSequence, item(
					NewUint16(TagSegmentNumber, ts == ExplicitVRBigEndian, 1),
					NewText(TagSegmentLabel, VRLO, "Left kidney"),
					NewText(TagSegmentAlgorithmType, VRCS, "SEMIAUTOMATIC"),
					NewText(TagSegmentAlgorithmName, VRLO, "Slicer"),
					code(TagSegmentedPropertyCategoryCodeSequence, "91723000", "SCT", "Anatomical Structure"),
					code(TagSegmentedPropertyTypeCodeSequence, "64033007", "SCT", "Kidney",
						code(TagSegmentedPropertyTypeModifierCodeSequence, "7771000", "SCT", "Left")),
				)),
				NewSequence(TagSurfaceSequence, item(), item()),
			)
			obj, err := ReadMeta(bytes.NewReader(surf), int64(len(surf)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := Extract(obj)
			sg := f.Segmentation
			if sg == nil || sg.Kind != KindSurface || sg.Surfaces != 2 || len(sg.Segments) != 1 || len(sg.ReferencedSeriesUIDs) != 1 {
				t.Fatalf("surface segmentation: %+v", sg)
			}
			s := sg.Segments[0]
			if s.Number != 1 || s.Label != "Left kidney" || s.Type == nil || s.Type.Code != "64033007" ||
				len(s.Type.Modifiers) != 1 || s.Type.Modifiers[0].Meaning != "Left" {
				t.Errorf("segment: %+v type %+v", s, s.Type)
			}

			objDoc := []byte("# exported\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
			enc := writeObject(t, ts,
				NewText(TagSOPClassUID, VRUI, EncapsulatedOBJStorage),
				NewText(TagSOPInstanceUID, VRUI, "1.2.3.4.6"),
				NewText(TagMIMETypeOfEncapsulatedDocument, VRLO, "model/obj"),
				NewBytes(TagEncapsulatedDocument, VROB, append(append([]byte(nil), objDoc...), 0)),
				NewUint32(TagEncapsulatedDocumentLength, ts == ExplicitVRBigEndian, uint32(len(objDoc))),
				NewSequence(TagMeasurementUnitsCodeSequence, item(NewText(TagCodeValue, VRSH, "mm"), NewText(TagCodingSchemeDesignator, VRSH, "UCUM"))),
			)
			obj, err = ReadMeta(bytes.NewReader(enc), int64(len(enc)), MetaOptions(Limits{}))
			if err != nil {
				t.Fatal(err)
			}
			m := Extract(obj).Model
			if m == nil || m.Format != "obj" || m.Units != "mm" || !bytes.Equal(m.Document, objDoc) {
				t.Fatalf("encapsulated OBJ: %+v", m)
			}
		})
	}
}
