package dicomx

import "strings"

// SOP classes printreg treats specially.
const (
	CTImageStorage                 = "1.2.840.10008.5.1.4.1.1.2"
	EnhancedCTImageStorage         = "1.2.840.10008.5.1.4.1.1.2.1"
	MRImageStorage                 = "1.2.840.10008.5.1.4.1.1.4"
	EnhancedMRImageStorage         = "1.2.840.10008.5.1.4.1.1.4.1"
	SegmentationStorage            = "1.2.840.10008.5.1.4.1.1.66.4"
	SurfaceSegmentationStorage     = "1.2.840.10008.5.1.4.1.1.66.5"
	LabelMapSegmentationStorage    = "1.2.840.10008.5.1.4.1.1.66.7"
	RTStructureSetStorage          = "1.2.840.10008.5.1.4.1.1.481.3"
	EncapsulatedSTLStorage         = "1.2.840.10008.5.1.4.1.1.104.3"
	EncapsulatedOBJStorage         = "1.2.840.10008.5.1.4.1.1.104.4"
	EncapsulatedMTLStorage         = "1.2.840.10008.5.1.4.1.1.104.5"
	SecondaryCaptureImageStorage   = "1.2.840.10008.5.1.4.1.1.7"
	UltrasoundImageStorage         = "1.2.840.10008.5.1.4.1.1.6.1"
	UltrasoundMultiFrameImageStore = "1.2.840.10008.5.1.4.1.1.3.1"
)

// Instance holds the facts of one DICOM object that the registry and the
// series geometry need. Identifiers other than UIDs are kept out of JSON.
type Instance struct {
	SOPClassUID         string    `json:"sop_class_uid"`
	SOPClassName        string    `json:"sop_class_name,omitempty"`
	SOPInstanceUID      string    `json:"sop_instance_uid"`
	SeriesInstanceUID   string    `json:"series_instance_uid"`
	StudyInstanceUID    string    `json:"study_instance_uid"`
	FrameOfReferenceUID string    `json:"frame_of_reference_uid,omitempty"`
	Modality            string    `json:"modality,omitempty"`
	TransferSyntaxUID   string    `json:"transfer_syntax_uid,omitempty"`
	InstanceNumber      *int64    `json:"instance_number,omitempty"`
	Rows                int       `json:"rows,omitempty"`
	Columns             int       `json:"columns,omitempty"`
	NumberOfFrames      int       `json:"number_of_frames,omitempty"`
	SliceThickness      *float64  `json:"slice_thickness_mm,omitempty"`
	SpacingBetween      *float64  `json:"spacing_between_slices_mm,omitempty"`
	PixelSpacing        []float64 `json:"pixel_spacing_mm,omitempty"`
	ImagePosition       []float64 `json:"image_position_patient,omitempty"`
	ImageOrientation    []float64 `json:"image_orientation_patient,omitempty"`
	KVP                 *float64  `json:"kvp,omitempty"`
	ConvolutionKernel   string    `json:"convolution_kernel,omitempty"`
	ContrastBolusAgent  string    `json:"contrast_bolus_agent,omitempty"`
	BodyPartExamined    string    `json:"body_part_examined,omitempty"`
	Manufacturer        string    `json:"manufacturer,omitempty"`
	ManufacturerModel   string    `json:"manufacturer_model_name,omitempty"`
	SeriesDescription   string    `json:"series_description,omitempty"`
	ImageType           []string  `json:"image_type,omitempty"`
	BurnedInAnnotation  string    `json:"burned_in_annotation,omitempty"`
	// Frames are the per-frame positions of a multi-frame object, in frame
	// order (orientation per frame when it varies).
	Frames []Frame `json:"-"`
	// AccessionNumber links the study to its case; it never leaves the worker.
	AccessionNumber string `json:"-"`
}

// Frame is the geometry of one frame or slice.
type Frame struct {
	Position    []float64
	Orientation []float64
}

// IsLocalizer reports whether the image is a scout/localizer, which series
// geometry leaves out.
func (in *Instance) IsLocalizer() bool {
	for _, t := range in.ImageType {
		if strings.EqualFold(t, "LOCALIZER") {
			return true
		}
	}
	return false
}

// NewInstance reads an object's facts from its header. Enhanced multi-frame
// objects are read through their functional groups (per-frame first, then
// shared, PS3.3 C.7.6.16). Text is decoded through the object's Specific
// Character Set (see Charset).
func NewInstance(obj *Object) *Instance {
	ds := obj.Dataset
	cs := CharsetOf(ds, nil)
	in := &Instance{
		SOPClassUID:         trimUID(ds.Str(TagSOPClassUID)),
		SOPInstanceUID:      trimUID(ds.Str(TagSOPInstanceUID)),
		SeriesInstanceUID:   trimUID(ds.Str(TagSeriesInstanceUID)),
		StudyInstanceUID:    trimUID(ds.Str(TagStudyInstanceUID)),
		FrameOfReferenceUID: trimUID(ds.Str(TagFrameOfReferenceUID)),
		Modality:            ds.Text(TagModality, cs),
		TransferSyntaxUID:   obj.Syntax.UID,
		BodyPartExamined:    ds.Text(TagBodyPartExamined, cs),
		Manufacturer:        ds.Text(TagManufacturer, cs),
		ManufacturerModel:   ds.Text(TagManufacturerModelName, cs),
		SeriesDescription:   ds.Text(TagSeriesDescription, cs),
		ContrastBolusAgent:  ds.Text(TagContrastBolusAgent, cs),
		ConvolutionKernel:   strings.Join(nonEmpty(ds.Texts(TagConvolutionKernel, cs)), `\`),
		ImageType:           nonEmpty(ds.Texts(TagImageType, cs)),
		BurnedInAnnotation:  ds.Text(TagBurnedInAnnotation, cs),
		AccessionNumber:     ds.Text(TagAccessionNumber, cs),
	}
	if in.SOPClassUID == "" {
		in.SOPClassUID = trimUID(obj.Meta.Str(TagMediaStorageSOPClassUID))
	}
	if in.SOPInstanceUID == "" {
		in.SOPInstanceUID = trimUID(obj.Meta.Str(TagMediaStorageSOPInstanceUID))
	}
	in.SOPClassName = UIDName(in.SOPClassUID)
	if v, ok := ds.Int(TagInstanceNumber); ok {
		in.InstanceNumber = &v
	}
	if v, ok := ds.Int(TagRows); ok && v > 0 && v <= 1<<16 {
		in.Rows = int(v)
	}
	if v, ok := ds.Int(TagColumns); ok && v > 0 && v <= 1<<16 {
		in.Columns = int(v)
	}
	if v, ok := ds.Int(TagNumberOfFrames); ok && v > 0 && v < 1<<31 {
		in.NumberOfFrames = int(v)
	}
	in.SliceThickness = positive(ds.Float(TagSliceThickness))
	in.SpacingBetween = positive(ds.Float(TagSpacingBetweenSlices))
	in.PixelSpacing = fixedLen(ds.Floats(TagPixelSpacing), 2)
	in.ImagePosition = fixedLen(ds.Floats(TagImagePositionPatient), 3)
	in.ImageOrientation = fixedLen(ds.Floats(TagImageOrientationPatient), 6)
	in.KVP = positive(ds.Float(TagKVP))

	shared := ds.Item(TagSharedFunctionalGroupsSequence)
	perFrame := ds.Seq(TagPerFrameFunctionalGroupsSequence)
	if shared != nil || len(perFrame) > 0 {
		in.readFunctionalGroups(shared, perFrame, cs)
	} else if in.ImagePosition != nil {
		in.Frames = []Frame{{Position: in.ImagePosition, Orientation: in.ImageOrientation}}
	}
	return in
}

// readFunctionalGroups fills geometry and acquisition facts from the
// functional group sequences of an enhanced multi-frame object.
func (in *Instance) readFunctionalGroups(shared *Dataset, perFrame []*Dataset, cs *Charset) {
	// macro returns the first item of a functional group macro for a frame:
	// per-frame first, else shared.
	macro := func(frame *Dataset, seq Tag) *Dataset {
		if it := frame.Item(seq); it != nil {
			return it
		}
		return shared.Item(seq)
	}
	var first *Dataset
	if len(perFrame) > 0 {
		first = perFrame[0]
	}
	if pm := macro(first, TagPixelMeasuresSequence); pm != nil {
		if in.PixelSpacing == nil {
			in.PixelSpacing = fixedLen(pm.Floats(TagPixelSpacing), 2)
		}
		if in.SliceThickness == nil {
			in.SliceThickness = positive(pm.Float(TagSliceThickness))
		}
		if in.SpacingBetween == nil {
			in.SpacingBetween = positive(pm.Float(TagSpacingBetweenSlices))
		}
	}
	if ct := macro(first, TagCTReconstructionSequence); ct != nil && in.ConvolutionKernel == "" {
		// The macro item inherits the charset of the functional group item
		// that holds it, which inherits the object's.
		holder := shared
		if first.Item(TagCTReconstructionSequence) == ct {
			holder = first
		}
		ctCS := CharsetOf(ct, CharsetOf(holder, cs))
		in.ConvolutionKernel = strings.Join(nonEmpty(ct.Texts(TagConvolutionKernel, ctCS)), `\`)
	}
	if xr := macro(first, TagCTXRayDetailsSequence); xr != nil && in.KVP == nil {
		in.KVP = positive(xr.Float(TagKVP))
	}
	if in.ContrastBolusAgent == "" {
		if cb := macro(first, TagContrastBolusUsageSequence); cb != nil {
			if cb.Str(TagContrastBolusAgentAdministered) == "YES" {
				in.ContrastBolusAgent = "administered"
			}
		}
	}
	frames := len(perFrame)
	if frames == 0 {
		frames = 1
	}
	for i := 0; i < frames; i++ {
		var f *Dataset
		if i < len(perFrame) {
			f = perFrame[i]
		}
		var fr Frame
		if pp := macro(f, TagPlanePositionSequence); pp != nil {
			fr.Position = fixedLen(pp.Floats(TagImagePositionPatient), 3)
		}
		if po := macro(f, TagPlaneOrientationSequence); po != nil {
			fr.Orientation = fixedLen(po.Floats(TagImageOrientationPatient), 6)
		}
		if fr.Position != nil {
			in.Frames = append(in.Frames, fr)
		}
		if i == 0 {
			if in.ImagePosition == nil {
				in.ImagePosition = fr.Position
			}
			if in.ImageOrientation == nil {
				in.ImageOrientation = fr.Orientation
			}
		}
	}
}

func positive(v float64, ok bool) *float64 {
	if !ok || v <= 0 {
		return nil
	}
	return &v
}

func fixedLen(v []float64, n int) []float64 {
	if len(v) != n {
		return nil
	}
	return v
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
