package assemble_test

import (
	"bytes"
	"fmt"
	"path/filepath"
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
	"github.com/printreg/printreg/pkg/registry/casemodel"
)

// TestSettleWaitsForRecordsTheCaseHasSeen: when a series' records read
// short of what the case has seen (on a cluster, a replica still catching
// up after a restart), the series is settled at a later sweep instead of
// being summarised from what was read; only long after its study was due
// are the missing records taken as lost.
func TestSettleWaitsForRecordsTheCaseHasSeen(t *testing.T) {
	topo := testTopology()
	n, mi, js := startServers(t, topo)
	key := siteKey(t)
	raw, out := minioBuckets(t, mi)
	cfg := testConfig()
	cfg.Registry.QuietPeriod = time.Hour // no sweep settles it meanwhile
	m := pipeline.NewMetrics("test")
	a := startWorker(t, n, topo, key, raw, out, cfg, zerolog.New(&testenv.Buffer{}), m)

	cts, _ := filepath.Glob(repo("testdata/dicom/series_pydicom_CT5N_5slices/*.dcm"))
	for i, p := range cts {
		b := plant(t, readFile(t, p), map[dicomx.Tag]string{dicomx.TagAccessionNumber: "ACC-SETTLE-1"})
		if _, err := raw.Put(ctx(t), fmt.Sprintf("pacs/settle/%d.dcm", i), bytes.NewReader(b), int64(len(b)), objstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, "every slice processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == float64(len(cts)) })

	cases, err := pipeline.OpenCaseStore(ctx(t), js, topo, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	caseID := casemodel.CaseID(key, "ACC-SETTLE-1")
	state, err := cases.Get(ctx(t), caseID)
	if err != nil || state == nil {
		t.Fatalf("case state: %v (%d bytes)", err, len(state))
	}
	justDue := time.Now().Add(cfg.Registry.QuietPeriod + 5*time.Second)
	if facts, err := a.Settle(ctx(t), caseID, state, justDue); err != nil || facts == nil {
		t.Fatalf("with every record readable: facts %v, error %v; want the series' summary", facts, err)
	}

	// What this server reads loses first the series' template, then its
	// instance records: each time the study just due waits for a later
	// sweep, and long after it was due is summarised from what is left.
	stream, err := js.Stream(ctx(t), "KV_"+assemble.DefaultBuckets().Series)
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(cfg.Registry.QuietPeriod + 10*time.Minute)
	for _, tc := range []struct {
		what, subject string
		records       int
	}{
		{"the template", "t.>", 1},
		{"the instance records", "i.>", len(cts)},
	} {
		before, err := stream.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		// A KV bucket's stream refuses deleting single messages; a purge
		// by subject takes the records away without a trace.
		if err := stream.Purge(ctx(t), jetstream.WithPurgeSubject("$KV."+assemble.DefaultBuckets().Series+"."+tc.subject)); err != nil {
			t.Fatal(err)
		}
		after, err := stream.Info(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if removed := before.State.Msgs - after.State.Msgs; removed != uint64(tc.records) {
			t.Fatalf("%s: removed %d records, want %d", tc.what, removed, tc.records)
		}
		facts, err := a.Settle(ctx(t), caseID, state, justDue)
		if err == nil || !strings.Contains(err.Error(), "settled at a later sweep") {
			t.Fatalf("without %s, the study just due: facts %v, error %v; want an error that retries at a later sweep", tc.what, facts, err)
		}
		if facts, err := a.Settle(ctx(t), caseID, state, long); err != nil || facts == nil {
			t.Fatalf("without %s, long after the study was due: facts %v, error %v; want a summary of what is left", tc.what, facts, err)
		}
	}
}
