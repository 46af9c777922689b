package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

func TestSetupIsIdempotent(t *testing.T) {
	e := newEnv(t, envOptions{})
	if err := pipeline.Setup(ctx(t), e.js, e.topo); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	cons, err := e.js.Consumer(ctx(t), e.topo.WorkStream, e.topo.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	c := info.Config
	if c.AckPolicy != jetstream.AckExplicitPolicy || c.MaxDeliver != e.topo.MaxDeliver ||
		c.MaxAckPending != e.topo.MaxAckPending || c.AckWait != e.topo.AckWait || len(c.BackOff) != len(e.topo.BackOff) {
		t.Errorf("consumer config = %+v", c)
	}
	s, _ := e.js.Stream(ctx(t), e.topo.WorkStream)
	si, _ := s.Info(ctx(t))
	if si.Config.Retention != jetstream.WorkQueuePolicy {
		t.Errorf("work stream retention %v, want work queue", si.Config.Retention)
	}
	r, _ := e.js.Stream(ctx(t), e.topo.RegistryStream)
	ri, _ := r.Info(ctx(t))
	if ri.Config.Retention != jetstream.LimitsPolicy || ri.Config.Subjects[0] != "registry.case.>" || ri.Config.Duplicates != e.topo.RegistryDuplicates {
		t.Errorf("registry stream config = %+v", ri.Config)
	}
	for _, b := range []string{e.topo.CasesBucket, e.topo.TimersBucket, e.topo.ProcessedBucket} {
		if _, err := e.js.KeyValue(ctx(t), b); err != nil {
			t.Errorf("KV %s: %v", b, err)
		}
	}
}

func TestTopologyValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*pipeline.Topology)
	}{
		{"dot in stream name", func(tp *pipeline.Topology) { tp.WorkStream = "A.B" }},
		{"wildcard subject", func(tp *pipeline.Topology) { tp.WorkSubject = "x.*" }},
		{"backoff longer than max deliver", func(tp *pipeline.Topology) { tp.MaxDeliver = 2 }},
		{"backoff not starting at ack wait", func(tp *pipeline.Topology) { tp.AckWait = 5 * time.Second }},
		{"no replicas", func(tp *pipeline.Topology) { tp.Replicas = 0 }},
		{"no ack pending", func(tp *pipeline.Topology) { tp.MaxAckPending = 0 }},
	}
	if err := pipeline.DefaultTopology().Validate(); err != nil {
		t.Fatalf("default topology: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tp := pipeline.DefaultTopology()
			tc.mod(&tp)
			if tp.Validate() == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestEndToEndDirectory runs scan and a worker over directory buckets: each
// object gives one event, outputs land in the deid bucket, and a second
// scan and duplicated work items change nothing.
func TestEndToEndDirectory(t *testing.T) {
	e := newEnv(t, envOptions{})
	const n = 12
	for i := range n {
		e.put(fmt.Sprintf("case-%d/obj-%d.dcm", i%3, i), fmt.Appendf(nil, "object %d", i))
	}
	st := e.scan("")
	if st.Listed != n || st.Enqueued != n {
		t.Fatalf("scan = %+v, want %d listed and enqueued", st, n)
	}
	if again := e.scan(""); again.Enqueued != 0 || again.Queued != n {
		t.Errorf("immediate rescan = %+v, want every object already queued", again)
	}
	proc := newFakeProc(e.key)
	m := pipeline.NewMetrics("test")
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	waitFor(t, "all objects processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == n })
	waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	evs := e.events()
	per := objectEvents(evs)
	if len(per) != n || len(evs) != n {
		t.Fatalf("%d events for %d objects, want %d each", len(evs), len(per), n)
	}
	for obj, c := range per {
		if c != 1 {
			t.Errorf("object %s has %d events", obj, c)
		}
	}
	var outputs int
	if err := e.deid.List(ctx(t), "", func(objstore.ObjectInfo) error { outputs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if outputs != n {
		t.Errorf("%d outputs in the deid bucket, want %d", outputs, n)
	}
	// Processed objects are not enqueued again; a forced duplicate work item
	// is recognised.
	if st := e.scan(""); st.Enqueued != 0 || st.Done != n {
		t.Errorf("rescan after processing = %+v, want all %d done", st, n)
	}
	body := fmt.Sprintf(`{"v":1,"object":{"bucket":%q,"key":"case-0/obj-0.dcm"}}`, e.raw.Name())
	if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor(pipeline.SourceScan), []byte(body)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "duplicate recognised", func() bool { return m.Objects(pipeline.OutcomeDuplicate) == 1 })
	if got := len(e.events()); got != n {
		t.Errorf("%d events after a duplicate, want %d", got, n)
	}
	if c := proc.calls.Load(); c != n {
		t.Errorf("processor called %d times, want %d", c, n)
	}
}

// blockingModel is fakeModel whose Apply waits, for facts of objects under
// the key prefix slow/, until release is closed.
type blockingModel struct {
	fakeModel
	key     *sitekey.Key
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (m *blockingModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	if caseID == caseOf(m.key, "slow/") {
		m.once.Do(func() { close(m.entered) })
		<-m.release
	}
	return m.fakeModel.Apply(caseID, state, facts, now)
}

// TestSlotFreedWhileCaseUpdates: an object's slot is free for the next
// object once its outputs are stored; its case update does not hold it.
func TestSlotFreedWhileCaseUpdates(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("slow/a.dcm", []byte("object a"))
	if st := e.scan(""); st.Enqueued != 1 {
		t.Fatalf("scan = %+v", st)
	}
	proc := newFakeProc(e.key)
	model := &blockingModel{key: e.key, entered: make(chan struct{}), release: make(chan struct{})}
	m := pipeline.NewMetrics("test")
	cfg := testWorkerConfig()
	cfg.Workers = 1
	e.runWorker(proc, model, cfg, m)
	release := sync.OnceFunc(func() { close(model.release) })
	t.Cleanup(release)
	<-model.entered
	// The only slot's object waits on its case; the next one is read,
	// processed and written meanwhile.
	e.put("fast/b.dcm", []byte("object b"))
	if st := e.scan("fast/"); st.Enqueued != 1 {
		t.Fatalf("scan = %+v", st)
	}
	waitFor(t, "the second object processed while the first waits on its case", func() bool {
		return m.Objects(pipeline.OutcomeProcessed) == 1 && proc.calls.Load() == 2
	})
	release()
	waitFor(t, "both objects processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 2 })
	waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	if c := proc.calls.Load(); c != 2 {
		t.Errorf("processor called %d times, want 2", c)
	}
}

// TestMinIONotificationProcessedOnce: a PUT to MinIO arrives on the work
// stream through the bucket notification and is processed once.
func TestMinIONotificationProcessedOnce(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, notify: true})
	proc := newFakeProc(e.key)
	m := pipeline.NewMetrics("test")
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	e.put("lab drop/ACC 123+4/model 1.stl", []byte("solid x\nendsolid x\n"))
	waitFor(t, "the notification processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
	waitFor(t, "one event", func() bool { return len(e.events()) == 1 })
	ev := e.events()[0]
	if ev.Case != caseOf(e.key, "lab drop/ACC 123+4/model 1.stl") || ev.Count != 1 {
		t.Errorf("event = %+v", ev)
	}
	if c := proc.calls.Load(); c != 1 {
		t.Errorf("processor called %d times", c)
	}
	rc, err := e.deid.Get(ctx(t), ev.Case+"/"+pipeline.ObjectID(e.key, "raw", "lab drop/ACC 123+4/model 1.stl")+".sha256")
	if err != nil {
		t.Fatalf("output not in the deid bucket: %v", err)
	}
	rc.Close()
}

// TestScanRepairsDroppedAndDuplicatedNotifications: some PUTs happen while
// the bucket sends no notification, and some notifications arrive twice;
// scan enqueues what is missing and every object is counted once.
func TestScanRepairsDroppedAndDuplicatedNotifications(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, notify: true})
	for i := range 5 {
		e.put(fmt.Sprintf("acc-%d/notified-%d.dcm", i%2, i), fmt.Appendf(nil, "n%d", i))
	}
	waitFor(t, "5 notifications", func() bool { return e.streamMsgs(e.topo.WorkStream) == 5 })
	// Duplicate every notification (MinIO can repeat them).
	e.repeatWork(5)
	// Drop notifications: remove the bucket's rule, write, restore it.
	s3 := e.s3(t, "raw")
	if err := e.minio.Client(t).RemoveAllBucketNotification(ctx(t), "raw"); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		e.put(fmt.Sprintf("acc-%d/dropped-%d.dcm", i%2, i), fmt.Appendf(nil, "d%d", i))
	}
	if err := s3.ConfigureNotification(ctx(t), objstore.NotifyConfig{ARN: "arn:minio:sqs::PRINTREG:nats"}); err != nil {
		t.Fatal(err)
	}
	if got := e.streamMsgs(e.topo.WorkStream); got != 10 {
		t.Fatalf("work stream holds %d items, want 10 (5 notifications twice)", got)
	}
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	waitFor(t, "notified objects", func() bool { return len(objectEvents(e.events())) == 5 })
	st := e.scan("")
	if st.Listed != 9 || st.Enqueued != 4 {
		t.Errorf("scan = %+v, want 9 listed and the 4 dropped enqueued", st)
	}
	waitFor(t, "all objects", func() bool { return len(objectEvents(e.events())) == 9 })
	waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	for obj, c := range objectEvents(e.events()) {
		if c != 1 {
			t.Errorf("object %s counted %d times", obj, c)
		}
	}
	if got := m.Objects(pipeline.OutcomeProcessed); got != 9 {
		t.Errorf("%v objects processed, want 9", got)
	}
	if got := m.Objects(pipeline.OutcomeDuplicate); got < 5 {
		t.Errorf("%v duplicates recognised, want at least 5", got)
	}
}

// TestPermanentFailureDLQAndReplay: bad content goes to the DLQ with its
// reason and a hashed object id, the case records the rejection, and replay
// after a fix processes it once.
func TestPermanentFailureDLQAndReplay(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("acc-1/good.dcm", []byte("fine"))
	e.put("acc-1/MRN-CANARY-998877 bad.dcm", []byte("BAD bytes"))
	proc := newFakeProc(e.key)
	m := pipeline.NewMetrics("test")
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	e.scan("")
	waitFor(t, "the bad object dead-lettered", func() bool { return e.streamMsgs(e.topo.DLQStream) == 1 })
	dlq, _ := e.js.Stream(ctx(t), e.topo.DLQStream)
	raw, err := dlq.GetLastMsgForSubject(ctx(t), e.topo.DLQSubjectFor(reasonMalformed))
	if err != nil {
		t.Fatalf("no DLQ entry under the malformed reason: %v", err)
	}
	if raw.Header.Get(pipeline.HeaderReason) != reasonMalformed ||
		raw.Header.Get(pipeline.HeaderObject) != pipeline.ObjectID(e.key, "raw", "acc-1/MRN-CANARY-998877 bad.dcm") {
		t.Errorf("DLQ headers = %v", raw.Header)
	}
	for k, v := range raw.Header {
		if strings.Contains(strings.Join(v, " "), "CANARY") {
			t.Errorf("DLQ header %s holds the raw key", k)
		}
	}
	// The rejection is in the case; the good object too.
	waitFor(t, "two events", func() bool { return len(e.events()) == 2 })
	if st := e.scan(""); st.Enqueued != 0 {
		t.Errorf("rescan re-enqueued a rejected object: %+v", st)
	}
	// Fix, then replay.
	proc.badOK.Store(true)
	st, err := pipeline.Replay(ctx(t), e.js, e.topo, reasonMalformed, e.log, m)
	if err != nil || st.Replayed != 1 {
		t.Fatalf("replay = %+v, %v", st, err)
	}
	if got := e.streamMsgs(e.topo.DLQStream); got != 0 {
		t.Errorf("DLQ holds %d entries after replay", got)
	}
	waitFor(t, "the replayed object processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 2 })
	waitFor(t, "three events", func() bool { return len(e.events()) == 3 })
	// Replaying again finds nothing; a second replay item would be a duplicate.
	if st, err := pipeline.Replay(ctx(t), e.js, e.topo, "", e.log, m); err != nil || st.Replayed != 0 {
		t.Errorf("second replay = %+v, %v", st, err)
	}
	if strings.Contains(e.logs.String(), "CANARY") {
		t.Error("a log line holds the raw key")
	}
}

// TestOverSizeRejectedBeforeDownload: an object over the cap is refused
// after Stat, recorded in its case through the Rejecter, dead-lettered.
func TestOverSizeRejectedBeforeDownload(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("acc-2/huge.stl", bytes.Repeat([]byte("x"), 4096))
	proc := newFakeProc(e.key)
	m := pipeline.NewMetrics("test")
	cfg := testWorkerConfig()
	cfg.MaxObjectBytes = 1024
	e.runWorker(proc, fakeModel{}, cfg, m)
	e.scan("")
	waitFor(t, "rejected", func() bool { return m.Objects(pipeline.OutcomeRejected) == 1 })
	if proc.calls.Load() != 0 || proc.rejects.Load() != 1 {
		t.Errorf("Process called %d times, Reject %d times; want 0 and 1", proc.calls.Load(), proc.rejects.Load())
	}
	dlq, _ := e.js.Stream(ctx(t), e.topo.DLQStream)
	if _, err := dlq.GetLastMsgForSubject(ctx(t), e.topo.DLQSubjectFor(pipeline.ReasonTooLarge)); err != nil {
		t.Errorf("no too_large DLQ entry: %v", err)
	}
	waitFor(t, "the rejection recorded in the case", func() bool { return len(e.events()) == 1 })
}

func TestBadWorkItemDeadLettered(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	for _, body := range []string{`not json`, `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"raw"},"object":{"key":"%zz"}}}]}`, `{"v":9}`} {
		if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor("other"), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "three DLQ entries", func() bool { return e.streamMsgs(e.topo.DLQStream) == 3 })
	waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	// A notification for an unknown bucket and a removal.
	other := `{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"elsewhere"},"object":{"key":"a","eTag":"1"}}},` +
		`{"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"raw"},"object":{"key":"b"}}}]}`
	if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor(pipeline.SourceNotify), []byte(other)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unknown bucket dead-lettered", func() bool { return e.streamMsgs(e.topo.DLQStream) == 4 })
	waitFor(t, "removal ignored", func() bool { return m.Objects(pipeline.OutcomeIgnored) == 1 })
}

func TestTail(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 3 {
		e.put(fmt.Sprintf("acc-%d/x.dcm", i), []byte("x"))
	}
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	e.scan("")
	waitFor(t, "three events", func() bool { return len(e.events()) == 3 })
	var all bytes.Buffer
	if err := pipeline.Tail(ctx(t), e.js, e.topo, pipeline.TailOptions{FromStart: true, Limit: 3}, &all); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(all.String(), "\n"); n != 3 {
		t.Errorf("tail --from-start printed %d lines:\n%s", n, all.String())
	}
	one := caseOf(e.key, "acc-1/x.dcm")
	var buf bytes.Buffer
	if err := pipeline.Tail(ctx(t), e.js, e.topo, pipeline.TailOptions{CaseID: one, FromStart: true, Limit: 1}, &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), one) || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("tail --case printed %q", buf.String())
	}
	// New events only: nothing stored is printed; a later event is.
	c, cancel := context.WithCancel(ctx(t))
	var live bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- pipeline.Tail(c, e.js, e.topo, pipeline.TailOptions{Limit: 1}, &live) }()
	time.Sleep(300 * time.Millisecond) // let the consumer start; correctness does not depend on it
	e.put("acc-9/new.dcm", []byte("new"))
	e.scan("acc-9/")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("tail printed no new event")
	}
	cancel()
	if !strings.Contains(live.String(), caseOf(e.key, "acc-9/new.dcm")) {
		t.Errorf("live tail printed %q", live.String())
	}
	if err := pipeline.Tail(ctx(t), e.js, e.topo, pipeline.TailOptions{CaseID: "bad.id"}, io.Discard); err == nil {
		t.Error("tail accepted a case id with a dot")
	}
}

func TestNoKeysInLogsMetricsOrDLQ(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, notify: true})
	m := pipeline.NewMetrics("test")
	e.log = e.log.Level(-1) // trace: every log line the code can emit
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	keys := []string{"DOE^JANE 1970-01-01/MRN-CANARY-5551234.dcm", "ACC-CANARY-777/BAD scan.dcm"}
	e.put(keys[0], []byte("content"))
	e.put(keys[1], []byte("BAD content"))
	waitFor(t, "both handled", func() bool {
		return m.Objects(pipeline.OutcomeProcessed) == 1 && m.Objects(pipeline.OutcomeRejected) == 1
	})
	var metrics bytes.Buffer
	_ = m.Registry().Write(&metrics)
	for _, canary := range []string{"CANARY", "DOE", "JANE"} {
		if strings.Contains(e.logs.String(), canary) {
			t.Errorf("logs hold %q", canary)
		}
		if strings.Contains(metrics.String(), canary) {
			t.Errorf("metrics hold %q", canary)
		}
	}
	dlq, _ := e.js.Stream(ctx(t), e.topo.DLQStream)
	raw, err := dlq.GetMsg(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range raw.Header {
		if strings.Contains(strings.Join(v, " "), "CANARY") {
			t.Errorf("DLQ header %s holds a key", k)
		}
	}
	for _, ev := range e.events() {
		if strings.Contains(fmt.Sprint(ev), "CANARY") {
			t.Error("an event holds a key")
		}
	}
}

// errStore fails every operation transiently.
type errStore struct{ objstore.Bucket }

func (errStore) Stat(context.Context, string) (objstore.ObjectInfo, error) {
	return objstore.ObjectInfo{}, errors.New("storage unavailable")
}

func TestRetriesExhaustedGoToDLQ(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.topo.MaxDeliver = 3
	e.topo.BackOff = []time.Duration{2 * time.Second}
	if err := pipeline.Setup(ctx(t), e.js, e.topo); err != nil {
		t.Fatal(err)
	}
	e.put("acc-3/a.dcm", []byte("a"))
	e.scan("")
	e.raw = errStore{e.raw}
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	waitFor(t, "dead-lettered after 3 deliveries", func() bool { return e.streamMsgs(e.topo.DLQStream) == 1 })
	dlq, _ := e.js.Stream(ctx(t), e.topo.DLQStream)
	raw, _ := dlq.GetMsg(ctx(t), 1)
	if raw.Header.Get(pipeline.HeaderReason) != pipeline.ReasonRetriesExhausted || raw.Header.Get(pipeline.HeaderDeliveries) != "3" {
		t.Errorf("DLQ headers = %v", raw.Header)
	}
	if got := m.Objects(pipeline.OutcomeRetried); got != 2 {
		t.Errorf("%v retries, want 2", got)
	}
}

// TestRepeatedEventOneDLQEntry: an object store that announces one bad
// object version several times (MinIO repeats events) gets one DLQ entry
// for it, even when the work items are handled at the same moment; a
// replay's refusal is an entry of its own.
func TestRepeatedEventOneDLQEntry(t *testing.T) {
	e := newEnv(t, envOptions{})
	info := e.put("acc-1/bad.dcm", []byte("BAD bytes"))
	event := fmt.Sprintf(`{"Records":[{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"raw"},"object":{"key":"acc-1/bad.dcm","eTag":%q,"size":%d}}}]}`, info.ETag, info.Size)
	for range 4 {
		if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor(pipeline.SourceNotify), []byte(event)); err != nil {
			t.Fatal(err)
		}
	}
	m := pipeline.NewMetrics("test")
	cfg := testWorkerConfig()
	cfg.Workers = 4
	e.runWorker(newFakeProc(e.key), fakeModel{}, cfg, m)
	waitFor(t, "the work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	if got := e.streamMsgs(e.topo.DLQStream); got != 1 {
		t.Errorf("%d DLQ entries for one bad version announced 4 times, want 1", got)
	}
	st, err := pipeline.Replay(ctx(t), e.js, e.topo, reasonMalformed, e.log, m)
	if err != nil || st.Replayed != 1 {
		t.Fatalf("replay = %+v, %v", st, err)
	}
	waitFor(t, "the replayed object refused again", func() bool { return e.streamMsgs(e.topo.DLQStream) == 1 && e.streamMsgs(e.topo.WorkStream) == 0 })
}
