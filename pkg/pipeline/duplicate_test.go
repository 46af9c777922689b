package pipeline_test

import (
	"context"
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

// TestDuplicateWorkItemClosesItsBody: the version marker is looked up while
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
	e.repeatWork(3) // every work item twice
	m := pipeline.NewMetrics("test")
	proc := newFakeProc(e.key)
	cfg := testWorkerConfig()
	cfg.Workers = 1 // one item after the other: the second of a pair is a duplicate
	stop := e.runWorker(proc, fakeModel{}, cfg, m)
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
