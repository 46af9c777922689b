package assemble_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// TestWorkerKilledAfterOutputBeforeCase: a worker process is killed with
// SIGKILL after it stored an instance's de-identified copy and before it
// updated the case; another worker takes the redelivered object over.
// Every instance and the model are counted exactly once, each event id is
// published once, and nothing reaches the dead-letter stream.
func TestWorkerKilledAfterOutputBeforeCase(t *testing.T) {
	topo := testTopology()
	n, m, js := startServers(t, topo)
	key := siteKey(t)
	raw, out := minioBuckets(t, m)
	started := filepath.Join(t.TempDir(), "started")
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(append(os.Environ(), testenv.ServerEnv(n.URL, m)...), envChild+"=worker", envStartFile+"="+started)
	var childLog testenv.Buffer
	child.Stderr = &childLog
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Kill()
		_ = child.Wait()
		if t.Failed() {
			t.Logf("child worker output:\n%s", childLog.String())
		}
	})

	cts, _ := filepath.Glob(repo("testdata/dicom/series_pydicom_CT5N_5slices/*.dcm"))
	for i, p := range cts {
		b := plant(t, readFile(t, p), map[dicomx.Tag]string{dicomx.TagAccessionNumber: "ACC-CRASH-1"})
		k := fmt.Sprintf("pacs/crash/%d.dcm", i)
		if i == 2 {
			k = "pacs/crash/slow.dcm"
		}
		if _, err := raw.Put(ctx(t), k, bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	stl := testenv.TetrahedronSTL()
	if _, err := raw.Put(ctx(t), "ACC-CRASH-1/model.stl", bytes.NewReader(stl), int64(len(stl)), objstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never held the slow object")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	logs := &testenv.Buffer{}
	startWorker(t, n, topo, key, raw, out, testConfig(), zerolog.New(logs), nil)
	caseID := casemodel.CaseID(key, "ACC-CRASH-1")
	deadline = time.Now().Add(2 * time.Minute)
	var snap *registry.Snapshot
	for {
		snap = lastCase(t, js, topo, caseID)
		if snap != nil && len(snap.Studies) == 1 && snap.Studies[0].Status == registry.StatusStable && len(snap.Models) == 1 && snap.Counts.Instances == len(cts) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the case never held the whole series and the model: %+v\nlogs:\n%s", snap, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if snap.Counts.Models != 1 || snap.Studies[0].Series[0].InstanceCount != len(cts) || snap.Studies[0].Series[0].SliceCount != len(cts) {
		t.Errorf("counts %+v, series %+v: want each instance and the model once", snap.Counts, snap.Studies[0].Series[0])
	}
	var ids []string
	for _, msg := range streamMessages(t, js, topo.RegistryStream) {
		ids = append(ids, msg.Header.Get("Nats-Msg-Id"))
	}
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("an event was published twice: %v", ids)
	}
	if dlq := streamMessages(t, js, topo.DLQStream); len(dlq) != 0 {
		t.Errorf("%d dead-lettered objects", len(dlq))
	}
	var keys []string
	if err := out.List(ctx(t), "", func(oi objstore.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	var dcm int
	for _, k := range keys {
		if strings.HasSuffix(k, ".dcm") {
			dcm++
		}
	}
	if dcm != len(cts) || len(keys) != len(cts)+1 {
		t.Errorf("de-identified bucket: %v", keys)
	}
}
