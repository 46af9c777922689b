package pipeline_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/s3store"
	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Environment of the cluster worker subprocess (see clusterChild).
const (
	envTrace = "PRINTREG_TEST_TRACE" // file the processor appends "<unix ns> <object>" to per call
	envDelay = "PRINTREG_TEST_DELAY" // time the processor spends on each object
)

// clusterTopology is testTopology on a three-node cluster.
func clusterTopology() pipeline.Topology {
	topo := testTopology()
	topo.Replicas = 3
	return topo
}

// clusterWorkerConfig is the child's worker configuration: the production
// object timeout, so that a request left waiting on a dead leader would hold
// its slot for good, and short request timeouts.
func clusterWorkerConfig() pipeline.WorkerConfig {
	cfg := testWorkerConfig()
	cfg.ObjectTimeout = 30 * time.Minute
	cfg.RequestTimeout = 2 * time.Second
	cfg.StallAfter = 5 * time.Second
	return cfg
}

// clusterChild runs a worker against the cluster ServerEnv names (a server list)
// with the fake processor, which spends envDelay on each object and traces
// each call to envTrace, until SIGTERM or SIGKILL.
func clusterChild() int {
	log := zerolog.New(os.Stderr).With().Timestamp().Int("pid", os.Getpid()).Logger()
	fail := func(err error) int { log.Error().Err(err).Msg("cluster worker"); return 1 }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, err := testenv.ConnectServers()
	if err != nil {
		return fail(err)
	}
	defer srv.NC.Close()
	key, err := sitekey.New([]byte(testSecret))
	if err != nil {
		return fail(err)
	}
	trace, err := os.OpenFile(os.Getenv(envTrace), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	defer trace.Close()
	delay, _ := time.ParseDuration(os.Getenv(envDelay))
	proc := &tracedProc{fakeProc: newFakeProc(key), trace: trace, delay: delay}
	w, err := pipeline.NewWorker(ctx, pipeline.Deps{
		Conn: srv.NC, JS: srv.JS, Topology: clusterTopology(),
		Raw: map[string]objstore.Bucket{"raw": srv.Raw}, Deid: srv.Deid,
		Processor: proc, Model: fakeModel{}, Key: key, Log: log,
	}, clusterWorkerConfig())
	if err != nil {
		return fail(err)
	}
	log.Info().Msg("cluster worker started")
	if err := w.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// tracedProc is the fake processor, slowed down and traced.
type tracedProc struct {
	*fakeProc
	mu    sync.Mutex
	trace *os.File
	delay time.Duration
}

func (p *tracedProc) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	p.mu.Lock()
	fmt.Fprintf(p.trace, "%d %s\n", time.Now().UnixNano(), in.ObjectID)
	p.mu.Unlock()
	select {
	case <-time.After(p.delay):
	case <-ctx.Done():
		return pipeline.Result{}, ctx.Err()
	}
	return p.fakeProc.Process(ctx, in)
}

// clusterWorker is one worker process of the failover test.
type clusterWorker struct {
	t     *testing.T
	name  string
	env   []string
	log   string
	trace string
	cmd   *exec.Cmd
	lf    *os.File
	done  chan struct{}
}

func (w *clusterWorker) start() {
	w.t.Helper()
	lf, err := os.OpenFile(w.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	fmt.Fprintf(lf, "==== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), w.env...)
	cmd.Stderr = lf
	cmd.Stdout = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		w.t.Fatal(err)
	}
	w.cmd, w.lf, w.done = cmd, lf, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); lf.Close(); close(done) }(w.done)
}

// exited reports whether the process ended by itself.
func (w *clusterWorker) exited() bool {
	if w.cmd == nil {
		return false
	}
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

func (w *clusterWorker) kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	w.cmd = nil
}

func (w *clusterWorker) tail(n int) string {
	b, _ := os.ReadFile(w.log)
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// call is one processor call: when, and for which object (ObjectID).
type call struct {
	at  time.Time
	obj string
}

// traces reads every processor call of every worker, in time order.
func traces(t *testing.T, files ...string) []call {
	t.Helper()
	var out []call
	for _, f := range files {
		fh, err := os.Open(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			ns, obj, _ := strings.Cut(sc.Text(), " ")
			if n, err := strconv.ParseInt(ns, 10, 64); err == nil && obj != "" {
				out = append(out, call{at: time.Unix(0, n), obj: obj})
			}
		}
		fh.Close()
	}
	slices.SortFunc(out, func(a, b call) int { return a.at.Compare(b.at) })
	return out
}

// longestWait returns the longest time within [from, to] during which some
// object had been uploaded (uploaded: ObjectID → time) and not yet handed
// to the processor, while no processor call happened at all: the time the
// workers fetched nothing although there was work.
func longestWait(calls []call, uploaded map[string]time.Time, from, to time.Time) time.Duration {
	type ev struct {
		at     time.Time
		upload bool
		obj    string
	}
	started := map[string]bool{}
	var evs []ev
	for obj, at := range uploaded {
		evs = append(evs, ev{at: at, upload: true, obj: obj})
	}
	for _, c := range calls {
		evs = append(evs, ev{at: c.at, obj: c.obj})
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.at.Compare(b.at) })
	waiting := 0
	var since time.Time // start of the current wait (zero: none)
	var longest time.Duration
	for _, e := range evs {
		if e.at.After(to) {
			break
		}
		if e.upload {
			if _, ok := uploaded[e.obj]; ok && !started[e.obj] {
				if waiting == 0 {
					since = e.at
				}
				waiting++
			}
			continue
		}
		if !since.IsZero() {
			longest = max(longest, e.at.Sub(maxTime(since, from)))
		}
		if _, ok := uploaded[e.obj]; ok && !started[e.obj] && !e.at.Before(uploaded[e.obj]) {
			started[e.obj] = true
			waiting--
		}
		since = time.Time{}
		if waiting > 0 {
			since = e.at
		}
	}
	return longest
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// quickCount returns a stream's message count, or -1 when the cluster does
// not answer within two seconds (the test's own requests must not wait on
// a dead leader either).
func quickCount(js jetstream.JetStream, stream string) int {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(c, stream)
	if err != nil {
		return -1
	}
	info, err := s.Info(c)
	if err != nil {
		return -1
	}
	return int(info.State.Msgs)
}

// TestClusterFailover reproduces the operator's failover drill on a
// three-node JetStream cluster, streams and buckets at three replicas, with
// MinIO notifications and two worker processes, for ten rounds: a burst of
// objects for two cases is uploaded; once the workers are at it, the node
// leading the work stream is killed (SIGKILL), a second later one worker
// is killed too, two seconds later both are started again (MinIO is
// restarted as well every third round). Each round must finish: the
// surviving worker must not sit on slots held by requests to the dead
// leader. The longest time without a processor call after each kill is
// logged and bounded. At the end a scan enqueues whatever a notification
// missed, and every object must be in exactly one place: one event and a
// processed marker, or one DLQ entry.
func TestClusterFailover(t *testing.T) {
	const (
		rounds   = 10
		perRound = 40
		// maxGap bounds the time without a processor call after a kill:
		// an election (the raft election timeout is 4 to 9 s) plus one
		// request timeout and a redelivery, with room for a slow machine.
		maxGap = 25 * time.Second
	)
	c := testenv.StartCluster(t, 3)
	e := &env{t: t, topo: clusterTopology(), key: siteKey(t), logs: &testenv.Buffer{}}
	e.log = zerolog.New(e.logs).With().Timestamp().Logger()
	e.nc, e.js = c.Connect(t)
	if err := pipeline.Setup(ctx(t), e.js, e.topo); err != nil {
		t.Fatal(err)
	}
	e.minio = testenv.StartMinIO(t, testenv.MinIOOptions{NATS: c.Nodes[0], Subject: e.topo.WorkSubjectFor(pipeline.SourceNotify)})
	e.raw = e.s3(t, "raw")
	e.deid = e.s3(t, "deid")
	if err := e.raw.(*s3store.Store).ConfigureNotification(ctx(t), objstore.NotifyConfig{ARN: testenv.NotifyARN}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var workers [2]*clusterWorker
	var traceFiles []string
	for i := range workers {
		w := &clusterWorker{t: t, name: fmt.Sprintf("worker-%d", i),
			log: filepath.Join(dir, fmt.Sprintf("worker-%d.log", i)), trace: filepath.Join(dir, fmt.Sprintf("worker-%d.trace", i))}
		w.env = append(testenv.ServerEnv(c.URL(), e.minio),
			envChild+"=cluster-worker",
			envTrace+"="+w.trace,
			envDelay+"=200ms",
		)
		w.start()
		workers[i] = w
		traceFiles = append(traceFiles, w.trace)
	}
	t.Cleanup(func() {
		for _, w := range workers {
			w.kill()
			if t.Failed() {
				t.Logf("%s log (last lines):\n%s", w.name, w.tail(60))
			}
		}
	})

	var keys []string
	uploaded := map[string]time.Time{}
	var worst time.Duration
	for round := range rounds {
		before := len(traces(t, traceFiles...))
		wantEvents := len(keys)
		upload := func(from, to int) {
			for j := from; j < to; j++ {
				ref := "acc-ct"
				if j%4 == 0 {
					ref = "acc-study"
				}
				key := fmt.Sprintf("%s/r%02d-%03d.dcm", ref, round, j)
				e.put(key, []byte(key))
				uploaded[pipeline.ObjectID(e.key, "raw", key)] = time.Now()
				keys = append(keys, key)
			}
		}
		upload(0, perRound/2)
		waitFor(t, "the workers at the burst", func() bool { return len(traces(t, traceFiles...)) >= before+3 })
		lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		leader, err := c.StreamLeader(lctx, e.js, e.topo.WorkStream)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		leader.Kill()
		time.Sleep(time.Second)
		victim := workers[round%2]
		victim.kill()
		time.Sleep(2 * time.Second)
		leader.Start(t)
		victim.start()
		minioRestarted := round%3 == 2
		if minioRestarted {
			e.minio.Restart(t)
		}
		// The second half arrives while the restarted node catches up.
		upload(perRound/2, perRound)
		want := wantEvents + perRound
		roundDone := func(within time.Duration) bool {
			deadline := time.Now().Add(within)
			for {
				ev, dlq := quickCount(e.js, e.topo.RegistryStream), quickCount(e.js, e.topo.DLQStream)
				if ev >= 0 && dlq >= 0 && ev+dlq >= want {
					return true
				}
				for _, w := range workers {
					if w.exited() {
						t.Fatalf("round %d: %s exited", round, w.name)
					}
				}
				if time.Now().After(deadline) {
					t.Logf("round %d: %d events and %d DLQ entries of %d after %s", round, ev, dlq, want, within)
					return false
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		var scanned time.Time
		if minioRestarted {
			// MinIO may drop a notification across its restart; the
			// operator's answer is a scan, once the cluster is whole.
			if !roundDone(8 * time.Second) {
				c.WaitHealthy(t)
				scanned = time.Now()
				st := scan(t, e)
				t.Logf("round %d: scan after the MinIO restart: %+v", round, st)
			}
		}
		if !roundDone(90 * time.Second) {
			t.Fatalf("round %d: objects not done 90 s after the kill of %s", round, leader.Name)
		}
		calls := traces(t, traceFiles...)
		fetchable := uploaded
		if !scanned.IsZero() {
			// Objects first handed to the processor after the scan were
			// lost by MinIO: the workers could not fetch them before.
			first := map[string]time.Time{}
			for _, c := range calls {
				if _, ok := first[c.obj]; !ok {
					first[c.obj] = c.at
				}
			}
			fetchable = map[string]time.Time{}
			for obj, at := range uploaded {
				if f, ok := first[obj]; ok && f.Before(scanned) {
					fetchable[obj] = at
				}
			}
		}
		gap := longestWait(calls, fetchable, killed, time.Now())
		worst = max(worst, gap)
		t.Logf("round %d: killed %s (work stream leader)%s; longest time with work waiting and no processor call: %s; round done %s after the kill",
			round, leader.Name, map[bool]string{true: ", restarted MinIO"}[minioRestarted], gap.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
		if gap > maxGap {
			t.Errorf("round %d: work waited %s with no processor call after the leader change (bound %s)", round, gap.Round(time.Millisecond), maxGap)
		}
		c.WaitHealthy(t)
	}
	t.Logf("%d rounds: longest time with work waiting and no processor call after a leader change: %s", rounds, worst.Round(time.Millisecond))

	// Like the operator: a scan once the uploads are done.
	t.Logf("final scan: %+v", scan(t, e))
	waitFor(t, "the work stream drained", func() bool { return quickCount(e.js, e.topo.WorkStream) == 0 })
	checkExactlyOnce(t, e, keys)
}

// scan enqueues what has no marker, with bounded requests.
func scan(t *testing.T, e *env) pipeline.ScanStats {
	t.Helper()
	js := pipeline.WithRequestTimeout(e.js, 2*time.Second, e.log)
	s, err := pipeline.NewScanner(ctx(t), js, e.topo, e.key, e.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Scan(ctx(t), e.raw, "", pipeline.SourceScan)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkExactlyOnce: every key has one event and a processed marker, or one
// DLQ entry; nothing else is in the registry or the DLQ.
func checkExactlyOnce(t *testing.T, e *env, keys []string) {
	t.Helper()
	objEvents := objectEvents(e.events())
	dlq := map[string]int{}
	ds, err := e.js.Stream(ctx(t), e.topo.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	dinfo, err := ds.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for seq := dinfo.State.FirstSeq; seq <= dinfo.State.LastSeq && dinfo.State.Msgs > 0; seq++ {
		m, err := ds.GetMsg(ctx(t), seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		dlq[m.Header.Get(pipeline.HeaderObject)]++
		t.Logf("DLQ entry: reason %s, error %s", m.Header.Get(pipeline.HeaderReason), m.Header.Get(pipeline.HeaderError))
	}
	kv, err := e.js.KeyValue(ctx(t), e.topo.ProcessedBucket)
	if err != nil {
		t.Fatal(err)
	}
	processed, inDLQ := 0, 0
	for _, key := range keys {
		obj := pipeline.ObjectID(e.key, "raw", key)
		info, err := e.raw.Stat(ctx(t), key)
		if err != nil {
			t.Fatal(err)
		}
		fact := obj + "@" + info.ETag
		n, d := objEvents[fact], dlq[obj]
		delete(objEvents, fact)
		delete(dlq, obj)
		switch {
		case n == 1 && d == 0:
			processed++
			vid := pipeline.VersionID(e.key, pipeline.ObjectRef{Bucket: "raw", Key: key, ETag: info.ETag})
			var mk pipeline.Marker
			entry, err := kv.Get(ctx(t), "o."+obj)
			if err == nil {
				err = json.Unmarshal(entry.Value(), &mk)
			}
			if err != nil || mk.Version != vid || mk.Outcome != pipeline.OutcomeProcessed {
				t.Errorf("object %s: processed but its marker is %+v (%v)", obj, mk, err)
			}
		case n == 0 && d == 1:
			inDLQ++
		default:
			t.Errorf("object %s: %d events and %d DLQ entries, want exactly one of the two", obj, n, d)
		}
	}
	for fact, n := range objEvents {
		t.Errorf("event for an object never uploaded: %s (%d)", fact, n)
	}
	for obj, n := range dlq {
		t.Errorf("DLQ entry for no uploaded object: %q (%d)", obj, n)
	}
	t.Logf("%d objects: %d processed once, %d in the DLQ", len(keys), processed, inDLQ)
}

// TestWorkerStartsDuringElection: a worker started while the cluster has
// no quorum, or right after the leader of a bucket it opens was killed,
// waits for JetStream (and says so) instead of exiting, and works once the
// cluster answers; only a bucket that does not exist fails at once, and
// names `ingest setup`.
func TestWorkerStartsDuringElection(t *testing.T) {
	c := testenv.StartCluster(t, 3)
	e := &env{t: t, topo: clusterTopology(), key: siteKey(t), logs: &testenv.Buffer{}}
	e.log = zerolog.New(e.logs).With().Timestamp().Logger()
	var raw jetstream.JetStream
	e.nc, raw = c.Connect(t)
	e.js = pipeline.WithRequestTimeout(raw, 2*time.Second, e.log)
	if err := pipeline.Setup(ctx(t), raw, e.topo); err != nil {
		t.Fatal(err)
	}
	e.raw = dirBucket(t, "raw")
	e.deid = dirBucket(t, "deid")
	cfg := testWorkerConfig()
	cfg.RequestTimeout = time.Second
	newWorker := func(c2 context.Context, topo pipeline.Topology, m *pipeline.Metrics) (*pipeline.Worker, error) {
		nc, js := c.Connect(t)
		return pipeline.NewWorker(c2, pipeline.Deps{
			Conn: nc, JS: js, Topology: topo,
			Raw: map[string]objstore.Bucket{e.raw.Name(): e.raw}, Deid: e.deid,
			Processor: newFakeProc(e.key), Model: fakeModel{}, Key: e.key, Log: e.log, Metrics: m,
		}, cfg)
	}

	// No quorum: two of the three nodes are down.
	c.Nodes[1].Kill()
	c.Nodes[2].Kill()
	type started struct {
		w   *pipeline.Worker
		err error
	}
	res := make(chan started, 1)
	m := pipeline.NewMetrics("test")
	go func() {
		w, err := newWorker(ctx(t), e.topo, m)
		res <- started{w, err}
	}()
	waitFor(t, "the worker saying it waits", func() bool { return strings.Contains(e.logs.String(), "waiting for JetStream") })
	select {
	case r := <-res:
		t.Fatalf("the worker did not wait for the cluster: %v", r.err)
	case <-time.After(time.Second):
	}
	back := time.Now()
	c.Nodes[1].Start(t)
	c.Nodes[2].Start(t)
	var r started
	select {
	case r = <-res:
	case <-time.After(90 * time.Second):
		t.Fatal("the worker did not start within 90 s of the cluster's return")
	}
	if r.err != nil {
		t.Fatalf("worker start after the cluster came back: %v", r.err)
	}
	t.Logf("the worker started %s after the nodes came back", time.Since(back).Round(time.Millisecond))
	run, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(run) }()
	e.put("acc-e/one.dcm", []byte("one"))
	e.scan("")
	waitFor(t, "the object processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Right after the leader of the cases bucket is killed.
	c.WaitHealthy(t)
	lctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	leader, err := c.StreamLeader(lctx, raw, "KV_"+e.topo.CasesBucket)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	start := time.Now()
	if _, err := newWorker(ctx(t), e.topo, nil); err != nil {
		t.Fatalf("worker start while the cases bucket elects a leader: %v", err)
	}
	t.Logf("the worker started %s after the kill of the cases bucket's leader", time.Since(start).Round(time.Millisecond))
	leader.Start(t)

	// A bucket that does not exist: at once, and `ingest setup` is named.
	topo := e.topo
	topo.CasesBucket = "PRINTREG_CASES_NONE"
	start = time.Now()
	_, err = newWorker(ctx(t), topo, nil)
	if err == nil || !strings.Contains(err.Error(), "ingest setup") {
		t.Fatalf("missing bucket: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("a missing bucket took %s to report", d)
	}
}

// TestWorkerReportsStuckSlots: when every slot is held and none frees for
// StallAfter while items wait, the worker warns and /readyz says why; once
// a slot frees it is ready again.
func TestWorkerReportsStuckSlots(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := range 4 {
		e.put(fmt.Sprintf("acc-s/slow-%d.dcm", i), fmt.Appendf(nil, "s%d", i))
	}
	e.scan("")
	proc := newFakeProc(e.key)
	proc.hold = make(chan struct{})
	cfg := testWorkerConfig()
	cfg.Workers = 2
	cfg.StallAfter = 500 * time.Millisecond
	cfg.StatsInterval = 200 * time.Millisecond
	nc, js := connect(t, e.nats.URL)
	m := pipeline.NewMetrics("test")
	w, err := pipeline.NewWorker(ctx(t), pipeline.Deps{
		Conn: nc, JS: js, Topology: e.topo,
		Raw: map[string]objstore.Bucket{e.raw.Name(): e.raw}, Deid: e.deid,
		Processor: proc, Model: fakeModel{}, Key: e.key, Log: e.log, Metrics: m,
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(run) }()
	defer func() { stop(); <-done }()
	admin := pipeline.AdminHandler(m, pipeline.Check{Name: "worker", Fn: func(context.Context) error { return w.Ready() }})
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	<-proc.started
	waitFor(t, "/readyz to report the stall", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "stalled: all 2 worker slots taken")
	})
	_, body := readyz()
	t.Logf("/readyz: %s", strings.TrimSpace(body))
	waitFor(t, "the stall warning", func() bool {
		return strings.Contains(e.logs.String(), "every worker slot is taken and none has freed while work waits")
	})
	close(proc.hold)
	waitFor(t, "every object processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 4 })
	waitFor(t, "/readyz ready again", func() bool { code, _ := readyz(); return code == http.StatusOK })
}
