package registry

// Snapshot is the published state of a case (data.case of every event). It
// holds only hashed ids, remapped UIDs, coded values, numbers and free text
// that passed the screen; nothing in it is an absolute date.
type Snapshot struct {
	CaseID        string             `json:"case_id"`
	Version       uint64             `json:"version"`
	Aliases       []string           `json:"aliases"`
	MergedInto    string             `json:"merged_into,omitempty"`
	Studies       []StudySnapshot    `json:"studies"`
	Segmentations []SegSnapshot      `json:"segmentations"`
	Models        []ModelSnapshot    `json:"models"`
	Lab           *LabSnapshot       `json:"lab,omitempty"`
	Rejected      []RejectedSnapshot `json:"rejected"`
	Counts        Counts             `json:"counts"`
	CPT           CPTSuggestion      `json:"cpt"`
	RegistryReady bool               `json:"registry_ready"`
	Missing       []string           `json:"missing"`
	Withheld      []Withheld         `json:"withheld"`
	// Conflicts are contradictions among the case's objects that an
	// operator must resolve; the case is not registry-ready while one
	// stands. Absent when there are none.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Resolutions are the operator's standing decisions about studies
	// (see casemodel.ResolutionFact). Absent when there are none.
	Resolutions []Resolution `json:"resolutions,omitempty"`
}

// Conflict kinds.
const (
	// ConflictPatientMismatch: objects of one case name different
	// patients (by Patient ID, or by name and birth date where an object
	// has no ID).
	ConflictPatientMismatch = "patient_mismatch"
)

// ReqNoConflict is the requirement every site has: no conflict stands. It
// is listed in missing while one does.
const ReqNoConflict = "conflicts_resolved"

// Conflict is one contradiction in a case. For patient_mismatch, Groups
// hold the studies by the patient they name, one group per patient.
type Conflict struct {
	Kind   string          `json:"kind"`
	Detail string          `json:"detail"`
	Groups []ConflictGroup `json:"groups"`
}

// ConflictGroup is the studies (remapped StudyInstanceUIDs) that name one
// patient.
type ConflictGroup struct {
	StudyUIDs []string `json:"study_uids"`
}

// Resolution is an operator's standing decision about a study: exclude
// (left out of the case) or accept (kept, its patient identity not
// compared).
type Resolution struct {
	StudyUID string `json:"study_uid"`
	Action   string `json:"action"`
}

// StudySnapshot is one imaging study and its completeness.
type StudySnapshot struct {
	StudyUID          string           `json:"study_uid"`
	Status            string           `json:"status"`
	Stabilized        int              `json:"stabilized"`
	Amendments        int              `json:"amendments"`
	InstancesReceived int              `json:"instances_received"`
	ArrivalSpanS      float64          `json:"arrival_span_s"`
	Modalities        []string         `json:"modalities"`
	Series            []SeriesSnapshot `json:"series"`
}

// SeriesSnapshot is one imaging series. Lengths are in millimetres.
type SeriesSnapshot struct {
	SeriesUID         string    `json:"series_uid"`
	Modality          string    `json:"modality,omitempty"`
	SOPClassUID       string    `json:"sop_class_uid,omitempty"`
	SOPClassName      string    `json:"sop_class_name,omitempty"`
	InstanceCount     int       `json:"instance_count"`
	InstancesReceived int       `json:"instances_received"`
	SliceCount        int       `json:"slice_count"`
	SliceThicknessMM  float64   `json:"slice_thickness_mm,omitempty"`
	SliceSpacingMM    float64   `json:"slice_spacing_mm,omitempty"`
	PixelSpacingMM    []float64 `json:"pixel_spacing_mm,omitempty"`
	Rows              int       `json:"rows,omitempty"`
	Columns           int       `json:"columns,omitempty"`
	ExtentMM          float64   `json:"extent_mm,omitempty"`
	Manufacturer      string    `json:"manufacturer,omitempty"`
	ModelName         string    `json:"model_name,omitempty"`
	Kernel            string    `json:"kernel,omitempty"`
	KVP               float64   `json:"kvp,omitempty"`
	Contrast          bool      `json:"contrast"`
	ContrastAgent     string    `json:"contrast_agent,omitempty"`
	BodyPart          string    `json:"body_part,omitempty"`
	Description       string    `json:"description,omitempty"`
	Flags             []string  `json:"flags"`
	ThinSlice         bool      `json:"thin_slice"`
	InstancesCapped   bool      `json:"instances_capped,omitempty"`
	// Provisional: instances arrived that the series summary (counts,
	// spacing, extent, flags) does not cover yet; it is made exact when
	// the study becomes stable.
	Provisional bool `json:"provisional,omitempty"`
}

// SegSnapshot is one segmentation object.
type SegSnapshot struct {
	Object               string            `json:"object"`
	Kind                 string            `json:"kind"`
	StudyUID             string            `json:"study_uid,omitempty"`
	SeriesUID            string            `json:"series_uid,omitempty"`
	SOPInstanceUID       string            `json:"sop_instance_uid,omitempty"`
	SegmentationType     string            `json:"segmentation_type,omitempty"`
	ReferencedSeriesUIDs []string          `json:"referenced_series_uids"`
	Segments             []SegmentSnapshot `json:"segments"`
}

// SegmentSnapshot is one segment (or RTSTRUCT ROI).
type SegmentSnapshot struct {
	Number          int    `json:"number"`
	Label           string `json:"label,omitempty"`
	AlgorithmType   string `json:"algorithm_type,omitempty"`
	AlgorithmName   string `json:"algorithm_name,omitempty"`
	Category        *Code  `json:"category,omitempty"`
	Type            *Code  `json:"type,omitempty"`
	TypeModifiers   []Code `json:"type_modifiers,omitempty"`
	AnatomicRegion  *Code  `json:"anatomic_region,omitempty"`
	RegionModifiers []Code `json:"region_modifiers,omitempty"`
	Laterality      string `json:"laterality,omitempty"`
	InterpretedType string `json:"interpreted_type,omitempty"`
}

// BBox is an axis-aligned bounding box in millimetres.
type BBox struct {
	Min [3]float64 `json:"min"`
	Max [3]float64 `json:"max"`
}

// MeshSnapshot are the metrics of a mesh or of one of its objects.
type MeshSnapshot struct {
	Triangles      int64   `json:"triangles"`
	Vertices       int64   `json:"vertices"`
	VolumeMM3      float64 `json:"volume_mm3"`
	SurfaceAreaMM2 float64 `json:"surface_area_mm2"`
	BBoxMM         BBox    `json:"bbox_mm"`
	Watertight     bool    `json:"watertight"`
	Shells         int     `json:"shells"`
}

// ModelObjectSnapshot is one object of a model file.
type ModelObjectSnapshot struct {
	Name string `json:"name,omitempty"`
	MeshSnapshot
}

// ModelSnapshot is one model file or DICOM Encapsulated STL/OBJ.
type ModelSnapshot struct {
	Object    string `json:"object"`
	Format    string `json:"format"`
	Container string `json:"container,omitempty"`
	Units     string `json:"units,omitempty"`
	StudyUID  string `json:"study_uid,omitempty"`
	SeriesUID string `json:"series_uid,omitempty"`
	MeshSnapshot
	Objects []ModelObjectSnapshot `json:"objects"`
	// Flags are findings that make the model unusable: empty (no
	// triangles) or degenerate (no surface area or no volume). A flagged
	// model does not meet the model requirement and is not counted for
	// CPT. Absent when there are none.
	Flags []string `json:"flags,omitempty"`
}

// Model flags.
const (
	ModelEmpty      = "empty"
	ModelDegenerate = "degenerate"
)

// LabSnapshot is the lab's case.json as published: enumerations as they
// are, free text only where it passed the screen.
type LabSnapshot struct {
	Object              string       `json:"object"`
	ObjectType          string       `json:"object_type"`
	IntendedUse         string       `json:"intended_use,omitempty"`
	IntendedUseText     string       `json:"intended_use_text,omitempty"`
	OrderingService     string       `json:"ordering_service,omitempty"`
	OrderingServiceText string       `json:"ordering_service_text,omitempty"`
	Indications         []Indication `json:"indications"`
	Parts               []Part       `json:"parts"`
	Guides              []Guide      `json:"guides"`
	Prints              []Print      `json:"prints"`
	Effort              *Effort      `json:"effort,omitempty"`
	EffortTotals        *EffortTotal `json:"effort_totals,omitempty"`
	Procedure           *Procedure   `json:"procedure,omitempty"`
	Assessment          *Assessment  `json:"assessment,omitempty"`
}

// EffortTotal sums the known effort minutes per staff category; unknown
// timers are counted, not guessed.
type EffortTotal struct {
	ClinicianMinutes    int `json:"clinician_minutes"`
	NonClinicianMinutes int `json:"non_clinician_minutes"`
	UnknownTimers       int `json:"unknown_timers"`
}

// RejectedSnapshot is an object that was refused. Detail is a sentence for
// a person; Issues (absent when there are none) are the value-free findings
// behind it, each published at once, even before the case's imaging
// identifiers are known.
type RejectedSnapshot struct {
	Object string          `json:"object"`
	Reason string          `json:"reason"`
	Detail string          `json:"detail"`
	Issues []IssueSnapshot `json:"issues,omitempty"`
}

// IssueSnapshot is one finding about a refused object: the case.json field
// (a path of the case.json schema) and the line and column it was found
// at when known, the rule that failed, and a fixed sentence (absent when
// withheld; see withheld).
type IssueSnapshot struct {
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// Counts summarise what the case received.
type Counts struct {
	Studies         int `json:"studies"`
	Series          int `json:"series"`
	Instances       int `json:"instances"`
	Segmentations   int `json:"segmentations"`
	Models          int `json:"models"`
	Sidecars        int `json:"sidecars"`
	ObjectsRejected int `json:"objects_rejected"`
}

// Withheld names a free-text field that was not published and why.
type Withheld struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
}

// CPTCode is one suggested code with its units.
type CPTCode struct {
	Code       string `json:"code"`
	Units      int    `json:"units"`
	Descriptor string `json:"descriptor"`
}

// CPTSuggestion is the suggested Category III coding with the basis of the
// count, for a coder to confirm.
type CPTSuggestion struct {
	ObjectType      string    `json:"object_type,omitempty"`
	ObjectTypeBasis string    `json:"object_type_basis"`
	Components      int       `json:"components"`
	Basis           string    `json:"basis"`
	BasisDetail     string    `json:"basis_detail"`
	Codes           []CPTCode `json:"codes"`
	Notes           []string  `json:"notes,omitempty"`
}

// CPT bases.
const (
	BasisLabParts            = "lab_parts"
	BasisLabGuides           = "lab_guides"
	BasisSegmentedStructures = "segmented_structures"
	BasisModelObjects        = "model_objects"
	BasisNone                = "none"
)

// Code is a coded concept: (scheme, code) identify it, meaning is display
// text.
type Code struct {
	Code    string `json:"code"`
	Scheme  string `json:"scheme"`
	Meaning string `json:"meaning,omitempty"`
}
