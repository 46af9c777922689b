package testenv

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/printreg/printreg/pkg/dicomx"
)

// CTSlice describes one slice of a synthetic CT series: the ordinary
// identifiers a hospital's scanner writes, an 8×8 image, and a position
// along the patient's axis of Instance × ThicknessMM, so that a series of
// slices 1..n is evenly spaced with no gap.
type CTSlice struct {
	Accession   string
	PatientID   string
	PatientName string // DICOM person name, e.g. DOE^JANE
	BirthDate   string // YYYYMMDD
	StudyDate   string // YYYYMMDD
	// StudyUID and SeriesUID are the original (not yet remapped) UIDs; the
	// SOP Instance UID is SeriesUID.<Instance>.
	StudyUID     string
	SeriesUID    string
	SeriesNumber int
	Instance     int
	// ThicknessMM is the slice thickness and spacing (default 1).
	ThicknessMM float64
}

// SOPInstanceUID is the slice's SOP Instance UID.
func (s CTSlice) SOPInstanceUID() string { return s.SeriesUID + "." + strconv.Itoa(s.Instance) }

// Part10 returns the slice as a DICOM Part 10 file in Explicit VR Little
// Endian.
func (s CTSlice) Part10() ([]byte, error) {
	th := s.ThicknessMM
	if th <= 0 {
		th = 1
	}
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	pixels := make([]byte, 8*8*2)
	for i := range pixels {
		pixels[i] = byte(i*31 + s.Instance)
	}
	sop := s.SOPInstanceUID()
	ds := &dicomx.Dataset{}
	for _, e := range []*dicomx.Element{
		dicomx.NewText(dicomx.TagSpecificCharacterSet, dicomx.VRCS, "ISO_IR 100"),
		dicomx.NewText(dicomx.TagImageType, dicomx.VRCS, "ORIGINAL", "PRIMARY", "AXIAL"),
		dicomx.NewText(dicomx.TagSOPClassUID, dicomx.VRUI, dicomx.CTImageStorage),
		dicomx.NewText(dicomx.TagSOPInstanceUID, dicomx.VRUI, sop),
		dicomx.NewText(dicomx.TagStudyDate, dicomx.VRDA, s.StudyDate),
		dicomx.NewText(dicomx.TagSeriesDate, dicomx.VRDA, s.StudyDate),
		dicomx.NewText(dicomx.TagStudyTime, dicomx.VRTM, "101500"),
		dicomx.NewText(dicomx.TagAccessionNumber, dicomx.VRSH, s.Accession),
		dicomx.NewText(dicomx.TagModality, dicomx.VRCS, "CT"),
		dicomx.NewText(dicomx.TagManufacturer, dicomx.VRLO, "SIEMENS"),
		dicomx.NewText(dicomx.TagInstitutionName, dicomx.VRLO, "GENERAL HOSPITAL"),
		dicomx.NewText(dicomx.TagReferringPhysicianName, dicomx.VRPN, "REFERRER^DOC"),
		dicomx.NewText(dicomx.TagStudyDescription, dicomx.VRLO, "CT ABDOMEN"),
		dicomx.NewText(dicomx.TagSeriesDescription, dicomx.VRLO, "Abdomen "+num(th)+" Br40d"),
		dicomx.NewText(dicomx.TagManufacturerModelName, dicomx.VRLO, "SOMATOM Force"),
		dicomx.NewText(dicomx.TagPatientName, dicomx.VRPN, s.PatientName),
		dicomx.NewText(dicomx.TagPatientID, dicomx.VRLO, s.PatientID),
		dicomx.NewText(dicomx.TagPatientBirthDate, dicomx.VRDA, s.BirthDate),
		dicomx.NewText(dicomx.TagPatientSex, dicomx.VRCS, "F"),
		dicomx.NewText(dicomx.TagBodyPartExamined, dicomx.VRCS, "ABDOMEN"),
		dicomx.NewText(dicomx.TagSliceThickness, dicomx.VRDS, num(th)),
		dicomx.NewText(dicomx.TagKVP, dicomx.VRDS, "120"),
		dicomx.NewText(dicomx.TagConvolutionKernel, dicomx.VRSH, "Br40d"),
		dicomx.NewText(dicomx.TagStudyInstanceUID, dicomx.VRUI, s.StudyUID),
		dicomx.NewText(dicomx.TagSeriesInstanceUID, dicomx.VRUI, s.SeriesUID),
		dicomx.NewText(dicomx.TagStudyID, dicomx.VRSH, "1"),
		dicomx.NewText(dicomx.TagSeriesNumber, dicomx.VRIS, strconv.Itoa(s.SeriesNumber)),
		dicomx.NewText(dicomx.TagInstanceNumber, dicomx.VRIS, strconv.Itoa(s.Instance)),
		dicomx.NewText(dicomx.TagImagePositionPatient, dicomx.VRDS, "-100", "-120", num(float64(s.Instance)*th)),
		dicomx.NewText(dicomx.TagImageOrientationPatient, dicomx.VRDS, "1", "0", "0", "0", "1", "0"),
		dicomx.NewText(dicomx.TagFrameOfReferenceUID, dicomx.VRUI, s.StudyUID+".0"),
		dicomx.NewUint16(dicomx.TagSamplesPerPixel, false, 1),
		dicomx.NewText(dicomx.TagPhotometricInterpretation, dicomx.VRCS, "MONOCHROME2"),
		dicomx.NewUint16(dicomx.TagRows, false, 8),
		dicomx.NewUint16(dicomx.TagColumns, false, 8),
		dicomx.NewText(dicomx.TagPixelSpacing, dicomx.VRDS, "0.5", "0.5"),
		dicomx.NewUint16(dicomx.TagBitsAllocated, false, 16),
		dicomx.NewUint16(dicomx.TagBitsStored, false, 12),
		dicomx.NewUint16(dicomx.TagHighBit, false, 11),
		dicomx.NewUint16(dicomx.TagPixelRepresentation, false, 0),
		dicomx.NewText(dicomx.TagWindowCenter, dicomx.VRDS, "40"),
		dicomx.NewText(dicomx.TagWindowWidth, dicomx.VRDS, "400"),
		dicomx.NewBytes(dicomx.TagPixelData, dicomx.VROW, pixels),
	} {
		ds.Set(e)
	}
	meta := &dicomx.Dataset{}
	meta.Set(dicomx.NewBytes(0x00020001, dicomx.VROB, []byte{0, 1}))
	meta.Set(dicomx.NewText(0x00020002, dicomx.VRUI, dicomx.CTImageStorage))
	meta.Set(dicomx.NewText(0x00020003, dicomx.VRUI, sop))
	meta.Set(dicomx.NewText(0x00020010, dicomx.VRUI, dicomx.ExplicitVRLittleEndian))
	meta.Set(dicomx.NewText(0x00020012, dicomx.VRUI, "1.2.826.0.1.3680043.10.999.3"))
	var buf bytes.Buffer
	w := dicomx.NewWriter(&buf, dicomx.SyntaxFor(dicomx.ExplicitVRLittleEndian))
	if err := w.WriteFileHeader(nil, meta); err != nil {
		return nil, fmt.Errorf("synthetic CT: %w", err)
	}
	for _, e := range ds.Elements {
		if err := w.WriteElement(e); err != nil {
			return nil, fmt.Errorf("synthetic CT: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("synthetic CT: %w", err)
	}
	return buf.Bytes(), nil
}
