package deid

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/printreg/printreg/pkg/dicomx"
)

// Profile selects the Basic Application Level Confidentiality Profile options
// of PS3.15 E.3 and printreg's own choices. The zero value is the strict
// Basic Profile with no option.
type Profile struct {
	// Name is recorded in De-identification Method (0012,0063).
	Name string `yaml:"name"`

	RetainSafePrivate            bool `yaml:"retain_safe_private"`
	RetainUIDs                   bool `yaml:"retain_uids"`
	RetainDeviceIdentity         bool `yaml:"retain_device_identity"`
	RetainInstitutionIdentity    bool `yaml:"retain_institution_identity"`
	RetainPatientCharacteristics bool `yaml:"retain_patient_characteristics"`
	// RetainFullDates and RetainModifiedDates are the two Retain Longitudinal
	// Temporal Information options; they exclude each other.
	RetainFullDates        bool `yaml:"retain_longitudinal_full_dates"`
	RetainModifiedDates    bool `yaml:"retain_longitudinal_modified_dates"`
	CleanDescriptors       bool `yaml:"clean_descriptors"`
	CleanStructuredContent bool `yaml:"clean_structured_content"`
	CleanGraphics          bool `yaml:"clean_graphics"`

	// KeepModelGeometry keeps the Encapsulated Document of Encapsulated STL,
	// OBJ and MTL objects (which the Basic Profile replaces with a dummy),
	// with the STL header, solid names, OBJ/MTL comments and object/group
	// names blanked.
	KeepModelGeometry bool `yaml:"keep_model_geometry"`

	// BurnedIn says which objects are refused because their pixels may carry
	// burned-in identifying text (printreg has no Clean Pixel Data step).
	BurnedIn BurnedInPolicy `yaml:"burned_in"`

	// TextAllowlist adds attributes, as "(gggg,eeee)" tags of the data
	// dictionary, whose free text is kept (still checked against this
	// patient's identifiers). See DefaultTextAllowlist.
	TextAllowlist []string `yaml:"text_allowlist"`
	// Vocabulary adds words to the safe vocabulary of Clean Descriptors.
	Vocabulary []string `yaml:"vocabulary"`
}

// BurnedInPolicy lists what counts as a burned-in text risk. An object with
// Burned In Annotation (0028,0301) = YES is always refused.
//
// Modality is matched value by value: a multi-valued Modality (CT\US) is a
// risk when any value is. Whole Slide Microscopy LABEL and OVERVIEW images
// (the photographed slide label) are always refused.
type BurnedInPolicy struct {
	RefuseSOPClasses []string `yaml:"refuse_sop_classes"`
	RefuseModalities []string `yaml:"refuse_modalities"`
	// UnlessDeclaredClean lists modalities refused unless the object says
	// Burned In Annotation (0028,0301) = NO: their pixels often carry text
	// (angiography and fluoroscopy overlays), but a modality that states it
	// wrote none is believed.
	UnlessDeclaredClean []string `yaml:"refuse_modalities_unless_declared_clean"`
}

// DefaultBurnedIn is the burned-in risk list of both built-in profiles:
// ultrasound, secondary capture (screen grabs, scanned documents), visible
// light photography and video, and the modalities that produce them; X-ray
// angiography and fluoroscopy unless declared free of burned-in text.
func DefaultBurnedIn() BurnedInPolicy {
	return BurnedInPolicy{
		RefuseSOPClasses: []string{
			dicomx.UltrasoundImageStorage,
			dicomx.UltrasoundMultiFrameImageStore,
			"1.2.840.10008.5.1.4.1.1.6",   // Ultrasound Image Storage (retired)
			"1.2.840.10008.5.1.4.1.1.3",   // Ultrasound Multi-frame Image Storage (retired)
			"1.2.840.10008.5.1.4.1.1.6.2", // Enhanced US Volume Storage
			dicomx.SecondaryCaptureImageStorage,
			"1.2.840.10008.5.1.4.1.1.7.1",      // Multi-frame Single Bit Secondary Capture
			"1.2.840.10008.5.1.4.1.1.7.2",      // Multi-frame Grayscale Byte Secondary Capture
			"1.2.840.10008.5.1.4.1.1.7.3",      // Multi-frame Grayscale Word Secondary Capture
			"1.2.840.10008.5.1.4.1.1.7.4",      // Multi-frame True Color Secondary Capture
			"1.2.840.10008.5.1.4.1.1.77.1.4",   // VL Photographic Image Storage
			"1.2.840.10008.5.1.4.1.1.77.1.4.1", // Video Photographic Image Storage
			"1.2.840.10008.5.1.4.1.1.77.1.1",   // VL Endoscopic Image Storage
			"1.2.840.10008.5.1.4.1.1.77.1.1.1", // Video Endoscopic Image Storage
			"1.2.840.10008.5.1.4.1.1.104.1",    // Encapsulated PDF Storage
		},
		RefuseModalities:    []string{"US", "XC", "OP", "ES", "DOC", "SC"},
		UnlessDeclaredClean: []string{"XA", "RF"},
	}
}

// BasicProfile is the strict Basic Application Level Confidentiality
// Profile: no option, every Encapsulated Document replaced.
func BasicProfile() Profile {
	return Profile{Name: "basic", BurnedIn: DefaultBurnedIn()}
}

// RegistryProfile is printreg's default: Basic Profile with Retain Patient
// Characteristics (ages over 89 written as 090Y), Retain Longitudinal
// Temporal Information with Modified Dates, Clean Descriptors, and the
// geometry of encapsulated models kept with their free text blanked.
func RegistryProfile() Profile {
	return Profile{
		Name:                         "registry",
		RetainPatientCharacteristics: true,
		RetainModifiedDates:          true,
		CleanDescriptors:             true,
		KeepModelGeometry:            true,
		BurnedIn:                     DefaultBurnedIn(),
	}
}

// ErrProfile is wrapped by every profile validation error.
var ErrProfile = errors.New("invalid de-identification profile")

// Validate checks that the options can be combined.
func (p *Profile) Validate() error {
	if p.RetainFullDates && p.RetainModifiedDates {
		return fmt.Errorf("%w: the two Retain Longitudinal Temporal Information options (full dates, modified dates) exclude each other", ErrProfile)
	}
	for _, k := range p.TextAllowlist {
		t, err := ParseTag(k)
		if err != nil {
			return fmt.Errorf("%w: text_allowlist: %w", ErrProfile, err)
		}
		if t.IsPrivate() {
			return fmt.Errorf("%w: text_allowlist names private tag %s; private attributes follow Retain Safe Private", ErrProfile, t)
		}
	}
	for _, w := range p.Vocabulary {
		if strings.TrimSpace(w) == "" {
			return fmt.Errorf("%w: vocabulary holds an empty word", ErrProfile)
		}
	}
	return nil
}

// LoadProfile reads a YAML profile. Unknown keys are errors, so a misspelt
// option never silently falls back to the default.
func LoadProfile(path string) (Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Profile{}, fmt.Errorf("de-identification profile: %w", err)
	}
	p, err := ParseProfile(b)
	if err != nil {
		return Profile{}, fmt.Errorf("de-identification profile %s: %w", path, err)
	}
	return p, nil
}

// ParseProfile decodes a YAML profile. A profile that does not say
// burned_in gets DefaultBurnedIn.
func ParseProfile(b []byte) (Profile, error) {
	var p Profile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("%w: %w", ErrProfile, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err == nil {
		if _, ok := raw["burned_in"]; !ok {
			p.BurnedIn = DefaultBurnedIn()
		}
	}
	if p.Name == "" {
		p.Name = "custom"
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// enabled returns the option switches indexed like the table columns.
func (p *Profile) enabled() [numOptions]bool {
	return [numOptions]bool{
		p.RetainSafePrivate, p.RetainUIDs, p.RetainDeviceIdentity, p.RetainInstitutionIdentity,
		p.RetainPatientCharacteristics, p.RetainFullDates, p.RetainModifiedDates,
		p.CleanDescriptors, p.CleanStructuredContent, p.CleanGraphics,
	}
}

// methodCodes are the CID 7050 codes written in (0012,0064): 113100 and one
// per option in effect. Clean Pixel Data and Clean Recognizable Visual
// Features are never claimed: printreg does not touch pixels.
func (p *Profile) methodCodes() []MethodCode {
	codes := []MethodCode{methodCode("113100")}
	add := func(on bool, v string) {
		if on {
			codes = append(codes, methodCode(v))
		}
	}
	add(p.CleanGraphics, "113103")
	add(p.CleanStructuredContent, "113104")
	add(p.CleanDescriptors, "113105")
	add(p.RetainFullDates, "113106")
	add(p.RetainModifiedDates, "113107")
	add(p.RetainPatientCharacteristics, "113108")
	add(p.RetainDeviceIdentity, "113109")
	add(p.RetainUIDs, "113110")
	add(p.RetainSafePrivate, "113111")
	add(p.RetainInstitutionIdentity, "113112")
	return codes
}

// Options lists the names of the options in effect, for reports.
func (p *Profile) Options() []string {
	var out []string
	for i, on := range p.enabled() {
		if on {
			out = append(out, optionNames[i])
		}
	}
	if p.KeepModelGeometry {
		out = append(out, "Keep Encapsulated Model Geometry")
	}
	return out
}

// ParseTag reads a tag written "(gggg,eeee)" or "gggg,eeee" (hex).
func ParseTag(s string) (dicomx.Tag, error) {
	v := strings.Trim(strings.TrimSpace(s), "()")
	g, e, ok := strings.Cut(v, ",")
	if !ok || len(g) != 4 || len(e) != 4 {
		return 0, fmt.Errorf("%q is not a tag of the form (gggg,eeee)", s)
	}
	gv, err1 := strconv.ParseUint(g, 16, 16)
	ev, err2 := strconv.ParseUint(e, 16, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a tag of the form (gggg,eeee)", s)
	}
	return dicomx.NewTag(uint16(gv), uint16(ev)), nil
}
