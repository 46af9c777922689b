package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// MergeFunc computes a case's next state from its current one (nil for a
// case not yet stored). It is re-run after every compare-and-set conflict, so
// it must depend on nothing but its argument and what it closes over.
type MergeFunc func(state []byte) (Mutation, error)

// CaseStore keeps case state in a JetStream KV bucket and publishes the
// events of each change. Concurrent writers never lose an update: each write
// names the revision it read, and a writer that lost the race reads again
// and re-runs its merge.
//
// Events are written into the case record (an outbox) in the same
// compare-and-set as the state, then published with Nats-Msg-Id set to the
// event id, then cleared. If the writer dies in between, the next writer of
// the case publishes them (JetStream drops the copies it already has), so a
// stored change is never left unannounced.
//
// Cases with a completeness timer are indexed in a second KV bucket (case id
// → due time). The index may run early, never late: it is lowered after a
// write whose timer is earlier than the one the writer saw indexed (after
// every write whose predecessor it did not see indexed in the last
// indexTrust), and raised only by Sweep, which checks the state first.
type CaseStore struct {
	cases  jetstream.KeyValue
	timers jetstream.KeyValue
	js     jetstream.Publisher
	topo   Topology
	m      *Metrics
	log    zerolog.Logger
	// MaxAttempts bounds compare-and-set retries of one Update.
	MaxAttempts int

	// Updates of one case by this process's workers take turns (locks,
	// striped by case id; those waiting for a turn are committed together
	// by the next writer), and the record each one writes is kept with
	// its revision (cache): the next update of the case writes against
	// that revision without reading it back. The compare-and-set still
	// guards every write, so a record another process changed meanwhile
	// is caught, read and merged again.
	locks   [caseLockStripes]chan struct{}
	cacheMu sync.Mutex
	cache   map[string]cachedRecord
	// pending holds the updates waiting for their case's turn, which the
	// writer whose turn it is commits together (see Update).
	pendMu  sync.Mutex
	pending map[string][]*updateReq

	// clock, when set (tests), replaces time.Now for indexTrust.
	clock func() time.Time

	// sweepHook, when set (tests), runs between a sweep's case update and
	// its move of the timer index.
	sweepHook func()
}

const (
	caseLockStripes = 64
	// maxCachedRecords bounds the cache; when full, an arbitrary entry
	// makes room, so it stays the same size however long the process runs.
	// It pays off only for cases being written right now, which are few
	// (at most one per worker), while a record may hold tens of KiB.
	maxCachedRecords = 128
)

type cachedRecord struct {
	rec caseRecord
	rev uint64
	// indexedAt, when not zero, is when this process read the timer index
	// at or below rec.Timer (not 0), after rec was stored. Nothing raises
	// the index above a stored state's timer without changing the state
	// (Sweep moves the index only to the timer of the state it wrote or
	// read, and only after its own compare-and-set), so a write over this
	// revision whose timer is not earlier needs no look at the index.
	// The knowledge is trusted for indexTrust only, so that an index entry
	// lost anyway (a sweeping process stopped between moving an entry and
	// re-reading the state) is put back by the next write after that, as
	// every write used to.
	indexedAt time.Time
}

// indexTrust is how long a process relies on a timer-index entry it read
// (cachedRecord.indexedAt): one read per case and minute at most while
// its instances arrive, instead of one per instance.
const indexTrust = time.Minute

func (s *CaseStore) cached(caseID string) (cachedRecord, bool) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	e, ok := s.cache[caseID]
	return e, ok
}

func (s *CaseStore) now() time.Time {
	if s.clock != nil {
		return s.clock()
	}
	return time.Now()
}

// markIndexed records that the timer index of caseID was at or below due
// when it was read at at, for the cached record if its timer is due.
func (s *CaseStore) markIndexed(caseID string, due int64, at time.Time) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if e, ok := s.cache[caseID]; ok && e.rec.Timer == due {
		e.indexedAt = at
		s.cache[caseID] = e
	}
}

// remember records that caseID is at rev with rec, unless the cache already
// holds a later revision (from == 0), or unless it no longer holds from
// (from > 0: the cache moves on only from the revision the write replaced).
func (s *CaseStore) remember(caseID string, rec caseRecord, rev, from uint64) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	e, ok := s.cache[caseID]
	switch {
	case from > 0 && (!ok || e.rev != from):
		return
	case ok && e.rev > rev:
		return
	}
	if s.cache == nil {
		s.cache = make(map[string]cachedRecord)
	}
	if _, ok := s.cache[caseID]; !ok && len(s.cache) >= maxCachedRecords {
		evictOne(s.cache)
	}
	next := cachedRecord{rec: rec, rev: rev}
	if ok && from > 0 && e.rec.Timer == rec.Timer {
		// The outbox cleared: same state, same timer.
		next.indexedAt = e.indexedAt
	}
	s.cache[caseID] = next
}

// evictOne deletes an arbitrary entry of m (map iteration order is random):
// for caches of what is being written now, as good as least recently used
// and cheaper.
func evictOne[V any](m map[string]V) {
	for k := range m {
		delete(m, k)
		return
	}
}

func (s *CaseStore) forget(caseID string) {
	s.cacheMu.Lock()
	delete(s.cache, caseID)
	s.cacheMu.Unlock()
}

// OpenCaseStore binds the store to the KV buckets of topo (created by Setup).
func OpenCaseStore(ctx context.Context, js jetstream.JetStream, topo Topology, m *Metrics, log zerolog.Logger) (*CaseStore, error) {
	cases, err := js.KeyValue(ctx, topo.CasesBucket)
	if err != nil {
		return nil, fmt.Errorf("case store: KV bucket %s%s: %w", topo.CasesBucket, SetupHint(err), err)
	}
	timers, err := js.KeyValue(ctx, topo.TimersBucket)
	if err != nil {
		return nil, fmt.Errorf("case store: KV bucket %s%s: %w", topo.TimersBucket, SetupHint(err), err)
	}
	s := &CaseStore{cases: cases, timers: timers, js: js, topo: topo, m: m, log: log, MaxAttempts: 100}
	for i := range s.locks {
		s.locks[i] = make(chan struct{}, 1)
	}
	return s, nil
}

// caseRecord is the stored value: the model's opaque state, events not yet
// confirmed published, and the next timer.
type caseRecord struct {
	V      int     `json:"v"`
	State  []byte  `json:"state,omitempty"`
	Outbox []Event `json:"outbox,omitempty"`
	// Timer is the next completeness timer in Unix nanoseconds (0: none).
	Timer int64 `json:"timer,omitempty"`
}

// UpdateResult reports one Update.
type UpdateResult struct {
	// Changed is true when the merge changed the state (or added events).
	Changed bool
	// Published counts events published by this call (its own and any
	// left in the outbox by an earlier writer).
	Published int
	// Conflicts counts compare-and-set retries (of the batch the update
	// was committed in).
	Conflicts int
	// Timer is the stored state's next completeness timer (zero: none).
	Timer time.Time
}

// ValidCaseID reports whether id can be a case id: 1 to 128 letters, digits,
// '-' or '_' (a single subject token and a KV key).
func ValidCaseID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var errBadCaseID = errors.New("case id must be 1-128 letters, digits, '-' or '_'")

func (s *CaseStore) load(ctx context.Context, caseID string) (caseRecord, uint64, error) {
	e, err := s.cases.Get(ctx, caseID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return caseRecord{V: 1}, 0, nil
	}
	if err != nil {
		return caseRecord{}, 0, fmt.Errorf("case %s: read: %w", caseID, err)
	}
	var rec caseRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return caseRecord{}, 0, fmt.Errorf("case %s: stored record is not readable: %w", caseID, err)
	}
	return rec, e.Revision(), nil
}

// revision returns the case record's current revision (0 when absent)
// without decoding it.
func (s *CaseStore) revision(ctx context.Context, caseID string) (uint64, error) {
	e, err := s.cases.Get(ctx, caseID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("case %s: read: %w", caseID, err)
	}
	return e.Revision(), nil
}

// Get returns the stored state of a case (nil when absent).
func (s *CaseStore) Get(ctx context.Context, caseID string) ([]byte, error) {
	if !ValidCaseID(caseID) {
		return nil, errBadCaseID
	}
	rec, _, err := s.load(ctx, caseID)
	return rec.State, err
}

// writeAt stores value under key if the key is still at revision rev (0:
// if it has none); IsConflict tells when it is not.
func writeAt(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64) (uint64, error) {
	if rev == 0 {
		return kv.Create(ctx, key, value)
	}
	return kv.Update(ctx, key, value, rev)
}

// IsConflict reports whether a KV Create or Update lost a compare-and-set
// (the key exists, or its revision moved on): read again and retry.
func IsConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Update merges into the case with compare-and-set, then publishes the
// events of the change. Errors from merge are returned as they are (so a
// PermanentError stays permanent); storage and publishing errors are
// transient.
//
// Updates of one case that wait for their turn in this process are
// committed together: the writer whose turn it is runs every waiting merge
// in order, each on the state the one before it left, and stores their
// result in one compare-and-set (one write and one clearing of the outbox
// for the lot, not one each). A merge that fails is left out and its caller
// gets its error; the others go on as if it had not been asked. An update
// whose context ends while it waits is withdrawn; once taken into a batch,
// it is answered when the batch is stored, which goes on while any of its
// callers' contexts lasts.
func (s *CaseStore) Update(ctx context.Context, caseID string, merge MergeFunc) (UpdateResult, error) {
	if !ValidCaseID(caseID) {
		return UpdateResult{}, Permanent(ReasonOther, errBadCaseID)
	}
	req := &updateReq{ctx: ctx, merge: merge, done: make(chan struct{})}
	s.enqueue(caseID, req)
	l := s.stripe(caseID)
	for {
		select {
		case <-req.done:
			return req.res, req.err
		case <-ctx.Done():
		case l <- struct{}{}:
			if ctx.Err() == nil {
				if s.takeTurn(caseID, req, l) {
					continue // left waiting behind a full batch: compete again
				}
				<-req.done
				return req.res, req.err
			}
			// Its time ran out as the turn came: give the turn to those
			// still waiting.
			<-l
		}
		if s.withdraw(caseID, req) {
			return UpdateResult{}, fmt.Errorf("case %s: waiting for another update of the case: %w", caseID, ctx.Err())
		}
		// Another writer took it: its outcome is known when that write is.
		<-req.done
		return req.res, req.err
	}
}

// takeTurn commits the updates of caseID waiting for their turn, holding
// the turn l until they are stored (or until commit gives it back). It
// reports whether req is still waiting (behind a full batch); otherwise req
// was in this batch or is in one another writer holds, and is answered when
// that write is.
func (s *CaseStore) takeTurn(caseID string, req *updateReq, l chan struct{}) (waiting bool) {
	var once sync.Once
	unlock := func() { once.Do(func() { <-l }) }
	defer unlock()
	batch, waiting := s.takePending(caseID, req)
	if len(batch) > 0 {
		s.commit(caseID, batch, unlock)
	}
	return waiting
}

// updateReq is one Update waiting for its turn, or in a batch being
// committed; done closes once res and err are its outcome.
type updateReq struct {
	// ctx is the caller's: the batch's requests last while any of theirs
	// does.
	ctx   context.Context
	merge MergeFunc
	res   UpdateResult
	err   error
	done  chan struct{}
	// changed and published are the outcome of its merge in the current
	// attempt.
	changed   bool
	published int
}

// maxBatch bounds the updates committed in one write. Waiting updates are
// at most one per worker, so this is rarely reached; the rest wait for the
// next turn.
const maxBatch = 64

// stripe is the turn that caseID's updates in this process take.
func (s *CaseStore) stripe(caseID string) chan struct{} {
	h := fnv.New32a()
	_, _ = h.Write([]byte(caseID))
	return s.locks[h.Sum32()%caseLockStripes]
}

func (s *CaseStore) enqueue(caseID string, r *updateReq) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	if s.pending == nil {
		s.pending = make(map[string][]*updateReq)
	}
	s.pending[caseID] = append(s.pending[caseID], r)
}

// withdraw removes r from caseID's waiting updates, and reports whether it
// was still there.
func (s *CaseStore) withdraw(caseID string, r *updateReq) bool {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	q := s.pending[caseID]
	i := slices.Index(q, r)
	if i < 0 {
		return false
	}
	q = slices.Delete(q, i, i+1)
	if len(q) == 0 {
		delete(s.pending, caseID)
	} else {
		s.pending[caseID] = q
	}
	return true
}

// takePending removes and returns caseID's waiting updates, oldest first,
// at most maxBatch, and reports whether req is still waiting after that.
func (s *CaseStore) takePending(caseID string, req *updateReq) ([]*updateReq, bool) {
	s.pendMu.Lock()
	defer s.pendMu.Unlock()
	q := s.pending[caseID]
	if len(q) <= maxBatch {
		delete(s.pending, caseID)
		return q, false
	}
	rest := slices.Clone(q[maxBatch:])
	s.pending[caseID] = rest
	return q[:maxBatch:maxBatch], slices.Contains(rest, req)
}

// commit stores batch's merges in one change of caseID, holding the case's
// turn until the change is stored and its events published (unlock gives
// it back, before the timer index is looked at), then answers each update.
// Its requests to NATS last while any caller's context does: one caller's
// deadline does not fail the others.
func (s *CaseStore) commit(caseID string, batch []*updateReq, unlock func()) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	var live []*updateReq
	fail := func(err error) {
		for _, r := range live {
			r.err = err
		}
	}
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	maxAttempts := max(s.MaxAttempts, 1)
	conflicts := 0
	for attempt := 1; ; attempt++ {
		ce, cached := s.cached(caseID)
		rec, rev, indexedAt := ce.rec, ce.rev, ce.indexedAt
		if cached && attempt > 1 {
			cached = false
		}
		if !cached {
			var err error
			if rec, rev, err = s.load(ctx, caseID); err != nil {
				live = batch
				fail(err)
				return
			}
			indexedAt = time.Time{}
			s.remember(caseID, rec, rev, 0)
		}
		state, timer, stateChanged, events := s.mergeAll(caseID, rec, batch)
		live = live[:0]
		for _, r := range batch {
			if r.err == nil {
				r.res = UpdateResult{Conflicts: conflicts}
				live = append(live, r)
			}
		}
		noWrite := len(live) == 0 || !stateChanged && len(events) == 0
		if noWrite && cached {
			// A write would have caught a stale cached record; failed
			// merges and "no change" must be checked against the stored
			// one (a timer another process stored may be due).
			cur, err := s.revision(ctx, caseID)
			if err != nil {
				fail(err)
				return
			}
			if cur != rev {
				s.forget(caseID)
				continue
			}
		}
		if len(live) == 0 {
			return
		}
		if noWrite {
			// Nothing new. Finish what an earlier writer may have left.
			for _, r := range live {
				r.res.Timer = timerTime(rec.Timer)
			}
			if len(rec.Outbox) > 0 {
				n, err := s.flush(ctx, caseID, rec, rev)
				live[0].res.Published += n
				if err != nil {
					fail(err)
					return
				}
			}
			unlock()
			if rec.Timer != 0 {
				// Always looked at: this is how a writer that stored the
				// state and stopped before the index is repaired (its item
				// comes back, and finds nothing new).
				at := s.now()
				if err := s.ensureTimer(ctx, caseID, rec.Timer); err != nil {
					fail(err)
					return
				}
				s.markIndexed(caseID, rec.Timer, at)
			}
			return
		}
		next := rec
		next.V = 1
		if stateChanged {
			next.State, next.Timer = state, timer
		}
		next.Outbox = append(append([]Event(nil), rec.Outbox...), events...)
		b, err := json.Marshal(next)
		if err != nil {
			fail(fmt.Errorf("case %s: encode: %w", caseID, err))
			return
		}
		newRev, err := writeAt(ctx, s.cases, caseID, b, rev)
		if IsConflict(err) {
			s.forget(caseID)
			conflicts++
			s.m.casConflict()
			if attempt >= maxAttempts {
				fail(fmt.Errorf("case %s: gave up after %d compare-and-set conflicts", caseID, attempt))
				return
			}
			// Jittered pause so that colliding writers spread out.
			d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
			select {
			case <-ctx.Done():
				fail(ctx.Err())
				return
			case <-time.After(d):
			}
			continue
		}
		if err != nil {
			s.forget(caseID)
			fail(fmt.Errorf("case %s: write: %w", caseID, err))
			return
		}
		s.remember(caseID, next, newRev, 0)
		for _, r := range live {
			r.res.Changed, r.res.Timer = r.changed, timerTime(next.Timer)
		}
		// Published and cleared before the next writer of this process
		// goes, which would otherwise find the clearing write ahead of
		// the revision it cached.
		if _, err := s.flush(ctx, caseID, next, newRev); err != nil {
			fail(err)
			return
		}
		for _, r := range live {
			r.res.Published = r.published
		}
		// Events an earlier writer left are this batch's first writer's.
		live[0].res.Published += len(rec.Outbox)
		unlock()
		if next.Timer != 0 {
			// The index is at or below the replaced state's timer (see
			// cachedRecord.indexedAt): a timer no earlier is covered.
			if now := s.now(); indexedAt.IsZero() || next.Timer < rec.Timer || now.Sub(indexedAt) >= indexTrust {
				indexedAt = now
				if err := s.ensureTimer(ctx, caseID, next.Timer); err != nil {
					fail(err)
					return
				}
			}
			s.markIndexed(caseID, next.Timer, indexedAt)
		}
		return
	}
}

// batchContext is a context that ends when every request's context has
// ended (cancel releases it).
func batchContext(batch []*updateReq) (context.Context, context.CancelFunc) {
	if len(batch) == 1 {
		return batch[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, 0, len(batch))
	for _, r := range batch {
		stops = append(stops, context.AfterFunc(r.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// mergeAll runs batch's merges in order, each on the state the one before
// it left (starting from rec's), and returns the last state and timer,
// whether any merge changed the state, and every event, in order. A merge
// that fails keeps its error in its request and changes nothing.
func (s *CaseStore) mergeAll(caseID string, rec caseRecord, batch []*updateReq) (state []byte, timer int64, changed bool, events []Event) {
	state, timer = rec.State, rec.Timer
	for _, r := range batch {
		r.err, r.changed, r.published = nil, false, 0
		mut, err := r.merge(state)
		if err == nil {
			for _, ev := range mut.Events {
				if ev.ID == "" {
					err = fmt.Errorf("case %s: the case model returned an event without an id", caseID)
					break
				}
			}
		}
		if err != nil {
			r.err = err
			continue
		}
		if mut.State != nil {
			state, timer, changed = mut.State, 0, true
			if !mut.Timer.IsZero() {
				timer = mut.Timer.UnixNano()
			}
		}
		r.changed = mut.State != nil || len(mut.Events) > 0
		r.published = len(mut.Events)
		events = append(events, mut.Events...)
	}
	return state, timer, changed, events
}

func timerTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// flush publishes rec's outbox in order, then clears it if the case is
// still at revision rev (otherwise a later writer has the events and will
// publish and clear them).
func (s *CaseStore) flush(ctx context.Context, caseID string, rec caseRecord, rev uint64) (int, error) {
	n := len(rec.Outbox)
	if n == 0 {
		return 0, nil
	}
	subject := s.topo.CaseSubject(caseID)
	for i, ev := range rec.Outbox {
		msg := &nats.Msg{Subject: subject, Data: ev.Data, Header: nats.Header{}}
		msg.Header.Set("Content-Type", "application/cloudevents+json")
		if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(s.topo.RegistryStream)); err != nil {
			return i, fmt.Errorf("case %s: publish event: %w", caseID, err)
		}
		s.m.eventPublished()
	}
	rec.Outbox = nil
	b, err := json.Marshal(rec)
	if err != nil {
		return n, err
	}
	nrev, err := s.cases.Update(ctx, caseID, b, rev)
	switch {
	case err == nil:
		s.remember(caseID, rec, nrev, rev)
	case !IsConflict(err):
		// Harmless: the events are published; the next writer republishes
		// (deduplicated) and clears.
		s.log.Debug().Str("case_id", caseID).Err(err).Msg("clearing the case outbox failed")
	}
	return n, nil
}

// ensureTimer lowers the case's entry in the timer index to due (Unix ns),
// creating it when absent.
func (s *CaseStore) ensureTimer(ctx context.Context, caseID string, due int64) error {
	val := []byte(strconv.FormatInt(due, 10))
	for range 10 {
		e, err := s.timers.Get(ctx, caseID)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			_, err = s.timers.Create(ctx, caseID, val)
			if IsConflict(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("case %s: timer index: %w", caseID, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("case %s: timer index: %w", caseID, err)
		}
		if cur, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil && cur <= due {
			return nil
		}
		if _, err := s.timers.Update(ctx, caseID, val, e.Revision()); IsConflict(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("case %s: timer index: %w", caseID, err)
		}
		return nil
	}
	return fmt.Errorf("case %s: timer index: too many conflicts", caseID)
}

// TickFunc fires the completeness timers of one case due at now.
type TickFunc func(caseID string, state []byte, now time.Time) (Mutation, error)

// SweepResult reports one Sweep.
type SweepResult struct {
	// Due counts cases whose timer was due.
	Due int
	// Fired counts cases this sweep changed (a tick another worker fired
	// first is not counted).
	Fired int
	// Errors counts cases that failed (retried at the next sweep).
	Errors int
}

// Sweep fires every timer due at now. Any number of workers in any number of
// processes may sweep at once: a tick is a deterministic function of the
// state, so the compare-and-set admits exactly one change per timer and the
// other sweepers find nothing left to do.
//
// settle, when not nil, is asked first what to merge before the tick (see
// Settler); its merge and the tick are stored as one change.
func (s *CaseStore) Sweep(ctx context.Context, now time.Time, tick TickFunc, settle SettleFunc) (SweepResult, error) {
	var res SweepResult
	lister, err := s.timers.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("timer sweep: list: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	for caseID := range lister.Keys() {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		e, err := s.timers.Get(ctx, caseID)
		if err != nil {
			continue // removed meanwhile
		}
		due, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil || due > now.UnixNano() {
			continue
		}
		res.Due++
		merge := func(state []byte) (Mutation, error) {
			if state == nil {
				return Mutation{}, nil
			}
			return tick(caseID, state, now)
		}
		if settle != nil {
			pre, err := s.settleMerge(ctx, caseID, now, settle)
			if err != nil {
				res.Errors++
				s.log.Warn().Str("case_id", caseID).Err(err).Msg("settling a case before its timer failed; retried at the next sweep")
				continue
			}
			if pre != nil {
				ticked := merge
				merge = func(state []byte) (Mutation, error) {
					if state == nil {
						return Mutation{}, nil
					}
					return then(state, pre, ticked)
				}
			}
		}
		ur, err := s.Update(ctx, caseID, merge)
		if err != nil {
			res.Errors++
			s.log.Warn().Str("case_id", caseID).Err(err).Msg("completeness timer failed; retried at the next sweep")
			continue
		}
		if ur.Changed {
			res.Fired++
			s.m.timerFired()
		}
		if s.sweepHook != nil {
			s.sweepHook()
		}
		// Move the index to the state's next timer, unless someone lowered
		// it meanwhile (then their value is at least as early as needed).
		moved := false
		if ur.Timer.IsZero() {
			err = s.timers.Delete(ctx, caseID, jetstream.LastRevision(e.Revision()))
			moved = err == nil
		} else if ur.Timer.UnixNano() != due {
			_, err = s.timers.Update(ctx, caseID, []byte(strconv.FormatInt(ur.Timer.UnixNano(), 10)), e.Revision())
			moved = err == nil
		}
		if err != nil && !IsConflict(err) {
			s.log.Debug().Str("case_id", caseID).Err(err).Msg("timer index update failed; the next sweep repeats it")
		}
		if moved {
			// A writer may have stored an earlier timer after the state
			// this sweep read and found the index early enough, just
			// before the index moved on. Writers store the state before
			// they look at the index, so reading the state again now
			// catches every such write.
			if err := s.recheckTimer(ctx, caseID); err != nil {
				s.log.Debug().Str("case_id", caseID).Err(err).Msg("timer index re-check failed; the next write or sweep repeats it")
			}
		}
	}
	return res, nil
}

// settleMerge reads the case and asks settle what to merge before its tick.
func (s *CaseStore) settleMerge(ctx context.Context, caseID string, now time.Time, settle SettleFunc) (MergeFunc, error) {
	state, err := s.Get(ctx, caseID)
	if err != nil || state == nil {
		return nil, err
	}
	return settle(ctx, caseID, state, now)
}

// recheckTimer lowers the timer index to the stored state's timer.
func (s *CaseStore) recheckTimer(ctx context.Context, caseID string) error {
	rec, _, err := s.load(ctx, caseID)
	if err != nil || rec.Timer == 0 {
		return err
	}
	return s.ensureTimer(ctx, caseID, rec.Timer)
}
