package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
	"github.com/printreg/printreg/pkg/registry/casemodel"
	"github.com/printreg/printreg/pkg/sitekey"
)

// clusterCase is what the failover test drops for one case reference (an
// accession number): a CT study of two series, model files, a case.json,
// and refused objects in the case's folder.
type clusterCase struct {
	ref      string
	series   int // series in the study (0: no study)
	slices   int // slices per series
	models   int
	sidecar  bool
	rejected map[string]int // reason → refused objects filed in the case
}

// droppedObject is one object of the raw bucket and where it must end.
type droppedObject struct {
	key  string
	data []byte
	// reason is the DLQ reason of a refused object ("" for one that must
	// be processed).
	reason string
}

// TestIngestClusterFailover is the operator's failover drill with real
// `ingest run` processes: a three-node JetStream cluster (streams and
// buckets at three replicas), MinIO notifying the cluster, two worker
// processes. While a few hundred objects (CT studies, STL models,
// case.json files and hostile ones) are dropped into the raw bucket, the
// server leading the work stream is killed (SIGKILL) and started again, one
// worker is killed (SIGKILL) and started again, and MinIO is restarted.
// Once everything has settled, every object must be in exactly one place:
// processed into its case (the de-identified copies, the case's counts, a
// processed marker), or refused once in the dead-letter stream; each case
// event is there once (no repeated id), and each case's versions only grow,
// up to the version stored in the case record.
func TestIngestClusterFailover(t *testing.T) {
	if testing.Short() && os.Getenv(testenv.EnvRequire) != "1" {
		t.Skip("cluster failover drill (a few minutes); run without -short")
	}
	start := time.Now()
	c := testenv.StartCluster(t, 3)
	m := testenv.StartMinIO(t, testenv.MinIOOptions{NATS: c.Nodes[0], Subject: "printreg.objects.notify"})
	_, js := c.Connect(t)
	dir := t.TempDir()
	secretFile := writeSecret(t, dir)
	key, err := sitekey.Load(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	topo := pipeline.DefaultTopology()
	env := []string{"PRINTREG_S3_ACCESS_KEY=" + m.AccessKey, "PRINTREG_S3_SECRET_KEY=" + m.SecretKey}

	// One configuration file per worker process (its own data folder and
	// admin port), every NATS server named.
	var nodeURLs []string
	for _, nd := range c.Nodes {
		nodeURLs = append(nodeURLs, nd.URL)
	}
	const maxObjectBytes = 1 << 20
	config := func(name string) (file, admin string) {
		admin = loopback(t)
		data := filepath.Join(dir, name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		file = filepath.Join(data, "ingest.yaml")
		body := fmt.Sprintf(`data_dir: %s
site_secret_file: %s
log: {level: info, format: json}
admin:
  listen: %s
nats:
  url: %s
storage:
  raw: {type: s3, bucket: raw}
  deid: {type: s3, bucket: deid}
  s3:
    endpoint: %s
    secure: false
    path_style: true
    max_retries: 1
  max_object_bytes: %d
streams:
  replicas: 3
  ack_wait: 10s
  backoff: [10s]
  max_deliver: 10
worker:
  workers: 4
  fetch_wait: 1s
  request_timeout: 2s
  retry_delays: [500ms, 1s, 2s, 4s, 8s]
  sweep_interval: 1s
  shutdown_grace: 5s
registry:
  quiet_period: 2s
receive:
  enabled: false
`, data, secretFile, admin, strings.Join(nodeURLs, ","), m.Endpoint, maxObjectBytes)
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return file, admin
	}
	cfg, _ := config("operator")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if code, _, errOut := invoke(t, ctx, env, "setup", "--config", cfg); code != exitOK {
		t.Fatalf("setup exit %d: %s", code, errOut)
	}
	for _, s := range []string{topo.WorkStream, topo.RegistryStream, topo.DLQStream, "KV_" + topo.CasesBucket, "KV_" + topo.ProcessedBucket} {
		info := cfStreamInfo(js, s)
		if info == nil || info.Config.Replicas != 3 {
			t.Fatalf("stream %s after setup: %+v", s, info)
		}
	}

	// The workers: this package's test binary (built without the race
	// detector) running `ingest run`.
	bin := testenv.NoRaceTestBinary(t)
	type worker struct {
		name, admin string
		p           *testenv.Process
	}
	var workers []*worker
	for i := range 2 {
		w := &worker{name: fmt.Sprintf("worker-%d", i)}
		var file string
		file, w.admin = config(w.name)
		w.p = testenv.StartProcess(t, testenv.ProcessOptions{
			Name: w.name, Bin: bin, Args: []string{"-test.run=^$", "--", "run", "--config", file},
			Env: append([]string{testenv.ChildEnv + "=ingest", "PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...),
			Log: filepath.Join(dir, w.name+".log"),
		})
		workers = append(workers, w)
	}
	checkWorkers := func() {
		t.Helper()
		for _, w := range workers {
			if !w.p.Running() {
				t.Fatalf("%s exited by itself:\n%s", w.name, w.p.Tail(40))
			}
		}
	}
	for _, w := range workers {
		cfWaitUntil(t, 2*time.Minute, w.name+" ready", func() bool {
			checkWorkers()
			return cfReadyz(w.admin) == http.StatusOK
		})
	}
	t.Logf("cluster, MinIO and two workers ready after %s", time.Since(start).Round(time.Millisecond))

	// What is dropped.
	cases := []*clusterCase{
		{ref: "ACC-CF-01", series: 2, slices: 22, models: 2, sidecar: true, rejected: map[string]int{"unsupported": 1}},
		{ref: "ACC-CF-02", series: 2, slices: 22, models: 2, sidecar: true, rejected: map[string]int{"malformed": 1}},
		{ref: "ACC-CF-03", series: 2, slices: 22, models: 2, sidecar: true, rejected: map[string]int{"malformed": 1}},
		{ref: "ACC-CF-04", series: 2, slices: 22, models: 2, sidecar: true, rejected: map[string]int{"too_large": 1}},
		{ref: "ACC-CF-05", series: 2, slices: 22, models: 2},
		{ref: "ACC-CF-06", series: 2, slices: 22},
		{ref: "ACC-CF-07", rejected: map[string]int{"invalid_sidecar": 1}},
	}
	objects := cfObjects(t, cases)
	refused := 0
	for _, o := range objects {
		if o.reason != "" {
			refused++
		}
	}
	t.Logf("%d objects to drop: %d to process, %d to refuse", len(objects), len(objects)-refused, refused)
	rng := rand.New(rand.NewPCG(20261206, 1))
	rng.Shuffle(len(objects), func(i, j int) { objects[i], objects[j] = objects[j], objects[i] })

	raw, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: "raw", PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	deid, err := s3store.New(s3store.Config{Endpoint: m.Endpoint, Bucket: "deid", PathStyle: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	upload := func(batch []*droppedObject) error {
		var wg sync.WaitGroup
		errs := make([]error, len(batch))
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					o := batch[i]
					pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
					_, errs[i] = raw.Put(pctx, o.key, bytes.NewReader(o.data), int64(len(o.data)), objstore.PutOptions{})
					pcancel()
				}
			})
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		return errors.Join(errs...)
	}
	handled := func() int { // work items answered so far (-1: no answer)
		info := cfStreamInfo(js, topo.WorkStream)
		if info == nil {
			return -1
		}
		return int(info.State.LastSeq - info.State.Msgs)
	}
	third := len(objects) / 3

	// First third, then: the work stream's leader is killed while the
	// second third arrives, a second later one worker too, and two seconds
	// later both are started again.
	if err := upload(objects[:third]); err != nil {
		t.Fatal(err)
	}
	cfWaitUntil(t, 2*time.Minute, "the workers at the first objects", func() bool { checkWorkers(); return handled() >= 10 })
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	leader, err := c.StreamLeader(lctx, js, topo.WorkStream)
	lcancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing %s, leader of %s, after %d work items answered (MinIO notifies %s)", leader.Name, topo.WorkStream, handled(), c.Nodes[0].Name)
	leader.Kill()
	uploaded := make(chan error, 1)
	go func() { uploaded <- upload(objects[third : 2*third]) }()
	time.Sleep(time.Second)
	victim := workers[0]
	t.Logf("killing %s", victim.name)
	victim.p.Kill()
	time.Sleep(2 * time.Second)
	victim.p.Start(t)
	leader.Start(t)
	if err := <-uploaded; err != nil {
		t.Fatal(err)
	}
	t.Logf("%s and %s started again; %d work items answered", leader.Name, victim.name, handled())

	// MinIO restarts (same data, same port) while the workers read from
	// it, then the last third arrives.
	cfWaitUntil(t, 2*time.Minute, "more work items answered", func() bool { checkWorkers(); return handled() >= third+10 })
	t.Logf("restarting MinIO; %d work items answered", handled())
	m.Restart(t)
	if err := upload(objects[2*third:]); err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d objects dropped after %s", len(objects), time.Since(start).Round(time.Millisecond))

	// Settling: the cluster whole again, the work stream drained and quiet.
	c.WaitHealthy(t)
	// Quiet: no new work item for a while (MinIO sends what its queue
	// holds every 3 s).
	settled := func(what string, quiet time.Duration) {
		t.Helper()
		last, since := uint64(0), time.Now()
		cfWaitUntil(t, 4*time.Minute, what, func() bool {
			checkWorkers()
			info := cfStreamInfo(js, topo.WorkStream)
			if info == nil || info.State.Msgs > 0 {
				since = time.Now()
				return false
			}
			if info.State.LastSeq != last {
				last, since = info.State.LastSeq, time.Now()
			}
			return time.Since(since) >= quiet
		})
	}
	settled("the work stream drained", 10*time.Second)
	// Objects without a marker now are objects the workers never heard of.
	// Those dropped before MinIO's restart went through the kills of the
	// leader and of a worker: none may be missing. Of those dropped right
	// after it, MinIO announces some to nobody (it answers S3 requests
	// before its notifications work again; docs/operations.md §12): the
	// operator's scan enqueues them.
	markers, err := js.KeyValue(ctx, topo.ProcessedBucket)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{} // key → VersionID
	for _, o := range objects {
		info, err := raw.Stat(ctx, o.key)
		if err != nil {
			t.Fatal(err)
		}
		versions[o.key] = pipeline.VersionID(key, pipeline.ObjectRef{Bucket: "raw", Key: o.key, ETag: info.ETag})
	}
	// namesVersion: the object's marker names the version now in the bucket.
	namesVersion := func(o *droppedObject) bool {
		entry, err := markers.Get(ctx, "o."+pipeline.ObjectID(key, "raw", o.key))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		var mk pipeline.Marker
		if err := json.Unmarshal(entry.Value(), &mk); err != nil {
			t.Fatal(err)
		}
		return mk.Version == versions[o.key]
	}
	unmarked := 0
	for i, o := range objects {
		switch {
		case namesVersion(o):
		case i < 2*third:
			t.Errorf("%s, dropped before MinIO's restart, was never handled", o.key)
		default:
			unmarked++
		}
	}
	beforeScan := cfStreamInfo(js, topo.WorkStream)
	if beforeScan == nil {
		t.Fatal("the work stream does not answer")
	}
	code, out, errOut := invoke(t, ctx, env, "scan", "--config", cfg)
	if code != exitOK {
		t.Fatalf("scan exit %d: %s", code, errOut)
	}
	var scanned pipeline.ScanStats
	if err := json.Unmarshal([]byte(out), &scanned); err != nil {
		t.Fatalf("scan printed %q: %v", out, err)
	}
	t.Logf("after the drill: %d of the %d objects dropped after MinIO's restart were never announced; the scan enqueued %d",
		unmarked, len(objects)-2*third, scanned.Enqueued)
	if scanned.Enqueued != unmarked {
		t.Errorf("the scan enqueued %d objects, but %d had no marker", scanned.Enqueued, unmarked)
	}

	// Everything settles: the work stream drained again, every case at
	// its counts with its studies stable, every refused object in the DLQ.
	cfWaitUntil(t, 4*time.Minute, "every case complete and every study stable", func() bool {
		checkWorkers()
		if n := cfStreamMsgs(js, topo.DLQStream); n < refused {
			return false
		}
		for _, cc := range cases {
			snap := cfLastSnapshot(js, topo, casemodel.CaseID(key, cc.ref))
			if snap == nil || !cfComplete(snap, cc) {
				return false
			}
		}
		return true
	})
	settled("the work stream drained after the scan", 5*time.Second)
	if info := cfStreamInfo(js, topo.WorkStream); info != nil {
		if late := int(info.State.LastSeq-beforeScan.State.LastSeq) - scanned.Enqueued; late > 0 {
			t.Logf("%d work items came after the scan's (notifications MinIO sent late)", late)
		}
	}
	t.Logf("settled %s after the start", time.Since(start).Round(time.Millisecond))

	// 1. The DLQ: each refused object once, with its reason; nothing else.
	dlq := cfReadStream(t, js, topo.DLQStream)
	inDLQ := map[string][]string{} // ObjectID → "reason (work item seq, delivery)"
	for _, msg := range dlq {
		h := msg.Header
		inDLQ[h.Get(pipeline.HeaderObject)] = append(inDLQ[h.Get(pipeline.HeaderObject)],
			fmt.Sprintf("%s (work item %s, delivery %s)", h.Get(pipeline.HeaderReason), h.Get(pipeline.HeaderWorkSeq), h.Get(pipeline.HeaderDeliveries)))
	}
	for _, o := range objects {
		id := pipeline.ObjectID(key, "raw", o.key)
		got := inDLQ[id]
		delete(inDLQ, id)
		switch {
		case o.reason == "" && len(got) > 0:
			t.Errorf("%s: processable, but in the DLQ %v", o.key, got)
		case o.reason != "" && (len(got) != 1 || !strings.HasPrefix(got[0], o.reason+" ")):
			t.Errorf("%s: DLQ entries %v, want exactly one %s", o.key, got, o.reason)
		}
	}
	for id, reasons := range inDLQ {
		t.Errorf("DLQ entries %v for object %q, which was not dropped", reasons, id)
	}
	code, out, errOut = invoke(t, ctx, env, "dlq", "list", "--config", cfg, "--json")
	if n := strings.Count(out, "\n"); code != exitOK || n != refused {
		t.Errorf("dlq list: exit %d, %d entries, want %d: %s", code, n, refused, errOut)
	}

	// 2. Object markers: every processable object processed, every
	// refused one marked rejected, each at the version in the bucket.
	for _, o := range objects {
		e, err := markers.Get(ctx, "o."+pipeline.ObjectID(key, "raw", o.key))
		if err != nil {
			t.Errorf("%s: no marker: %v", o.key, err)
			continue
		}
		var mk pipeline.Marker
		if err := json.Unmarshal(e.Value(), &mk); err != nil {
			t.Fatal(err)
		}
		if mk.Version != versions[o.key] {
			t.Errorf("%s: the marker names another version", o.key)
		}
		want := pipeline.OutcomeProcessed
		if o.reason != "" {
			want = pipeline.OutcomeRejected
		}
		if mk.Outcome != want {
			t.Errorf("%s: marker %q, want %q", o.key, mk.Outcome, want)
		}
	}

	// 3. The cases, as `ingest case` shows them: each study's instances
	// and series exactly as dropped, the models, the case.json, the
	// refused objects of the case's folder; and their de-identified
	// copies, one per object.
	deidKeys := map[string]int{} // case id → de-identified objects
	if err := deid.List(ctx, "", func(oi objstore.ObjectInfo) error {
		id, _, _ := strings.Cut(oi.Key, "/")
		deidKeys[id]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, cc := range cases {
		code, out, errOut := invoke(t, ctx, env, "case", "--config", cfg, cc.ref)
		if code != exitOK {
			t.Errorf("case %s: exit %d: %s", cc.ref, code, errOut)
			continue
		}
		var snap registry.Snapshot
		if err := json.Unmarshal([]byte(out), &snap); err != nil {
			t.Fatalf("case %s printed %q: %v", cc.ref, out, err)
		}
		if !cfComplete(&snap, cc) {
			t.Errorf("case %s: %s, want %s", cc.ref, cfDescribe(&snap), cfWant(cc))
		}
		for _, st := range snap.Studies {
			for _, se := range st.Series {
				if se.InstanceCount != cc.slices || se.SliceCount != cc.slices || se.SliceSpacingMM != 1 || len(se.Flags) > 0 {
					t.Errorf("case %s series: %d instances, %d slices, spacing %g mm, flags %v; want %d evenly spaced 1 mm apart",
						cc.ref, se.InstanceCount, se.SliceCount, se.SliceSpacingMM, se.Flags, cc.slices)
				}
			}
		}
		if wantDeid := cc.series*cc.slices + cc.models; deidKeys[snap.CaseID] != wantDeid {
			t.Errorf("case %s: %d de-identified objects, want %d", cc.ref, deidKeys[snap.CaseID], wantDeid)
		}
		delete(deidKeys, snap.CaseID)
	}
	for id, n := range deidKeys {
		t.Errorf("%d de-identified objects under %s, no case of the drill", n, id)
	}

	// 4. The case events: one message per event id (the id is also the
	// Nats-Msg-Id), each case's versions growing in the order they were
	// published, the change's version the snapshot's, and the last one the
	// version stored in the case record; each model, case.json, refused
	// object and series announced once.
	cs, err := pipeline.OpenCaseStore(ctx, js, topo, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	events := cfReadStream(t, js, topo.RegistryStream)
	ids := map[string]uint64{}
	type caseEvents struct {
		versions []uint64
		kinds    map[string]int
		added    map[string]int // series uid → series_added events
	}
	perCase := map[string]*caseEvents{}
	for _, msg := range events {
		var ev registry.CloudEvent
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatalf("event %d: %v", msg.Sequence, err)
		}
		if seq, dup := ids[ev.ID]; dup {
			t.Errorf("event id %s at stream sequences %d and %d", ev.ID, seq, msg.Sequence)
		}
		ids[ev.ID] = msg.Sequence
		if h := msg.Header.Get(jetstream.MsgIDHeader); h != ev.ID {
			t.Errorf("event %s (sequence %d) has Nats-Msg-Id %q", ev.ID, msg.Sequence, h)
		}
		if msg.Subject != topo.CaseSubject(ev.Subject) || ev.Data.Case.CaseID != ev.Subject {
			t.Errorf("event %s: subject %s, case %s, on %s", ev.ID, ev.Subject, ev.Data.Case.CaseID, msg.Subject)
		}
		if ev.Data.Change.Version != ev.Data.Case.Version {
			t.Errorf("event %s: change version %d, snapshot version %d", ev.ID, ev.Data.Change.Version, ev.Data.Case.Version)
		}
		ce := perCase[ev.Subject]
		if ce == nil {
			ce = &caseEvents{kinds: map[string]int{}, added: map[string]int{}}
			perCase[ev.Subject] = ce
		}
		if n := len(ce.versions); n > 0 && ev.Data.Case.Version <= ce.versions[n-1] {
			t.Errorf("case %s: version %d published after version %d (stream sequence %d)", ev.Subject, ev.Data.Case.Version, ce.versions[n-1], msg.Sequence)
		}
		ce.versions = append(ce.versions, ev.Data.Case.Version)
		ce.kinds[ev.Data.Change.Kind]++
		if ev.Data.Change.Kind == registry.KindSeriesAdded {
			ce.added[ev.Data.Change.SeriesUID]++
		}
	}
	for _, cc := range cases {
		id := casemodel.CaseID(key, cc.ref)
		ce := perCase[id]
		delete(perCase, id)
		if ce == nil {
			t.Errorf("case %s: no events", cc.ref)
			continue
		}
		state, err := cs.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := casemodel.Decode(state)
		if err != nil {
			t.Fatalf("case %s: stored state: %v", cc.ref, err)
		}
		if last := ce.versions[len(ce.versions)-1]; last != stored.Version() {
			t.Errorf("case %s: last event at version %d, the stored case at %d", cc.ref, last, stored.Version())
		}
		rejected := 0
		for _, n := range cc.rejected {
			rejected += n
		}
		for kind, n := range map[string]int{
			registry.KindModelAdded: cc.models, registry.KindSidecarAdded: cfCount(cc.sidecar),
			registry.KindObjectRejected: rejected,
			registry.KindModelReplaced:  0, registry.KindSidecarReplaced: 0,
		} {
			if ce.kinds[kind] != n {
				t.Errorf("case %s: %d %s events, want %d", cc.ref, ce.kinds[kind], kind, n)
			}
		}
		// A series is announced by series_added, or by study_amended when
		// its first instance came after the study was stable.
		for uid, n := range ce.added {
			if n > 1 {
				t.Errorf("case %s: series %s added %d times", cc.ref, uid, n)
			}
		}
		if len(ce.added) > cc.series {
			t.Errorf("case %s: %d series added, want at most %d", cc.ref, len(ce.added), cc.series)
		}
		if cc.series > 0 && ce.kinds[registry.KindStudyStable] < 1 {
			t.Errorf("case %s: no study_stable event", cc.ref)
		}
		t.Logf("case %s: %d events, versions %d..%d, %v", cc.ref, len(ce.versions), ce.versions[0], ce.versions[len(ce.versions)-1], ce.kinds)
	}
	for id, ce := range perCase {
		t.Errorf("events of case %s, not a case of the drill: %v", id, ce.kinds)
	}
	// What the workers went through (the restarted one counts since its
	// restart).
	totals := map[string]float64{}
	for _, w := range workers {
		for k, v := range cfMetrics(w.admin) {
			totals[k] += v
		}
	}
	t.Logf("workers' counters: %v", totals)
	t.Logf("%d objects: %d processed into %d cases, %d refused once each in the DLQ; %d case events, ids unique; done after %s",
		len(objects), len(objects)-refused, len(cases), refused, len(events), time.Since(start).Round(time.Millisecond))
}

// cfObjects makes the objects of the cases: synthetic CT slices (each
// case its own patient and study), tetrahedra, case.json files, and the
// refused objects the cases name, plus three that reach no case.
func cfObjects(t *testing.T, cases []*clusterCase) []*droppedObject {
	t.Helper()
	var out []*droppedObject
	add := func(key string, data []byte, reason string) {
		out = append(out, &droppedObject{key: key, data: data, reason: reason})
	}
	var firstSlice []byte
	for ci, cc := range cases {
		study := fmt.Sprintf("1.2.826.0.1.3680043.10.4711.%d", ci+1)
		for se := 1; se <= cc.series; se++ {
			for i := 1; i <= cc.slices; i++ {
				b, err := testenv.CTSlice{
					Accession: cc.ref, PatientID: fmt.Sprintf("PAT-%04d", 9100+ci), PatientName: fmt.Sprintf("FAILOVER^PATIENT%c", 'A'+ci),
					BirthDate: "19610723", StudyDate: "20260301", StudyUID: study,
					SeriesUID: fmt.Sprintf("%s.%d", study, se), SeriesNumber: se, Instance: i,
				}.Part10()
				if err != nil {
					t.Fatal(err)
				}
				if firstSlice == nil {
					firstSlice = b
				}
				add(fmt.Sprintf("pacs/%s/%d/%03d.dcm", cc.ref, se, i), b, "")
			}
		}
		for i := 1; i <= cc.models; i++ {
			add(fmt.Sprintf("%s/models/part-%d.stl", cc.ref, i), cfTetrahedron(float64(ci*10+i)), "")
		}
		if cc.sidecar {
			add(cc.ref+"/case.json", []byte(`{"object_type": "anatomic_model", "ordering_service": "urology",
 "indications": [{"icd10cm": ["C64.1"]}],
 "parts": [{"region": "Abdomen", "structure": "Kidney", "laterality": "left"}]}`), "")
		}
		for reason, n := range cc.rejected {
			for i := range n {
				switch reason {
				case "unsupported":
					add(fmt.Sprintf("%s/notes-%d.bin", cc.ref, i), []byte("neither DICOM nor a model"), reason)
				case "malformed":
					if ci%2 == 0 {
						add(fmt.Sprintf("%s/models/broken-%d.3mf", cc.ref, i), []byte("PK\x03\x04 not a zip package at all"), reason)
					} else {
						add(fmt.Sprintf("%s/models/broken-%d.stl", cc.ref, i), []byte("solid broken\nfacet normal 0 0 1\n outer loop\n  vertex 0 0\n"), reason)
					}
				case "too_large":
					add(fmt.Sprintf("%s/models/huge-%d.stl", cc.ref, i), bytes.Repeat([]byte("a"), 3<<19), reason)
				case "invalid_sidecar":
					add(cc.ref+"/case.json", []byte("{\"object_type\": \"anatomic_model\",\n \"ordering_service\": \"Urology\"}"), reason)
				default:
					t.Fatalf("no object for reason %s", reason)
				}
			}
		}
	}
	// Reaching no case: DICOM cut short before its identifiers, and a
	// model outside any case folder.
	add("pacs/cut-1.dcm", firstSlice[:300], "malformed")
	add("pacs/cut-2.dcm", firstSlice[:200], "malformed")
	add("loose-model.stl", testenv.TetrahedronSTL(), "no_case_reference")
	return out
}

// cfTetrahedron is a closed ASCII STL tetrahedron with edges of s mm.
func cfTetrahedron(s float64) []byte {
	v := func(x, y, z float64) string {
		return fmt.Sprintf("vertex %s %s %s\n", strconv.FormatFloat(x*s, 'f', -1, 64), strconv.FormatFloat(y*s, 'f', -1, 64), strconv.FormatFloat(z*s, 'f', -1, 64))
	}
	var b strings.Builder
	b.WriteString("solid t\n")
	for _, f := range [][3][3]float64{
		{{0, 0, 0}, {0, 1, 0}, {1, 0, 0}},
		{{0, 0, 0}, {1, 0, 0}, {0, 0, 1}},
		{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}},
		{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	} {
		b.WriteString("facet normal 0 0 0\nouter loop\n")
		for _, p := range f {
			b.WriteString(v(p[0], p[1], p[2]))
		}
		b.WriteString("endloop\nendfacet\n")
	}
	b.WriteString("endsolid t\n")
	return []byte(b.String())
}

// cfComplete reports whether a case snapshot holds what was dropped for cc,
// with every study stable.
func cfComplete(s *registry.Snapshot, cc *clusterCase) bool {
	rejected := map[string]int{}
	for _, r := range s.Rejected {
		rejected[r.Reason]++
	}
	want := map[string]int{}
	for r, n := range cc.rejected {
		want[r] = n
	}
	studies := 0
	if cc.series > 0 {
		studies = 1
	}
	if s.Counts.Studies != studies || s.Counts.Series != cc.series || s.Counts.Instances != cc.series*cc.slices ||
		s.Counts.Models != cc.models || s.Counts.Sidecars != cfCount(cc.sidecar) || (s.Lab != nil) != cc.sidecar ||
		len(s.Studies) != studies || !cfSameCounts(rejected, want) || s.MergedInto != "" {
		return false
	}
	for _, st := range s.Studies {
		if st.Status != registry.StatusStable || st.InstancesReceived != cc.series*cc.slices || len(st.Series) != cc.series {
			return false
		}
		for _, se := range st.Series {
			if se.InstancesReceived != cc.slices {
				return false
			}
		}
	}
	return true
}

func cfSameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func cfDescribe(s *registry.Snapshot) string {
	var st []string
	for _, x := range s.Studies {
		var se []string
		for _, y := range x.Series {
			se = append(se, strconv.Itoa(y.InstancesReceived))
		}
		st = append(st, fmt.Sprintf("%s %d instances (series %s)", x.Status, x.InstancesReceived, strings.Join(se, ", ")))
	}
	var rj []string
	for _, r := range s.Rejected {
		rj = append(rj, r.Reason)
	}
	sort.Strings(rj)
	return fmt.Sprintf("version %d, counts %+v, studies [%s], lab %v, rejected %v", s.Version, s.Counts, strings.Join(st, "; "), s.Lab != nil, rj)
}

func cfWant(cc *clusterCase) string {
	return fmt.Sprintf("%d series of %d instances, stable; %d models; case.json %v; rejected %v", cc.series, cc.slices, cc.models, cc.sidecar, cc.rejected)
}

func cfCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cfLastSnapshot returns the snapshot of a case's last event (nil when there
// is none yet, or the cluster does not answer).
func cfLastSnapshot(js jetstream.JetStream, topo pipeline.Topology, caseID string) *registry.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, topo.RegistryStream)
	if err != nil {
		return nil
	}
	msg, err := s.GetLastMsgForSubject(ctx, topo.CaseSubject(caseID))
	if err != nil {
		return nil
	}
	var ev registry.CloudEvent
	if json.Unmarshal(msg.Data, &ev) != nil {
		return nil
	}
	return &ev.Data.Case
}

// cfStreamInfo returns a stream's info, or nil when the cluster does not
// answer within two seconds.
func cfStreamInfo(js jetstream.JetStream, stream string) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// cfStreamMsgs is a stream's message count (-1: no answer).
func cfStreamMsgs(js jetstream.JetStream, stream string) int {
	info := cfStreamInfo(js, stream)
	if info == nil {
		return -1
	}
	return int(info.State.Msgs)
}

// cfReadStream returns every message of a stream, in order.
func cfReadStream(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("stream %s, sequence %d: %v", stream, seq, err)
		}
		out = append(out, msg)
	}
	if len(out) != int(info.State.Msgs) {
		t.Fatalf("stream %s: read %d messages of %d", stream, len(out), info.State.Msgs)
	}
	return out
}

// cfMetrics sums a worker's object outcomes, redeliveries and case
// compare-and-set conflicts from its /metrics (empty: no answer).
func cfMetrics(addr string) map[string]float64 {
	out := map[string]float64{}
	body, err := fetchMetrics(addr)
	if err != nil {
		return out
	}
	for line := range strings.Lines(string(body)) {
		line = strings.TrimSuffix(line, "\n")
		name, rest, _ := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "printreg_ingest_objects_total{"):
			_, o, _ := strings.Cut(name, `outcome="`)
			o, _, _ = strings.Cut(o, `"`)
			out[o] += v
		case name == "printreg_ingest_redeliveries_total", name == "printreg_ingest_case_cas_conflicts_total":
			out[strings.TrimSuffix(strings.TrimPrefix(name, "printreg_ingest_"), "_total")] += v
		}
	}
	return out
}

// cfReadyz returns the status of an admin endpoint's /readyz (0: no answer).
func cfReadyz(addr string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cfWaitUntil polls cond until it holds, failing the test after within.
func cfWaitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s after %s", what, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
