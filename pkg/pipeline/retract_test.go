package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
)

// retractProc is fakeProc with retraction: the token is the object's fact
// (its ObjectID and ETag, no identifiers), and Retract returns the fact
// "retract:<token>" for the case it was given.
type retractProc struct {
	*fakeProc
	mu       sync.Mutex
	retracts []pipeline.Retraction
	// failures makes the next Retract calls fail transiently; refuse makes
	// Retract fail permanently; afterCase makes the next AfterCase calls
	// fail (a crash after the case update, as the worker sees it).
	failures  atomic.Int32
	refuse    atomic.Bool
	afterCase atomic.Int32
	// caseless makes refusals reach no case: BAD content is refused with
	// no case, and Reject finds none.
	caseless atomic.Bool
}

func newRetractProc(e *env) *retractProc { return &retractProc{fakeProc: newFakeProc(e.key)} }

func (p *retractProc) Process(ctx context.Context, in pipeline.Input) (pipeline.Result, error) {
	res, err := p.fakeProc.Process(ctx, in)
	if err != nil && p.caseless.Load() {
		return pipeline.Result{}, err
	}
	res.Token = in.ObjectID + "@" + in.ETag
	return res, err
}

func (p *retractProc) Reject(ctx context.Context, in pipeline.Input, reason string) (pipeline.Result, error) {
	if p.caseless.Load() {
		return pipeline.Result{}, nil
	}
	return p.fakeProc.Reject(ctx, in, reason)
}

func (p *retractProc) Retract(ctx context.Context, r pipeline.Retraction) (pipeline.Result, error) {
	p.mu.Lock()
	p.retracts = append(p.retracts, r)
	p.mu.Unlock()
	if p.failures.Load() > 0 {
		p.failures.Add(-1)
		return pipeline.Result{}, errors.New("fake: retraction store unavailable")
	}
	if p.refuse.Load() {
		return pipeline.Result{Kind: "test"}, pipeline.Permanent("retract_refused", errors.New("fake: retraction refused"))
	}
	res := pipeline.Result{CaseID: r.CaseID, Facts: "retract:" + r.Token, Kind: "test"}
	res.AfterCase = func(context.Context) error {
		if p.afterCase.Load() > 0 {
			p.afterCase.Add(-1)
			return errors.New("fake: lost after the case update")
		}
		return nil
	}
	return res, nil
}

func (p *retractProc) calls() []pipeline.Retraction {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.retracts)
}

// retractModel is a CaseModel whose state is a set of facts: "retract:F"
// takes F out. Every change has an event of its own (the generation is in
// its id), so a fact added again after its retraction is announced again.
type retractModel struct{}

type retractState struct {
	Objects []string `json:"objects"`
	Gen     int      `json:"gen"`
}

func (retractModel) Apply(caseID string, state []byte, facts any, now time.Time) (pipeline.Mutation, error) {
	var st retractState
	if state != nil {
		if err := json.Unmarshal(state, &st); err != nil {
			return pipeline.Mutation{}, err
		}
	}
	f := facts.(string)
	obj, retract := strings.CutPrefix(f, "retract:")
	i := slices.Index(st.Objects, obj)
	switch {
	case retract && i < 0, !retract && i >= 0:
		return pipeline.Mutation{}, nil // a join: nothing changes
	case retract:
		st.Objects = slices.Delete(st.Objects, i, i+1)
	default:
		st.Objects = append(st.Objects, obj)
		slices.Sort(st.Objects)
	}
	st.Gen++
	b, _ := json.Marshal(st)
	ev, _ := json.Marshal(event{Case: caseID, Object: f, Count: len(st.Objects)})
	return pipeline.Mutation{State: b, Events: []pipeline.Event{{ID: eventID(caseID, f, fmt.Sprint(st.Gen)), Data: ev}}}, nil
}

func (retractModel) Tick(string, []byte, time.Time) (pipeline.Mutation, error) {
	return pipeline.Mutation{}, nil
}

// caseObjects reads the case's state: the facts it holds.
func (e *env) caseObjects(caseID string) []string {
	e.t.Helper()
	cs, err := pipeline.OpenCaseStore(ctx(e.t), e.js, e.topo, nil, e.log)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := cs.Get(ctx(e.t), caseID)
	if err != nil {
		e.t.Fatal(err)
	}
	var st retractState
	if b != nil {
		if err := json.Unmarshal(b, &st); err != nil {
			e.t.Fatal(err)
		}
	}
	return st.Objects
}

// markers reports whether the object marker of key exists, and whether it
// names the version (etag).
func (e *env) markers(key, etag string) (object, version bool) {
	e.t.Helper()
	kv, err := e.js.KeyValue(ctx(e.t), e.topo.ProcessedBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	entry, err := kv.Get(ctx(e.t), "o."+pipeline.ObjectID(e.key, e.raw.Name(), key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var mk pipeline.Marker
	if err := json.Unmarshal(entry.Value(), &mk); err != nil {
		e.t.Fatal(err)
	}
	return true, mk.Version == pipeline.VersionID(e.key, pipeline.ObjectRef{Bucket: e.raw.Name(), Key: key, ETag: etag})
}

func (e *env) del(key string) {
	e.t.Helper()
	if err := e.raw.Delete(ctx(e.t), key); err != nil {
		e.t.Fatal(err)
	}
}

// publishRemoval enqueues a removal work item by hand.
func (e *env) publishRemoval(key string, deleted time.Time) {
	e.t.Helper()
	body := fmt.Sprintf(`{"v":1,"object":{"bucket":%q,"key":%q},"removed":true,"deleted":%q}`, e.raw.Name(), key, deleted.UTC().Format(time.RFC3339Nano))
	if _, err := e.js.Publish(ctx(e.t), e.topo.WorkSubjectFor(pipeline.SourceScan), []byte(body)); err != nil {
		e.t.Fatal(err)
	}
}

// TestRetractDeletedObjects: an object deleted from the raw bucket (MinIO,
// removal notifications) leaves its case, once, and the same bytes put
// again are processed anew; removals that find nothing to retract change
// nothing.
func TestRetractDeletedObjects(t *testing.T) {
	const key = "ACC-CANARY-4411/MRN-CANARY-1 model.stl"
	content := []byte("solid x\nendsolid x\n")
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func())
	}{
		{"processed then deleted", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			start()
			oi := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			if o, v := e.markers(key, oi.ETag); !o || !v {
				t.Fatalf("after processing: object marker %v, naming the version %v", o, v)
			}
			caseID := caseOf(e.key, key)
			fact := pipeline.ObjectID(e.key, "raw", key) + "@" + oi.ETag
			e.del(key)
			waitFor(t, "retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
			calls := p.calls()
			if len(calls) != 1 {
				t.Fatalf("Retract called %d times, want 1", len(calls))
			}
			r := calls[0]
			if r.CaseID != caseID || r.Token != fact || r.ObjectID != pipeline.ObjectID(e.key, "raw", key) ||
				r.Ref.Bucket != "raw" || r.Ref.Key != key || r.Deleted.IsZero() || time.Since(r.Deleted) > time.Minute {
				t.Errorf("Retraction = %+v", r)
			}
			if got := e.caseObjects(caseID); len(got) != 0 {
				t.Errorf("case still holds %v", got)
			}
			if o, v := e.markers(key, oi.ETag); o || v {
				t.Errorf("after retraction: object marker %v, naming the version %v", o, v)
			}
			// The same bytes again: processed anew, back in the case.
			e.put(key, content)
			waitFor(t, "processed again", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 2 })
			if c := p.fakeProc.calls.Load(); c != 2 {
				t.Errorf("Process called %d times, want 2", c)
			}
			if got := e.caseObjects(caseID); !slices.Equal(got, []string{fact}) {
				t.Errorf("case holds %v, want the object again", got)
			}
			waitFor(t, "three events (added, retracted, added)", func() bool { return len(e.events()) == 3 })
		}},
		{"never processed", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			e.put(key, content)
			e.del(key) // both notifications wait for the worker
			start()
			waitFor(t, "creation found gone", func() bool { return m.Objects(pipeline.OutcomeGone) == 1 })
			waitFor(t, "removal ignored", func() bool { return m.Objects(pipeline.OutcomeIgnored) == 1 })
			if n := len(p.calls()); n != 0 {
				t.Errorf("Retract called %d times", n)
			}
		}},
		{"deleted then created again", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			stop := start()
			oi := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			stop()
			e.del(key)
			e.put(key, content)
			start()
			waitFor(t, "removal superseded", func() bool { return m.Objects(pipeline.OutcomeSuperseded) == 1 })
			waitFor(t, "work stream drained", func() bool { return e.streamMsgs(e.topo.WorkStream) == 0 })
			if n := len(p.calls()); n != 0 {
				t.Errorf("Retract called %d times", n)
			}
			if o, v := e.markers(key, oi.ETag); !o || !v {
				t.Errorf("object marker %v, naming the version %v; want it kept", o, v)
			}
			if got := e.caseObjects(caseOf(e.key, key)); len(got) != 1 {
				t.Errorf("case holds %v, want the object", got)
			}
		}},
		{"stale removal of an earlier version", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			// A removal seen before the version now marked landed is not
			// that version's: it is skipped; the version's own removal
			// retracts it.
			stop := start()
			e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			stop()
			e.publishRemoval(key, time.Now().Add(-time.Hour))
			e.del(key)
			start()
			waitFor(t, "retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
			if got := m.Objects(pipeline.OutcomeSuperseded); got != 1 {
				t.Errorf("%v superseded, want the stale removal", got)
			}
			if n := len(p.calls()); n != 1 {
				t.Errorf("Retract called %d times, want 1", n)
			}
		}},
		{"retried after a failure past the case update", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			start()
			oi := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			p.failures.Store(1)
			p.afterCase.Store(1)
			e.del(key)
			waitFor(t, "retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
			// Failed in Retract, failed after the case update, then done:
			// the second retraction of the case changed nothing.
			if n := len(p.calls()); n != 3 {
				t.Errorf("Retract called %d times, want 3", n)
			}
			if got := m.Objects(pipeline.OutcomeRetried); got != 2 {
				t.Errorf("%v retries, want 2", got)
			}
			waitFor(t, "two events", func() bool { return len(e.events()) == 2 })
			time.Sleep(300 * time.Millisecond)
			if n := len(e.events()); n != 2 {
				t.Errorf("%d events, want 2 (added, retracted once)", n)
			}
			if o, v := e.markers(key, oi.ETag); o || v {
				t.Errorf("object marker %v, naming the version %v; want it gone", o, v)
			}
		}},
		{"removal repeated", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			// The notification and two copies of a removal, handled at
			// once by several workers: the case loses the object once.
			stop := start()
			oi := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			stop()
			e.del(key)
			at := time.Now()
			e.publishRemoval(key, at)
			e.publishRemoval(key, at)
			start()
			waitFor(t, "three removals handled", func() bool {
				return m.Objects(pipeline.OutcomeRetracted)+m.Objects(pipeline.OutcomeIgnored) == 3
			})
			if got := m.Objects(pipeline.OutcomeRetracted); got < 1 {
				t.Errorf("%v retracted", got)
			}
			waitFor(t, "two events", func() bool { return len(e.events()) == 2 })
			time.Sleep(300 * time.Millisecond)
			if n := len(e.events()); n != 2 {
				t.Errorf("%d events, want 2 (added, retracted once)", n)
			}
			if o, v := e.markers(key, oi.ETag); o || v {
				t.Errorf("object marker %v, naming the version %v; want it gone", o, v)
			}
		}},
		{"version refused without a case, then deleted", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			// The refusal left the case as the earlier version left it:
			// the deletion takes that version out.
			start()
			first := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			p.caseless.Store(true)
			bad := e.put(key, []byte("BAD bytes"))
			waitFor(t, "refused", func() bool { return m.Objects(pipeline.OutcomeRejected) == 1 })
			if o, v := e.markers(key, bad.ETag); !o || !v {
				t.Errorf("after the refusal: object marker %v, naming the version %v", o, v)
			}
			// The refused version is marked: a scan leaves it alone.
			if st := e.scan(""); st.Enqueued != 0 {
				t.Errorf("scan = %+v, want nothing enqueued", st)
			}
			e.del(key)
			waitFor(t, "retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
			calls := p.calls()
			if len(calls) != 1 || calls[0].CaseID != caseOf(e.key, key) || calls[0].Token != pipeline.ObjectID(e.key, "raw", key)+"@"+first.ETag {
				t.Fatalf("retractions = %+v, want the first version's", calls)
			}
			if got := e.caseObjects(caseOf(e.key, key)); len(got) != 0 {
				t.Errorf("case still holds %v", got)
			}
			if o, _ := e.markers(key, bad.ETag); o {
				t.Error("object marker kept after the deletion")
			}
		}},
		{"refused without a case, never processed, then deleted", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			start()
			p.caseless.Store(true)
			bad := e.put(key, []byte("BAD bytes"))
			waitFor(t, "refused", func() bool { return m.Objects(pipeline.OutcomeRejected) == 1 })
			e.del(key)
			waitFor(t, "removal handled", func() bool { return m.Objects(pipeline.OutcomeIgnored) == 1 })
			if n := len(p.calls()); n != 0 {
				t.Errorf("Retract called %d times, want 0: nothing of the object is in a case", n)
			}
			if o, _ := e.markers(key, bad.ETag); o {
				t.Error("object marker kept after the deletion")
			}
			// Dropped again, it is looked at again.
			p.caseless.Store(false)
			p.badOK.Store(true)
			e.put(key, []byte("BAD bytes"))
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
		}},
		{"refused retraction dead-lettered and replayed", func(t *testing.T, e *env, p *retractProc, m *pipeline.Metrics, start func() func()) {
			start()
			oi := e.put(key, content)
			waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
			p.refuse.Store(true)
			e.del(key)
			waitFor(t, "removal dead-lettered", func() bool { return e.streamMsgs(e.topo.DLQStream) == 1 })
			dlq, _ := e.js.Stream(ctx(t), e.topo.DLQStream)
			raw, err := dlq.GetLastMsgForSubject(ctx(t), e.topo.DLQSubjectFor("retract_refused"))
			if err != nil {
				t.Fatalf("no DLQ entry under the refusal's reason: %v", err)
			}
			if raw.Header.Get(pipeline.HeaderObject) != pipeline.ObjectID(e.key, "raw", key) {
				t.Errorf("DLQ headers = %v", raw.Header)
			}
			if o, v := e.markers(key, oi.ETag); !o || !v {
				t.Errorf("object marker %v, naming the version %v; want it kept for a replay", o, v)
			}
			p.refuse.Store(false)
			if st, err := pipeline.Replay(ctx(t), e.js, e.topo, "retract_refused", e.log, m); err != nil || st.Replayed != 1 {
				t.Fatalf("replay = %+v, %v", st, err)
			}
			waitFor(t, "retracted on replay", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
			if got := e.caseObjects(caseOf(e.key, key)); len(got) != 0 {
				t.Errorf("case still holds %v", got)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{minio: true, notify: true})
			p := newRetractProc(e)
			m := pipeline.NewMetrics("test")
			e.log = e.log.Level(-1)
			start := func() func() { return e.runWorker(p, retractModel{}, testWorkerConfig(), m) }
			tc.run(t, e, p, m, start)
			var metrics strings.Builder
			_ = m.Registry().Write(&metrics)
			for _, canary := range []string{"CANARY", "model.stl"} {
				if strings.Contains(e.logs.String(), canary) {
					t.Errorf("logs hold %q", canary)
				}
				if strings.Contains(metrics.String(), canary) {
					t.Errorf("metrics hold %q", canary)
				}
			}
		})
	}
}

// TestRetractWithoutRetracter: a processor that cannot retract leaves the
// case as it is, but the markers go, so the same file dropped again is
// processed (a merge that changes nothing).
func TestRetractWithoutRetracter(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	oi := e.put("acc-1/a.stl", []byte("a"))
	e.scan("")
	waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
	e.del("acc-1/a.stl")
	e.publishRemoval("acc-1/a.stl", time.Now())
	waitFor(t, "removal handled", func() bool { return m.Objects(pipeline.OutcomeIgnored) == 1 })
	if o, v := e.markers("acc-1/a.stl", oi.ETag); o || v {
		t.Errorf("object marker %v, naming the version %v; want it gone", o, v)
	}
	if got := m.Objects(pipeline.OutcomeRetracted); got != 0 {
		t.Errorf("%v retracted without a Retracter", got)
	}
}

// TestInboxRemovalRetracts: a file deleted from the inbox folder is
// retracted from its case; dropped again, it is processed again.
func TestInboxRemovalRetracts(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := pipeline.NewMetrics("test")
	p := newRetractProc(e)
	e.runWorker(p, retractModel{}, testWorkerConfig(), m)
	s, err := pipeline.NewScanner(ctx(t), e.js, e.topo, e.key, e.log, m)
	if err != nil {
		t.Fatal(err)
	}
	const key = "ACC-CANARY-9/scan 1.stl"
	// A file present before the watcher starts, processed by an earlier run.
	early := e.put("acc-early/x.stl", []byte("early"))
	e.scan("")
	waitFor(t, "the early file processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })

	in := &pipeline.Inbox{Bucket: e.raw, Scanner: s, Poll: 50 * time.Millisecond, Stable: 150 * time.Millisecond, Log: e.log}
	c, cancel := context.WithCancel(ctx(t))
	done := make(chan error, 1)
	go func() { done <- in.Run(c) }()
	defer func() { cancel(); <-done }()

	oi := e.put(key, []byte("model bytes"))
	waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 2 })
	e.del(key)
	waitFor(t, "retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 1 })
	calls := p.calls()
	if len(calls) != 1 || calls[0].CaseID != caseOf(e.key, key) || calls[0].Token != pipeline.ObjectID(e.key, e.raw.Name(), key)+"@"+oi.ETag {
		t.Fatalf("retractions = %+v", calls)
	}
	if o, v := e.markers(key, oi.ETag); o || v {
		t.Errorf("object marker %v, naming the version %v; want it gone", o, v)
	}
	// Dropped again with the same bytes (within the work stream's
	// duplicate window): processed again.
	e.put(key, []byte("model bytes"))
	waitFor(t, "processed again", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 3 })
	if got := e.caseObjects(caseOf(e.key, key)); len(got) != 1 {
		t.Errorf("case holds %v, want the object again", got)
	}
	// The file that was there before the watcher started is retracted too.
	e.del("acc-early/x.stl")
	waitFor(t, "the early file retracted", func() bool { return m.Objects(pipeline.OutcomeRetracted) == 2 })
	if calls := p.calls(); calls[len(calls)-1].Token != pipeline.ObjectID(e.key, e.raw.Name(), "acc-early/x.stl")+"@"+early.ETag {
		t.Errorf("last retraction = %+v", calls[len(calls)-1])
	}
	if strings.Contains(e.logs.String(), "CANARY") {
		t.Error("a log line holds the raw key")
	}
}
