package assemble

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/printreg/printreg/pkg/deid"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/mesh"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

func TestSpoolSpillsToDisk(t *testing.T) {
	pool := &sync.Pool{New: func() any { return new(bytes.Buffer) }}
	for _, tc := range []struct {
		name   string
		chunks int
		onDisk bool
	}{{"memory", 3, false}, {"disk", 40, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sp := newSpool(pool, dir, 64<<10)
			var want bytes.Buffer
			for i := range tc.chunks {
				chunk := bytes.Repeat([]byte{byte(i)}, 4<<10)
				want.Write(chunk)
				if _, err := sp.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			files, _ := os.ReadDir(dir)
			if onDisk := len(files) == 1; onDisk != tc.onDisk || sp.Size() != int64(want.Len()) {
				t.Errorf("onDisk %v size %d, want %v %d", onDisk, sp.Size(), tc.onDisk, want.Len())
			}
			for range 2 { // readable more than once (a retried upload)
				got, _ := io.ReadAll(sp.Reader())
				if !bytes.Equal(got, want.Bytes()) {
					t.Fatal("spooled content differs")
				}
			}
			if err := sp.Close(); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestPrefixKeepsTheStart(t *testing.T) {
	p := &prefix{max: 5}
	for _, s := range []string{"ab", "cdef", "gh"} {
		if n, err := p.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q = %d, %v", s, n, err)
		}
	}
	if string(p.b) != "abcde" || !p.full() {
		t.Errorf("prefix %q full %v", p.b, p.full())
	}
}

func TestKindOfName(t *testing.T) {
	for name, want := range map[string]string{
		"a/case.json": KindSidecar, "a/case.jsonc": KindSidecar, "a/Case.JSONC": KindSidecar, "a/Model.STL": "stl", "a/x.3mf": "3mf", "a/x.obj": "obj",
		"pacs/1/2/3.dcm": KindDICOM, "pacs/IM0001": KindDICOM, "a/notes.txt": KindUnknown,
	} {
		if got := kindOfName(name); got != want {
			t.Errorf("kindOfName(%s) = %s, want %s", name, got, want)
		}
	}
}

// TestRefusalReasons: de-identification refusals and reader errors are
// value-free issues (published at once); other errors are free-text
// details.
func TestRefusalReasons(t *testing.T) {
	fe := &dicomx.FormatError{Kind: dicomx.ErrMalformed, Offset: 4242, Tag: dicomx.TagPatientName, Reason: "value runs past the end"}
	big := &dicomx.FormatError{Kind: dicomx.ErrTooLarge, Offset: 9, Reason: "value over the limit"}
	for _, tc := range []struct {
		err    error
		want   string
		detail string
		issues []casemodel.RejectionIssue
	}{
		{&deid.RefusedError{Reason: deid.ReasonBurnedIn, Detail: "x"}, registry.ReasonBurnedInText, "", []casemodel.RejectionIssue{{Rule: deid.ReasonBurnedIn, Message: "x"}}},
		{&deid.RefusedError{Reason: deid.ReasonBurnedInModal}, registry.ReasonBurnedInText, "", []casemodel.RejectionIssue{{Rule: deid.ReasonBurnedInModal}}},
		{&deid.RefusedError{Reason: deid.ReasonResidue}, registry.ReasonPHIResidue, "", []casemodel.RejectionIssue{{Rule: deid.ReasonResidue}}},
		{&deid.RefusedError{Reason: deid.ReasonDICOMDIR}, registry.ReasonUnsupported, "", []casemodel.RejectionIssue{{Rule: deid.ReasonDICOMDIR}}},
		{fmt.Errorf("deid: reading DICOM: %w", fe), registry.ReasonMalformed, "", []casemodel.RejectionIssue{{Rule: registry.ReasonMalformed, Message: fe.Error()}}},
		{fmt.Errorf("deid: reading DICOM: %w", big), registry.ReasonTooLarge, "", []casemodel.RejectionIssue{{Rule: registry.ReasonTooLarge, Message: big.Error()}}},
		{errors.New("truncated"), registry.ReasonMalformed, "truncated", nil},
	} {
		reason, detail, issues := refusal(tc.err)
		if reason != tc.want || detail != tc.detail || fmt.Sprint(issues) != fmt.Sprint(tc.issues) {
			t.Errorf("refusal(%v) = %s, %q, %+v; want %s, %q, %+v", tc.err, reason, detail, issues, tc.want, tc.detail, tc.issues)
		}
	}
}

// TestReasonVocabulary: every reason code the worker and the domain step
// produce is one of the registry's, whose sentences the case shows and
// docs/registry-events.md lists; the worker's size cap reads as too_large.
func TestReasonVocabulary(t *testing.T) {
	for _, code := range []string{registry.ReasonMalformed, registry.ReasonUnsupported, registry.ReasonPHIResidue,
		registry.ReasonBurnedInText, registry.ReasonInvalidSidecar, pipeline.ReasonTooLarge, pipeline.ReasonInvalidKey,
		pipeline.ReasonUnknownBucket, pipeline.ReasonBadWork, pipeline.ReasonRetriesExhausted, pipeline.ReasonMaxDeliveries,
		pipeline.ReasonOther, ReasonNoCaseReference, meshReason(errors.New("x"))} {
		if _, ok := registry.ReasonText(code); !ok {
			t.Errorf("reason %s is not in the registry's vocabulary", code)
		}
	}
	capText, _ := registry.ReasonText(pipeline.ReasonTooLarge)
	tooLarge, _ := registry.ReasonText(registry.ReasonTooLarge)
	if capText != tooLarge {
		t.Errorf("the worker's size cap (%s) does not read as too_large", pipeline.ReasonTooLarge)
	}
}

// TestRawIdentifiers reads the identifiers of the corpus files and stops
// at StudyInstanceUID.
func TestRawIdentifiers(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "dicom", "series_*", "*.dcm"))
	if len(files) == 0 {
		t.Fatal("no corpus files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ids, done, err := rawIdentifiers(bytes.NewReader(b), int64(len(b)), dicomx.Limits{}, nil)
		if err != nil || !done {
			t.Errorf("%s: done %v, %v", f, done, err)
			continue
		}
		obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if ids.StudyInstanceUID != obj.Dataset.Str(dicomx.TagStudyInstanceUID) || ids.PatientID != obj.Dataset.Str(dicomx.TagPatientID) ||
			ids.PatientName != obj.Dataset.Str(dicomx.TagPatientName) || ids.AccessionNumber != obj.Dataset.Str(dicomx.TagAccessionNumber) {
			t.Errorf("%s: identifiers differ from the full read", f)
		}
		// A header cut short: an error or an incomplete read, never a panic.
		if _, done, err := rawIdentifiers(bytes.NewReader(b[:200]), -1, dicomx.Limits{}, nil); done && err == nil {
			t.Errorf("%s: a 200-byte prefix read as complete", f)
		}
	}
}

// FuzzRawIdentifiers: any bytes give identifiers or an error, never a
// panic or an allocation beyond the input.
func FuzzRawIdentifiers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "dicom", "series_pydicom_CT5N_5slices", "*.dcm"))
	for _, p := range files[:1] {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:300])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = rawIdentifiers(bytes.NewReader(b), int64(len(b)), dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 10000}, nil)
		_, _, _ = rawIdentifiers(bytes.NewReader(b), -1, dicomx.Limits{MaxValueBytes: 1 << 20, MaxElements: 10000}, nil)
	})
}

// TestGeometryRoundTrip: an instance rebuilt from the series template and
// its stored geometry gives the same series summary as the instance read,
// for a real series and for a multi-frame instance whose frames share one
// orientation (written once) or not.
func TestGeometryRoundTrip(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "..", "testdata", "dicom", "series_pydicom_CT5N_5slices", "*.dcm"))
	if len(files) != 5 {
		t.Fatalf("%d files in the 5-slice series", len(files))
	}
	var orig, back []*dicomx.Instance
	var tmpl *dicomx.Instance
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := dicomx.NewInstance(obj)
		orig = append(orig, in)
		if tmpl == nil {
			tm := *in
			tm.Frames, tm.ImagePosition, tm.ImageOrientation = nil, nil, nil
			tmpl = &tm
		}
		back = append(back, roundTrip(t, in, tmpl))
	}
	want, _ := json.Marshal(dicomx.BuildSeries(orig, dicomx.SeriesOptions{}))
	got, _ := json.Marshal(dicomx.BuildSeries(back, dicomx.SeriesOptions{}))
	if !bytes.Equal(got, want) {
		t.Fatalf("summary from stored geometry:\n%s\nwant\n%s", got, want)
	}

	for _, mixed := range []bool{false, true} {
		mf := *orig[0]
		mf.NumberOfFrames = 3000
		mf.Frames = nil
		for i := range 3000 {
			o := []float64{1, 0, 0, 0, 1, 0}
			if mixed && i%2 == 1 {
				o = []float64{1, 0, 0, 0, 0, -1}
			}
			mf.Frames = append(mf.Frames, dicomx.Frame{Position: []float64{0, 0, float64(i) * 0.5}, Orientation: o})
		}
		g := geomOf(&mf)
		if !mixed && len(g.FrameOri) != 1 {
			t.Errorf("one orientation for every frame is kept %d times", len(g.FrameOri))
		}
		r := roundTrip(t, &mf, tmpl)
		w, _ := json.Marshal(dicomx.BuildSeries([]*dicomx.Instance{&mf}, dicomx.SeriesOptions{}))
		gt, _ := json.Marshal(dicomx.BuildSeries([]*dicomx.Instance{r}, dicomx.SeriesOptions{}))
		if !bytes.Equal(gt, w) {
			t.Errorf("mixed=%v: multi-frame summary from stored geometry:\n%s\nwant\n%s", mixed, gt, w)
		}
	}
}

func roundTrip(t *testing.T, in, tmpl *dicomx.Instance) *dicomx.Instance {
	t.Helper()
	b, err := json.Marshal(geomOf(in))
	if err != nil {
		t.Fatal(err)
	}
	var g instGeom
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g.instance(tmpl)
}

// TestCaseCacheIsInvisible: merging through the decoded-case cache gives
// the same states and events as decoding every time, also when a merge is
// re-run on an older state (a lost compare-and-set).
func TestCaseCacheIsInvisible(t *testing.T) {
	key, err := sitekey.New([]byte("assemble internal test secret 0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := casemodel.New(casemodel.DefaultConfig(), key)
	if err != nil {
		t.Fatal(err)
	}
	cached, plain := caseModel{reg: reg, cache: &caseCache{}}, caseModel{reg: reg}
	caseID := casemodel.CaseID(key, "ACC-1")
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	identity := reg.IdentityFact(casemodel.Identifiers{AccessionNumber: "ACC-1", PatientID: "P1", StudyInstanceUID: "1.2.3"})
	var facts [][]casemodel.Fact
	for i := range 5 {
		sf := casemodel.SeriesFact{
			Origin:   casemodel.Origin{ID: fmt.Sprintf("2.25.%d", 100+i), Version: "v1", Time: t0.Add(time.Duration(i) * time.Second)},
			StudyUID: "2.25.1", SeriesUID: "2.25.2", Modality: "CT", InstanceCount: i + 1, SliceCount: i + 1, SliceThicknessMM: 1,
			Identity: identity,
		}
		facts = append(facts, []casemodel.Fact{sf})
	}
	facts = append(facts, []casemodel.Fact{casemodel.RejectedFact{Origin: casemodel.Origin{ID: "0123456789abcdef0123", Version: "e1"}, Reason: "malformed"}})
	var sc, sp []byte
	for i, fs := range facts {
		now := t0.Add(time.Duration(i) * time.Minute)
		mc, err := cached.Apply(caseID, sc, fs, now)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := plain.Apply(caseID, sp, fs, now)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mc.State, mp.State) || len(mc.Events) != len(mp.Events) || !mc.Timer.Equal(mp.Timer) {
			t.Fatalf("fact %d: cached and plain merges differ", i)
		}
		for j := range mc.Events {
			if mc.Events[j].ID != mp.Events[j].ID || !bytes.Equal(mc.Events[j].Data, mp.Events[j].Data) {
				t.Fatalf("fact %d: events differ", i)
			}
		}
		if i == 2 {
			// Re-run on the older state, as after a lost compare-and-set.
			again, err := cached.Apply(caseID, sc, fs, now)
			if err != nil || !bytes.Equal(again.State, mc.State) {
				t.Fatalf("re-run on the old state differs: %v", err)
			}
		}
		if mc.State != nil {
			sc, sp = mc.State, mp.State
		}
	}
	mt, _ := cached.Tick(caseID, sc, t0.Add(time.Hour))
	pt, _ := plain.Tick(caseID, sp, t0.Add(time.Hour))
	if !bytes.Equal(mt.State, pt.State) {
		t.Error("tick differs")
	}
}

// TestMeshMemory: what measuring a model reserves: a 3MF package's capped
// tables whatever its size, about three times an STL or OBJ file, never
// more than the whole budget nor less than 1 MiB.
func TestMeshMemory(t *testing.T) {
	a := &Assembler{cfg: Config{Budget: dicomx.NewBudget(100 << 20)}}
	for _, c := range []struct {
		format mesh.Format
		size   int64
		want   int64
	}{
		{mesh.ThreeMF, 10 << 10, 100 << 20},
		{mesh.STL, 10 << 20, 30 << 20},
		{mesh.OBJ, 100, 1 << 20},
		{mesh.STL, 1 << 30, 100 << 20},
	} {
		if got := a.meshMemory(c.format, c.size); got != c.want {
			t.Errorf("meshMemory(%s, %d) = %d, want %d", c.format, c.size, got, c.want)
		}
	}
}
