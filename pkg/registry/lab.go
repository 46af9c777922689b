package registry

import (
	"errors"
	"strconv"
)

// Object types of the registry form.
const (
	ObjectAnatomicModel = "anatomic_model"
	ObjectAnatomicGuide = "anatomic_guide"
)

// Indication is one clinical indication: free text and/or ICD-10-CM codes.
type Indication struct {
	Text    string   `json:"text,omitempty"`
	ICD10CM []string `json:"icd10cm,omitempty"`
}

// Part is one anatomic part (component) of a model, dominant part first.
type Part struct {
	Region     string `json:"region,omitempty"`
	Subregion  string `json:"subregion,omitempty"`
	Structure  string `json:"structure,omitempty"`
	Laterality string `json:"laterality,omitempty"`
	Comment    string `json:"comment,omitempty"`
}

// Guide is one anatomic (surgical) guide.
type Guide struct {
	Type    string `json:"type"`
	Comment string `json:"comment,omitempty"`
}

// Printer is an entry of the site's printer list.
type Printer struct {
	Label        string `json:"label,omitempty"`
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Technology   string `json:"technology,omitempty"` // ISO/ASTM 52900 process category
}

// Print is one set of parts on one printer at one scale in one material.
type Print struct {
	Parts    []int   `json:"parts,omitempty"`  // 1-based numbers into Parts
	Guides   []int   `json:"guides,omitempty"` // 1-based numbers into Guides
	Printer  Printer `json:"printer"`
	Material string  `json:"material,omitempty"`
	Scale    float64 `json:"scale,omitempty"` // 1 = life size
	Optical  string  `json:"optical,omitempty"`
	Copies   int     `json:"copies,omitempty"`
}

// Minutes is an effort time: a number of minutes, or unknown.
type Minutes struct {
	Unknown bool
	Value   int
}

// MarshalJSON writes a number of minutes or the string "unknown".
func (m Minutes) MarshalJSON() ([]byte, error) {
	if m.Unknown {
		return []byte(`"unknown"`), nil
	}
	return strconv.AppendInt(nil, int64(m.Value), 10), nil
}

// UnmarshalJSON reads a number of minutes or "unknown".
func (m *Minutes) UnmarshalJSON(b []byte) error {
	if string(b) == `"unknown"` {
		*m = Minutes{Unknown: true}
		return nil
	}
	n, err := strconv.Atoi(string(b))
	if err != nil || n < 0 || n > maxEffortMinutes {
		return errors.New("effort minutes must be a whole number from 0 to 10080 or \"unknown\"")
	}
	*m = Minutes{Value: n}
	return nil
}

const maxEffortMinutes = 7 * 24 * 60

// StaffMinutes splits an activity's time between clinicians (MD, DO, DDS,
// PA, NP …) and non-clinicians (engineers, technologists, scientists).
type StaffMinutes struct {
	Clinician    Minutes `json:"clinician"`
	NonClinician Minutes `json:"non_clinician"`
}

// Effort is the registry's eight timers.
type Effort struct {
	Consultation   StaffMinutes `json:"consultation"`
	Segmentation   StaffMinutes `json:"segmentation"`
	CAD            StaffMinutes `json:"cad"`
	PostProcessing StaffMinutes `json:"post_processing"`
}

// Procedure says whether the printed object was used in the procedure.
type Procedure struct {
	Used    string `json:"used"`
	Comment string `json:"comment,omitempty"`
}

// Assessment is the clinical user's assessment (Likert 1–5, 0 = not given).
type Assessment struct {
	ConfidenceBefore int    `json:"confidence_before,omitempty"`
	ConfidenceAfter  int    `json:"confidence_after,omitempty"`
	TimeSavedMinutes *int   `json:"time_saved_minutes,omitempty"`
	Comment          string `json:"comment,omitempty"`
}
