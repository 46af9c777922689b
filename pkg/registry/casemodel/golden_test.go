package casemodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/printreg/printreg/pkg/registry"
)

func version(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// objectKey stands for the keyed hash of a bucket and key the pipeline
// computes for files.
func objectKey(r *Registry, key string) string { return r.key.Hex(16, "test/object", key) }

func ctInstance(r *Registry, study, series, inst, count, sec int) SeriesFact {
	return SeriesFact{
		Origin:   Origin{ID: uid(inst), Version: version("ct", uid(inst)), Time: at(sec)},
		StudyUID: uid(study), SeriesUID: uid(series), Modality: "CT",
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", SOPClassName: "CT Image Storage",
		InstanceCount: count, SliceCount: count, SliceThicknessMM: 0.625, SliceSpacingMM: 0.625,
		PixelSpacingMM: [2]float64{0.703125, 0.703125}, Rows: 512, Columns: 512, ExtentMM: 0.625 * float64(count-1),
		Manufacturer: "SIEMENS", ModelName: "SOMATOM Force", Kernel: "Br40d", KVP: 120,
		Contrast: true, ContrastAgent: "Omnipaque 350", BodyPart: "ABDOMEN", Description: "Arterial 0.6mm",
		ThinSlice: true, Identity: r.IdentityFact(planted),
	}
}

var (
	sct = func(code, meaning string) *registry.Code {
		return &registry.Code{Code: code, Scheme: "SCT", Meaning: meaning}
	}
	anatomical  = sct("123037004", "Anatomical Structure")
	morphAbnorm = sct("49755003", "Morphologically Abnormal Structure")
	left        = registry.Code{Code: "7771000", Scheme: "SCT", Meaning: "Left"}
)

func segFact(r *Registry, study, series, inst, refSeries, sec int, segs ...Segment) SegmentationFact {
	return SegmentationFact{
		Origin: Origin{ID: uid(inst), Version: version("seg", uid(inst)), Time: at(sec)},
		Kind:   "SEG", StudyUID: uid(study), SeriesUID: uid(series), SOPInstanceUID: uid(inst),
		SegmentationType: "BINARY", ReferencedSeriesUIDs: []string{uid(refSeries)}, Segments: segs,
		Identity: r.IdentityFact(planted),
	}
}

func stlFact(r *Registry, key string, sec int, name string, tri int64, vol float64) ModelFact {
	return ModelFact{
		Origin: Origin{ID: objectKey(r, key), Version: version("stl", key), Time: at(sec)},
		Format: "stl", Units: "mm",
		ModelMetrics: ModelMetrics{Triangles: tri, Vertices: tri/2 + 2, VolumeMM3: vol, SurfaceAreaMM2: vol / 3,
			BBoxMinMM: [3]float64{-40, -25.5, 10}, BBoxMaxMM: [3]float64{42, 30, 95.25}, Watertight: true, Shells: 1},
		Objects: []ModelObject{{Name: name, ModelMetrics: ModelMetrics{Triangles: tri, Vertices: tri/2 + 2, VolumeMM3: vol,
			SurfaceAreaMM2: vol / 3, BBoxMinMM: [3]float64{-40, -25.5, 10}, BBoxMaxMM: [3]float64{42, 30, 95.25}, Watertight: true, Shells: 1}}},
	}
}

func sidecarFact(tb testing.TB, r *Registry, file string, sec int) SidecarFact {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, "sidecar", file))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ParseSidecar(b)
	if err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return SidecarFact{Origin: Origin{ID: objectKey(r, "models/case/case.json"), Version: version(string(b)), Time: at(sec)}, Sidecar: *s}
}

// step is one action in a scenario: apply a fact (or merge/retire), or tick
// the completeness timer, at the injected time.
type step struct {
	sec    int
	fact   Fact
	tick   bool
	on     string // which case (default "main")
	merge  string // fold this case into on
	retire string // retire on into this case
}

type scenario struct {
	name  string
	cfg   Config
	steps func(r *Registry, tb testing.TB) []step
	cases map[string]string // name → case reference
	check func(t *testing.T, s map[string]registry.Snapshot)
}

// run plays a scenario and returns its events (validated) and final
// snapshots.
func (sc scenario) run(t *testing.T, r *Registry) ([]json.RawMessage, map[string]registry.Snapshot) {
	t.Helper()
	cases := map[string]*Case{}
	for name, ref := range sc.cases {
		c, err := NewCase(CaseID(r.key, ref))
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = c
	}
	var events []json.RawMessage
	for i, st := range sc.steps(r, t) {
		on := st.on
		if on == "" {
			on = "main"
		}
		c := cases[on]
		now := at(st.sec)
		var ch registry.Change
		var changed bool
		switch {
		case st.tick:
			ch, changed = r.Tick(c, now)
		case st.merge != "":
			ch, changed = r.Merge(c, cases[st.merge], now)
		case st.retire != "":
			ch, changed = r.Retire(c, cases[st.retire].ID(), now)
		default:
			ch, changed = r.Apply(c, st.fact, now)
		}
		if !changed {
			continue
		}
		b, id, err := r.Event(c, ch)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		validateEvent(t, b, id)
		assertNoPlanted(t, "event", b)
		// The stored form round-trips to the same bytes, and the decoded
		// case publishes the same event.
		enc, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		assertNoPlanted(t, "stored case", enc)
		d, err := Decode(enc)
		if err != nil {
			t.Fatalf("step %d: decode: %v", i, err)
		}
		if enc2, _ := d.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("step %d: encode(decode(x)) != x", i)
		}
		last, _ := d.LastChange()
		if b2, id2, _ := r.Event(d, last); !bytes.Equal(b, b2) || id != id2 {
			t.Fatalf("step %d: the stored last change does not republish the same event", i)
		}
		events = append(events, b)
	}
	snaps := map[string]registry.Snapshot{}
	for name, c := range cases {
		snaps[name] = r.Snapshot(c)
	}
	return events, snaps
}

func codes(s registry.Snapshot) map[string]int {
	out := map[string]int{}
	for _, c := range s.CPT.Codes {
		out[c.Code] = c.Units
	}
	return out
}

func kidneySegments() []Segment {
	return []Segment{
		{Number: 1, Label: "Left kidney", AlgorithmType: "SEMIAUTOMATIC", AlgorithmName: "3D Slicer",
			Category: anatomical, Type: sct("64033007", "Kidney"), TypeModifiers: []registry.Code{left}},
		{Number: 2, Label: "Tumor", AlgorithmType: "MANUAL", Category: morphAbnorm, Type: sct("108369006", "Neoplasm")},
		{Number: 3, Label: "Renal artery", AlgorithmType: "SEMIAUTOMATIC", AlgorithmName: "3D Slicer",
			Category: anatomical, Type: sct("2841007", "Renal artery"), TypeModifiers: []registry.Code{left}},
	}
}

var scenarios = []scenario{
	{
		name:  "ct_only",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, _ testing.TB) []step {
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 1, fact: ctInstance(r, 1, 2, 11, 2, 1)},
				{sec: 1, fact: ctInstance(r, 1, 2, 11, 2, 1)}, // redelivery: no event
				{sec: 2, fact: ctInstance(r, 1, 2, 12, 3, 2)},
				{sec: 60, tick: true},  // still quiet-period: nothing due
				{sec: 122, tick: true}, // 120 s after the last instance
				{sec: 130, tick: true}, // nothing more to do
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if st := m.Studies[0]; st.Status != registry.StatusStable || st.InstancesReceived != 3 || st.Series[0].InstanceCount != 3 {
				t.Errorf("study %+v", st)
			}
			if m.RegistryReady || !slices.Contains(m.Missing, registry.ReqModel) || slices.Contains(m.Missing, registry.ReqImaging) {
				t.Errorf("missing %v", m.Missing)
			}
			if len(m.CPT.Codes) != 0 {
				t.Errorf("CPT for a CT-only case: %+v", m.CPT)
			}
		},
	},
	{
		name:  "ct_seg",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, _ testing.TB) []step {
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 1, fact: ctInstance(r, 1, 2, 11, 2, 1)},
				{sec: 40, fact: segFact(r, 1, 3, 20, 2, 40, kidneySegments()[:2]...)},
				{sec: 200, tick: true},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if len(m.Segmentations) != 1 || len(m.Segmentations[0].Segments) != 2 || m.Segmentations[0].Segments[0].Laterality != "left" {
				t.Errorf("segmentations %+v", m.Segmentations)
			}
			if m.Segmentations[0].ReferencedSeriesUIDs[0] != m.Studies[0].Series[0].SeriesUID {
				t.Error("the SEG does not reference the CT series")
			}
			if len(m.CPT.Codes) != 0 {
				t.Errorf("CPT without a model: %+v", m.CPT)
			}
		},
	},
	{
		name:  "ct_seg_models_sidecar",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 1, fact: ctInstance(r, 1, 2, 11, 2, 1)},
				{sec: 2, fact: ctInstance(r, 1, 2, 12, 3, 2)},
				{sec: 150, tick: true},
				{sec: 3600, fact: segFact(r, 1, 3, 20, 2, 3600, kidneySegments()...)},
				{sec: 7200, fact: stlFact(r, "models/case/kidney.stl", 7200, "Kidney", 120000, 150000)},
				{sec: 7201, fact: stlFact(r, "models/case/tumor.stl", 7201, "Tumor", 8000, 22000.5)},
				{sec: 7202, fact: stlFact(r, "models/case/artery.stl", 7202, "Artery", 30000, 4200.25)},
				{sec: 7300, fact: sidecarFact(tb, r, "model_kidney.json", 7300)},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if !m.RegistryReady || len(m.Missing) != 0 {
				t.Errorf("registry_ready %v missing %v", m.RegistryReady, m.Missing)
			}
			if got := codes(m); len(got) != 2 || got["0559T"] != 1 || got["0560T"] != 2 || m.CPT.Basis != registry.BasisLabParts {
				t.Errorf("CPT %+v", m.CPT)
			}
			if m.Lab == nil || m.Lab.Parts[1].Comment != "Exophytic lower pole mass" || m.Lab.EffortTotals.NonClinicianMinutes != 210 {
				t.Errorf("lab %+v", m.Lab)
			}
			if len(m.Withheld) != 0 {
				t.Errorf("withheld %+v", m.Withheld)
			}
		},
	},
	{
		name:  "guide",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 200, tick: true},
				{sec: 900, fact: stlFact(r, "models/case/resection_guide.stl", 900, "Resection guide", 40000, 9000)},
				{sec: 901, fact: stlFact(r, "models/case/fibula_guide.stl", 901, "Fibula guide", 36000, 7000)},
				{sec: 950, fact: sidecarFact(tb, r, "guide_mandible.json", 950)},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if got := codes(m); len(got) != 2 || got["0561T"] != 1 || got["0562T"] != 1 || m.CPT.Basis != registry.BasisLabGuides {
				t.Errorf("CPT %+v", m.CPT)
			}
			if !m.RegistryReady {
				t.Errorf("missing %v", m.Missing)
			}
		},
	},
	{
		name:  "model_before_study",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			model := ModelFact{
				Origin: Origin{ID: objectKey(r, "models/case/heart.3mf"), Version: version("3mf"), Time: at(0)},
				Format: "3mf", Units: "millimeter",
				ModelMetrics: ModelMetrics{Triangles: 250000, Vertices: 125004, VolumeMM3: 310000, SurfaceAreaMM2: 64000,
					BBoxMinMM: [3]float64{0, 0, 0}, BBoxMaxMM: [3]float64{110, 95, 120}, Watertight: true, Shells: 2},
				Objects: []ModelObject{
					{Name: "Heart", ModelMetrics: ModelMetrics{Triangles: 200000, Vertices: 100002, VolumeMM3: 280000, SurfaceAreaMM2: 52000, BBoxMaxMM: [3]float64{110, 95, 100}, Watertight: true, Shells: 1}},
					{Name: "Quisling great vessels", ModelMetrics: ModelMetrics{Triangles: 50000, Vertices: 25002, VolumeMM3: 30000, SurfaceAreaMM2: 12000, BBoxMaxMM: [3]float64{60, 50, 120}, Watertight: true, Shells: 1}},
				},
			}
			return []step{
				{sec: 0, fact: model},
				{sec: 5, fact: sidecarFact(tb, r, "model_early.json", 5)},
				{sec: 3600, fact: ctInstance(r, 1, 2, 10, 1, 3600)},
				{sec: 3601, fact: ctInstance(r, 1, 2, 11, 2, 3601)},
				{sec: 3800, tick: true},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if m.Lab == nil || m.Lab.Parts[0].Comment != "" || m.Models[0].Objects[1].Name != "" || m.Models[0].Objects[0].Name != "Heart" {
				t.Errorf("the planted surname was not withheld: %+v %+v", m.Lab, m.Models[0].Objects)
			}
			want := []registry.Withheld{{Field: "models[0].objects[1].name", Rule: registry.RuleCaseIdentifier}, {Field: "lab.parts[0].comment", Rule: registry.RuleCaseIdentifier}}
			if !slices.Equal(m.Withheld, want) {
				t.Errorf("withheld %+v, want %+v", m.Withheld, want)
			}
			if got := codes(m); got["0559T"] != 1 || got["0560T"] != 1 {
				t.Errorf("CPT %+v", m.CPT)
			}
		},
	},
	{
		name:  "alias_merge",
		cases: map[string]string{"main": planted.AccessionNumber, "early": planted.StudyInstanceUID},
		steps: func(r *Registry, tb testing.TB) []step {
			return []step{
				{sec: 0, on: "early", fact: stlFact(r, "models/1.2.826/skull.stl", 0, "Skull", 90000, 500000)},
				{sec: 100, fact: ctInstance(r, 1, 2, 10, 1, 100)},
				{sec: 100, merge: "early"},
				{sec: 100, on: "early", retire: "main"},
				{sec: 101, on: "early", fact: stlFact(r, "models/1.2.826/jaw.stl", 101, "Jaw", 9000, 50000)}, // refused: retired
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m, e := s["main"], s["early"]
			if len(m.Models) != 1 || !slices.Contains(m.Aliases, e.CaseID) || e.MergedInto != m.CaseID {
				t.Errorf("main models %d aliases %v; early merged_into %q", len(m.Models), m.Aliases, e.MergedInto)
			}
		},
	},
	{
		name:  "amended_study",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, _ testing.TB) []step {
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 1, fact: ctInstance(r, 1, 2, 11, 2, 1)},
				{sec: 121, tick: true},
				{sec: 600, fact: ctInstance(r, 1, 4, 30, 1, 600)}, // a late reconstruction
				{sec: 601, fact: ctInstance(r, 1, 4, 31, 2, 601)},
				{sec: 700, tick: true}, // not yet: 120 s after 601
				{sec: 721, tick: true},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			st := s["main"].Studies[0]
			if st.Status != registry.StatusStable || st.Stabilized != 2 || st.Amendments != 1 || len(st.Series) != 2 || st.InstancesReceived != 4 {
				t.Errorf("study %+v", st)
			}
		},
	},
	{
		name:  "rejected_sidecar",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			b, err := os.ReadFile(filepath.Join(testdata, "sidecar", "invalid_phi.json"))
			if err != nil {
				tb.Fatal(err)
			}
			_, perr := ParseSidecar(b)
			if !errors.Is(perr, ErrInvalidSidecar) {
				tb.Fatalf("invalid_phi.json parsed: %v", perr)
			}
			origin := Origin{ID: objectKey(r, "models/case/case.json"), Version: version(string(b)), Time: at(50)}
			fixed := sidecarFact(tb, r, "model_kidney.json", 500)
			fixed.Origin.ID = origin.ID
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 50, fact: RejectedFact{Origin: origin, Reason: registry.ReasonInvalidSidecar, Issues: SidecarIssues(perr.(*SidecarError).Issues)}},
				{sec: 51, fact: RejectedFact{Origin: origin, Reason: registry.ReasonInvalidSidecar, Issues: SidecarIssues(perr.(*SidecarError).Issues)}}, // redelivery
				{sec: 500, fact: fixed}, // the lab fixes case.json: the new revision replaces the rejection
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if len(m.Rejected) != 0 || m.Lab == nil {
				t.Errorf("the fixed case.json did not replace the rejection: %+v", m.Rejected)
			}
		},
	},
	{
		// A lab's case.json and 3MF are refused before the study arrives:
		// the fields, rules and the reader's message are published at
		// once; the object whose detail is free text shows its reason's
		// sentence until the study's identifiers are read.
		name:  "rejected_before_study",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			sidecar := Origin{ID: objectKey(r, "models/case/case.json"), Version: version("bad case.json"), Time: at(0)}
			fixed := sidecarFact(tb, r, "model_kidney.json", 900)
			fixed.Origin.ID = sidecar.ID
			return []step{
				{sec: 0, fact: RejectedFact{Origin: sidecar, Reason: registry.ReasonInvalidSidecar, Issues: invalidSidecarIssues(tb)}},
				{sec: 5, fact: RejectedFact{Origin: Origin{ID: objectKey(r, "models/case/heart.3mf"), Version: version("3mf"), Time: at(5)},
					Reason: registry.ReasonMalformed, Issues: []RejectionIssue{{Rule: registry.ReasonMalformed, Message: "3mf: malformed model file: not a zip package (no end-of-directory record)"}}}},
				{sec: 6, fact: RejectedFact{Origin: Origin{ID: objectKey(r, "models/case/notes.txt"), Version: version("txt"), Time: at(6)},
					Reason: registry.ReasonUnsupported, Detail: "not DICOM, STL, 3MF, OBJ or case.json"}},
				{sec: 7, fact: RejectedFact{Origin: Origin{ID: objectKey(r, "models/case/huge.stl"), Version: version("huge"), Time: at(7)}, Reason: "over_size"}},
				{sec: 600, fact: ctInstance(r, 1, 2, 10, 1, 600)},
				{sec: 900, fact: fixed},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if len(m.Rejected) != 3 || len(m.Rejected[0].Issues) != 1 {
				t.Fatalf("rejected %+v", m.Rejected)
			}
			reasons := []string{m.Rejected[0].Reason, m.Rejected[1].Reason, m.Rejected[2].Reason}
			slices.Sort(reasons)
			if !slices.Equal(reasons, []string{registry.ReasonMalformed, registry.ReasonTooLarge, registry.ReasonUnsupported}) {
				t.Errorf("reasons %v", reasons)
			}
			if m.Lab == nil || len(m.Withheld) != 0 {
				t.Errorf("lab %v withheld %+v", m.Lab != nil, m.Withheld)
			}
		},
	},
	{
		// Two studies of different patients share AccessionNumber 2: the
		// case names the conflict and is not registry-ready until an
		// operator excludes the study that does not belong.
		name:  "patient_mismatch",
		cases: map[string]string{"main": "2"},
		steps: func(r *Registry, tb testing.TB) []step {
			a := planted
			a.AccessionNumber = "2"
			b := Identifiers{PatientName: "Roe^Richard", PatientID: "55501", AccessionNumber: "2", BirthDate: "19700101", StudyInstanceUID: "1.2.3.4"}
			inst := func(id Identifiers, study, series, n, count, sec int) SeriesFact {
				f := ctInstance(r, study, series, n, count, sec)
				f.Identity = r.IdentityFact(id)
				return f
			}
			return []step{
				{sec: 0, fact: inst(a, 1, 2, 10, 1, 0)},
				{sec: 30, fact: inst(b, 5, 6, 50, 1, 30)},
				{sec: 200, tick: true},
				{sec: 300, fact: stlFact(r, "models/2/kidney.stl", 300, "Kidney", 120000, 150000)},
				{sec: 400, fact: sidecarFact(tb, r, "model_kidney.json", 400)},
				{sec: 500, fact: ResolutionFact{StudyUID: uid(5), Action: registry.ResolveExclude, Time: at(500)}},
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if !m.RegistryReady || len(m.Conflicts) != 0 || len(m.Studies) != 1 || m.Studies[0].StudyUID != uid(1) {
				t.Errorf("ready %v conflicts %+v studies %+v", m.RegistryReady, m.Conflicts, m.Studies)
			}
			if !slices.Equal(m.Resolutions, []registry.Resolution{{StudyUID: uid(5), Action: registry.ResolveExclude}}) {
				t.Errorf("resolutions %+v", m.Resolutions)
			}
		},
	},
	{
		// A lab uploads an empty STL first: it is listed, flagged, and the
		// case still misses a model until a real one arrives.
		name:  "empty_model",
		cases: map[string]string{"main": planted.AccessionNumber},
		steps: func(r *Registry, tb testing.TB) []step {
			empty := stlFact(r, "models/case/kidney.stl", 300, "", 0, 0)
			empty.ModelMetrics, empty.Objects = ModelMetrics{}, nil
			return []step{
				{sec: 0, fact: ctInstance(r, 1, 2, 10, 1, 0)},
				{sec: 200, tick: true},
				{sec: 300, fact: empty},
				{sec: 400, fact: sidecarFact(tb, r, "model_kidney.json", 400)},
				{sec: 500, fact: stlFact(r, "models/case/kidney.stl", 500, "Kidney", 120000, 150000)}, // the lab uploads it again
			}
		},
		check: func(t *testing.T, s map[string]registry.Snapshot) {
			m := s["main"]
			if !m.RegistryReady || len(m.Models) != 1 || len(m.Models[0].Flags) != 0 {
				t.Errorf("ready %v missing %v models %+v", m.RegistryReady, m.Missing, m.Models)
			}
		},
	},
}

// TestGoldenEvents plays each scenario, validates every event against the
// JSON Schema, checks the outcome, and compares the events with
// testdata/golden/<name>.json (rewrite with -update).
func TestGoldenEvents(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := testRegistry(t, sc.cfg)
			events, snaps := sc.run(t, r)
			if len(events) == 0 {
				t.Fatal("no events")
			}
			sc.check(t, snaps)
			got, err := json.MarshalIndent(events, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join(testdata, "golden", sc.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenEvents -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (run with -update after checking the change):\n%s", path, firstDiff(got, want))
			}
		})
	}
}

// TestGoldenFilesValidate validates the committed golden events themselves,
// so a consumer can rely on them as examples.
func TestGoldenFilesValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdata, "golden", "*.json"))
	if len(files) < len(scenarios) {
		t.Fatalf("%d golden files for %d scenarios", len(files), len(scenarios))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var evs []map[string]any
		if err := json.Unmarshal(b, &evs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ev := range evs {
			validateEvent(t, mustJSON(t, ev), ev["id"].(string))
		}
		assertNoPlanted(t, f, b)
	}
}

func firstDiff(a, b []byte) string {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(al) && i < len(bl); i++ {
		if !bytes.Equal(al[i], bl[i]) {
			return "line " + itoa(i+1) + ":\n got: " + string(al[i]) + "\nwant: " + string(bl[i])
		}
	}
	return "lengths differ"
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestDocExampleValidates: the example event in docs/registry-events.md is
// a valid event.
func TestDocExampleValidates(t *testing.T) {
	b, err := os.ReadFile("../../../docs/registry-events.md")
	if err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(b, []byte("```json\n{\n  \"specversion\""))
	if start < 0 {
		t.Fatal("no example event in the document")
	}
	rest := b[start+len("```json\n"):]
	end := bytes.Index(rest, []byte("\n```"))
	var ev map[string]any
	if err := json.Unmarshal(rest[:end], &ev); err != nil {
		t.Fatalf("the example is not JSON: %v", err)
	}
	validateEvent(t, rest[:end], ev["id"].(string))
}
