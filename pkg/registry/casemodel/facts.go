package casemodel

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/printreg/printreg/pkg/registry"
)

// Fact is one piece of knowledge about a case, produced by the pipeline from
// one object, or by an operator. The set is closed: SeriesFact,
// SegmentationFact, ModelFact, SidecarFact, RejectedFact, RemovedFact,
// IdentityFact and ResolutionFact.
type Fact interface{ isFact() }

func (SeriesFact) isFact()       {}
func (SegmentationFact) isFact() {}
func (ModelFact) isFact()        {}
func (SidecarFact) isFact()      {}
func (RejectedFact) isFact()     {}
func (RemovedFact) isFact()      {}
func (IdentityFact) isFact()     {}
func (ResolutionFact) isFact()   {}

// Origin names the object revision a fact came from.
//
// ID is the object's content identity: the remapped SOP Instance UID for a
// DICOM object (so the same instance stored twice counts once), or a keyed
// hash of bucket and key for a file (model, case.json) or for an object that
// could not be read. Anything that is neither a UID nor lower-case hex is
// hashed again before it is stored, so a raw key passed by mistake never
// reaches an event.
//
// Version distinguishes revisions of the same object (content SHA-256, ETag
// or S3 version id) and Time is when the revision landed (S3 LastModified or
// the notification's event time). Revisions are ordered by (Time, Version):
// the greatest wins, whatever order facts are applied in.
type Origin struct {
	ID      string    `json:"id"`
	Version string    `json:"version,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

func (o Origin) compare(p Origin) int {
	if c := o.Time.Compare(p.Time); c != 0 {
		return c
	}
	if c := strings.Compare(o.Version, p.Version); c != 0 {
		return c
	}
	return strings.Compare(o.ID, p.ID)
}

// IdentityFact carries the hashed identifiers of a DICOM object: the case ids
// it answers to, the screening tokens of its patient's name, IDs, accession
// and birth date, and the keyed identity of its patient. Build it with
// Registry.IdentityFact; it is embedded in the DICOM-derived facts and may
// also be applied alone.
type IdentityFact struct {
	Aliases []string `json:"aliases,omitempty"`
	Tokens  []string `json:"tokens,omitempty"`
	// Checked records that identifiers were read, even if all were empty
	// (an object anonymised upstream): free text is then screened against
	// what there is instead of being withheld until identifiers arrive.
	// Registry.IdentityFact sets it.
	Checked bool `json:"checked,omitempty"`
	// Patient is the keyed identity of the object's patient (see
	// Registry.IdentityFact): studies of one case whose patients differ
	// are reported as a conflict instead of being merged silently.
	Patient string `json:"patient,omitempty"`
	// StudyUID is the remapped StudyInstanceUID of the object, which the
	// patient identity is recorded for when the fact is applied alone (a
	// non-image object, a refused one). A fact that names its study
	// (SeriesFact, SegmentationFact, an Encapsulated model) uses its own.
	StudyUID string `json:"study_uid,omitempty"`
}

// ResolutionFact is an operator's decision about one study of a case,
// usually to resolve a conflict. The latest decision per study wins
// (ordered by Time, then Action).
type ResolutionFact struct {
	StudyUID string    `json:"study_uid"` // remapped, as listed in the case's conflicts
	Action   string    `json:"action"`    // ResolveExclude, ResolveAccept or ResolveReset
	Time     time.Time `json:"time,omitzero"`
}

// SeriesFlags are the geometry findings of a series.
type SeriesFlags struct {
	UnevenSpacing    bool `json:"uneven_spacing,omitempty"`
	Gaps             bool `json:"gaps,omitempty"`
	Duplicates       bool `json:"duplicates,omitempty"`
	Overlap          bool `json:"overlap,omitempty"`
	Oblique          bool `json:"oblique,omitempty"`
	GantryTilt       bool `json:"gantry_tilt,omitempty"`
	MixedOrientation bool `json:"mixed_orientation,omitempty"`
}

// SeriesFact is the summary of one imaging series as known after one of its
// instances was read. Origin is that instance (ID = its remapped SOP
// Instance UID, Time = when it landed): every distinct instance revision
// counts towards the study's completeness. The case keeps, per series, the
// summary covering the most instances (ties: the latest origin).
type SeriesFact struct {
	Origin           Origin      `json:"origin"`
	StudyUID         string      `json:"study_uid"`  // remapped StudyInstanceUID
	SeriesUID        string      `json:"series_uid"` // remapped SeriesInstanceUID
	Modality         string      `json:"modality,omitempty"`
	SOPClassUID      string      `json:"sop_class_uid,omitempty"`
	SOPClassName     string      `json:"sop_class_name,omitempty"`
	InstanceCount    int         `json:"instance_count,omitempty"`
	SliceCount       int         `json:"slice_count,omitempty"`
	SliceThicknessMM float64     `json:"slice_thickness_mm,omitempty"`
	SliceSpacingMM   float64     `json:"slice_spacing_mm,omitempty"` // computed from positions
	PixelSpacingMM   [2]float64  `json:"pixel_spacing_mm,omitzero"`  // [row, column]
	Rows             int         `json:"rows,omitempty"`
	Columns          int         `json:"columns,omitempty"`
	ExtentMM         float64     `json:"extent_mm,omitempty"` // along the slice normal
	Manufacturer     string      `json:"manufacturer,omitempty"`
	ModelName        string      `json:"model_name,omitempty"`
	Kernel           string      `json:"kernel,omitempty"`
	KVP              float64     `json:"kvp,omitempty"`
	Contrast         bool        `json:"contrast,omitempty"`
	ContrastAgent    string      `json:"contrast_agent,omitempty"` // cleaned text
	BodyPart         string      `json:"body_part,omitempty"`
	Description      string      `json:"description,omitempty"` // cleaned text
	Flags            SeriesFlags `json:"flags,omitzero"`
	ThinSlice        bool        `json:"thin_slice,omitempty"` // meets the ≤ 1.25 mm guidance
	// Seq is set when the series' instances are recorded one by one in a
	// store of the producer's (each record with a revision that only
	// grows): it is the revision of the record this fact comes from — the
	// instance's, or its deletion's. The summary such a fact carries is
	// provisional; a Seq above the series' settled revision means the
	// series needs settling before its study can be declared stable. A
	// fact with a Seq and no InstanceCount announces a removed instance.
	Seq uint64 `json:"seq,omitempty"`
	// Settled marks the summary computed from every record of the series
	// (see Seq): the newest revision it covers. A settled summary is exact
	// and beats any provisional one; the higher Settled wins.
	Settled uint64 `json:"settled,omitempty"`
	// Identity is applied with the fact and not stored with it.
	Identity IdentityFact `json:"-"`
}

// Segment is one segment of a SEG or surface segmentation, or one ROI of an
// RT Structure Set.
type Segment struct {
	Number          int             `json:"number"`
	Label           string          `json:"label,omitempty"`          // free text
	AlgorithmType   string          `json:"algorithm_type,omitempty"` // AUTOMATIC, SEMIAUTOMATIC, MANUAL
	AlgorithmName   string          `json:"algorithm_name,omitempty"`
	Category        *registry.Code  `json:"category,omitempty"`
	Type            *registry.Code  `json:"type,omitempty"`
	TypeModifiers   []registry.Code `json:"type_modifiers,omitempty"` // e.g. laterality
	AnatomicRegion  *registry.Code  `json:"anatomic_region,omitempty"`
	RegionModifiers []registry.Code `json:"region_modifiers,omitempty"`
	InterpretedType string          `json:"interpreted_type,omitempty"` // RTSTRUCT: ORGAN, PTV, …
}

// SegmentationFact describes one SEG, surface segmentation or RT Structure
// Set instance. Origin.ID is its remapped SOP Instance UID.
type SegmentationFact struct {
	Origin               Origin       `json:"origin"`
	Kind                 string       `json:"kind"` // SEG, SURFACE, RTSTRUCT
	StudyUID             string       `json:"study_uid,omitempty"`
	SeriesUID            string       `json:"series_uid,omitempty"`
	SOPInstanceUID       string       `json:"sop_instance_uid,omitempty"`
	SegmentationType     string       `json:"segmentation_type,omitempty"` // BINARY, FRACTIONAL, LABELMAP
	ReferencedSeriesUIDs []string     `json:"referenced_series_uids,omitempty"`
	Segments             []Segment    `json:"segments,omitempty"`
	Identity             IdentityFact `json:"-"`
}

// ModelMetrics are the measurements of a mesh, in millimetres.
type ModelMetrics struct {
	Triangles      int64      `json:"triangles"`
	Vertices       int64      `json:"vertices"`
	VolumeMM3      float64    `json:"volume_mm3"`
	SurfaceAreaMM2 float64    `json:"surface_area_mm2"`
	BBoxMinMM      [3]float64 `json:"bbox_min_mm"`
	BBoxMaxMM      [3]float64 `json:"bbox_max_mm"`
	Watertight     bool       `json:"watertight"`
	Shells         int        `json:"shells"`
}

// ModelObject is one object of a 3MF or OBJ file (or one build item).
type ModelObject struct {
	Name string `json:"name,omitempty"` // lab text: screened, withheld when refused
	ModelMetrics
}

// ModelFact describes one model file (STL, 3MF, OBJ) or one DICOM
// Encapsulated STL/OBJ. Origin.ID is the keyed hash of the file's bucket and
// key, or the remapped SOP Instance UID of the DICOM object.
type ModelFact struct {
	Origin    Origin `json:"origin"`
	Format    string `json:"format"`               // stl, 3mf, obj
	Container string `json:"container,omitempty"`  // "dicom" for Encapsulated STL/OBJ
	Units     string `json:"units,omitempty"`      // units declared or assumed by the file
	StudyUID  string `json:"study_uid,omitempty"`  // Encapsulated STL/OBJ: their study
	SeriesUID string `json:"series_uid,omitempty"` // Encapsulated STL/OBJ: their series
	ModelMetrics
	Objects  []ModelObject `json:"objects,omitempty"`
	Identity IdentityFact  `json:"-"`
}

// SidecarFact is a validated case.json (see ParseSidecar).
type SidecarFact struct {
	Origin  Origin  `json:"origin"`
	Sidecar Sidecar `json:"sidecar"`
}

// RejectedFact records an object that was refused permanently.
//
// Issues are findings that hold no value from the object: the case.json
// validator's field errors (a path of the case.json schema, a rule code and
// a fixed sentence) or a reader's fixed message (mesh, DICOM and
// de-identification errors are built from fixed phrases, numbers and names
// of the format only). They are published at once, even before the case's
// imaging identifiers are known, once checked against the case's
// identifiers when there are any and against the identifier patterns.
//
// Detail is any other human reason. It could carry input text, so it is
// screened like free text: withheld until the case's identifiers are known
// and whenever it matches one. A case shows, in this order, the Detail, a
// sentence made from the Issues, or the reason's sentence (ReasonText).
type RejectedFact struct {
	Origin Origin           `json:"origin"`
	Reason string           `json:"reason"`
	Detail string           `json:"detail,omitempty"`
	Issues []RejectionIssue `json:"issues,omitempty"`
}

// RemovedFact says the file an object of the case came from was deleted
// (Origin.ID names the object, Origin.Time when the deletion was seen): the
// object leaves the case. It is kept as the object's latest revision, so a
// file dropped again later (a newer origin) comes back, and an older
// revision arriving late does not.
type RemovedFact struct {
	Origin Origin `json:"origin"`
}

// RejectionIssue is one value-free finding about a refused object. Field is
// a case.json path (such as prints[0].copies, or "(document)") for a
// case.json and empty otherwise; Line and Column place it in the file when
// known.
type RejectionIssue struct {
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// SidecarIssues turns the case.json validator's issues into rejection
// issues.
func SidecarIssues(issues []FieldIssue) []RejectionIssue {
	out := make([]RejectionIssue, 0, len(issues))
	for _, is := range issues {
		out = append(out, RejectionIssue{Field: is.Field, Rule: is.Rule, Message: is.Message, Line: is.Line, Column: is.Column})
	}
	return out
}

// Caps on what one case holds, so a hostile or runaway input cannot grow the
// stored state without bound (a JetStream KV value must stay well under the
// server's max payload).
const (
	maxStudies          = 64
	maxSeriesPerStudy   = 512
	maxInstances        = 65536 // per series
	maxObjects          = 2048  // segmentations, models, sidecars, rejections
	maxSegments         = 512
	maxModelObjects     = 512
	maxModifiers        = 8
	maxRefSeries        = 64
	maxAliases          = 16
	maxTokens           = 512
	maxTextBytes        = 1024
	maxShortBytes       = 128
	maxVersionBytes     = 256
	maxRejectIssues     = 20
	maxPatientsSeen     = 256 // (study, patient) pairs per case
	maxDecisions        = maxStudies
	maxIssueLine        = 1 << 20
	reasonDetailDefault = "the object was refused; see the pipeline's dead-letter entry for details"
)

var (
	reUID      = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)
	reRemapped = regexp.MustCompile(`^2\.25\.[0-9]{1,39}$`)
	reCS       = regexp.MustCompile(`^[A-Z0-9_ ]{1,16}$`)
	reCodeVal  = regexp.MustCompile(`^[A-Za-z0-9._:\-/]{1,64}$`)
	reReason   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	reFormat   = regexp.MustCompile(`^[a-z0-9]{1,8}$`)
)

// cleaner turns a fact as the pipeline hands it over into the form that is
// stored: ids and UIDs made safe, numbers finite, lists bounded and sorted,
// free text clipped and sealed. Decode runs the same functions with a
// checking cleaner: a stored state is valid exactly when it is a fixed point
// of cleaning, so what Decode accepts always yields a schema-valid snapshot.
type cleaner interface {
	text(s string, max int) string // clip and seal
	detail(s string) string        // a rejection's human reason
	objectID(s string) string
	uid(s string) string
	version(s string) string
	now() time.Time
}

// applyCleaner is used by Apply: it repairs what it can.
type applyCleaner struct {
	r *Registry
	t time.Time
}

func (a applyCleaner) text(s string, max int) string { return a.r.seal(clip(s, max)) }
func (a applyCleaner) detail(s string) string {
	d := clip(s, maxTextBytes)
	if patternRule(d) != "" {
		// It looks like it carries an identifier: not even stored. The
		// case shows a sentence made from the issues or the reason.
		d = ""
	}
	return a.r.seal(d)
}
func (a applyCleaner) objectID(s string) string { return a.r.safeID(s) }
func (a applyCleaner) uid(s string) string      { return a.r.safeUID(s) }
func (a applyCleaner) version(s string) string {
	if len(s) > maxVersionBytes || !utf8.ValidString(s) {
		return a.r.key.Hex(16, domainObject, "version", s)
	}
	return s
}
func (a applyCleaner) now() time.Time { return a.t }

// checkCleaner is used by Decode: it repairs nothing and marks what is not
// already clean, so the comparison with the original fails.
type checkCleaner struct{}

const invalidMark = "\x00invalid"

func (checkCleaner) text(s string, max int) string {
	if s == "" || strings.HasPrefix(s, sealPrefix) && len(s) <= 2*max+64 {
		return s
	}
	return invalidMark
}
func (c checkCleaner) detail(s string) string { return c.text(s, maxTextBytes) }
func (checkCleaner) objectID(s string) string {
	if validObjectID(s) {
		return s
	}
	return invalidMark
}
func (checkCleaner) uid(s string) string {
	if s == "" || reRemapped.MatchString(s) {
		return s
	}
	return invalidMark
}
func (checkCleaner) version(s string) string {
	if len(s) <= maxVersionBytes && utf8.ValidString(s) {
		return s
	}
	return invalidMark
}
func (checkCleaner) now() time.Time { return time.Time{} }

func validObjectID(id string) bool {
	return reRemapped.MatchString(id) || (isLowerHex(id) && len(id) >= 16 && len(id) <= 64)
}

// safeID keeps object ids that are remapped UIDs or lower-case hex and
// replaces anything else by its keyed hash.
func (r *Registry) safeID(id string) string {
	if validObjectID(id) {
		return id
	}
	return r.key.Hex(16, domainObject, id)
}

// safeUID keeps remapped UIDs (2.25.<decimal>) and replaces anything else by
// a keyed 2.25 UID, so an unmapped UID never reaches an event while the links
// between a series and what references it stay intact within the case.
func (r *Registry) safeUID(uid string) string {
	uid = strings.TrimRight(uid, "\x00 ")
	if uid == "" || reRemapped.MatchString(uid) {
		return uid
	}
	s := r.key.Sum(domainUID, uid)
	n := new(big.Int).SetBytes(s[:16])
	return "2.25." + n.String()
}

// standardUID keeps a UID defined by the standard (a SOP class) if it has UID
// syntax and drops it otherwise.
func standardUID(uid string) string {
	uid = strings.TrimRight(uid, "\x00 ")
	if len(uid) <= 64 && reUID.MatchString(uid) && strings.HasPrefix(uid, "1.2.840.10008.") {
		return uid
	}
	return ""
}

func cs(v string) string {
	v = strings.ToUpper(strings.TrimSpace(v))
	if reCS.MatchString(v) {
		return v
	}
	return ""
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return 0
	}
	return f
}

func nonneg(n int) int {
	if n < 0 {
		return 0
	}
	return n
}

// clip cuts text to max bytes at a rune boundary and drops invalid UTF-8.
func clip(s string, max int) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, ""))
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

func cleanIdentity(f IdentityFact) IdentityFact {
	out := IdentityFact{Checked: f.Checked, StudyUID: f.StudyUID}
	if validPatientKey(f.Patient) {
		out.Patient = f.Patient
	}
	for _, a := range f.Aliases {
		if registry.IsCaseID(a) {
			out.Aliases = append(out.Aliases, a)
		}
	}
	for _, t := range f.Tokens {
		if len(t) == 32 && isLowerHex(t) {
			out.Tokens = append(out.Tokens, t)
		}
	}
	slices.Sort(out.Aliases)
	slices.Sort(out.Tokens)
	out.Aliases = slices.Compact(out.Aliases)
	out.Tokens = slices.Compact(out.Tokens)
	return out
}

func cleanOrigin(cl cleaner, o Origin) Origin {
	o.ID = cl.objectID(o.ID)
	o.Version = cl.version(o.Version)
	if o.Time.IsZero() {
		o.Time = cl.now()
	}
	o.Time = o.Time.UTC().Round(0)
	return o
}

func cleanCode(cl cleaner, c *registry.Code) *registry.Code {
	if c == nil {
		return nil
	}
	v, s := strings.TrimSpace(c.Code), strings.TrimSpace(c.Scheme)
	if !reCodeVal.MatchString(v) || !reCodeVal.MatchString(s) {
		return nil
	}
	return &registry.Code{Code: v, Scheme: s, Meaning: cl.text(c.Meaning, maxShortBytes)}
}

func cleanCodes(cl cleaner, cs []registry.Code) []registry.Code {
	var out []registry.Code
	for i := range cs {
		if len(out) == maxModifiers {
			break
		}
		if c := cleanCode(cl, &cs[i]); c != nil {
			out = append(out, *c)
		}
	}
	return out
}

func cleanSeries(cl cleaner, f SeriesFact) SeriesFact {
	f.Origin = cleanOrigin(cl, f.Origin)
	f.StudyUID = cl.uid(f.StudyUID)
	f.SeriesUID = cl.uid(f.SeriesUID)
	f.Modality = cs(f.Modality)
	f.SOPClassUID = standardUID(f.SOPClassUID)
	f.SOPClassName = cl.text(f.SOPClassName, maxShortBytes)
	f.InstanceCount = nonneg(f.InstanceCount)
	f.SliceCount = nonneg(f.SliceCount)
	f.SliceThicknessMM = finite(f.SliceThicknessMM)
	f.SliceSpacingMM = finite(f.SliceSpacingMM)
	f.PixelSpacingMM = [2]float64{finite(f.PixelSpacingMM[0]), finite(f.PixelSpacingMM[1])}
	f.Rows, f.Columns = nonneg(f.Rows), nonneg(f.Columns)
	f.ExtentMM = finite(f.ExtentMM)
	f.KVP = finite(f.KVP)
	f.Manufacturer = cl.text(f.Manufacturer, maxShortBytes)
	f.ModelName = cl.text(f.ModelName, maxShortBytes)
	f.Kernel = cl.text(f.Kernel, maxShortBytes)
	f.ContrastAgent = cl.text(f.ContrastAgent, maxShortBytes)
	f.BodyPart = cl.text(f.BodyPart, maxShortBytes)
	f.Description = cl.text(f.Description, maxShortBytes)
	f.Identity = IdentityFact{}
	return f
}

func cleanSegmentation(cl cleaner, f SegmentationFact) SegmentationFact {
	f.Origin = cleanOrigin(cl, f.Origin)
	switch k := strings.ToUpper(strings.TrimSpace(f.Kind)); k {
	case "SEG", "SURFACE", "RTSTRUCT":
		f.Kind = k
	default:
		f.Kind = "SEG"
	}
	f.StudyUID = cl.uid(f.StudyUID)
	f.SeriesUID = cl.uid(f.SeriesUID)
	f.SOPInstanceUID = cl.uid(f.SOPInstanceUID)
	f.SegmentationType = cs(f.SegmentationType)
	var refs []string
	for _, u := range f.ReferencedSeriesUIDs {
		if u = cl.uid(u); u != "" {
			refs = append(refs, u)
		}
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	if len(refs) > maxRefSeries {
		refs = refs[:maxRefSeries]
	}
	f.ReferencedSeriesUIDs = refs
	segs := f.Segments
	if len(segs) > maxSegments {
		segs = segs[:maxSegments]
	}
	var out []Segment
	for _, s := range segs {
		out = append(out, Segment{
			Number:          nonneg(s.Number),
			Label:           cl.text(s.Label, maxShortBytes),
			AlgorithmType:   cs(s.AlgorithmType),
			AlgorithmName:   cl.text(s.AlgorithmName, maxShortBytes),
			Category:        cleanCode(cl, s.Category),
			Type:            cleanCode(cl, s.Type),
			TypeModifiers:   cleanCodes(cl, s.TypeModifiers),
			AnatomicRegion:  cleanCode(cl, s.AnatomicRegion),
			RegionModifiers: cleanCodes(cl, s.RegionModifiers),
			InterpretedType: cs(s.InterpretedType),
		})
	}
	slices.SortStableFunc(out, func(a, b Segment) int { return a.Number - b.Number })
	f.Segments = out
	f.Identity = IdentityFact{}
	return f
}

func cleanMetrics(m ModelMetrics) ModelMetrics {
	m.Triangles = max(m.Triangles, 0)
	m.Vertices = max(m.Vertices, 0)
	m.VolumeMM3 = finite(m.VolumeMM3)
	m.SurfaceAreaMM2 = finite(m.SurfaceAreaMM2)
	for i := range 3 {
		m.BBoxMinMM[i] = finite(m.BBoxMinMM[i])
		m.BBoxMaxMM[i] = finite(m.BBoxMaxMM[i])
	}
	m.Shells = nonneg(m.Shells)
	return m
}

var unitNames = []string{"mm", "cm", "m", "um", "inch", "foot", "micron", "millimeter", "centimeter", "meter"}

func cleanModel(cl cleaner, f ModelFact) ModelFact {
	f.Origin = cleanOrigin(cl, f.Origin)
	f.Format = strings.ToLower(strings.TrimSpace(f.Format))
	if !reFormat.MatchString(f.Format) {
		f.Format = "unknown"
	}
	if f.Container != "" {
		f.Container = "dicom"
	}
	f.Units = strings.ToLower(strings.TrimSpace(f.Units))
	if !slices.Contains(unitNames, f.Units) {
		f.Units = ""
	}
	f.StudyUID = cl.uid(f.StudyUID)
	f.SeriesUID = cl.uid(f.SeriesUID)
	f.ModelMetrics = cleanMetrics(f.ModelMetrics)
	objs := f.Objects
	if len(objs) > maxModelObjects {
		objs = objs[:maxModelObjects]
	}
	var out []ModelObject
	for _, o := range objs {
		out = append(out, ModelObject{Name: cl.text(o.Name, maxShortBytes), ModelMetrics: cleanMetrics(o.ModelMetrics)})
	}
	f.Objects = out
	f.Identity = IdentityFact{}
	return f
}

func cleanRejected(cl cleaner, f RejectedFact) RejectedFact {
	f.Origin = cleanOrigin(cl, f.Origin)
	f.Reason = registry.CanonicalReason(f.Reason)
	if !reReason.MatchString(f.Reason) {
		f.Reason = registry.ReasonOther
	}
	f.Detail = cl.detail(f.Detail)
	f.Issues = cleanIssues(cl, f.Issues)
	return f
}

// cleanIssues bounds the issues, keeps fields that are case.json paths and
// rules that are codes, and seals the messages like any text.
func cleanIssues(cl cleaner, in []RejectionIssue) []RejectionIssue {
	if len(in) > maxRejectIssues {
		in = in[:maxRejectIssues]
	}
	var out []RejectionIssue
	for _, is := range in {
		c := RejectionIssue{Field: is.Field, Rule: is.Rule, Message: cl.text(clip(is.Message, maxTextBytes), maxTextBytes)}
		if !validIssueField(c.Field) {
			c.Field = ""
		}
		if !reReason.MatchString(c.Rule) {
			c.Rule = registry.ReasonOther
		}
		if is.Line > 0 && is.Line <= maxIssueLine && is.Column >= 0 && is.Column <= maxIssueLine {
			c.Line, c.Column = is.Line, is.Column
		}
		out = append(out, c)
	}
	return out
}

var reIssuePath = regexp.MustCompile(`^[$a-z_][a-z0-9_]{0,63}(\[[0-9]{1,4}\])*(\.[a-z_][a-z0-9_]{0,63}(\[[0-9]{1,4}\])*){0,7}$`)

// validIssueField: "(document)", or a path whose every name is a member of
// the case.json schema, so a field can never be text from the file.
func validIssueField(f string) bool {
	if f == "(document)" {
		return true
	}
	if !reIssuePath.MatchString(f) {
		return false
	}
	names := sidecarSchemaNames()
	for _, part := range strings.Split(f, ".") {
		if i := strings.IndexByte(part, '['); i >= 0 {
			part = part[:i]
		}
		if !names[part] {
			return false
		}
	}
	return true
}

// sidecarSchemaNames are the member names the case.json schema defines.
var sidecarSchemaNames = sync.OnceValue(func() map[string]bool {
	names := map[string]bool{}
	b, err := registry.Schemas.ReadFile(registry.SidecarSchemaFile)
	if err != nil {
		return names
	}
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return names
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if p, ok := x["properties"].(map[string]any); ok {
				for k := range p {
					names[k] = true
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
	return names
})

func cleanSidecar(cl cleaner, f SidecarFact) SidecarFact {
	f.Origin = cleanOrigin(cl, f.Origin)
	f.Sidecar = f.Sidecar.normalized()
	f.Sidecar.mapText(func(s string) string { return cl.text(s, longText) })
	return f
}
