package testenv

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"

	"github.com/printreg/printreg/pkg/dicomx"
)

// EnhancedCT describes a synthetic Enhanced CT multi-frame object: the
// ordinary identifiers, Frames frames of Rows × Columns 16-bit pixels, a
// shared pixel-measures and orientation macro and a per-frame position
// along the patient's axis of (frame number) × ThicknessMM, so the frames
// are evenly spaced with no gap.
type EnhancedCT struct {
	Accession, PatientID, PatientName string
	StudyUID, SeriesUID, SOPUID       string
	Frames, Rows, Columns             int
	ThicknessMM                       float64
}

// WriteTo writes the object as DICOM Part 10 (Explicit VR Little Endian),
// streaming the pixel data, so an object of several GB costs no memory.
func (e EnhancedCT) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	const enhancedCT = "1.2.840.10008.5.1.4.1.1.2.1"
	item := func(els ...*dicomx.Element) *dicomx.Dataset {
		d := &dicomx.Dataset{}
		for _, el := range els {
			d.Set(el)
		}
		return d
	}
	shared := item(
		dicomx.NewSequence(dicomx.TagPixelMeasuresSequence, item(
			dicomx.NewText(dicomx.TagSliceThickness, dicomx.VRDS, num(e.ThicknessMM)),
			dicomx.NewText(dicomx.TagPixelSpacing, dicomx.VRDS, "0.5", "0.5"))),
		dicomx.NewSequence(dicomx.TagPlaneOrientationSequence, item(
			dicomx.NewText(dicomx.TagImageOrientationPatient, dicomx.VRDS, "1", "0", "0", "0", "1", "0"))),
	)
	perFrame := make([]*dicomx.Dataset, e.Frames)
	for i := range perFrame {
		perFrame[i] = item(dicomx.NewSequence(dicomx.TagPlanePositionSequence, item(
			dicomx.NewText(dicomx.TagImagePositionPatient, dicomx.VRDS, "-100", "-120", num(float64(i+1)*e.ThicknessMM)))))
	}
	ds := &dicomx.Dataset{}
	for _, el := range []*dicomx.Element{
		dicomx.NewText(dicomx.TagSpecificCharacterSet, dicomx.VRCS, "ISO_IR 100"),
		dicomx.NewText(dicomx.TagImageType, dicomx.VRCS, "ORIGINAL", "PRIMARY", "AXIAL", "NONE"),
		dicomx.NewText(dicomx.TagSOPClassUID, dicomx.VRUI, enhancedCT),
		dicomx.NewText(dicomx.TagSOPInstanceUID, dicomx.VRUI, e.SOPUID),
		dicomx.NewText(dicomx.TagStudyDate, dicomx.VRDA, "20260301"),
		dicomx.NewText(dicomx.TagAccessionNumber, dicomx.VRSH, e.Accession),
		dicomx.NewText(dicomx.TagModality, dicomx.VRCS, "CT"),
		dicomx.NewText(dicomx.TagManufacturer, dicomx.VRLO, "SIEMENS"),
		dicomx.NewText(dicomx.TagPatientName, dicomx.VRPN, e.PatientName),
		dicomx.NewText(dicomx.TagPatientID, dicomx.VRLO, e.PatientID),
		dicomx.NewText(dicomx.TagStudyInstanceUID, dicomx.VRUI, e.StudyUID),
		dicomx.NewText(dicomx.TagSeriesInstanceUID, dicomx.VRUI, e.SeriesUID),
		dicomx.NewText(dicomx.TagSeriesNumber, dicomx.VRIS, "1"),
		dicomx.NewText(dicomx.TagInstanceNumber, dicomx.VRIS, "1"),
		dicomx.NewText(dicomx.TagFrameOfReferenceUID, dicomx.VRUI, e.StudyUID+".0"),
		dicomx.NewSequence(dicomx.TagSharedFunctionalGroupsSequence, shared),
		dicomx.NewSequence(dicomx.TagPerFrameFunctionalGroupsSequence, perFrame...),
		dicomx.NewUint16(dicomx.TagSamplesPerPixel, false, 1),
		dicomx.NewText(dicomx.TagPhotometricInterpretation, dicomx.VRCS, "MONOCHROME2"),
		dicomx.NewText(dicomx.TagNumberOfFrames, dicomx.VRIS, strconv.Itoa(e.Frames)),
		dicomx.NewUint16(dicomx.TagRows, false, uint16(e.Rows)),
		dicomx.NewUint16(dicomx.TagColumns, false, uint16(e.Columns)),
		dicomx.NewUint16(dicomx.TagBitsAllocated, false, 16),
		dicomx.NewUint16(dicomx.TagBitsStored, false, 12),
		dicomx.NewUint16(dicomx.TagHighBit, false, 11),
		dicomx.NewUint16(dicomx.TagPixelRepresentation, false, 0),
	} {
		ds.Set(el)
	}
	meta := &dicomx.Dataset{}
	meta.Set(dicomx.NewBytes(0x00020001, dicomx.VROB, []byte{0, 1}))
	meta.Set(dicomx.NewText(0x00020002, dicomx.VRUI, enhancedCT))
	meta.Set(dicomx.NewText(0x00020003, dicomx.VRUI, e.SOPUID))
	meta.Set(dicomx.NewText(0x00020010, dicomx.VRUI, dicomx.ExplicitVRLittleEndian))
	meta.Set(dicomx.NewText(0x00020012, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.3"))
	dw := dicomx.NewWriter(bw, dicomx.SyntaxFor(dicomx.ExplicitVRLittleEndian))
	if err := dw.WriteFileHeader(nil, meta); err != nil {
		return cw.n, fmt.Errorf("synthetic enhanced CT: %w", err)
	}
	for _, el := range ds.Elements {
		if err := dw.WriteElement(el); err != nil {
			return cw.n, fmt.Errorf("synthetic enhanced CT: %w", err)
		}
	}
	if err := dw.Close(); err != nil {
		return cw.n, fmt.Errorf("synthetic enhanced CT: %w", err)
	}
	// Pixel Data (7FE0,0010) OW, streamed frame by frame.
	frame := make([]byte, e.Rows*e.Columns*2)
	hdr := []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(hdr[8:], uint32(len(frame)*e.Frames))
	if _, err := bw.Write(hdr); err != nil {
		return cw.n, err
	}
	for f := range e.Frames {
		for i := range frame {
			frame[i] = byte(i*7 + f)
		}
		for i := 1; i < len(frame); i += 2 {
			frame[i] &= 0x0F // 12 bits stored
		}
		if _, err := bw.Write(frame); err != nil {
			return cw.n, err
		}
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
