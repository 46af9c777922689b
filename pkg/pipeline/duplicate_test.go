package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline"
)

// readWatch is a raw bucket that counts the bodies it hands out and those
// closed.
type readWatch struct {
	objstore.Bucket
	opened, closed atomic.Int64
}

func (b *readWatch) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := b.Bucket.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	b.opened.Add(1)
	return &watchedBody{ReadCloser: rc, b: b}, nil
}

type watchedBody struct {
	io.ReadCloser
	b    *readWatch
	done atomic.Bool
}

func (w *watchedBody) Close() error {
	if !w.done.Swap(true) {
		w.b.closed.Add(1)
	}
	return w.ReadCloser.Close()
}

// TestDuplicateWorkItemClosesItsBody: the object's marker is read while
// the object is opened, so a work item for a version already handled has
// an open body in hand when it learns it is a duplicate: the body is closed
// unread, and the object is processed once.
func TestDuplicateWorkItemClosesItsBody(t *testing.T) {
	e := newEnv(t, envOptions{})
	watch := &readWatch{Bucket: e.raw}
	e.workerRaw = watch
	for _, k := range []string{"acc-1/a.dcm", "acc-1/b.dcm", "acc-2/c.dcm"} {
		e.put(k, []byte("content of "+k))
	}
	if st := e.scan(""); st.Enqueued != 3 {
		t.Fatalf("scan = %+v, want 3 enqueued", st)
	}
	items := e.workItems(3)
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	stop := e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	// Every work item again, once its object's marker is stored (counted
	// processed then). Not sooner: a slot is freed before the case update
	// and the marker, so a repeat queued behind its original may be read
	// before the original's marker is stored, and be processed again.
	waitFor(t, "three objects processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 3 })
	e.publishWork(items)
	waitFor(t, "six work items answered", func() bool {
		return m.Objects(pipeline.OutcomeProcessed)+m.Objects(pipeline.OutcomeDuplicate) == 6
	})
	stop()
	if got := proc.calls.Load(); got != 3 {
		t.Errorf("processor called %d times, want 3", got)
	}
	if got := m.Objects(pipeline.OutcomeDuplicate); got != 3 {
		t.Errorf("%v duplicates, want 3", got)
	}
	if o, c := watch.opened.Load(), watch.closed.Load(); o == 0 || o != c {
		t.Errorf("%d bodies opened, %d closed", o, c)
	}
}

// TestContentPutBackIsProcessedAgain: an object's marker names the last
// version handled, so content put back after another version (the same
// bytes, the same ETag) is that object's content again and is processed,
// not taken for a repeat; a repeat of the last version still is one.
func TestContentPutBackIsProcessedAgain(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	e.runWorker(proc, fakeModel{}, testWorkerConfig(), m)
	const key = "acc-1/a.stl"
	// Counted once the object's marker is stored. The third version adds
	// nothing to the fake case (its fact is there), so it counts as a
	// duplicate too, though processed.
	handled := func() float64 {
		return m.Objects(pipeline.OutcomeProcessed) + m.Objects(pipeline.OutcomeDuplicate)
	}
	var last objstore.ObjectInfo
	for i, content := range []string{"first", "second", "first"} {
		last = e.put(key, []byte(content))
		if st := e.scan(""); st.Enqueued != 1 {
			t.Fatalf("put %d: scan = %+v, want 1 enqueued", i+1, st)
		}
		waitFor(t, "handled", func() bool { return handled() == float64(i+1) })
	}
	if got := proc.calls.Load(); got != 3 {
		t.Fatalf("processor called %d times, want 3", got)
	}
	if st := e.scan(""); st.Enqueued != 0 {
		t.Errorf("scan after the last version was handled = %+v, want nothing enqueued", st)
	}
	// The object store repeats its notification of the last version.
	item := fmt.Sprintf(`{"v":1,"object":{"bucket":%q,"key":%q,"etag":%q}}`, e.raw.Name(), key, last.ETag)
	if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor(pipeline.SourceScan), []byte(item)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repeat answered", func() bool { return handled() == 4 })
	if got := proc.calls.Load(); got != 3 {
		t.Errorf("processor called %d times, want 3", got)
	}
}

// TestRepeatOfAnOlderVersionOfAnOversizeObject: a repeated notification of
// a version already processed, after the object was replaced by one too
// large to read, is superseded: not refused in the newer version's name.
func TestRepeatOfAnOlderVersionOfAnOversizeObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	cfg := testWorkerConfig()
	cfg.MaxObjectBytes = 1024
	e.runWorker(proc, fakeModel{}, cfg, m)
	const key = "acc-1/a.stl"
	first := e.put(key, []byte("small"))
	e.scan("")
	waitFor(t, "processed", func() bool { return m.Objects(pipeline.OutcomeProcessed) == 1 })
	e.put(key, bytes.Repeat([]byte("x"), 4096))
	e.scan("")
	waitFor(t, "the large version refused", func() bool { return m.Objects(pipeline.OutcomeRejected) == 1 })
	item := fmt.Sprintf(`{"v":1,"object":{"bucket":%q,"key":%q,"etag":%q}}`, e.raw.Name(), key, first.ETag)
	if _, err := e.js.Publish(ctx(t), e.topo.WorkSubjectFor(pipeline.SourceScan), []byte(item)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the repeat superseded", func() bool { return m.Objects(pipeline.OutcomeSuperseded) == 1 })
	if got := m.Objects(pipeline.OutcomeRejected); got != 1 {
		t.Errorf("%v refused, want 1", got)
	}
	if got := e.streamMsgs(e.topo.DLQStream); got != 1 {
		t.Errorf("%d DLQ entries, want 1", got)
	}
}
