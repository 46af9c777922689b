package assemble_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/assemble"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// guardEnv is NATS, MinIO (notifying the work stream) and one worker with
// the real domain step and a 1 MiB size cap.
type guardEnv struct {
	t       *testing.T
	topo    pipeline.Topology
	js      jetstream.JetStream
	key     *sitekey.Key
	raw     objstore.Bucket
	logs    *testenv.Buffer
	metrics *pipeline.Metrics
	cases   *pipeline.CaseStore
	reg     *casemodel.Registry
	last    func(caseID string) *registry.Snapshot
	dlq     func() map[string][]string // reason → errors
}

const guardCap = 1 << 20

func newGuardEnv(t *testing.T) *guardEnv {
	topo := testTopology()
	n, m, js := startServers(t, topo)
	key := siteKey(t)
	raw, out := minioBuckets(t, m)
	logs := &testenv.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger()
	metrics := pipeline.NewMetrics("test")
	nc, wjs := n.Connect(t)
	a, cases, err := newAssembler(ctx(t), wjs, topo, key, testConfig(), out, log, metrics)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := testWorkerConfig()
	wcfg.MaxObjectBytes = guardCap
	w, err := pipeline.NewWorker(ctx(t), pipeline.Deps{
		Conn: nc, JS: wjs, Topology: topo, Raw: map[string]objstore.Bucket{raw.Name(): raw}, Deid: out,
		Processor: a, Model: a.Model(), Cases: cases, Key: key, Log: log, Metrics: metrics,
	}, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(c) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	cs, err := pipeline.OpenCaseStore(ctx(t), js, topo, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := casemodel.New(testConfig().Registry, key)
	if err != nil {
		t.Fatal(err)
	}
	e := &guardEnv{t: t, topo: topo, js: js, key: key, raw: raw, logs: logs, metrics: metrics, cases: cs, reg: reg}
	e.last = func(caseID string) *registry.Snapshot { return lastCase(t, js, topo, caseID) }
	e.dlq = func() map[string][]string {
		out := map[string][]string{}
		for _, m := range streamMessages(t, js, topo.DLQStream) {
			r := strings.TrimPrefix(m.Subject, topo.DLQSubject+".")
			out[r] = append(out[r], m.Header.Get(pipeline.HeaderError))
		}
		return out
	}
	return e
}

func (e *guardEnv) put(key string, b []byte) {
	e.t.Helper()
	if _, err := e.raw.Put(ctx(e.t), key, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// wait polls a case's latest snapshot until ok holds.
func (e *guardEnv) wait(what, caseID string, ok func(*registry.Snapshot) bool) *registry.Snapshot {
	e.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s := e.last(caseID)
		if s != nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", " ")
			e.t.Fatalf("%s: timed out; last snapshot:\n%s\nlogs:\n%s", what, b, e.logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkNoLeak: none of the strings appears in the events, logs or metrics.
func (e *guardEnv) checkNoLeak(needles []string) {
	e.t.Helper()
	rec := httptest.NewRecorder()
	pipeline.AdminHandler(e.metrics).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	places := map[string]string{"logs": e.logs.String(), "metrics": rec.Body.String()}
	for where, text := range places {
		for _, s := range needles {
			if s != "" && strings.Contains(text, s) {
				e.t.Errorf("%s hold the planted identifier %q", where, s)
			}
		}
	}
}

// TestEndToEndTwoPatientsOneAccession: two CT studies of different patients
// (different PatientIDs) share AccessionNumber 2. With a model and a
// case.json the case would be registry-ready; instead it carries a
// patient_mismatch conflict naming the two studies by their remapped UIDs
// and is not ready, with no identifier in any event. An operator excludes
// the study that does not belong (ResolveStudy) and the case becomes ready
// with the one study.
func TestEndToEndTwoPatientsOneAccession(t *testing.T) {
	e := newGuardEnv(t)
	patients := []map[dicomx.Tag]string{
		{dicomx.TagAccessionNumber: "2", dicomx.TagPatientID: "PIDALPHA1001", dicomx.TagPatientName: "ALPHAFAMILY^ANNA", dicomx.TagPatientBirthDate: "19500101"},
		{dicomx.TagAccessionNumber: "2", dicomx.TagPatientID: "PIDBETA2002", dicomx.TagPatientName: "BETAFAMILY^BERT", dicomx.TagPatientBirthDate: "19600202"},
	}
	series := []string{"testdata/dicom/series_dcmqi_ct-3slice/*.dcm", "testdata/dicom/series_pydicom_CT5N_5slices/*.dcm"}
	var studyUIDs []string
	for i, glob := range series {
		files, _ := filepath.Glob(repo(glob))
		if len(files) == 0 {
			t.Fatalf("no files for %s", glob)
		}
		for j, p := range files {
			b := plant(t, readFile(t, p), patients[i])
			if j == 0 {
				obj, err := dicomx.ReadMeta(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
				if err != nil {
					t.Fatal(err)
				}
				studyUIDs = append(studyUIDs, obj.Dataset.Str(dicomx.TagStudyInstanceUID))
			}
			e.put(fmt.Sprintf("pacs/p%d/%d.dcm", i, j), b)
		}
	}
	if studyUIDs[0] == studyUIDs[1] {
		t.Fatal("the two series share a study")
	}
	e.put("2/kidney.3mf", readFile(t, repo("pkg/mesh/testdata/3mf/3mf-samples/core_torus.3mf")))
	e.put("2/case.json", readFile(t, repo("config/case.example.jsonc")))

	caseID := casemodel.CaseID(e.key, "2")
	s := e.wait("a case with both studies, the model and the lab's case.json", caseID, func(s *registry.Snapshot) bool {
		return s.Counts.Instances == 8 && len(s.Models) == 1 && s.Lab != nil && len(s.Conflicts) > 0
	})
	if s.RegistryReady || !slices.Equal(s.Missing, []string{registry.ReqNoConflict}) {
		t.Errorf("ready %v missing %v: the conflict alone should hold the case back", s.RegistryReady, s.Missing)
	}
	c := s.Conflicts[0]
	if c.Kind != registry.ConflictPatientMismatch || len(c.Groups) != 2 || len(c.Groups[0].StudyUIDs) != 1 || len(c.Groups[1].StudyUIDs) != 1 {
		t.Fatalf("conflict %+v", c)
	}
	var wrong string // the second patient's study: five instances
	for _, st := range s.Studies {
		if st.InstancesReceived == 5 {
			wrong = st.StudyUID
		}
	}
	if wrong == "" || !slices.ContainsFunc(c.Groups, func(g registry.ConflictGroup) bool { return g.StudyUIDs[0] == wrong }) {
		t.Fatalf("the conflict does not name the five-slice study %s: %+v", wrong, c)
	}

	changed, err := assemble.ResolveStudy(ctx(t), e.cases, e.reg, caseID, casemodel.ResolutionFact{StudyUID: wrong, Action: registry.ResolveExclude})
	if err != nil || !changed {
		t.Fatalf("ResolveStudy: %v, %v", changed, err)
	}
	s = e.wait("the case ready without the excluded study", caseID, func(s *registry.Snapshot) bool { return s.RegistryReady })
	if len(s.Studies) != 1 || s.Studies[0].StudyUID == wrong || len(s.Conflicts) != 0 ||
		!slices.Equal(s.Resolutions, []registry.Resolution{{StudyUID: wrong, Action: registry.ResolveExclude}}) {
		t.Errorf("after the decision: studies %+v conflicts %+v resolutions %+v", s.Studies, s.Conflicts, s.Resolutions)
	}
	if changed, err := assemble.ResolveStudy(ctx(t), e.cases, e.reg, caseID, casemodel.ResolutionFact{StudyUID: "2.25.1", Action: registry.ResolveExclude}); err == nil || changed {
		t.Errorf("a study the case does not list: %v, %v", changed, err)
	}

	// No identifier anywhere the worker writes.
	var published bytes.Buffer
	for _, m := range streamMessages(t, e.js, e.topo.RegistryStream) {
		published.Write(m.Data)
	}
	needles := append([]string{"PIDALPHA", "PIDBETA", "ALPHAFAMILY", "BETAFAMILY", "19500101", "19600202"}, studyUIDs...)
	for _, n := range needles {
		if strings.Contains(published.String(), n) {
			t.Errorf("events hold %q", n)
		}
	}
	e.checkNoLeak(needles)
}

// TestEndToEndRejectionsBeforeStudy: a case whose study never arrived shows
// what was refused and why: a case.json's fields and rules, a 3MF that is
// not a zip package, a file over the worker's size cap (too_large, in the
// case and, by its canonical name, in the dead-letter stream), and an empty
// STL listed with the empty flag that does not meet the model requirement.
// A DICOM file cut short before its identifiers names no case: it is
// dead-lettered as malformed, counted, and its error says so.
func TestEndToEndRejectionsBeforeStudy(t *testing.T) {
	e := newGuardEnv(t)
	e.put("3/case.json", []byte(`{"object_type": "toy", "ordering_service": "Urology", "intended_use": "PIDGAMMA3003"}`))
	e.put("3/broken.3mf", []byte("this is not a zip package, whatever its name says"))
	e.put("3/empty.stl", make([]byte, 84))
	e.put("3/huge.stl", bytes.Repeat([]byte("x"), guardCap+1))
	ct := readFile(t, repo("testdata/dicom/series_dcmqi_ct-3slice/01.dcm"))
	e.put("pacs/cut.dcm", ct[:200])

	caseID := casemodel.CaseID(e.key, "3")
	s := e.wait("three rejections and the empty model", caseID, func(s *registry.Snapshot) bool {
		return len(s.Rejected) == 3 && len(s.Models) == 1
	})
	if len(s.Studies) != 0 || s.RegistryReady || !slices.Contains(s.Missing, registry.ReqModel) {
		t.Errorf("studies %d ready %v missing %v", len(s.Studies), s.RegistryReady, s.Missing)
	}
	if !slices.Equal(s.Models[0].Flags, []string{registry.ModelEmpty}) {
		t.Errorf("the empty STL: %+v", s.Models[0])
	}
	byReason := map[string]registry.RejectedSnapshot{}
	for _, r := range s.Rejected {
		byReason[r.Reason] = r
	}
	sc := byReason[registry.ReasonInvalidSidecar]
	wantFields := []string{"object_type", "ordering_service", "intended_use"}
	var fields []string
	for _, is := range sc.Issues {
		if is.Rule != "enum" || is.Message == "" || is.Line != 1 {
			t.Errorf("case.json issue %+v", is)
		}
		fields = append(fields, is.Field)
	}
	slices.Sort(fields)
	slices.Sort(wantFields)
	if !slices.Equal(fields, wantFields) || !strings.Contains(sc.Detail, `ordering_service: did you mean "urology"?`) {
		t.Errorf("case.json rejection %+v", sc)
	}
	if m := byReason[registry.ReasonMalformed]; len(m.Issues) != 1 || !strings.Contains(m.Issues[0].Message, "zip") || !strings.Contains(m.Detail, "zip") {
		t.Errorf("3MF rejection %+v", m)
	}
	if big, ok := byReason[registry.ReasonTooLarge]; !ok || !strings.Contains(big.Detail, "over a configured limit") {
		t.Errorf("size cap rejection %+v (all: %+v)", big, s.Rejected)
	}
	if len(s.Withheld) != 0 {
		t.Errorf("withheld %+v", s.Withheld)
	}

	// The dead-letter stream: the same reasons, the size cap by its
	// canonical name, and the cut DICOM file as malformed and in no case.
	var dlq map[string][]string
	deadline := time.Now().Add(time.Minute)
	for {
		dlq = e.dlq()
		if n := len(dlq[registry.ReasonMalformed]); n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var reasons []string
	for r, errs := range dlq {
		canon, ok := registry.ReasonText(r)
		want, _ := registry.ReasonText(registry.ReasonTooLarge)
		switch {
		case !ok:
			t.Errorf("DLQ reason %s is not in the vocabulary", r)
		case canon == want:
			r = registry.ReasonTooLarge
		}
		for range errs {
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	if want := []string{"invalid_sidecar", "malformed", "malformed", "too_large"}; !slices.Equal(reasons, want) {
		t.Errorf("DLQ reasons %v, want %v", reasons, want)
	}
	if !slices.ContainsFunc(dlq[registry.ReasonMalformed], func(s string) bool { return strings.Contains(s, ": in no case (") }) {
		t.Errorf("no DLQ entry says the cut DICOM file is in no case: %q", dlq[registry.ReasonMalformed])
	}
	rec := httptest.NewRecorder()
	pipeline.AdminHandler(e.metrics).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `printreg_ingest_objects_total{outcome="rejected",reason="malformed",kind="dicom"} 1`) {
		t.Errorf("the cut DICOM file is not counted:\n%s", rec.Body.String())
	}
	if !strings.Contains(e.logs.String(), "in no case") {
		t.Error("no log line says the cut DICOM file is in no case")
	}
	e.checkNoLeak([]string{"PIDGAMMA3003"})
}
