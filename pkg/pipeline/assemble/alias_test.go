package assemble_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
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
)

// aliasFixture is one study with an accession, sent as raw objects to a
// worker with the real domain step.
type aliasFixture struct {
	t            *testing.T
	js           jetstream.JetStream
	topo         pipeline.Topology
	put          func(key string, b []byte)
	planted      [][]byte
	studyUID     string
	byUID, byAcc string // the study's case ids: StudyInstanceUID's, accession's
}

func newAliasFixture(t *testing.T, wrap func(*assemble.Assembler) pipeline.Processor) *aliasFixture {
	topo := testTopology()
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	if err := setupAll(ctx(t), js, topo); err != nil {
		t.Fatal(err)
	}
	key := siteKey(t)
	raw, out := dirBucket(t, "raw"), dirBucket(t, "deid")
	log := zerolog.Nop()
	startWorkerWith(t, n, topo, key, raw, out, testConfig(), log, nil, wrap)
	scanner, err := pipeline.NewScanner(ctx(t), js, topo, key, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &aliasFixture{t: t, js: js, topo: topo}
	f.put = func(k string, b []byte) {
		if _, err := raw.Put(ctx(t), k, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := scanner.Scan(ctx(t), raw, k, pipeline.SourceScan); err != nil {
			t.Fatal(err)
		}
	}
	cts, _ := filepath.Glob(repo("testdata/dicom/series_pydicom_CT5N_5slices/*.dcm"))
	f.planted = make([][]byte, len(cts))
	for i, p := range cts {
		f.planted[i] = plant(t, readFile(t, p), map[dicomx.Tag]string{dicomx.TagAccessionNumber: "ACC-FOLD-1", dicomx.TagPatientID: "MRN-FOLD-1"})
		obj, err := dicomx.ReadMeta(bytes.NewReader(f.planted[i]), int64(len(f.planted[i])), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.studyUID = obj.Dataset.Str(dicomx.TagStudyInstanceUID)
	}
	f.byUID, f.byAcc = casemodel.CaseID(key, f.studyUID), casemodel.CaseID(key, "ACC-FOLD-1")
	return f
}

func (f *aliasFixture) putStudy() {
	for i, b := range f.planted {
		f.put(fmt.Sprintf("pacs/s/%d.dcm", i), b)
	}
}

// wait polls the case's latest snapshot until ok holds.
func (f *aliasFixture) wait(what string, caseID string, ok func(*registry.Snapshot) bool) *registry.Snapshot {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if s := lastCase(f.t, f.js, f.topo, caseID); s != nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: timed out", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkFolded waits until the accession's case holds the study and want
// models, and the StudyInstanceUID's case says it was merged into it.
func (f *aliasFixture) checkFolded(want int) {
	f.t.Helper()
	acc := f.wait("accession case with the model", f.byAcc, func(s *registry.Snapshot) bool {
		return len(s.Models) == want && s.Counts.Instances == len(f.planted)
	})
	if len(acc.Aliases) == 0 || acc.Aliases[0] != f.byUID {
		f.t.Errorf("aliases %v, want [%s]", acc.Aliases, f.byUID)
	}
	old := f.wait("retired case", f.byUID, func(s *registry.Snapshot) bool { return s.MergedInto != "" })
	if old.MergedInto != f.byAcc {
		f.t.Errorf("old case merged into %s, want %s", old.MergedInto, f.byAcc)
	}
}

// TestModelUnderStudyUIDJoinsTheAccessionCase: a lab drops a model under
// the study's StudyInstanceUID before the study arrives; the study (which
// has an accession) then folds that case into the accession's case, and
// the old case's last event says where it went.
func TestModelUnderStudyUIDJoinsTheAccessionCase(t *testing.T) {
	f := newAliasFixture(t, nil)
	f.put(f.studyUID+"/heart.stl", testenv.TetrahedronSTL())
	f.wait("model case", f.byUID, func(s *registry.Snapshot) bool { return len(s.Models) == 1 })
	f.putStudy()
	f.checkFolded(1)

	// A model dropped under the StudyInstanceUID now goes straight to the
	// accession's case.
	f.put(f.studyUID+"/second.stl", testenv.TetrahedronSTL())
	f.wait("second model", f.byAcc, func(s *registry.Snapshot) bool { return len(s.Models) == 2 })

	// So does an instance of the study that carries no accession (a
	// segmentation made without the order, say).
	extra := plant(t, f.planted[0], map[dicomx.Tag]string{dicomx.TagAccessionNumber: "", dicomx.TagSOPInstanceUID: "1.2.826.0.1.3680043.10.999.1"})
	f.put("lab/no-accession.dcm", extra)
	f.wait("instance without an accession", f.byAcc, func(s *registry.Snapshot) bool { return s.Counts.Instances == len(f.planted)+1 })
}

// holdModels wraps the assembler: a model's processing returns (its case
// chosen) and then waits for release before the worker writes its facts.
type holdModels struct {
	*assemble.Assembler
	chosen, release chan struct{}
	once            sync.Once
}

func (h *holdModels) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	res, err := h.Assembler.Process(ctx, in)
	if strings.HasSuffix(in.Ref.Key, ".stl") {
		h.once.Do(func() { close(h.chosen) })
		select {
		case <-h.release:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	return res, err
}

// TestModelLateToItsFolderCaseFollowsTheFold: the race between a model and
// its study. The model chooses its folder's case (no alias yet); the whole
// study then arrives, points the StudyInstanceUID at the accession's case
// and finds nothing to fold; only then are the model's facts written. The
// model's worker sees the pointer after its write and folds the case
// itself, so the model still reaches the accession's case.
func TestModelLateToItsFolderCaseFollowsTheFold(t *testing.T) {
	h := &holdModels{chosen: make(chan struct{}), release: make(chan struct{})}
	f := newAliasFixture(t, func(a *assemble.Assembler) pipeline.Processor { h.Assembler = a; return h })
	f.put(f.studyUID+"/heart.stl", testenv.TetrahedronSTL())
	select {
	case <-h.chosen:
	case <-ctx(t).Done():
		t.Fatal("the model was never processed")
	}
	f.putStudy()
	f.wait("study in the accession's case", f.byAcc, func(s *registry.Snapshot) bool { return s.Counts.Instances == len(f.planted) })
	if s := lastCase(t, f.js, f.topo, f.byUID); s != nil {
		t.Fatalf("the StudyInstanceUID's case exists before the model's facts are written: %+v", s)
	}
	close(h.release)
	f.checkFolded(1)
}
