package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/printreg/printreg/internal/testenv"
	"github.com/printreg/printreg/pkg/pipeline"
)

func (e *env) startChild(t *testing.T, hold bool, startFile string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), testenv.ServerEnv(e.nats.URL, e.minio)...),
		envChild+"=worker",
		envStartFile+"="+startFile,
	)
	if hold {
		cmd.Env = append(cmd.Env, envHoldSlow+"=1")
	}
	var out testenv.Buffer
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("child worker output:\n%s", out.String())
		}
	})
	return cmd
}

// TestWorkerKilledMidObject: a worker process is killed with SIGKILL while
// it holds an object; a new process takes over; every object is counted
// once and no event is lost.
func TestWorkerKilledMidObject(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, notify: true})
	started := filepath.Join(t.TempDir(), "started")
	child := e.startChild(t, true, started)
	const n = 8
	for i := range n {
		e.put(fmt.Sprintf("acc-%d/obj-%d.dcm", i%2, i), fmt.Appendf(nil, "o%d", i))
	}
	e.put("acc-0/slow-series.dcm", []byte("slow object"))
	waitFor(t, "the child to hold the slow object", func() bool { _, err := os.Stat(started); return err == nil })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	// A second process, same consumer, no slowness.
	e.startChild(t, false, "")
	waitFor(t, "all objects' events", func() bool { return len(objectEvents(e.events())) == n+1 })
	waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
	for obj, c := range objectEvents(e.events()) {
		if c != 1 {
			t.Errorf("object %s has %d events", obj, c)
		}
	}
	if len(e.events()) != n+1 {
		t.Errorf("%d events, want %d", len(e.events()), n+1)
	}
	if got := e.streamMsgs(e.topo.DLQStream); got != 0 {
		t.Errorf("%d DLQ entries", got)
	}
}

// TestNATSRestartMidRun: nats-server restarts while objects keep arriving;
// the worker reconnects by itself, MinIO delivers the notifications it
// queued meanwhile, and every object is processed once.
func TestNATSRestartMidRun(t *testing.T) {
	e := newEnv(t, envOptions{minio: true, notify: true})
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	for i := range 4 {
		e.put(fmt.Sprintf("acc-a/before-%d.dcm", i), fmt.Appendf(nil, "b%d", i))
	}
	waitFor(t, "objects before the restart", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 4 })
	e.nats.Stop()
	for i := range 4 {
		e.put(fmt.Sprintf("acc-b/during-%d.dcm", i), fmt.Appendf(nil, "d%d", i))
	}
	e.nats.Start(t)
	for i := range 4 {
		e.put(fmt.Sprintf("acc-c/after-%d.dcm", i), fmt.Appendf(nil, "a%d", i))
	}
	waitFor(t, "all objects after the restart", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 12 })
	for obj, c := range objectEvents(e.events()) {
		if c != 1 {
			t.Errorf("object %s has %d events", obj, c)
		}
	}
	if got := len(e.events()); got != 12 {
		t.Errorf("%d events, want 12", got)
	}
}

// TestMinIOUnavailableThenBack: reads fail while MinIO is down; items are
// retried with backoff and succeed once it is back, with nothing
// dead-lettered.
func TestMinIOUnavailableThenBack(t *testing.T) {
	e := newEnv(t, envOptions{minio: true})
	for i := range 5 {
		e.put(fmt.Sprintf("acc-m/%d.dcm", i), fmt.Appendf(nil, "m%d", i))
	}
	if st := e.scan(""); st.Enqueued != 5 {
		t.Fatalf("scan = %+v", st)
	}
	e.minio.Stop()
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	waitFor(t, "retries while MinIO is down", func() bool { return m.Objects(pipeline.OutcomeRetried) >= 10 })
	e.minio.Start(t)
	waitFor(t, "all objects processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 5 })
	if got := e.streamMsgs(e.topo.DLQStream); got != 0 {
		t.Errorf("%d DLQ entries", got)
	}
	if got := len(e.events()); got != 5 {
		t.Errorf("%d events, want 5", got)
	}
}

// TestGracefulShutdown: on shutdown an in-flight object is finished (and
// acknowledged) when it completes within the grace period, and handed back
// to another worker when it does not.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.put("acc-g/slow-1.dcm", []byte("one"))
	e.scan("")
	proc := newFakeProc(e.key)
	proc.hold = make(chan struct{})
	m := pipeline.NewMetrics("test")
	stop := e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	<-proc.started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	close(proc.hold) // the object completes during the grace period
	<-stopped
	if got := m.Objects(pipeline.OutcomeProcessed); got != 1 {
		t.Fatalf("%v processed before the worker stopped, want 1", got)
	}
	if got := e.streamMsgs(e.topo.WorkStream); got != 0 {
		t.Errorf("work stream holds %d items after a clean stop", got)
	}

	// Grace too short: the object is handed back and a new worker takes it.
	e.put("acc-g/slow-2.dcm", []byte("two"))
	e.scan("")
	proc2 := newFakeProc(e.key)
	proc2.hold = make(chan struct{})
	cfg := testWorkerConfig()
	cfg.ShutdownGrace = 200 * time.Millisecond
	m2 := pipeline.NewMetrics("test")
	stop2 := e.runWorker(proc2, fakeModel{}, cfg, m2)
	<-proc2.started
	stop2()
	if got := m2.Objects(pipeline.OutcomeProcessed); got != 0 {
		t.Fatalf("the held object was processed")
	}
	m3 := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m3)
	waitFor(t, "the handed-back object processed", func() bool { return m3.Objects(pipeline.OutcomeProcessed) == 1 })
	if got := len(e.events()); got != 2 {
		t.Errorf("%d events, want 2", got)
	}
}

// TestInboxTakesStableFiles: a file still growing is not taken; once its
// size and time stay unchanged it is enqueued exactly once.
func TestInboxTakesStableFiles(t *testing.T) {
	e := newEnv(t, envOptions{})
	s, err := pipeline.NewScanner(ctx(t), e.js, e.topo, e.key, e.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &pipeline.Inbox{Bucket: e.raw, Scanner: s, Poll: 100 * time.Millisecond, Stable: 2 * time.Second, Log: e.log}
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- in.Run(c) }()
	defer func() { cancel(); <-done }()
	dir := e.raw.(interface{ Dir() string }).Dir()
	path := filepath.Join(dir, "acc-i", "growing.stl")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		fmt.Fprintf(f, "chunk %d\n", i)
		time.Sleep(50 * time.Millisecond)
		if got := e.streamMsgs(e.topo.WorkStream); got != 0 {
			t.Fatalf("a growing file was enqueued after %d chunks", i)
		}
	}
	f.Close()
	waitFor(t, "the stable file enqueued", func() bool { return e.streamMsgs(e.topo.WorkStream) == 1 })
	m := pipeline.NewMetrics("test")
	e.runWorker(newFakeProc(e.key), fakeModel{}, testWorkerConfig(), m)
	waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
	time.Sleep(500 * time.Millisecond) // several more polls; nothing new may be enqueued
	if got := m.Objects(pipeline.OutcomeDuplicate) + e.float(e.streamMsgs(e.topo.WorkStream)); got != 0 {
		t.Errorf("the file was enqueued again (%v)", got)
	}
}

func (e *env) float(n uint64) float64 { return float64(n) }
