package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

const testSecret = "pipeline-test-secret-0123456789abcdef-0123456789"

// reasonMalformed is the code the fake processor refuses content with: a
// processor's own reason, not one of the pipeline's.
const reasonMalformed = "malformed"

func siteKey(t testing.TB) *sitekey.Key {
	k, err := sitekey.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// testTopology shortens the timers so redeliveries happen within a test.
func testTopology() pipeline.Topology {
	topo := pipeline.DefaultTopology()
	topo.AckWait = 2 * time.Second
	topo.BackOff = []time.Duration{2 * time.Second, 2 * time.Second, 3 * time.Second}
	topo.MaxDeliver = 20
	topo.MaxAckPending = 64
	return topo
}

func testWorkerConfig() pipeline.WorkerConfig {
	return pipeline.WorkerConfig{
		Workers:       4,
		FetchWait:     500 * time.Millisecond,
		Heartbeat:     500 * time.Millisecond,
		ShutdownGrace: 10 * time.Second,
		RetryDelays:   []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second},
		SweepInterval: 300 * time.Millisecond,
		StatsInterval: time.Second,
	}
}

// env is one test's servers, buckets and connections.
type env struct {
	t     *testing.T
	nats  *testenv.NATS
	minio *testenv.MinIO
	nc    *nats.Conn
	js    jetstream.JetStream
	topo  pipeline.Topology
	key   *sitekey.Key
	raw   objstore.Bucket
	deid  objstore.Bucket
	// workerRaw, when set, is the raw bucket as the worker sees it (a
	// wrapper that watches its reads).
	workerRaw objstore.Bucket
	logs      *testenv.Buffer // log output, scanned for identifiers
	log       zerolog.Logger
}

type envOptions struct {
	minio  bool // raw and deid buckets on MinIO (with notifications); else directories
	notify bool
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, topo: testTopology(), key: siteKey(t), logs: &testenv.Buffer{}}
	e.log = zerolog.New(e.logs).With().Timestamp().Logger()
	e.nats = testenv.StartNATS(t)
	e.nc, e.js = connect(t, e.nats.URL)
	if err := pipeline.Setup(ctx(t), e.js, e.topo); err != nil {
		t.Fatal(err)
	}
	if o.minio {
		opts := testenv.MinIOOptions{}
		if o.notify {
			opts.NATS = e.nats
			opts.Subject = e.topo.WorkSubjectFor(pipeline.SourceNotify)
		}
		e.minio = testenv.StartMinIO(t, opts)
		e.raw = e.s3(t, "raw")
		e.deid = e.s3(t, "deid")
		if o.notify {
			if err := e.raw.(*s3store.Store).ConfigureNotification(ctx(t), objstore.NotifyConfig{ARN: testenv.NotifyARN}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		e.raw = dirBucket(t, "raw")
		e.deid = dirBucket(t, "deid")
	}
	return e
}

func (e *env) s3(t *testing.T, bucket string) *s3store.Store {
	s, err := s3store.New(s3store.Config{Endpoint: e.minio.Endpoint, Bucket: bucket, PathStyle: true,
		AccessKey: e.minio.AccessKey, SecretKey: e.minio.SecretKey, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureBucket(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return s
}

func dirBucket(t *testing.T, name string) *dirstore.Store {
	s, err := dirstore.New(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return c
}

func (e *env) put(key string, data []byte) objstore.ObjectInfo {
	e.t.Helper()
	oi, err := e.raw.Put(ctx(e.t), key, bytes.NewReader(data), int64(len(data)), objstore.PutOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return oi
}

// repeatWork publishes the work stream's first n items again, as an object
// store that repeats its notifications sends them.
func (e *env) repeatWork(n uint64) {
	e.t.Helper()
	e.publishWork(e.workItems(n))
}

// workItems reads the work stream's first n items, to publish them again
// later (publishWork), once a worker has taken the originals.
func (e *env) workItems(n uint64) []*jetstream.RawStreamMsg {
	e.t.Helper()
	ws, err := e.js.Stream(ctx(e.t), e.topo.WorkStream)
	if err != nil {
		e.t.Fatal(err)
	}
	var items []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= n; seq++ {
		m, err := ws.GetMsg(ctx(e.t), seq)
		if err != nil {
			e.t.Fatal(err)
		}
		items = append(items, m)
	}
	return items
}

// publishWork publishes work items read by workItems.
func (e *env) publishWork(items []*jetstream.RawStreamMsg) {
	e.t.Helper()
	for _, m := range items {
		if _, err := e.js.Publish(ctx(e.t), m.Subject, m.Data); err != nil {
			e.t.Fatal(err)
		}
	}
}

// runWorker starts a worker; the returned stop cancels it and waits.
func (e *env) runWorker(proc pipeline.Processor, model pipeline.CaseModel, cfg pipeline.WorkerConfig, m *pipeline.Metrics) (stop func()) {
	e.t.Helper()
	nc, js := connect(e.t, e.nats.URL)
	raw := e.raw
	if e.workerRaw != nil {
		raw = e.workerRaw
	}
	w, err := pipeline.NewWorker(ctx(e.t), pipeline.Deps{
		Conn: nc, JS: js, Topology: e.topo,
		Raw:  map[string]objstore.Bucket{e.raw.Name(): raw},
		Deid: e.deid, Processor: proc, Model: model, Key: e.key, Log: e.log, Metrics: m,
	}, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(c) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("worker: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

func (e *env) scan(prefix string) pipeline.ScanStats {
	e.t.Helper()
	s, err := pipeline.NewScanner(ctx(e.t), e.js, e.topo, e.key, e.log, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := s.Scan(ctx(e.t), e.raw, prefix, pipeline.SourceScan)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// event is the fake model's event body.
type event struct {
	Case   string `json:"case"`
	Object string `json:"object,omitempty"`
	Stable bool   `json:"stable,omitempty"`
	Count  int    `json:"count"`
}

// events reads every stored case event.
func (e *env) events() []event {
	e.t.Helper()
	s, err := e.js.Stream(ctx(e.t), e.topo.RegistryStream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx(e.t), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			e.t.Fatal(err)
		}
		var ev event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			e.t.Fatalf("event %d: %v", seq, err)
		}
		out = append(out, ev)
	}
	return out
}

func (e *env) streamMsgs(name string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(ctx(e.t), name)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(ctx(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Msgs
}

// waitFor is testenv.WaitFor.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, cond)
}

// objectEvents counts events per object fact.
func objectEvents(evs []event) map[string]int {
	n := map[string]int{}
	for _, ev := range evs {
		if ev.Object != "" {
			n[ev.Object]++
		}
	}
	return n
}

// fakeProc is a Processor: the case is the key's first path segment
// (hashed); the fact is the object version; one output holds the content's
// SHA-256. Content starting with "BAD" is a permanent failure; with hold
// set, objects whose key contains "slow" block until released.
type fakeProc struct {
	key     *sitekey.Key
	calls   atomic.Int64
	badOK   atomic.Bool // accept BAD content (after a "fix")
	hold    chan struct{}
	started chan struct{}
	once    sync.Once
	rejects atomic.Int64
}

func newFakeProc(k *sitekey.Key) *fakeProc {
	return &fakeProc{key: k, started: make(chan struct{})}
}

func caseOf(k *sitekey.Key, objKey string) string {
	ref, _, _ := strings.Cut(objKey, "/")
	return k.Hex(12, "test/case", ref)
}

func (p *fakeProc) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	p.calls.Add(1)
	if strings.Contains(in.Ref.Key, "slow") && p.hold != nil {
		p.once.Do(func() { close(p.started) })
		select {
		case <-p.hold:
		case <-ctx.Done():
			return pipeline.Result{}, ctx.Err()
		}
	}
	rc, err := in.Open(ctx)
	if err != nil {
		return pipeline.Result{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return pipeline.Result{}, err
	}
	caseID := caseOf(p.key, in.Ref.Key)
	fact := in.ObjectID + "@" + in.ETag
	if bytes.HasPrefix(data, []byte("BAD")) && !p.badOK.Load() {
		return pipeline.Result{CaseID: caseID, Facts: "rejected:" + fact, Kind: "test"},
			pipeline.Permanent(reasonMalformed, errors.New("fake: content marked bad"))
	}
	sum := sha256.Sum256(data)
	return pipeline.Result{
		CaseID:  caseID,
		Facts:   fact,
		Kind:    "test",
		Outputs: []pipeline.Output{bytesOutput(caseID+"/"+in.ObjectID+".sha256", "text/plain", []byte(hex.EncodeToString(sum[:])))},
	}, nil
}

func (p *fakeProc) Reject(ctx context.Context, in pipeline.Input, reason string) (pipeline.Result, error) {
	p.rejects.Add(1)
	return pipeline.Result{CaseID: caseOf(p.key, in.Ref.Key), Facts: "rejected:" + in.ObjectID, Kind: "test"}, nil
}

// fakeModel is a CaseModel: the state is the set of facts; each new fact
// gives one event; a case becomes stable Quiet after its last fact.
type fakeModel struct {
	Quiet time.Duration
}

type fakeState struct {
	Objects []string `json:"objects"`
	Due     int64    `json:"due"`
	Stable  bool     `json:"stable"`
}

func eventID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

func (m fakeModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	var st fakeState
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			return pipeline.Mutation{}, err
		}
	}
	f := facts.(string)
	if slices.Contains(st.Objects, f) {
		return pipeline.Mutation{}, nil
	}
	st.Objects = append(st.Objects, f)
	slices.Sort(st.Objects)
	quiet := m.Quiet
	if quiet == 0 {
		quiet = time.Hour
	}
	st.Due = now.Add(quiet).UnixNano()
	st.Stable = false
	b, _ := json.Marshal(st)
	ev, _ := json.Marshal(event{Case: caseID, Object: f, Count: len(st.Objects)})
	return pipeline.Mutation{State: b, Events: []pipeline.Event{{ID: eventID(caseID, f), Data: ev}}, Timer: time.Unix(0, st.Due)}, nil
}

func (m fakeModel) Tick(caseID string, state []byte, now time.Time) (pipeline.Mutation, error) {
	var st fakeState
	if err := json.Unmarshal(state, &st); err != nil {
		return pipeline.Mutation{}, err
	}
	if st.Stable || st.Due > now.UnixNano() {
		return pipeline.Mutation{}, nil
	}
	st.Stable = true
	b, _ := json.Marshal(st)
	ev, _ := json.Marshal(event{Case: caseID, Stable: true, Count: len(st.Objects)})
	return pipeline.Mutation{State: b, Events: []pipeline.Event{{ID: eventID(caseID, "stable", fmt.Sprint(st.Due)), Data: ev}}}, nil
}

// bytesOutput is an Output held in memory.
func bytesOutput(key, contentType string, b []byte) pipeline.Output {
	return pipeline.Output{Key: key, Size: int64(len(b)), ContentType: contentType, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}
