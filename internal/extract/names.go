package extract

import (
	"encoding/json"

	"github.com/printreg/printreg/pkg/dicomx"
)

// extract prints a fact under the name the registry's case events give it
// (pkg/registry, docs/registry-events.md): model_name, kernel,
// contrast_agent, body_part, description and the flags duplicates,
// gantry_tilt and mixed_orientation. Names differ only where the values
// do: extract prints the UIDs of the file (study_instance_uid,
// series_instance_uid), events the remapped ones (study_uid, series_uid).
//
// The types below are conversions of dicomx's: a field added there fails
// to compile here until it is named.

// Series is one series as extract prints it.
type Series struct {
	*seriesFields
	Flags           SeriesFlags `json:"flags"`
	ThinSlice       bool        `json:"thin_slice"`
	ThinSliceReason string      `json:"thin_slice_reason,omitempty"`
}

// seriesFields is dicomx.Series under the events' names; the fields the
// Series above prints after the flags are left out here.
type seriesFields struct {
	StudyInstanceUID    string       `json:"study_instance_uid"`
	SeriesInstanceUID   string       `json:"series_instance_uid"`
	FrameOfReferenceUID string       `json:"frame_of_reference_uid,omitempty"`
	Modality            string       `json:"modality"`
	SOPClassUID         string       `json:"sop_class_uid"`
	SOPClassName        string       `json:"sop_class_name,omitempty"`
	InstanceCount       int          `json:"instance_count"`
	SliceCount          int          `json:"slice_count"`
	SliceThicknessMM    *float64     `json:"slice_thickness_mm"`
	SpacingBetweenMM    *float64     `json:"spacing_between_slices_mm,omitempty"`
	SliceSpacingMM      *float64     `json:"slice_spacing_mm"`
	SpacingMinMM        *float64     `json:"slice_spacing_min_mm,omitempty"`
	SpacingMaxMM        *float64     `json:"slice_spacing_max_mm,omitempty"`
	ExtentMM            *float64     `json:"extent_mm,omitempty"`
	PixelSpacingMM      []float64    `json:"pixel_spacing_mm"`
	Rows                int          `json:"rows"`
	Columns             int          `json:"columns"`
	Manufacturer        string       `json:"manufacturer"`
	ManufacturerModel   string       `json:"model_name,omitempty"`
	ConvolutionKernel   string       `json:"kernel,omitempty"`
	KVP                 *float64     `json:"kvp,omitempty"`
	ContrastBolusAgent  string       `json:"contrast_agent,omitempty"`
	BodyPartExamined    string       `json:"body_part,omitempty"`
	SeriesDescription   string       `json:"description,omitempty"`
	TransferSyntaxUIDs  []string     `json:"transfer_syntax_uids,omitempty"`
	Stacks              int          `json:"stacks,omitempty"`
	Localizers          int          `json:"localizers,omitempty"`
	GantryTiltDeg       *float64     `json:"gantry_tilt_deg,omitempty"`
	Flags               dicomx.Flags `json:"-"`
	ThinSlice           bool         `json:"-"`
	ThinSliceReason     string       `json:"-"`
}

// SeriesFlags are dicomx.Flags under the events' names.
type SeriesFlags struct {
	UnevenSpacing      bool `json:"uneven_spacing"`
	Gaps               bool `json:"gaps"`
	DuplicatePositions bool `json:"duplicates"`
	Overlap            bool `json:"overlap"`
	Oblique            bool `json:"oblique"`
	Tilted             bool `json:"gantry_tilt"`
	MixedOrientations  bool `json:"mixed_orientation"`
	MissingGeometry    bool `json:"missing_geometry,omitempty"`
}

// NewSeries is s as extract prints it.
func NewSeries(s *dicomx.Series) *Series {
	return &Series{
		seriesFields:    (*seriesFields)(s),
		Flags:           SeriesFlags(s.Flags),
		ThinSlice:       s.ThinSlice,
		ThinSliceReason: s.ThinSliceReason,
	}
}

// instanceFields is dicomx.Instance under the events' names.
type instanceFields struct {
	SOPClassUID         string         `json:"sop_class_uid"`
	SOPClassName        string         `json:"sop_class_name,omitempty"`
	SOPInstanceUID      string         `json:"sop_instance_uid"`
	SeriesInstanceUID   string         `json:"series_instance_uid"`
	StudyInstanceUID    string         `json:"study_instance_uid"`
	FrameOfReferenceUID string         `json:"frame_of_reference_uid,omitempty"`
	Modality            string         `json:"modality,omitempty"`
	TransferSyntaxUID   string         `json:"transfer_syntax_uid,omitempty"`
	InstanceNumber      *int64         `json:"instance_number,omitempty"`
	Rows                int            `json:"rows,omitempty"`
	Columns             int            `json:"columns,omitempty"`
	NumberOfFrames      int            `json:"number_of_frames,omitempty"`
	SliceThickness      *float64       `json:"slice_thickness_mm,omitempty"`
	SpacingBetween      *float64       `json:"spacing_between_slices_mm,omitempty"`
	PixelSpacing        []float64      `json:"pixel_spacing_mm,omitempty"`
	ImagePosition       []float64      `json:"image_position_patient,omitempty"`
	ImageOrientation    []float64      `json:"image_orientation_patient,omitempty"`
	KVP                 *float64       `json:"kvp,omitempty"`
	ConvolutionKernel   string         `json:"kernel,omitempty"`
	ContrastBolusAgent  string         `json:"contrast_agent,omitempty"`
	BodyPartExamined    string         `json:"body_part,omitempty"`
	Manufacturer        string         `json:"manufacturer,omitempty"`
	ManufacturerModel   string         `json:"model_name,omitempty"`
	SeriesDescription   string         `json:"description,omitempty"`
	ImageType           []string       `json:"image_type,omitempty"`
	BurnedInAnnotation  string         `json:"burned_in_annotation,omitempty"`
	Frames              []dicomx.Frame `json:"-"`
	AccessionNumber     string         `json:"-"`
}

// MarshalJSON writes the instance under the events' names, its path first.
func (i Instance) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Path string `json:"path"`
		*instanceFields
	}{i.Path, (*instanceFields)(i.Instance)})
}
