package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/internal/testenv"
)

func (c *countingKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	c.writes.Add(1)
	return c.KeyValue.Create(ctx, key, value, opts...)
}

func (c *countingKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	c.writes.Add(1)
	return c.KeyValue.Update(ctx, key, value, rev)
}

func isPermanent(err error) bool { _, ok := ReasonOf(err); return ok }

func (s *CaseStore) waiting(caseID string) int {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	return len(s.pending[caseID])
}

// TestUpdatesWaitingForACaseAreCommittedTogether: while one update of a
// case holds its turn, others of the same case queue up; the next turn
// stores them all in one write and one clearing of the outbox. Each caller
// still gets its own answer: a repeat of a member in the same batch is no
// change, a failing merge gets its error and leaves the others alone, and a
// caller whose time ran out while waiting is withdrawn, its merge never run.
func TestUpdatesWaitingForACaseAreCommittedTogether(t *testing.T) {
	n, topo := storeEnv(t)
	s, js := newStore(t, n, topo)
	kv := &countingKV{KeyValue: s.cases}
	s.cases = kv
	ctx := context.Background()

	release := holdTurn(t, s, "b", "m0")

	refused := errors.New("refused by the model")
	type call struct {
		member string
		fail   bool
	}
	calls := []call{{member: "m1"}, {member: "m2"}, {member: "m1"}, {member: "bad", fail: true}, {member: "m3"}}
	results := make([]UpdateResult, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		// One at a time, so that they queue in this order.
		want := s.waiting("b") + 1
		wg.Go(func() {
			merge := addMember("b", c.member, time.Time{})
			if c.fail {
				merge = func([]byte) (Mutation, error) { return Mutation{}, Permanent(ReasonOther, refused) }
			}
			results[i], errs[i] = s.Update(ctx, "b", merge)
		})
		testenv.WaitFor(t, "the update to queue", func() bool { return s.waiting("b") == want })
	}
	// One more, whose time runs out while it waits.
	var lateRan atomic.Bool
	lctx, cancel := context.WithCancel(ctx)
	var late sync.WaitGroup
	var lateErr error
	late.Go(func() {
		_, lateErr = s.Update(lctx, "b", func(state []byte) (Mutation, error) {
			lateRan.Store(true)
			return addMember("b", "late", time.Time{})(state)
		})
	})
	testenv.WaitFor(t, "the last update to queue", func() bool { return s.waiting("b") == len(calls)+1 })
	cancel()
	late.Wait()
	if !errors.Is(lateErr, context.Canceled) || lateRan.Load() {
		t.Errorf("withdrawn update: err %v, merge ran %v", lateErr, lateRan.Load())
	}

	before := kv.writes.Load()
	release()
	wg.Wait()
	// The first update: one write and one clearing; the batch: the same.
	if got := kv.writes.Load(); before != 0 || got != 4 {
		t.Errorf("case record writes: %d before the batch, %d after; want 0 and 4", before, got)
	}
	for i, c := range calls {
		wantChanged, wantPublished := true, 1
		switch {
		case c.fail:
			if !errors.Is(errs[i], refused) || !isPermanent(errs[i]) {
				t.Errorf("call %d (%s): err %v, want the merge's permanent error", i, c.member, errs[i])
			}
			continue
		case i == 2: // m1 again, after m1 in the same batch
			wantChanged, wantPublished = false, 0
		}
		if errs[i] != nil || results[i].Changed != wantChanged || results[i].Published != wantPublished {
			t.Errorf("call %d (%s) = %+v, %v; want changed %v, published %d", i, c.member, results[i], errs[i], wantChanged, wantPublished)
		}
	}
	state, err := s.Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	var st setState
	_ = json.Unmarshal(state, &st)
	if fmt.Sprint(st.Members) != "[m0 m1 m2 m3]" {
		t.Errorf("members %v, want [m0 m1 m2 m3]", st.Members)
	}
	if got := countEvents(t, js, topo, topo.CaseSubject("b")); got != 4 {
		t.Errorf("%d events, want 4", got)
	}
	// The outbox was cleared: a fresh store finds nothing to publish.
	s2, _ := newStore(t, n, topo)
	if res, err := s2.Update(ctx, "b", addMember("b", "m3", time.Time{})); err != nil || res.Changed || res.Published != 0 {
		t.Errorf("fresh store's repeat = %+v, %v", res, err)
	}
}

// holdTurn starts an update of caseID adding member whose merge waits, so
// that the updates started after it queue up; release lets it go and waits
// for it (also at the test's end, whatever happened).
func holdTurn(t *testing.T, s *CaseStore, caseID, member string) (release func()) {
	t.Helper()
	hold, held := make(chan struct{}), make(chan struct{})
	var first sync.WaitGroup
	first.Go(func() {
		add := addMember(caseID, member, time.Time{})
		var once sync.Once
		if _, err := s.Update(context.Background(), caseID, func(state []byte) (Mutation, error) {
			once.Do(func() { close(held); <-hold })
			return add(state)
		}); err != nil {
			t.Errorf("the update holding the turn: %v", err)
		}
	})
	<-held
	var once sync.Once
	release = func() { once.Do(func() { close(hold); first.Wait() }) }
	t.Cleanup(release)
	return release
}

// TestMoreUpdatesWaitingThanOneBatch: more updates wait than one batch
// takes; the writer whose own update is left behind competes again, and
// every caller is answered with its member stored.
func TestMoreUpdatesWaitingThanOneBatch(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	ctx := context.Background()
	release := holdTurn(t, s, "many", "m")
	const callers = 2*maxBatch + 5
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { _, errs[i] = s.Update(ctx, "many", addMember("many", fmt.Sprint("c", i), time.Time{})) })
	}
	testenv.WaitFor(t, "every update to queue", func() bool { return s.waiting("many") == callers })
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	state, err := s.Get(ctx, "many")
	if err != nil {
		t.Fatal(err)
	}
	var st setState
	_ = json.Unmarshal(state, &st)
	if len(st.Members) != callers+1 {
		t.Errorf("%d members, want %d", len(st.Members), callers+1)
	}
}

// TestBatchOutlivesItsCallersContexts: the callers of a batch see their
// contexts end while it is being committed, all but one; the batch goes on
// for that one's sake, and every update is stored and answered as stored,
// whichever caller's goroutine did the writing.
func TestBatchOutlivesItsCallersContexts(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	release := holdTurn(t, s, "ctx", "m")
	const callers = 6
	results := make([]UpdateResult, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		want := s.waiting("ctx") + 1
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		add := addMember("ctx", fmt.Sprint("c", i), time.Time{})
		wg.Go(func() {
			results[i], errs[i] = s.Update(ctx, "ctx", func(state []byte) (Mutation, error) {
				if i > 0 {
					cancel() // its time runs out once it is in the batch
				}
				return add(state)
			})
		})
		testenv.WaitFor(t, "the update to queue", func() bool { return s.waiting("ctx") == want })
	}
	release()
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || !results[i].Changed {
			t.Errorf("caller %d = %+v, %v; want stored", i, results[i], errs[i])
		}
	}
}

// TestTakePendingSaysWhoIsLeftWaiting: a batch takes the oldest maxBatch
// updates; the writer learns whether its own is among those left, so that it
// competes for the next turn instead of waiting for an answer nobody owes.
func TestTakePendingSaysWhoIsLeftWaiting(t *testing.T) {
	s := &CaseStore{}
	reqs := make([]*updateReq, maxBatch+2)
	for i := range reqs {
		reqs[i] = &updateReq{done: make(chan struct{})}
		s.enqueue("c", reqs[i])
	}
	batch, waiting := s.takePending("c", reqs[maxBatch+1])
	if len(batch) != maxBatch || batch[0] != reqs[0] || !waiting {
		t.Fatalf("first batch: %d updates, own left waiting %v; want %d and true", len(batch), waiting, maxBatch)
	}
	batch, waiting = s.takePending("c", reqs[0])
	if len(batch) != 2 || batch[0] != reqs[maxBatch] || waiting || s.waiting("c") != 0 {
		t.Fatalf("second batch: %d updates, own left waiting %v, %d still queued; want 2, false, 0", len(batch), waiting, s.waiting("c"))
	}
}
