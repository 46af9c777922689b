package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
)

func storeEnv(t *testing.T) (*testenv.NATS, Topology) {
	t.Helper()
	n := testenv.StartNATS(t)
	_, js := n.Connect(t)
	topo := DefaultTopology()
	topo.Memory = true
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Setup(c, js, topo); err != nil {
		t.Fatal(err)
	}
	return n, topo
}

func newStore(t *testing.T, n *testenv.NATS, topo Topology) (*CaseStore, jetstream.JetStream) {
	t.Helper()
	_, js := n.Connect(t)
	// As the worker opens it: every request bounded and repeated.
	js = WithRequestTimeout(js, 2*time.Second, zerolog.Nop())
	s, err := OpenCaseStore(context.Background(), js, topo, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	return s, js
}

// setState is a test case state: a set of members, and an optional timer.
type setState struct {
	Members []string `json:"members"`
	Due     int64    `json:"due,omitempty"`
	Fired   bool     `json:"fired,omitempty"`
}

func addMember(caseID, member string, due time.Time) MergeFunc {
	return func(state []byte) (Mutation, error) {
		var st setState
		if state != nil {
			if err := json.Unmarshal(state, &st); err != nil {
				return Mutation{}, err
			}
		}
		if slices.Contains(st.Members, member) {
			return Mutation{}, nil
		}
		st.Members = append(st.Members, member)
		slices.Sort(st.Members)
		if !due.IsZero() {
			st.Due = due.UnixNano()
			st.Fired = false
		}
		b, _ := json.Marshal(st)
		return Mutation{State: b, Events: []Event{{ID: caseID + "-" + member, Data: []byte(`{"m":"` + member + `"}`)}}, Timer: due}, nil
	}
}

func tick(caseID string, state []byte, now time.Time) (Mutation, error) {
	var st setState
	if err := json.Unmarshal(state, &st); err != nil {
		return Mutation{}, err
	}
	if st.Fired || st.Due == 0 || st.Due > now.UnixNano() {
		return Mutation{}, nil
	}
	st.Fired = true
	b, _ := json.Marshal(st)
	return Mutation{State: b, Events: []Event{{ID: fmt.Sprintf("%s-fired-%d", caseID, st.Due), Data: []byte(`{"fired":true}`)}}}, nil
}

func countEvents(t *testing.T, js jetstream.JetStream, topo Topology, subject string) int {
	t.Helper()
	s, err := js.Stream(context.Background(), topo.RegistryStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return int(n)
}

// TestConcurrentUpdatesLoseNothing: writers add members to one case at
// once — each with its own store (as separate processes would), or several
// sharing a store (workers of one process, which take turns and write
// against the revision they cached, while the other process's writes make
// that cache stale); every member and every event survives.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stores int
	}{{"store per writer", 6}, {"two processes", 2}, {"one process", 1}} {
		t.Run(tc.name, func(t *testing.T) { concurrentUpdates(t, tc.stores) })
	}
}

func concurrentUpdates(t *testing.T, stores int) {
	n, topo := storeEnv(t)
	const writers, each = 6, 15
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	shared := make([]*CaseStore, stores)
	for i := range shared {
		shared[i], _ = newStore(t, n, topo)
	}
	for w := range writers {
		s := shared[w%stores]
		wg.Go(func() {
			for i := range each {
				res, err := s.Update(context.Background(), "case1", addMember("case1", fmt.Sprintf("w%d-%d", w, i), time.Time{}))
				if err != nil {
					t.Errorf("update: %v", err)
					return
				}
				conflicts[w] += res.Conflicts
			}
		})
	}
	wg.Wait()
	s, js := newStore(t, n, topo)
	state, err := s.Get(context.Background(), "case1")
	if err != nil {
		t.Fatal(err)
	}
	var st setState
	_ = json.Unmarshal(state, &st)
	if len(st.Members) != writers*each {
		t.Errorf("case has %d members, want %d", len(st.Members), writers*each)
	}
	if got := countEvents(t, js, topo, topo.CaseSubject("case1")); got != writers*each {
		t.Errorf("%d events, want %d", got, writers*each)
	}
	var total int
	for _, c := range conflicts {
		total += c
	}
	t.Logf("compare-and-set conflicts retried: %d", total)
	if stores == 1 && total != 0 {
		t.Errorf("writers of one process lost %d compare-and-sets to each other; they should take turns", total)
	}
	// Re-applying a member changes nothing and publishes nothing.
	res, err := s.Update(context.Background(), "case1", addMember("case1", "w0-0", time.Time{}))
	if err != nil || res.Changed || res.Published != 0 {
		t.Errorf("repeat update = %+v, %v", res, err)
	}
}

// failingPublisher fails the first n publishes.
type failingPublisher struct {
	jetstream.Publisher
	mu   sync.Mutex
	fail int
}

func (f *failingPublisher) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f.mu.Lock()
	if f.fail > 0 {
		f.fail--
		f.mu.Unlock()
		return nil, errors.New("connection lost")
	}
	f.mu.Unlock()
	return f.Publisher.PublishMsg(ctx, m, opts...)
}

// TestOutboxPublishedByNextWriter: the state is stored but publishing
// fails (a crash at that point); the redelivered object's update changes
// nothing yet publishes the pending event, once.
func TestOutboxPublishedByNextWriter(t *testing.T) {
	n, topo := storeEnv(t)
	s, js := newStore(t, n, topo)
	s.js = &failingPublisher{Publisher: js, fail: 1}
	if _, err := s.Update(context.Background(), "c2", addMember("c2", "a", time.Time{})); err == nil {
		t.Fatal("update with a failing publisher succeeded")
	}
	if got := countEvents(t, js, topo, topo.CaseSubject("c2")); got != 0 {
		t.Fatalf("%d events after a failed publish", got)
	}
	res, err := s.Update(context.Background(), "c2", addMember("c2", "a", time.Time{}))
	if err != nil || res.Changed || res.Published != 1 {
		t.Fatalf("retry = %+v, %v; want unchanged with 1 event published", res, err)
	}
	// A third writer finds an empty outbox; repeats are deduplicated anyway.
	res, err = s.Update(context.Background(), "c2", addMember("c2", "a", time.Time{}))
	if err != nil || res.Published != 0 {
		t.Errorf("third update = %+v, %v", res, err)
	}
	if got := countEvents(t, js, topo, topo.CaseSubject("c2")); got != 1 {
		t.Errorf("%d events, want 1", got)
	}
}

// TestSweepFiresEachTimerOnce: several processes sweep the same due
// timers at the same time; each case gets exactly one "fired" event, and
// the timer index is emptied.
func TestSweepFiresEachTimerOnce(t *testing.T) {
	n, topo := storeEnv(t)
	s, js := newStore(t, n, topo)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const cases = 8
	for i := range cases {
		id := fmt.Sprintf("t%d", i)
		for _, mbr := range []string{"a", "b"} {
			if _, err := s.Update(context.Background(), id, addMember(id, mbr, base.Add(time.Duration(i)*time.Minute))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Nothing due yet.
	if res, err := s.Sweep(context.Background(), base.Add(-time.Second), tick, nil); err != nil || res.Due != 0 {
		t.Fatalf("early sweep = %+v, %v", res, err)
	}
	const sweepers = 5
	var wg sync.WaitGroup
	fired := make([]int, sweepers)
	for i := range sweepers {
		sw, _ := newStore(t, n, topo)
		wg.Go(func() {
			res, err := sw.Sweep(context.Background(), base.Add(time.Hour), tick, nil)
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			fired[i] = res.Fired
		})
	}
	wg.Wait()
	var total int
	for _, f := range fired {
		total += f
	}
	if total != cases {
		t.Errorf("sweepers fired %d timers in total, want %d", total, cases)
	}
	for i := range cases {
		subj := topo.CaseSubject(fmt.Sprintf("t%d", i))
		if got := countEvents(t, js, topo, subj); got != 3 {
			t.Errorf("case t%d has %d events, want 2 members + 1 fired", i, got)
		}
	}
	kv, _ := js.KeyValue(context.Background(), topo.TimersBucket)
	keys, _ := kv.Keys(context.Background())
	if len(keys) != 0 {
		t.Errorf("timer index still holds %v", keys)
	}
}

// TestTimerIndexFollowsState: a later member moves the timer; the sweep at
// the old time fires nothing and keeps the entry for the new time.
// TestSweepKeepsATimerStoredMeanwhile: a sweep fires a case's timer and,
// before it removes the index entry, another process stores a new timer
// for the case and finds the old entry early enough. The new timer must
// still fire.
func TestSweepKeepsATimerStoredMeanwhile(t *testing.T) {
	n, topo := storeEnv(t)
	sweeper, _ := newStore(t, n, topo)
	writer, _ := newStore(t, n, topo)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if _, err := writer.Update(ctx, "r", addMember("r", "a", base)); err != nil {
		t.Fatal(err)
	}
	sweeper.sweepHook = func() {
		sweeper.sweepHook = nil
		if _, err := writer.Update(ctx, "r", addMember("r", "b", base.Add(5*time.Minute))); err != nil {
			t.Error(err)
		}
	}
	if res, err := sweeper.Sweep(ctx, base.Add(time.Minute), tick, nil); err != nil || res.Fired != 1 {
		t.Fatalf("first sweep = %+v, %v; want the first timer fired", res, err)
	}
	if res, err := sweeper.Sweep(ctx, base.Add(6*time.Minute), tick, nil); err != nil || res.Fired != 1 {
		t.Fatalf("second sweep = %+v, %v; want the timer stored meanwhile fired", res, err)
	}
}

func TestTimerIndexFollowsState(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if _, err := s.Update(ctx, "m", addMember("m", "a", base)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "m", addMember("m", "b", base.Add(10*time.Minute))); err != nil {
		t.Fatal(err)
	}
	res, err := s.Sweep(ctx, base.Add(time.Minute), tick, nil)
	if err != nil || res.Due != 1 || res.Fired != 0 {
		t.Fatalf("sweep at the old time = %+v, %v; want due (index runs early) but not fired", res, err)
	}
	res, err = s.Sweep(ctx, base.Add(2*time.Minute), tick, nil)
	if err != nil || res.Due != 0 {
		t.Fatalf("index not moved to the new time: %+v, %v", res, err)
	}
	res, err = s.Sweep(ctx, base.Add(11*time.Minute), tick, nil)
	if err != nil || res.Fired != 1 {
		t.Fatalf("sweep at the new time = %+v, %v", res, err)
	}
}

func TestUpdateRejectsBadCaseID(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	for _, id := range []string{"", "a.b", "a b", "a*", string(make([]byte, 200))} {
		if _, err := s.Update(context.Background(), id, addMember(id, "x", time.Time{})); err == nil {
			t.Errorf("case id %q accepted", id)
		}
	}
}

// countingKV counts reads and writes of a KV bucket.
type countingKV struct {
	jetstream.KeyValue
	gets, writes atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	c.gets.Add(1)
	return c.KeyValue.Get(ctx, key)
}

// TestTimerIndexNeverLate runs random writes (earlier, later, equal and no
// timers) from two stores, as from two processes, and sweeps from either,
// and checks after every step that a stored timer has an index entry at or
// before it: skipping the index read must never leave a timer unseen.
func TestTimerIndexNeverLate(t *testing.T) {
	n, topo := storeEnv(t)
	a, _ := newStore(t, n, topo)
	b, _ := newStore(t, n, topo)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 13))
	stores := []*CaseStore{a, b}
	cases := []string{"c1", "c2", "c3"}
	for step := range 400 {
		s := stores[rng.IntN(2)]
		caseID := cases[rng.IntN(len(cases))]
		op := "write"
		if rng.IntN(5) == 0 {
			op = "sweep"
			now := base.Add(time.Duration(rng.IntN(60)) * time.Minute)
			if _, err := s.Sweep(ctx, now, tick, nil); err != nil {
				t.Fatal(err)
			}
		} else {
			var due time.Time
			if rng.IntN(6) != 0 {
				due = base.Add(time.Duration(rng.IntN(60)) * time.Minute)
			}
			if _, err := s.Update(ctx, caseID, addMember(caseID, fmt.Sprint("m", step), due)); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range cases {
			rec, _, err := a.load(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Timer == 0 {
				continue
			}
			e, err := a.timers.Get(ctx, id)
			if err != nil {
				t.Fatalf("step %d (%s): case %s has a timer and no index entry: %v", step, op, id, err)
			}
			if v, err := strconv.ParseInt(string(e.Value()), 10, 64); err != nil || v > rec.Timer {
				t.Fatalf("step %d (%s): case %s index %s is later than its timer %d", step, op, id, e.Value(), rec.Timer)
			}
		}
	}
}

// TestTimerIndexReadOnlyWhenNeeded: a process writing a case in turn reads
// the timer index only when a write brings the timer earlier than the one
// it already saw indexed.
func TestTimerIndexReadOnlyWhenNeeded(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	kv := &countingKV{KeyValue: s.timers}
	s.timers = kv
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		due   time.Duration
		reads int64
	}{
		{10 * time.Minute, 1}, // first timer: created
		{10 * time.Minute, 0}, // same timer
		{20 * time.Minute, 0}, // later: the index is early enough
		{30 * time.Minute, 0},
		{5 * time.Minute, 1}, // earlier: lowered
		{6 * time.Minute, 0},
	} {
		before := kv.gets.Load()
		if _, err := s.Update(ctx, "q", addMember("q", fmt.Sprint("m", i), base.Add(c.due))); err != nil {
			t.Fatal(err)
		}
		if got := kv.gets.Load() - before; got != c.reads {
			t.Errorf("write %d (timer +%v): %d index reads, want %d", i, c.due, got, c.reads)
		}
	}
	if res, err := s.Sweep(ctx, base.Add(5*time.Minute), tick, nil); err != nil || res.Fired != 0 || res.Due != 1 {
		t.Fatalf("sweep at +5m = %+v, %v; want the lowered index due, nothing fired (the timer is +6m)", res, err)
	}
	if res, err := s.Sweep(ctx, base.Add(6*time.Minute), tick, nil); err != nil || res.Fired != 1 {
		t.Fatalf("sweep at +6m = %+v, %v; want the timer fired", res, err)
	}
}

// TestTimerIndexReadAgainAfterTrust: an index entry lost behind a
// process's back (a sweeper stopped between moving it and re-reading the
// state) is put back by the first write after indexTrust.
func TestTimerIndexReadAgainAfterTrust(t *testing.T) {
	n, topo := storeEnv(t)
	s, _ := newStore(t, n, topo)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.clock = func() time.Time { return now }
	ctx := context.Background()
	due := now.Add(time.Hour)
	write := func(m string) {
		t.Helper()
		if _, err := s.Update(ctx, "lost", addMember("lost", m, due)); err != nil {
			t.Fatal(err)
		}
	}
	indexed := func() bool {
		t.Helper()
		_, err := s.timers.Get(ctx, "lost")
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	write("a")
	if err := s.timers.Delete(ctx, "lost"); err != nil {
		t.Fatal(err)
	}
	write("b") // within the trust: the process relies on what it read
	if indexed() {
		t.Fatal("the write within indexTrust read the index; the test no longer shows the trust")
	}
	now = now.Add(indexTrust)
	write("c")
	if !indexed() {
		t.Error("the first write after indexTrust did not put the lost index entry back")
	}
}
