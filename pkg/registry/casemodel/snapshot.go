package casemodel

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/printreg/printreg/pkg/registry"
)

// Below these a model has no surface or no volume to print.
const (
	minModelAreaMM2   = 1e-3
	minModelVolumeMM3 = 1e-3
)

// modelFlags flags a model with no triangles, or with triangles that cover
// no area or enclose no volume.
func modelFlags(m ModelMetrics) []string {
	switch {
	case m.Triangles == 0:
		return []string{registry.ModelEmpty}
	case m.SurfaceAreaMM2 < minModelAreaMM2 || math.Abs(m.VolumeMM3) < minModelVolumeMM3:
		return []string{registry.ModelDegenerate}
	}
	return nil
}

var cptDescriptors = map[string]string{
	"0559T": "Anatomic model 3D printed from image data set(s); first individually prepared and processed component of an anatomic structure",
	"0560T": "Anatomic model 3D printed from image data set(s); each additional individually prepared and processed component of an anatomic structure",
	"0561T": "Anatomic guide 3D printed and designed from image data set(s); first anatomic guide",
	"0562T": "Anatomic guide 3D printed and designed from image data set(s); each additional anatomic guide",
}

// snapshotBuilder opens and screens text while a snapshot is built.
type snapshotBuilder struct {
	r        *Registry
	scr      *Screener
	withheld []registry.Withheld
	// skipText leaves free text out unscreened: readiness (computed on
	// every change) depends only on the lab's text, which is screened.
	skipText bool
}

// show returns the text of a sealed value if it may be published in field,
// and records it as withheld otherwise.
func (b *snapshotBuilder) show(field, sealed string) string {
	if sealed == "" || b.skipText {
		return ""
	}
	text, ok := b.r.open(sealed)
	if !ok {
		b.withheld = append(b.withheld, registry.Withheld{Field: field, Rule: registry.RuleUnreadable})
		return ""
	}
	if err := b.scr.Screen(field, text); err != nil {
		b.withheld = append(b.withheld, registry.Withheld{Field: field, Rule: err.(*ScreenError).Rule})
		return ""
	}
	return text
}

// showFixed returns a sealed value-free message (a rejection issue's) if it
// may be published in field, and records it as withheld otherwise. It is
// checked against the case's identifiers when there are any and against
// the identifier patterns, numbers aside (they are positions, sizes and
// limits), but not withheld until the case's identifiers are known: it
// holds no value from the object.
func (b *snapshotBuilder) showFixed(field, sealed string) string {
	if sealed == "" || b.skipText {
		return ""
	}
	text, ok := b.r.open(sealed)
	if !ok {
		b.withheld = append(b.withheld, registry.Withheld{Field: field, Rule: registry.RuleUnreadable})
		return ""
	}
	if err := b.scr.Screen(field, text); err != nil && err.(*ScreenError).Rule == registry.RuleCaseIdentifier {
		b.withheld = append(b.withheld, registry.Withheld{Field: field, Rule: registry.RuleCaseIdentifier})
		return ""
	}
	if rule := patternRule(maskDigits(text)); rule != "" {
		b.withheld = append(b.withheld, registry.Withheld{Field: field, Rule: rule})
		return ""
	}
	return text
}

// maskDigits replaces ASCII digits, so numbers alone do not trip the
// patterns for record numbers, telephone numbers and dates.
func maskDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return '#'
		}
		return r
	}, s)
}

func (b *snapshotBuilder) code(field string, c *registry.Code) *registry.Code {
	if c == nil {
		return nil
	}
	return &registry.Code{Code: c.Code, Scheme: c.Scheme, Meaning: b.show(field+".meaning", c.Meaning)}
}

func (b *snapshotBuilder) codes(field string, cs []registry.Code) []registry.Code {
	var out []registry.Code
	for i := range cs {
		out = append(out, *b.code(idx(field, i), &cs[i]))
	}
	return out
}

// Snapshot builds the published form of c.
func (r *Registry) Snapshot(c *Case) registry.Snapshot {
	return r.snapshot(c, false)
}

func (r *Registry) snapshot(c *Case, readinessOnly bool) registry.Snapshot {
	return r.snapshotWith(c, &snapshotBuilder{r: r, scr: r.Screener(c), skipText: readinessOnly})
}

// withholdsMore reports whether screening c's published text against the
// added identifier tokens withholds any of it: only then do new tokens
// change what the case publishes.
func (r *Registry) withholdsMore(c *Case, added []string) bool {
	if len(added) == 0 {
		return false
	}
	b := &snapshotBuilder{r: r, scr: r.screener(true, added)}
	r.snapshotWith(c, b)
	for _, w := range b.withheld {
		if w.Rule == registry.RuleCaseIdentifier {
			return true
		}
	}
	return false
}

func (r *Registry) snapshotWith(c *Case, b *snapshotBuilder) registry.Snapshot {
	s := registry.Snapshot{
		CaseID: c.id, Version: c.version, Aliases: nonNil(slices.Clone(c.aliases)), MergedInto: c.mergedInto,
		Studies: []registry.StudySnapshot{}, Segmentations: []registry.SegSnapshot{}, Models: []registry.ModelSnapshot{},
		Rejected: []registry.RejectedSnapshot{},
	}
	decided := decisions(c)
	for _, st := range c.studies {
		if decided[st.UID] == registry.ResolveExclude {
			continue
		}
		ss := b.study(fmt.Sprintf("studies[%d]", len(s.Studies)), st)
		s.Studies = append(s.Studies, ss)
		s.Counts.Studies++
		s.Counts.Series += len(st.Series)
		s.Counts.Instances += ss.InstancesReceived
	}
	var sidecar *object
	for _, o := range c.objects {
		switch {
		case o.Segmentation != nil:
			if decided[o.Segmentation.StudyUID] == registry.ResolveExclude {
				continue
			}
			s.Segmentations = append(s.Segmentations, b.segmentation(fmt.Sprintf("segmentations[%d]", len(s.Segmentations)), o.Segmentation))
		case o.Model != nil:
			if decided[o.Model.StudyUID] == registry.ResolveExclude {
				continue
			}
			s.Models = append(s.Models, b.model(fmt.Sprintf("models[%d]", len(s.Models)), o.Model))
		case o.Sidecar != nil:
			s.Counts.Sidecars++
			if sidecar == nil || compareObjects(o, sidecar) > 0 {
				sidecar = o
			}
		case o.Rejected != nil:
			s.Rejected = append(s.Rejected, b.rejected(fmt.Sprintf("rejected[%d]", len(s.Rejected)), o.ID, o.Rejected))
		}
	}
	s.Counts.Segmentations = len(s.Segmentations)
	s.Counts.Models = len(s.Models)
	s.Counts.ObjectsRejected = len(s.Rejected)
	if sidecar != nil {
		s.Lab = b.lab(sidecar)
	}
	s.Conflicts = patientConflicts(c, decided)
	for _, d := range c.decisions {
		if d.Action != registry.ResolveReset {
			s.Resolutions = append(s.Resolutions, registry.Resolution{StudyUID: d.Study, Action: d.Action})
		}
	}
	s.CPT = r.cpt(c, &s, decided)
	s.Missing = r.missingFrom(&s)
	s.RegistryReady = len(s.Missing) == 0
	s.Withheld = nonNil(b.withheld)
	return s
}

// decisions maps each study with a standing decision to its action.
func decisions(c *Case) map[string]string {
	if len(c.decisions) == 0 {
		return nil
	}
	m := make(map[string]string, len(c.decisions))
	for _, d := range c.decisions {
		if d.Action != registry.ResolveReset {
			m[d.Study] = d.Action
		}
	}
	return m
}

// rejected builds a rejection: its issues (value-free, published at once)
// and its detail: the free-text detail if it may be published, else a
// sentence made from the issues, else the reason's sentence.
func (b *snapshotBuilder) rejected(p, id string, f *RejectedFact) registry.RejectedSnapshot {
	out := registry.RejectedSnapshot{Object: id, Reason: f.Reason}
	for j, is := range f.Issues {
		out.Issues = append(out.Issues, registry.IssueSnapshot{Field: is.Field, Rule: is.Rule, Line: is.Line, Column: is.Column,
			Message: b.showFixed(fmt.Sprintf("%s.issues[%d].message", p, j), is.Message)})
	}
	// States written before rejections had issues hold this sentence as
	// their detail; it says nothing the reason's sentence does not.
	if !b.skipText {
		if text, ok := b.r.open(f.Detail); !ok || text != reasonDetailDefault {
			out.Detail = b.show(p+".detail", f.Detail)
		}
	}
	if out.Detail == "" {
		out.Detail = composeDetail(f.Reason, out.Issues)
	}
	return out
}

// composeDetail writes the sentence of a rejection from its published
// issues, in the form of a case.json validation error: "invalid case.json:
// field: message (rule r); …".
func composeDetail(reason string, issues []registry.IssueSnapshot) string {
	head, known := registry.ReasonText(reason)
	if len(issues) == 0 {
		if !known {
			return reasonDetailDefault
		}
		return head + "; see the pipeline's dead-letter entry for details"
	}
	if !known {
		head, _ = registry.ReasonText(registry.ReasonOther)
	}
	parts := make([]string, 0, len(issues))
	for _, is := range issues {
		rule := ""
		if is.Field != "" || is.Rule != reason {
			rule = " (rule " + is.Rule + ")"
		}
		switch {
		case is.Field != "" && is.Message != "":
			parts = append(parts, is.Field+": "+is.Message+rule)
		case is.Field != "":
			parts = append(parts, is.Field+rule)
		case is.Message != "":
			parts = append(parts, is.Message+rule)
		default:
			parts = append(parts, strings.TrimSpace(rule))
		}
	}
	if d := clip(head+": "+strings.Join(parts, "; "), maxTextBytes); d != "" {
		return d
	}
	return reasonDetailDefault
}

// patientConflicts compares the patients the case's studies name (studies
// with a standing decision aside) and returns a patient_mismatch conflict
// when there is more than one.
//
// Studies are grouped by Patient ID. A study that named a patient without
// an ID joins the ID group that named the same name and birth date; when
// there is a single ID group that never named a name and birth date and a
// single such patient without an ID, they are taken as one (nothing tells
// them apart). Otherwise each name and birth date without an ID is a
// patient of its own.
func patientConflicts(c *Case, decided map[string]string) []registry.Conflict {
	// The usual case, every study naming the same patient, costs nothing.
	same := true
	for _, p := range c.patients[min(1, len(c.patients)):] {
		same = same && p.Key == c.patients[0].Key
	}
	if same {
		return nil
	}
	type group struct {
		studies []string
		nds     map[string]bool
	}
	byID := map[string]*group{}
	byND := map[string]*group{}
	add := func(m map[string]*group, k, study, nd string) {
		g := m[k]
		if g == nil {
			g = &group{nds: map[string]bool{}}
			m[k] = g
		}
		if !slices.Contains(g.studies, study) {
			g.studies = append(g.studies, study)
		}
		if nd != "" {
			g.nds[nd] = true
		}
	}
	for _, p := range c.patients {
		if decided[p.Study] != "" {
			continue
		}
		id, nd := splitPatientKey(p.Key)
		if id != "" {
			add(byID, id, p.Study, nd)
		} else {
			add(byND, nd, p.Study, nd)
		}
	}
	if len(byID)+len(byND) < 2 {
		return nil
	}
	ids := sortedKeys(byID)
	var loose []string
	for _, nd := range sortedKeys(byND) {
		target := ""
		for _, id := range ids {
			if byID[id].nds[nd] {
				target = id
				break
			}
		}
		if target == "" {
			loose = append(loose, nd)
			continue
		}
		for _, st := range byND[nd].studies {
			add(byID, target, st, "")
		}
		delete(byND, nd)
	}
	if len(ids) == 1 && len(byID[ids[0]].nds) == 0 && len(loose) == 1 {
		return nil
	}
	var groups []registry.ConflictGroup
	for _, m := range []map[string]*group{byID, byND} {
		for _, k := range sortedKeys(m) {
			st := slices.Clone(m[k].studies)
			slices.Sort(st)
			groups = append(groups, registry.ConflictGroup{StudyUIDs: st})
		}
	}
	if len(groups) < 2 {
		return nil
	}
	slices.SortFunc(groups, func(a, b registry.ConflictGroup) int { return slices.Compare(a.StudyUIDs, b.StudyUIDs) })
	return []registry.Conflict{{
		Kind: registry.ConflictPatientMismatch,
		Detail: fmt.Sprintf("studies of %d different patients (by Patient ID, or by name and birth date where a study gives no ID) "+
			"share this case; exclude the studies that do not belong, or accept them as the same patient", len(groups)),
		Groups: groups,
	}}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func (b *snapshotBuilder) study(p string, st *study) registry.StudySnapshot {
	out := registry.StudySnapshot{StudyUID: st.UID, Status: st.Status, Stabilized: st.Stabilized, Amendments: st.Amendments,
		ArrivalSpanS: round3(st.Last.Sub(st.First).Seconds()), Modalities: []string{}, Series: []registry.SeriesSnapshot{}}
	if out.ArrivalSpanS < 0 {
		out.ArrivalSpanS = 0
	}
	for i, se := range st.Series {
		f := se.Best
		sp := fmt.Sprintf("%s.series[%d]", p, i)
		ss := registry.SeriesSnapshot{
			SeriesUID: se.UID, Modality: f.Modality, SOPClassUID: f.SOPClassUID,
			SOPClassName:  b.show(sp+".sop_class_name", f.SOPClassName),
			InstanceCount: f.InstanceCount, InstancesReceived: se.received(), SliceCount: f.SliceCount,
			SliceThicknessMM: f.SliceThicknessMM, SliceSpacingMM: f.SliceSpacingMM,
			Rows: f.Rows, Columns: f.Columns, ExtentMM: f.ExtentMM,
			Manufacturer:    b.show(sp+".manufacturer", f.Manufacturer),
			ModelName:       b.show(sp+".model_name", f.ModelName),
			Kernel:          b.show(sp+".kernel", f.Kernel),
			KVP:             f.KVP,
			Contrast:        f.Contrast,
			ContrastAgent:   b.show(sp+".contrast_agent", f.ContrastAgent),
			BodyPart:        b.show(sp+".body_part", f.BodyPart),
			Description:     b.show(sp+".description", f.Description),
			Flags:           flagList(f.Flags),
			ThinSlice:       f.ThinSlice,
			InstancesCapped: se.Capped,
			Provisional:     se.unsettled(),
		}
		if f.PixelSpacingMM != [2]float64{} {
			ss.PixelSpacingMM = []float64{f.PixelSpacingMM[0], f.PixelSpacingMM[1]}
		}
		if ss.ContrastAgent != "" {
			ss.Contrast = true
		}
		out.InstancesReceived += se.received()
		if f.Modality != "" && !slices.Contains(out.Modalities, f.Modality) {
			out.Modalities = append(out.Modalities, f.Modality)
		}
		out.Series = append(out.Series, ss)
	}
	slices.Sort(out.Modalities)
	return out
}

func flagList(f SeriesFlags) []string {
	out := []string{}
	for _, x := range []struct {
		on   bool
		name string
	}{
		{f.UnevenSpacing, "uneven_spacing"}, {f.Gaps, "gaps"}, {f.Duplicates, "duplicates"}, {f.Overlap, "overlap"},
		{f.Oblique, "oblique"}, {f.GantryTilt, "gantry_tilt"}, {f.MixedOrientation, "mixed_orientation"},
	} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// SNOMED CT laterality qualifiers (DICOM CID 244).
var lateralityCodes = map[string]string{"7771000": "left", "24028007": "right", "51440002": "bilateral", "66459002": "unilateral"}

func laterality(mods ...[]registry.Code) string {
	for _, ms := range mods {
		for _, m := range ms {
			if l, ok := lateralityCodes[m.Code]; ok && (m.Scheme == "SCT" || m.Scheme == "SRT") {
				return l
			}
		}
	}
	return ""
}

func (b *snapshotBuilder) segmentation(p string, f *SegmentationFact) registry.SegSnapshot {
	out := registry.SegSnapshot{Object: f.Origin.ID, Kind: f.Kind, StudyUID: f.StudyUID, SeriesUID: f.SeriesUID,
		SOPInstanceUID: f.SOPInstanceUID, SegmentationType: f.SegmentationType,
		ReferencedSeriesUIDs: nonNil(slices.Clone(f.ReferencedSeriesUIDs)), Segments: []registry.SegmentSnapshot{}}
	for i, s := range f.Segments {
		sp := idx(p+".segments", i)
		out.Segments = append(out.Segments, registry.SegmentSnapshot{
			Number: s.Number, Label: b.show(sp+".label", s.Label), AlgorithmType: s.AlgorithmType,
			AlgorithmName: b.show(sp+".algorithm_name", s.AlgorithmName),
			Category:      b.code(sp+".category", s.Category), Type: b.code(sp+".type", s.Type),
			TypeModifiers:   b.codes(sp+".type_modifiers", s.TypeModifiers),
			AnatomicRegion:  b.code(sp+".anatomic_region", s.AnatomicRegion),
			RegionModifiers: b.codes(sp+".region_modifiers", s.RegionModifiers),
			Laterality:      laterality(s.TypeModifiers, s.RegionModifiers),
			InterpretedType: s.InterpretedType,
		})
	}
	return out
}

func mesh(m ModelMetrics) registry.MeshSnapshot {
	return registry.MeshSnapshot{Triangles: m.Triangles, Vertices: m.Vertices, VolumeMM3: m.VolumeMM3,
		SurfaceAreaMM2: m.SurfaceAreaMM2, BBoxMM: registry.BBox{Min: m.BBoxMinMM, Max: m.BBoxMaxMM},
		Watertight: m.Watertight, Shells: m.Shells}
}

func (b *snapshotBuilder) model(p string, f *ModelFact) registry.ModelSnapshot {
	out := registry.ModelSnapshot{Object: f.Origin.ID, Format: f.Format, Container: f.Container, Units: f.Units,
		StudyUID: f.StudyUID, SeriesUID: f.SeriesUID, MeshSnapshot: mesh(f.ModelMetrics), Objects: []registry.ModelObjectSnapshot{},
		Flags: modelFlags(f.ModelMetrics)}
	for i, o := range f.Objects {
		out.Objects = append(out.Objects, registry.ModelObjectSnapshot{Name: b.show(idx(p+".objects", i)+".name", o.Name), MeshSnapshot: mesh(o.ModelMetrics)})
	}
	return out
}

func (b *snapshotBuilder) lab(o *object) *registry.LabSnapshot {
	skip := b.skipText
	b.skipText = false
	defer func() { b.skipText = skip }()
	sc := o.Sidecar.Sidecar.normalized()
	sc.texts(func(path string, p *string) { *p = b.show(path, *p) })
	l := &registry.LabSnapshot{
		Object: o.ID, ObjectType: sc.ObjectType, IntendedUse: sc.IntendedUse, IntendedUseText: sc.IntendedUseText,
		OrderingService: sc.OrderingService, OrderingServiceText: sc.OrderingServiceText,
		Indications: nonNil(sc.Indications), Parts: nonNil(sc.Parts), Guides: nonNil(sc.Guides),
		Prints: nonNil(sc.Prints), Effort: sc.Effort, Procedure: sc.Procedure, Assessment: sc.Assessment,
	}
	for i := range l.Prints {
		if l.Prints[i].Copies == 0 {
			l.Prints[i].Copies = 1
		}
		if l.Prints[i].Scale == 0 {
			l.Prints[i].Scale = 1
		}
	}
	if e := sc.Effort; e != nil {
		t := &registry.EffortTotal{}
		for _, a := range []registry.StaffMinutes{e.Consultation, e.Segmentation, e.CAD, e.PostProcessing} {
			for k, m := range []registry.Minutes{a.Clinician, a.NonClinician} {
				switch {
				case m.Unknown:
					t.UnknownTimers++
				case k == 0:
					t.ClinicianMinutes += m.Value
				default:
					t.NonClinicianMinutes += m.Value
				}
			}
		}
		l.EffortTotals = t
	}
	return l
}

// cpt suggests Category III codes. Components are the lab's anatomic parts;
// without them, the distinct segmented structures (type code and
// laterality); without those, the model objects. Guides are the lab's
// guides, else the model objects.
func (r *Registry) cpt(c *Case, s *registry.Snapshot, decided map[string]string) registry.CPTSuggestion {
	out := registry.CPTSuggestion{Codes: []registry.CPTCode{}, Basis: registry.BasisNone, ObjectTypeBasis: "none"}
	modelObjects, usable := 0, 0
	for _, m := range s.Models {
		if len(m.Flags) == 0 {
			modelObjects += max(1, len(m.Objects))
			usable++
		}
	}
	switch {
	case s.Lab != nil:
		out.ObjectType, out.ObjectTypeBasis = s.Lab.ObjectType, "lab"
	case usable > 0:
		out.ObjectType, out.ObjectTypeBasis = registry.ObjectAnatomicModel, "assumed"
	default:
		out.BasisDetail = "no model and no case.json yet"
		return out
	}
	first, each := "0559T", "0560T"
	if out.ObjectType == registry.ObjectAnatomicGuide {
		first, each = "0561T", "0562T"
		switch {
		case s.Lab != nil && len(s.Lab.Guides) > 0:
			out.Components, out.Basis = len(s.Lab.Guides), registry.BasisLabGuides
			out.BasisDetail = fmt.Sprintf("%d guide(s) listed by the lab in case.json", out.Components)
		case modelObjects > 0:
			out.Components, out.Basis = modelObjects, registry.BasisModelObjects
			out.BasisDetail = fmt.Sprintf("%d model object(s) received, one guide each", modelObjects)
		}
	} else {
		structures := distinctStructures(c, decided)
		switch {
		case s.Lab != nil && len(s.Lab.Parts) > 0:
			out.Components, out.Basis = len(s.Lab.Parts), registry.BasisLabParts
			out.BasisDetail = fmt.Sprintf("%d anatomic part(s) listed by the lab in case.json", out.Components)
		case structures > 0:
			out.Components, out.Basis = structures, registry.BasisSegmentedStructures
			out.BasisDetail = fmt.Sprintf("%d distinct segmented structure(s) (coded type and laterality)", structures)
		case modelObjects > 0:
			out.Components, out.Basis = modelObjects, registry.BasisModelObjects
			out.BasisDetail = fmt.Sprintf("%d model object(s) received", modelObjects)
		}
	}
	if out.ObjectTypeBasis == "assumed" {
		out.Notes = append(out.Notes, "object type assumed to be an anatomic model: no case.json yet")
	}
	if out.Components == 0 {
		out.BasisDetail = "nothing to count yet"
		return out
	}
	out.Codes = append(out.Codes, registry.CPTCode{Code: first, Units: 1, Descriptor: cptDescriptors[first]})
	if n := out.Components - 1; n > 0 {
		out.Codes = append(out.Codes, registry.CPTCode{Code: each, Units: n, Descriptor: cptDescriptors[each]})
	}
	for _, cc := range out.Codes {
		if lim, ok := r.cfg.CPTUnitLimits[cc.Code]; ok && cc.Units > lim {
			out.Notes = append(out.Notes, fmt.Sprintf("%s: %d units exceed the configured limit of %d per day (NCCI MUE)", cc.Code, cc.Units, lim))
		}
	}
	return out
}

// distinctStructures counts segmented anatomy by coded type and laterality,
// across every segmentation of the case; segments without a type code count
// by their category and number within their object.
func distinctStructures(c *Case, decided map[string]string) int {
	seen := map[string]bool{}
	for _, o := range c.objects {
		if o.Segmentation == nil || decided[o.Segmentation.StudyUID] == registry.ResolveExclude {
			continue
		}
		for _, s := range o.Segmentation.Segments {
			var key string
			if s.Type != nil {
				key = s.Type.Scheme + ":" + s.Type.Code + ":" + laterality(s.TypeModifiers, s.RegionModifiers)
			} else {
				key = fmt.Sprintf("%s#%d", o.ID, s.Number)
			}
			seen[key] = true
		}
	}
	return len(seen)
}

// missing lists unmet requirements of c.
func (r *Registry) missing(c *Case) []string {
	s := r.snapshot(c, true)
	return s.Missing
}

func (r *Registry) missingFrom(s *registry.Snapshot) []string {
	out := []string{}
	lab := s.Lab
	hasLab := lab != nil
	for _, req := range r.cfg.Required {
		ok := true
		switch req {
		case registry.ReqImaging:
			ok = s.Counts.Series > 0
		case registry.ReqModel:
			ok = slices.ContainsFunc(s.Models, func(m registry.ModelSnapshot) bool { return len(m.Flags) == 0 })
		case registry.ReqObjectType:
			ok = hasLab && lab.ObjectType != ""
		case registry.ReqOrderingService:
			ok = hasLab && lab.OrderingService != "" && (lab.OrderingService != "other" || lab.OrderingServiceText != "")
		case registry.ReqIndication:
			ok = false
			if hasLab {
				for _, in := range lab.Indications {
					if in.Text != "" || len(in.ICD10CM) > 0 {
						ok = true
					}
				}
			}
		case registry.ReqParts:
			ok = false
			if hasLab && lab.ObjectType == registry.ObjectAnatomicGuide {
				ok = len(lab.Guides) > 0
			} else if hasLab {
				for _, p := range lab.Parts {
					if p.Structure != "" {
						ok = true
					}
				}
			}
		case registry.ReqPrints:
			ok = false
			if hasLab {
				for _, p := range lab.Prints {
					if p.Material != "" && p.Printer.Technology != "" &&
						(p.Printer.Label != "" || p.Printer.Manufacturer != "" || p.Printer.Model != "") {
						ok = true
					}
				}
			}
		case registry.ReqEffort:
			ok = hasLab && lab.Effort != nil
		case registry.ReqIntendedUse:
			ok = hasLab && lab.IntendedUse != ""
		case registry.ReqProcedure:
			ok = hasLab && lab.Procedure != nil
		case registry.ReqAssessment:
			ok = hasLab && lab.Assessment != nil
		case registry.ReqSegmentation:
			ok = len(s.Segmentations) > 0
		case registry.ReqStable:
			ok = len(s.Studies) > 0
			for _, st := range s.Studies {
				ok = ok && st.Status == registry.StatusStable
			}
		case registry.ReqThinSlice:
			ok = false
			for _, st := range s.Studies {
				for _, se := range st.Series {
					ok = ok || se.ThinSlice
				}
			}
		}
		if !ok {
			out = append(out, req)
		}
	}
	if len(s.Conflicts) > 0 {
		out = append(out, registry.ReqNoConflict)
	}
	return out
}
