package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/confval"
	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/sitekey"
)

// WorkerConfig tunes one process's workers: the worker section of the
// ingest configuration, whose keys are the yaml tags (the fields tagged
// "-" are not configurable there; MaxObjectBytes comes from
// storage.max_object_bytes). Unset fields take the defaults of
// DefaultWorkerConfig: zero ones, and negative ones where the field is
// tagged positive (see confval.FillDefaults).
type WorkerConfig struct {
	// Workers is how many objects this process reads, processes and
	// writes at once (default DefaultWorkers). An object's slot is freed
	// once its outputs are stored: its case update and marker, NATS round
	// trips only, go on beside the next object, within the items held
	// (Workers plus Prefetch). The cluster-wide limit is
	// Topology.MaxAckPending.
	Workers int `yaml:"workers" confval:"positive"`
	// MaxFetch caps one pull request (default Workers). A pull asks only
	// for as many items as there are free slots and Prefetch allows.
	MaxFetch int `yaml:"max_fetch" confval:"positive"`
	// Prefetch is how many work items may wait in this process for a slot
	// (default a quarter of Workers, at least 1; negative: none). One
	// pulled ahead starts as soon as a slot frees, not a pull's round trip
	// later; its in-progress heartbeat runs while it waits, so its ack
	// timer does not run out. Few, so that other processes still find work:
	// while every slot is stuck (see StallAfter), the items pulled ahead
	// wait with it.
	Prefetch int `yaml:"prefetch"`
	// FetchWait is how long one pull waits for items (default 2s).
	FetchWait time.Duration `yaml:"fetch_wait" confval:"positive"`
	// Heartbeat is the in-progress interval for long objects (default a
	// third of the topology's AckWait).
	Heartbeat time.Duration `yaml:"-" confval:"positive"`
	// ObjectTimeout bounds the handling of one work item (default 30m).
	ObjectTimeout time.Duration `yaml:"object_timeout" confval:"positive"`
	// MaxObjectBytes refuses larger objects before download (default 8 GiB).
	MaxObjectBytes int64 `yaml:"-" confval:"positive"`
	// ShutdownGrace is how long in-flight items may finish after shutdown
	// begins; the rest are handed back with Nak (default 30s).
	ShutdownGrace time.Duration `yaml:"shutdown_grace" confval:"positive"`
	// RetryDelays is the NakWithDelay schedule for transient failures, by
	// delivery count (default 2s, 10s, 30s, 1m, 2m, 5m); ±20% jitter.
	RetryDelays []time.Duration `yaml:"retry_delays"`
	// SweepInterval is how often this process fires due completeness
	// timers (default 5s; negative disables).
	SweepInterval time.Duration `yaml:"sweep_interval"`
	// StatsInterval is how often queue depths are sampled (default 15s).
	StatsInterval time.Duration `yaml:"-" confval:"positive"`
	// RequestTimeout bounds each NATS request made while handling an
	// object (KV reads and writes, publishes, acks; default 5s). A request
	// that times out, finds no responder or meets a cluster error is
	// repeated with backoff while the object's time lasts, when repeating
	// is safe; so a JetStream leader change costs seconds, not the object
	// timeout. Start-up waits for the streams, consumer and buckets with
	// the same bound per attempt.
	RequestTimeout time.Duration `yaml:"request_timeout" confval:"positive"`
	// StallAfter is how long every slot may stay taken, with none freed,
	// while work items wait, before the worker warns and reports not ready
	// (default 1m; negative disables).
	StallAfter time.Duration `yaml:"-"`
	// IdleRelease is how long the worker must have had no object in hand
	// before the process's free memory is handed back to the system, and
	// how often again while it stays idle (default 30s; negative
	// disables). The Go runtime keeps freed memory for reuse; a worker idle
	// overnight on a shared server need not.
	IdleRelease time.Duration `yaml:"idle_release"`
}

// DefaultWorkers is the default number of objects one process handles at
// once: four per CPU, at least 4 and at most 32. An object spends most of
// its time waiting on the object store and NATS, so one worker per core
// leaves the cores idle (on 2 cores, 8 workers gave about a fifth more
// objects/s than 4 in bench/pipeline); the cap bounds memory, as each
// worker may hold an output of up to the spool's memory limit.
func DefaultWorkers() int { return min(32, max(4, 4*runtime.GOMAXPROCS(0))) }

// DefaultWorkerConfig returns the defaults of WorkerConfig. MaxFetch
// (Workers), Prefetch (a quarter of Workers) and Heartbeat (a third of the topology's AckWait, at least
// 100ms) are derived, so they stay zero here.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{
		Workers:        DefaultWorkers(),
		FetchWait:      2 * time.Second,
		ObjectTimeout:  30 * time.Minute,
		MaxObjectBytes: 8 << 30,
		ShutdownGrace:  30 * time.Second,
		RetryDelays:    []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute},
		SweepInterval:  5 * time.Second,
		StatsInterval:  15 * time.Second,
		RequestTimeout: DefaultRequestTimeout,
		StallAfter:     time.Minute,
		IdleRelease:    30 * time.Second,
	}
}

func (c WorkerConfig) withDefaults(t Topology) WorkerConfig {
	confval.FillDefaults(&c, DefaultWorkerConfig())
	if c.MaxFetch <= 0 || c.MaxFetch > c.Workers {
		c.MaxFetch = c.Workers
	}
	switch {
	case c.Prefetch == 0:
		c.Prefetch = max(1, c.Workers/4)
	case c.Prefetch < 0:
		c.Prefetch = 0
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = max(t.AckWait/3, 100*time.Millisecond)
	}
	return c
}

// Deps are what a Worker works with.
type Deps struct {
	// Conn is the NATS connection behind JS (for advisories and readiness).
	Conn *nats.Conn
	JS   jetstream.JetStream
	// Topology names the streams, buckets and consumer.
	Topology Topology
	// Raw maps bucket names (as notifications name them) to raw buckets.
	Raw map[string]objstore.Bucket
	// Deid receives the processor's outputs.
	Deid objstore.Bucket
	// Processor handles each object; Model merges its facts into cases.
	Processor Processor
	Model     CaseModel
	// Key is the site key for hashed ids.
	Key *sitekey.Key
	// Log receives structured logs (hashed ids only).
	Log zerolog.Logger
	// Metrics may be nil.
	Metrics *Metrics
	// Cases, when set, is the case store to use (OpenCaseStore over a
	// JetStream with bounded requests, see WithRequestTimeout), so the
	// processor can be given the same one; nil: the worker opens its own.
	Cases *CaseStore
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Worker pulls work items from the shared durable consumer and handles them
// with bounded concurrency.
type Worker struct {
	d       Deps
	cfg     WorkerConfig
	req     requests
	cons    jetstream.Consumer
	cases   *CaseStore
	markers *Markers
	log     zerolog.Logger

	draining atomic.Bool
	lastOK   atomic.Int64 // unix ns of the last successful consumer info

	// Slots: busy counts objects in hand; lastTurn is when one was last
	// taken or freed (unix ns); pending is the consumer's last sampled
	// count of waiting items (-1: unknown).
	busy     atomic.Int64
	lastTurn atomic.Int64
	pending  atomic.Int64
}

// NewWorker binds to the consumer and buckets created by Setup.
func NewWorker(ctx context.Context, d Deps, cfg WorkerConfig) (*Worker, error) {
	if d.JS == nil || d.Processor == nil || d.Key == nil || d.Deid == nil || len(d.Raw) == 0 {
		return nil, errors.New("worker: JetStream, processor, site key, deid bucket and at least one raw bucket are required")
	}
	if err := d.Topology.Validate(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	cfg = cfg.withDefaults(d.Topology)
	log := d.Log.With().Str("component", "worker").Logger()
	// Every request of the worker, its case store and markers is bounded;
	// the lookups below wait while the cluster elects leaders.
	d.JS = WithRequestTimeout(d.JS, cfg.RequestTimeout, log)
	cons, err := d.JS.Consumer(ctx, d.Topology.WorkStream, d.Topology.Consumer)
	if err != nil {
		return nil, fmt.Errorf("worker: consumer %s on %s%s: %w", d.Topology.Consumer, d.Topology.WorkStream, SetupHint(err), err)
	}
	cases := d.Cases
	if cases == nil {
		if cases, err = OpenCaseStore(ctx, d.JS, d.Topology, d.Metrics, d.Log); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
	}
	markers, err := OpenMarkers(ctx, d.JS, d.Topology)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{d: d, cfg: cfg, req: newRequests(cfg.RequestTimeout, log), cons: cons, cases: cases, markers: markers, log: log}
	w.lastOK.Store(time.Now().UnixNano())
	w.lastTurn.Store(time.Now().UnixNano())
	w.pending.Store(-1)
	return w, nil
}

// Ready reports whether the worker can take work: connected, the consumer
// answered recently, its slots not all stuck (see WorkerConfig.StallAfter),
// and not shutting down.
func (w *Worker) Ready() error {
	if w.draining.Load() {
		return errors.New("shutting down")
	}
	if w.d.Conn != nil && !w.d.Conn.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if since := time.Since(time.Unix(0, w.lastOK.Load())); since > 3*w.cfg.StatsInterval+w.cfg.FetchWait {
		return fmt.Errorf("work consumer unreachable for %s", since.Round(time.Second))
	}
	if d, pending := w.stalled(time.Now()); d > 0 {
		return fmt.Errorf("stalled: all %d worker slots taken and none freed for %s while %s wait", w.cfg.Workers, d.Round(time.Second), waiting(pending))
	}
	return nil
}

// stalled returns how long every slot has been taken with none freed, when
// that is longer than StallAfter and work items wait (0 otherwise), and the
// last sampled count of waiting items (-1: unknown).
func (w *Worker) stalled(now time.Time) (time.Duration, int64) {
	if w.cfg.StallAfter < 0 || w.busy.Load() < int64(w.cfg.Workers) {
		return 0, 0
	}
	pending := w.pending.Load()
	d := now.Sub(time.Unix(0, w.lastTurn.Load()))
	if d <= w.cfg.StallAfter || pending == 0 {
		return 0, pending
	}
	return d, pending
}

func waiting(pending int64) string {
	if pending < 0 {
		return "an unknown number of work items"
	}
	return strconv.FormatInt(pending, 10) + " work items"
}

// watchSlots warns while every slot is taken and none has freed for
// StallAfter while work waits: the worker fetches nothing then, and says
// so rather than falling silent.
func (w *Worker) watchSlots(ctx context.Context) {
	every := min(max(w.cfg.StallAfter/4, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	var warned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		d, pending := w.stalled(now)
		switch {
		case d > 0 && (warned.IsZero() || now.Sub(warned) >= w.cfg.StallAfter):
			warned = now
			w.log.Warn().Int("workers", w.cfg.Workers).Dur("stalled", d.Round(time.Millisecond)).Int64("pending", pending).
				Msg("every worker slot is taken and none has freed while work waits; fetching nothing (objects held up in processing, storage or NATS)")
		case d == 0 && !warned.IsZero():
			warned = time.Time{}
			w.log.Info().Msg("a worker slot freed; fetching work again")
		}
	}
}

// Run handles work items until ctx is done, then stops fetching, lets
// in-flight items finish for ShutdownGrace, naks the rest and returns.
func (w *Worker) Run(ctx context.Context) error {
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgWG sync.WaitGroup
	defer func() {
		stopBG()
		bgWG.Wait()
	}()
	bgWG.Go(func() { w.statsLoop(bg) })
	if w.cfg.StallAfter > 0 {
		bgWG.Go(func() { w.watchSlots(bg) })
	}
	if w.cfg.IdleRelease > 0 {
		bgWG.Go(func() { w.releaseWhenIdle(bg) })
	}
	if w.d.Model != nil && w.cfg.SweepInterval > 0 {
		bgWG.Go(func() { w.sweepLoop(bg) })
	}
	if w.d.Conn != nil {
		sub, err := w.subscribeMaxDeliveries(bg)
		if err != nil {
			w.log.Warn().Err(err).Msg("cannot watch max-delivery advisories; such items stay in the work stream")
		} else {
			defer func() { _ = sub.Unsubscribe() }()
		}
	}

	// In-flight items keep running after ctx ends, until the grace period.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	// slots bounds the objects in hand; held bounds the items received and
	// not yet answered: those in hand, those acked meanwhile, and up to
	// Prefetch pulled ahead, so a freed slot need not wait for a pull's
	// round trip.
	slots := make(chan struct{}, w.cfg.Workers)
	held := make(chan struct{}, w.cfg.Workers+w.cfg.Prefetch)
	var inflight sync.WaitGroup
	failures := 0
	w.log.Info().Int("workers", w.cfg.Workers).Int("prefetch", w.cfg.Prefetch).Str("stream", w.d.Topology.WorkStream).
		Str("consumer", w.d.Topology.Consumer).Msg("worker started")
fetch:
	for ctx.Err() == nil {
		select {
		case held <- struct{}{}:
		case <-ctx.Done():
			break fetch
		}
		n := 1
	more:
		for n < w.cfg.MaxFetch {
			select {
			case held <- struct{}{}:
				n++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, w.cfg.FetchWait)
		batch, err := w.cons.Fetch(n, jetstream.FetchContext(fctx))
		got := 0
		if err == nil {
			for msg := range batch.Messages() {
				got++
				inflight.Go(func() {
					defer func() { <-held }()
					w.take(ctx, workCtx, msg, slots)
				})
			}
			err = batch.Error()
		}
		cancel()
		for range n - got {
			<-held
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) &&
			!errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			failures++
			if failures == 1 || failures%30 == 0 {
				w.log.Warn().Err(err).Int("failures", failures).Msg("fetching work failed; retrying")
			}
			pause := time.Duration(min(failures, 20)) * 100 * time.Millisecond
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			continue
		}
		if failures > 0 && err == nil {
			w.log.Info().Int("failures", failures).Msg("fetching work again")
		}
		if err == nil || got > 0 {
			failures = 0
			w.lastOK.Store(time.Now().UnixNano())
		}
	}
	w.draining.Store(true)
	w.log.Info().Msg("shutting down: stopped fetching, finishing in-flight work")
	done := make(chan struct{})
	go func() { inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownGrace):
		w.log.Warn().Dur("grace", w.cfg.ShutdownGrace).Msg("in-flight work did not finish in time; handing it back")
		cancelWork()
		<-done
	}
	w.log.Info().Msg("worker stopped")
	return nil
}

// outcome of one object of a work item.
type objResult struct {
	transient error
	kind      string
}

// take handles one received work item. Its in-progress heartbeat runs
// from receipt, so an item pulled ahead does not time out while it waits
// for a slot; the slot is freed before the answer's round trip, so the
// next item starts meanwhile. An item still waiting when ctx ends goes
// back at once, for another process to take. The heartbeat stops before
// the answer: one landing after a nak would turn the nak's delay into the
// ack wait.
func (w *Worker) take(ctx, workCtx context.Context, msg jetstream.Msg, slots chan struct{}) {
	stopHB := w.heartbeat(msg)
	slot := false
	select {
	case slots <- struct{}{}:
		slot = true
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		if slot {
			<-slots
		}
		stopHB()
		w.answer(workCtx, msg, reply{kind: ackNak})
		return
	}
	w.busy.Add(1)
	w.lastTurn.Store(time.Now().UnixNano())
	start := time.Now()
	// The slot goes back once the item's last object is written (or when
	// handle returns): waiting on NATS for the case and the marker, it
	// would keep a transfer from starting.
	release := sync.OnceFunc(func() { <-slots })
	r := w.handle(workCtx, msg, release)
	w.lastTurn.Store(time.Now().UnixNano())
	w.busy.Add(-1)
	release()
	stopHB()
	if r.kind != "" {
		w.answer(workCtx, msg, r)
		return
	}
	t := time.Now()
	if err := w.ack(workCtx, msg); err != nil {
		// Not fatal: the item is redelivered and found already processed.
		w.log.Debug().Err(err).Msg("ack not confirmed")
	}
	w.d.Metrics.observe("ack", t)
	w.d.Metrics.observe("total", start)
}

// reply is the answer to a work item: an ack (kind ""), a nak after delay
// (when positive) or a term with reason.
type reply struct {
	kind   string
	delay  time.Duration
	reason string
}

// handle decides the answer to one work item: an ack when every object in
// it is done or dead-lettered, a nak with delay when one failed
// transiently (DLQ on the last delivery), a term when the item itself is
// unusable.
//
// release frees the item's slot; it is called, after its outputs are
// stored, by the last object of the item, and may not be called at all.
func (w *Worker) handle(ctx context.Context, msg jetstream.Msg, release func()) reply {
	w.d.Metrics.addInflight(1)
	defer w.d.Metrics.addInflight(-1)
	meta, err := msg.Metadata()
	if err != nil {
		w.log.Error().Err(err).Msg("work item without JetStream metadata")
		return reply{kind: ackTerm}
	}
	if meta.NumDelivered > 1 {
		w.d.Metrics.redelivered()
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ObjectTimeout)
	defer cancel()
	log := w.log.With().Uint64("seq", meta.Sequence.Stream).Uint64("delivery", meta.NumDelivered).Logger()

	wk, err := decodeWork(msg.Data())
	if err != nil {
		if derr := w.deadLetter(ctx, meta, 0, nil, msg.Data(), ReasonBadWork, err, ""); derr != nil {
			log.Warn().Err(derr).Msg("could not copy an undecodable work item to the DLQ; retrying")
			return w.retryLater(ctx, meta)
		}
		w.d.Metrics.object(OutcomeRejected, ReasonBadWork, "")
		log.Warn().Str("reason", ReasonBadWork).Err(err).Msg("work item rejected")
		return reply{kind: ackTerm, reason: ReasonBadWork}
	}
	for range wk.ignored {
		w.d.Metrics.object(OutcomeIgnored, "", "")
	}
	if wk.replay && meta.NumDelivered == 1 {
		// Counted by the worker that takes the re-driven item: `ingest
		// replay` is a process of its own, whose counters nobody scrapes.
		w.d.Metrics.replay()
	}
	var transient []int
	var lastErr error
	last := int(meta.NumDelivered) >= w.d.Topology.MaxDeliver
	// Objects are numbered across refs then removals (the DLQ message ids).
	n := len(wk.refs) + len(wk.removals)
	for i := range n {
		var r objResult
		if i < len(wk.refs) {
			written := func() {}
			if i == n-1 {
				written = release
			}
			r = w.object(ctx, log, meta, i, wk.refs[i], wk.replay, written)
		} else {
			r = w.removal(ctx, log, meta, i, wk.removals[i-len(wk.refs)])
		}
		if r.transient != nil {
			transient = append(transient, i)
			lastErr = r.transient
			if !last {
				w.d.Metrics.object(OutcomeRetried, "transient", r.kind)
			}
		}
	}
	if len(transient) > 0 {
		if ctx.Err() != nil && w.draining.Load() {
			return reply{kind: ackNak} // shutting down: let another process take it now
		}
		if last {
			for _, i := range transient {
				if err := w.rejectTransient(ctx, log, meta, i, wk, lastErr); err != nil {
					// Left unanswered: the max-deliveries advisory copies
					// the whole item to the DLQ.
					log.Warn().Err(err).Msg("could not dead-letter an object after its last delivery")
					return reply{kind: ackNak}
				}
			}
			return reply{kind: ackTerm, reason: ReasonRetriesExhausted}
		}
		return w.retryLater(ctx, meta)
	}
	return reply{}
}

// retryLater is a nak after the retry delay of the item's delivery count,
// jittered; at once when shutting down.
func (w *Worker) retryLater(ctx context.Context, meta *jetstream.MsgMetadata) reply {
	if ctx.Err() != nil && w.draining.Load() {
		return reply{kind: ackNak}
	}
	i := min(int(meta.NumDelivered)-1, len(w.cfg.RetryDelays)-1)
	d := w.cfg.RetryDelays[max(i, 0)]
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	return reply{kind: ackNak, delay: d}
}

// Answers to a work item, as JetStream reads them on the reply subject.
const (
	ackNak      = "-NAK"
	ackTerm     = "+TERM"
	ackProgress = "+WPI"
)

// answerBudget is how long the final answer to a work item (ack, nak,
// term) is repeated for: long enough to outlast a consumer leader
// election, short enough not to hold the item (and its place in the
// process's prefetch) for nothing, since an unanswered item only comes
// back after the ack wait and is then found already handled.
func (w *Worker) answerBudget(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 3*w.cfg.RequestTimeout)
}

// ack acknowledges a work item and waits for JetStream to confirm it.
func (w *Worker) ack(ctx context.Context, msg jetstream.Msg) error {
	actx, cancel := w.answerBudget(ctx)
	defer cancel()
	return w.req.do(actx, true, func(ctx context.Context) error { return msg.DoubleAck(ctx) })
}

// answer sends a nak (after delay, when positive) or a term (with reason)
// and waits for JetStream to confirm it, repeating it for the answer
// budget; without a connection (tests) it only sends it.
func (w *Worker) answer(ctx context.Context, msg jetstream.Msg, r reply) {
	kind, delay, reason := r.kind, r.delay, r.reason
	if w.d.Conn == nil || msg.Reply() == "" {
		switch {
		case kind == ackTerm:
			_ = msg.TermWithReason(reason)
		case delay > 0:
			_ = msg.NakWithDelay(delay)
		default:
			_ = msg.Nak()
		}
		return
	}
	body := kind
	switch {
	case kind == ackTerm && reason != "":
		body += " " + reason
	case kind == ackNak && delay > 0:
		body += fmt.Sprintf(` {"delay": %d}`, delay.Nanoseconds())
	}
	actx, cancel := w.answerBudget(ctx)
	defer cancel()
	// Shutting down: one attempt, the item comes back anyway.
	err := w.req.do(actx, !w.draining.Load(), func(ctx context.Context) error {
		_, err := w.d.Conn.RequestWithContext(ctx, msg.Reply(), []byte(body))
		return err
	})
	if err != nil {
		w.log.Debug().Err(err).Str("answer", kind).Msg("answer to a work item not confirmed")
	}
}

// heartbeat sends InProgress until the returned stop is called, so a long
// object is not redelivered to another worker while this one works. A
// heartbeat JetStream did not confirm is sent again soon.
func (w *Worker) heartbeat(msg jetstream.Msg) func() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		next := w.cfg.Heartbeat
		for sleep(ctx, next) {
			if w.d.Conn == nil || msg.Reply() == "" {
				_ = msg.InProgress()
				continue
			}
			rctx, rcancel := context.WithTimeout(ctx, w.cfg.RequestTimeout)
			_, err := w.d.Conn.RequestWithContext(rctx, msg.Reply(), []byte(ackProgress))
			rcancel()
			next = w.cfg.Heartbeat
			if err != nil && ctx.Err() == nil {
				next = min(w.cfg.Heartbeat, jittered(retryMax))
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// object handles one object of a work item. Permanent failures are
// dead-lettered here; only transient ones are returned. written is called
// once the object's outputs are stored, before its case update and marker.
func (w *Worker) object(ctx context.Context, log zerolog.Logger, meta *jetstream.MsgMetadata, idx int, ref ObjectRef, replay bool, written func()) objResult {
	objID := ObjectID(w.d.Key, ref.Bucket, ref.Key)
	log = log.With().Str("object", objID).Logger()
	in := Input{Ref: ref, ObjectID: objID, Size: ref.Size, ETag: ref.ETag}
	bucket, ok := w.d.Raw[ref.Bucket]
	if !ok {
		return w.reject(ctx, log, meta, idx, replay, in, ReasonUnknownBucket, errors.New("the object's bucket is not a configured raw bucket"), Result{})
	}
	// A notification names the version (its ETag): a version already handled
	// is then found before the object is read. The object's marker is read
	// while the object is opened (two round trips at once, not one after
	// the other); a duplicate's body is closed unread.
	vid := ""
	var seen chan dupCheck
	if ref.ETag != "" {
		vid = VersionID(w.d.Key, ref)
		seen = make(chan dupCheck, 1)
		go func() { seen <- w.handled(ctx, log, objID, vid, replay) }()
	}
	t := time.Now()
	body, info, err := objstore.OpenCapped(ctx, bucket, ref.Key, w.cfg.MaxObjectBytes)
	w.d.Metrics.observe("stat", t)
	if seen != nil {
		if c := <-seen; c.err != nil || c.dup {
			if err == nil {
				_ = body.Close()
			}
			return w.retryIf(log, c.err)
		}
	}
	switch {
	case errors.Is(err, objstore.ErrNotFound):
		w.d.Metrics.object(OutcomeGone, "", "")
		log.Info().Msg("object deleted before it was read; nothing to do")
		return objResult{}
	case errors.Is(err, objstore.ErrTooLarge):
		if replaced(ref, info) {
			// A repeat of an older version: the object's marker names the
			// newer one, which has its own work item.
			return w.superseded(log)
		}
		in.Size, in.Modified = info.Size, info.ModTime
		return w.reject(ctx, log, meta, idx, replay, in, ReasonTooLarge, err, Result{})
	case errors.Is(err, objstore.ErrInvalidKey):
		return w.reject(ctx, log, meta, idx, replay, in, ReasonInvalidKey, err, Result{})
	case err != nil:
		return w.retry(log, err, "")
	}
	// Closed here unless the processor took it (closing twice is harmless).
	defer body.Close()
	if replaced(ref, info) {
		return w.superseded(log)
	}
	if ref.ETag == "" {
		ref.ETag = info.ETag
		vid = VersionID(w.d.Key, ref)
		if c := w.handled(ctx, log, objID, vid, replay); c.err != nil || c.dup {
			return w.retryIf(log, c.err)
		}
	}
	in = Input{Ref: ref, ObjectID: objID, Size: info.Size, ETag: info.ETag, ContentType: info.ContentType, Modified: info.ModTime}
	size := info.Size
	opened := body
	in.Open = func(ctx context.Context) (io.ReadCloser, error) {
		// The first call takes the body already open; another reads again.
		rc := opened
		opened = nil
		if rc == nil {
			var err error
			if rc, err = bucket.Get(ctx, ref.Key); err != nil {
				return nil, err
			}
			rc = objstore.ExactReadCloser(rc, size)
		}
		return &countingReader{r: rc, c: rc, m: w.d.Metrics}, nil
	}
	in.OpenAt = func(ctx context.Context) (objstore.ReaderAt, error) { return bucket.GetAt(ctx, ref.Key) }

	t = time.Now()
	res, perr := w.d.Processor.Process(ctx, in)
	w.d.Metrics.observe("process", t)
	if perr != nil {
		if reason, ok := ReasonOf(perr); ok {
			return w.reject(ctx, log, meta, idx, replay, in, reason, perr, res)
		}
		return w.retry(log, perr, res.Kind)
	}
	t = time.Now()
	for _, o := range res.Outputs {
		if err := w.writeOutput(ctx, o); err != nil {
			if errors.Is(err, objstore.ErrInvalidKey) {
				return w.reject(ctx, log, meta, idx, replay, in, ReasonOther, fmt.Errorf("the processor produced an unusable output key: %w", err), Result{})
			}
			return w.retry(log, err, res.Kind)
		}
	}
	w.d.Metrics.observe("outputs", t)
	written()
	changed := true
	if res.CaseID != "" && w.d.Model != nil {
		t = time.Now()
		ur, err := w.applyCase(ctx, res)
		w.d.Metrics.observe("case", t)
		if err != nil {
			if reason, ok := ReasonOf(err); ok {
				return w.reject(ctx, log, meta, idx, replay, in, reason, err, Result{})
			}
			return w.retry(log, err, res.Kind)
		}
		changed = ur.Changed
	}
	// The marker last: until it is stored, a redelivered item is processed
	// again, which changes nothing in the case.
	if err := w.putObjectMarker(ctx, objID, vid, in, OutcomeProcessed, "", res); err != nil {
		return w.retry(log, err, res.Kind)
	}
	outcome := OutcomeProcessed
	if !changed {
		outcome = OutcomeDuplicate
	}
	w.d.Metrics.object(outcome, "", res.Kind)
	log.Debug().Str("case_id", res.CaseID).Str("kind", cleanKind(res.Kind)).Int("outputs", len(res.Outputs)).Str("outcome", outcome).Msg("object processed")
	return objResult{}
}

// dupCheck is what handled answered.
type dupCheck struct {
	dup bool
	err error
}

// handled tells whether version vid of object objID was already handled
// (then counted a duplicate): its object marker names it. A replay redoes
// any outcome but processed.
func (w *Worker) handled(ctx context.Context, log zerolog.Logger, objID, vid string, replay bool) dupCheck {
	t := time.Now()
	mk, _, found, err := w.markers.GetObject(ctx, objID)
	w.d.Metrics.observe("marker", t)
	if err != nil {
		return dupCheck{err: err}
	}
	if found && mk.Version == vid && (mk.Outcome == OutcomeProcessed || !replay) {
		w.d.Metrics.object(OutcomeDuplicate, "", "")
		log.Debug().Str("previous", mk.Outcome).Msg("object already handled")
		return dupCheck{dup: true}
	}
	return dupCheck{}
}

// replaced tells whether the object no longer holds the version ref names.
func replaced(ref ObjectRef, info objstore.ObjectInfo) bool {
	return ref.ETag != "" && info.ETag != "" && ref.ETag != info.ETag
}

// superseded counts a work item whose version the object no longer holds.
func (w *Worker) superseded(log zerolog.Logger) objResult {
	w.d.Metrics.object(OutcomeSuperseded, "", "")
	log.Info().Msg("object replaced by a newer version before it was read; the newer version has its own work item")
	return objResult{}
}

// retryIf is retry for a non-nil error, and done otherwise.
func (w *Worker) retryIf(log zerolog.Logger, err error) objResult {
	if err != nil {
		return w.retry(log, err, "")
	}
	return objResult{}
}

func (w *Worker) applyCase(ctx context.Context, res Result) (UpdateResult, error) {
	now := w.d.Now()
	ur, err := w.cases.Update(ctx, res.CaseID, func(state []byte) (Mutation, error) {
		return w.d.Model.Apply(res.CaseID, state, res.Facts, now)
	})
	if err != nil || res.AfterCase == nil {
		return ur, err
	}
	if err := res.AfterCase(ctx); err != nil {
		return ur, fmt.Errorf("after the case update: %w", err)
	}
	return ur, nil
}

func (w *Worker) writeOutput(ctx context.Context, o Output) error {
	if o.Open == nil {
		return errors.New("output without content")
	}
	rc, err := o.Open()
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	defer rc.Close()
	size := o.Size
	if size < 0 {
		size = -1
	}
	_, err = w.d.Deid.Put(ctx, o.Key, rc, size, objstore.PutOptions{ContentType: o.ContentType})
	return err
}

func (w *Worker) retry(log zerolog.Logger, err error, kind string) objResult {
	log.Warn().Err(err).Msg("transient failure")
	return objResult{transient: err, kind: kind}
}

// reject records a permanent failure: in the case (from the processor's
// result, or through the Rejecter), as a DLQ copy of the object reference,
// and as a marker so scans do not enqueue the version again.
func (w *Worker) reject(ctx context.Context, log zerolog.Logger, meta *jetstream.MsgMetadata, idx int, replay bool, in Input, reason string, cause error, res Result) objResult {
	reason = cleanReason(reason)
	if res.CaseID == "" {
		if rj, ok := w.d.Processor.(Rejecter); ok {
			r, err := rj.Reject(ctx, Input{Ref: in.Ref, ObjectID: in.ObjectID, Size: in.Size, ETag: in.ETag, ContentType: in.ContentType}, reason)
			if err != nil {
				return w.retry(log, err, "")
			}
			res = r
		}
	}
	if res.CaseID != "" && w.d.Model != nil {
		if _, err := w.applyCase(ctx, res); err != nil {
			if _, perm := ReasonOf(err); !perm {
				return w.retry(log, err, res.Kind)
			}
			log.Warn().Err(err).Msg("the case could not record the rejected object")
		}
	}
	ref := in.Ref
	// One entry per refused version: two work items for one version (an
	// event the object store sent twice) handled at once must not both
	// land. A replay's refusal is a new entry.
	id := ""
	if ref.ETag != "" && !replay {
		id = "dlq-" + w.d.Topology.WorkStream + "-v-" + VersionID(w.d.Key, ref) + "-" + reason
	}
	if err := w.deadLetter(ctx, meta, idx, &ref, nil, reason, cause, id); err != nil {
		return w.retry(log, err, res.Kind)
	}
	// The marker after the DLQ entry: until it is stored, a redelivered
	// item is refused again, and its DLQ entry is the same message. An
	// object of a bucket that is not a raw bucket gets none: nothing
	// would ever read or delete it.
	if ref.ETag != "" && reason != ReasonUnknownBucket {
		if err := w.markRejected(ctx, in, reason, res); err != nil {
			if res.CaseID != "" {
				return w.retry(log, err, res.Kind)
			}
			log.Debug().Err(err).Msg("rejection marker not stored; a scan may enqueue the object again")
		}
	}
	w.d.Metrics.object(OutcomeRejected, reason, res.Kind)
	log.Warn().Str("reason", reason).Str("case_id", res.CaseID).Err(cause).Msg("object rejected; sent to the dead-letter stream")
	return objResult{}
}

// rejectTransient dead-letters object idx of wk (a ref or a removal) that
// failed on every delivery.
func (w *Worker) rejectTransient(ctx context.Context, log zerolog.Logger, meta *jetstream.MsgMetadata, idx int, wk work, cause error) error {
	var ref ObjectRef
	if idx < len(wk.refs) {
		ref = wk.refs[idx]
		if err := w.deadLetter(ctx, meta, idx, &ref, nil, ReasonRetriesExhausted, cause, ""); err != nil {
			return err
		}
	} else {
		rm := wk.removals[idx-len(wk.refs)]
		ref = rm.Ref
		if err := w.deadLetterRemoval(ctx, meta, idx, rm, ReasonRetriesExhausted, cause); err != nil {
			return err
		}
	}
	w.d.Metrics.object(OutcomeRejected, ReasonRetriesExhausted, "")
	log.Error().Str("object", ObjectID(w.d.Key, ref.Bucket, ref.Key)).Err(cause).Msg("object failed on every delivery; sent to the dead-letter stream")
	return nil
}

// DLQ headers.
const (
	HeaderReason     = "Printreg-Reason"
	HeaderError      = "Printreg-Error"
	HeaderObject     = "Printreg-Object"
	HeaderVersion    = "Printreg-Version"
	HeaderDeliveries = "Printreg-Deliveries"
	HeaderWorkSeq    = "Printreg-Work-Seq"
	HeaderFailedAt   = "Printreg-Failed-At"
	// HeaderRaw marks an entry whose body is the original work message
	// (undecodable, or taken from a max-deliveries advisory) rather than a
	// work item for one object.
	HeaderRaw = "Printreg-Raw"
)

// deadLetter copies a failed work item to the DLQ before it is terminated.
// The body is a work item naming the object (ref set), or the original
// message (raw); the headers hold only the reason, a PHI-free error text and
// hashed ids. The message id makes a repeat after a crash a no-op.
//
// id is the entry's message id ("": one per work item and object).
func (w *Worker) deadLetter(ctx context.Context, meta *jetstream.MsgMetadata, idx int, ref *ObjectRef, raw []byte, reason string, cause error, id string) error {
	if ref == nil {
		return w.deadLetterMsg(ctx, meta, idx, nil, raw, reason, cause, id)
	}
	body, err := encodeWork(*ref, false)
	if err != nil {
		return err
	}
	return w.deadLetterMsg(ctx, meta, idx, ref, body, reason, cause, id)
}

// deadLetterRemoval copies a removal that failed to the DLQ as a removal
// work item, so a replay retracts the object again.
func (w *Worker) deadLetterRemoval(ctx context.Context, meta *jetstream.MsgMetadata, idx int, rm removal, reason string, cause error) error {
	body, err := encodeRemoval(rm.Ref, rm.Deleted, false)
	if err != nil {
		return err
	}
	return w.deadLetterMsg(ctx, meta, idx, &rm.Ref, body, reason, cause, "")
}

// deadLetterMsg publishes one DLQ entry: body is a work item naming ref,
// or (ref nil) the original message.
func (w *Worker) deadLetterMsg(ctx context.Context, meta *jetstream.MsgMetadata, idx int, ref *ObjectRef, body []byte, reason string, cause error, id string) error {
	reason = cleanReason(reason)
	msg := &nats.Msg{Subject: w.d.Topology.DLQSubjectFor(reason), Header: nats.Header{}, Data: body}
	if ref != nil {
		msg.Header.Set(HeaderObject, ObjectID(w.d.Key, ref.Bucket, ref.Key))
		if ref.ETag != "" {
			msg.Header.Set(HeaderVersion, VersionID(w.d.Key, *ref))
		}
	} else {
		msg.Header.Set(HeaderRaw, "1")
	}
	msg.Header.Set(HeaderReason, reason)
	if cause != nil {
		msg.Header.Set(HeaderError, oneLine(cause.Error(), 512))
	}
	var seq uint64
	if meta != nil {
		seq = meta.Sequence.Stream
		msg.Header.Set(HeaderDeliveries, strconv.FormatUint(meta.NumDelivered, 10))
		msg.Header.Set(HeaderWorkSeq, strconv.FormatUint(seq, 10))
	}
	msg.Header.Set(HeaderFailedAt, w.d.Now().UTC().Format(time.RFC3339Nano))
	if id == "" {
		id = fmt.Sprintf("dlq-%s-%d-%d", w.d.Topology.WorkStream, seq, idx)
	}
	msg.Header.Set(jetstream.MsgIDHeader, id)
	// Repeated while the budget lasts (the message id makes that safe),
	// even after the object's own time is up.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(30*time.Second, 3*w.cfg.RequestTimeout))
	defer cancel()
	if _, err := w.d.JS.PublishMsg(pctx, msg, jetstream.WithExpectStream(w.d.Topology.DLQStream)); err != nil {
		return fmt.Errorf("dead-letter copy: %w", err)
	}
	return nil
}

// oneLine flattens and bounds an error text for a header.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// countingReader counts bytes read from raw objects.
type countingReader struct {
	r io.Reader
	c io.Closer
	m *Metrics
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.readBytes(n)
	return n, err
}

func (c *countingReader) Close() error { return c.c.Close() }

// releaseWhenIdle hands free memory back to the system once the worker has
// had no object in hand for IdleRelease, and every IdleRelease while it
// stays idle (what timers, health checks and scrapes allocate meanwhile).
// It costs one collection of a heap that is small when idle.
func (w *Worker) releaseWhenIdle(ctx context.Context) {
	t := time.NewTicker(max(time.Second, w.cfg.IdleRelease/4))
	defer t.Stop()
	var released time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.busy.Load() > 0 || time.Since(time.Unix(0, w.lastTurn.Load())) < w.cfg.IdleRelease || time.Since(released) < w.cfg.IdleRelease {
			continue
		}
		debug.FreeOSMemory()
		released = time.Now()
	}
}

func (w *Worker) statsLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.StatsInterval)
	defer t.Stop()
	for {
		w.sampleStats(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) sampleStats(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dlq, pending := -1.0, -1.0
	if ci, err := w.cons.Info(ctx); err == nil {
		pending = float64(ci.NumPending)
		w.pending.Store(int64(ci.NumPending))
		w.lastOK.Store(time.Now().UnixNano())
	} else {
		w.pending.Store(-1)
	}
	if s, err := w.d.JS.Stream(ctx, w.d.Topology.DLQStream); err == nil {
		if si, err := s.Info(ctx); err == nil {
			dlq = float64(si.State.Msgs)
		}
	}
	w.d.Metrics.setDepths(dlq, pending)
}

func (w *Worker) sweepLoop(ctx context.Context) {
	for {
		// Jitter spreads processes that started together.
		d := w.cfg.SweepInterval + time.Duration(rand.Int64N(int64(w.cfg.SweepInterval)/5+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		// A sweep repeats requests while its budget lasts, then leaves
		// the rest to the next sweep.
		sctx, cancel := context.WithTimeout(ctx, max(time.Minute, 10*w.cfg.RequestTimeout))
		res, err := w.cases.Sweep(sctx, w.d.Now(), w.d.Model.Tick, SettleWith(w.d.Processor, w.d.Model))
		cancel()
		if err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("timer sweep failed")
			continue
		}
		if res.Fired > 0 || res.Errors > 0 {
			w.log.Info().Int("due", res.Due).Int("fired", res.Fired).Int("errors", res.Errors).Msg("completeness timers")
		}
	}
}

// subscribeMaxDeliveries dead-letters work items that reached MaxDeliver
// without an answer (the worker died on each delivery): JetStream announces
// them with an advisory and keeps them in the work stream. One process of
// the queue group copies each to the DLQ, then deletes it from the stream.
func (w *Worker) subscribeMaxDeliveries(ctx context.Context) (*nats.Subscription, error) {
	subj := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + w.d.Topology.WorkStream + "." + w.d.Topology.Consumer
	return w.d.Conn.QueueSubscribe(subj, "printreg-ingest-advisories", func(m *nats.Msg) {
		var adv struct {
			StreamSeq  uint64 `json:"stream_seq"`
			Deliveries uint64 `json:"deliveries"`
		}
		if json.Unmarshal(m.Data, &adv) != nil || adv.StreamSeq == 0 {
			return
		}
		actx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		stream, err := w.d.JS.Stream(actx, w.d.Topology.WorkStream)
		if err != nil {
			return
		}
		raw, err := stream.GetMsg(actx, adv.StreamSeq)
		if err != nil {
			return // already gone (answered late)
		}
		meta := &jetstream.MsgMetadata{NumDelivered: adv.Deliveries}
		meta.Sequence.Stream = adv.StreamSeq
		if err := w.deadLetter(actx, meta, 0, nil, raw.Data, ReasonMaxDeliveries, errors.New("no worker answered the work item on any delivery"), ""); err != nil {
			w.log.Warn().Err(err).Uint64("seq", adv.StreamSeq).Msg("could not dead-letter a work item past its last delivery")
			return
		}
		if err := stream.DeleteMsg(actx, adv.StreamSeq); err != nil {
			w.log.Debug().Err(err).Uint64("seq", adv.StreamSeq).Msg("dead-lettered work item not deleted")
		}
		w.d.Metrics.object(OutcomeRejected, ReasonMaxDeliveries, "")
		w.log.Error().Uint64("seq", adv.StreamSeq).Uint64("deliveries", adv.Deliveries).Msg("work item reached its delivery limit unanswered; sent to the dead-letter stream")
	})
}
