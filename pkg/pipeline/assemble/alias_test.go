package assemble_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/pipeline/objstore"
	"github.com/printreg/printreg/pkg/registry"
)

// TestModelUnderStudyUIDJoinsTheAccessionCase: a lab drops a model under
// the study's StudyInstanceUID before the study arrives; the study (which
// has an accession) then folds that case into the accession's case, and
// the old case's last event says where it went.
func TestModelUnderStudyUIDJoinsTheAccessionCase(t *testing.T) {
	topo := testTopology()
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	if err := pipeline.Setup(ctx(t), js, topo); err != nil {
		t.Fatal(err)
	}
	key := siteKey(t)
	raw, out := dirBucket(t, "raw"), dirBucket(t, "deid")
	log := zerolog.Nop()
	startWorker(t, n, topo, key, raw, out, testConfig(), log, nil)
	scanner, err := pipeline.NewScanner(ctx(t), js, topo, key, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string, b []byte) {
		if _, err := raw.Put(ctx(t), k, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := scanner.Scan(ctx(t), raw, k, pipeline.SourceScan); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(what string, caseID string, ok func(*registry.Snapshot) bool) *registry.Snapshot {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			if s := lastCase(t, js, topo, caseID); s != nil && ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: timed out", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	cts, _ := filepath.Glob(repo("testdata/dicom/series_pydicom_CT5N_5slices/*.dcm"))
	planted := make([][]byte, len(cts))
	var studyUID string
	for i, p := range cts {
		planted[i] = plant(t, readFile(t, p), map[dicomx.Tag]string{dicomx.TagAccessionNumber: "ACC-FOLD-1", dicomx.TagPatientID: "MRN-FOLD-1"})
		obj, err := dicomx.ReadMeta(bytes.NewReader(planted[i]), int64(len(planted[i])), dicomx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		studyUID = obj.Dataset.Str(dicomx.TagStudyInstanceUID)
	}
	byUID, byAcc := registry.CaseID(key, studyUID), registry.CaseID(key, "ACC-FOLD-1")

	put(studyUID+"/heart.stl", testenv.TetrahedronSTL())
	wait("model case", byUID, func(s *registry.Snapshot) bool { return len(s.Models) == 1 })

	for i, b := range planted {
		put(fmt.Sprintf("pacs/s/%d.dcm", i), b)
	}
	acc := wait("accession case with the model", byAcc, func(s *registry.Snapshot) bool {
		return len(s.Models) == 1 && s.Counts.Instances == len(planted)
	})
	if len(acc.Aliases) == 0 || acc.Aliases[0] != byUID {
		t.Errorf("aliases %v, want [%s]", acc.Aliases, byUID)
	}
	old := wait("retired case", byUID, func(s *registry.Snapshot) bool { return s.MergedInto != "" })
	if old.MergedInto != byAcc {
		t.Errorf("old case merged into %s, want %s", old.MergedInto, byAcc)
	}

	// A model dropped under the StudyInstanceUID now goes straight to the
	// accession's case.
	put(studyUID+"/second.stl", testenv.TetrahedronSTL())
	wait("second model", byAcc, func(s *registry.Snapshot) bool { return len(s.Models) == 2 })
}
