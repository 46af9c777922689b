package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DefaultRequestTimeout bounds one NATS request of a worker (see
// WorkerConfig.RequestTimeout).
const DefaultRequestTimeout = 5 * time.Second

// Why requests need their own deadline: on a JetStream cluster, a request
// that reached a stream leader just before it died, or a direct get routed
// to a replica that is still catching up after a restart, is never
// answered. It waits for its context, and an object's context lasts the
// object timeout (30 minutes by default); the worker's slot stays taken
// that long, and every other object of the same case waits on the case
// lock behind it. So each request gets a short deadline of its own, and
// what is safe to repeat is repeated with backoff while the object's time
// lasts: a leader change then costs seconds.
//
// Safe to repeat: reads; compare-and-set writes (Create, Update, Delete
// with a revision; a write that did land makes the repeat fail with a
// conflict, which the callers already answer by reading again); plain Put
// and Delete, whose repeat stores the same thing again; publishes carrying
// a Nats-Msg-Id, which JetStream deduplicates.

// requests bounds and repeats NATS requests.
type requests struct {
	timeout time.Duration
	log     zerolog.Logger
}

func newRequests(timeout time.Duration, log zerolog.Logger) requests {
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	return requests{timeout: timeout, log: log}
}

// Backoff between attempts: from retryFirst, doubling to retryMax, ±20%.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 2 * time.Second
)

func jittered(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// sleep waits d or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// do runs fn with a deadline of r.timeout per attempt; when repeat is set,
// it runs it again after a retryable failure, with backoff, until ctx ends.
// It returns the last attempt's error.
func (r requests) do(ctx context.Context, repeat bool, fn func(ctx context.Context) error) error {
	backoff := retryFirst
	for {
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		err := fn(actx)
		cancel()
		if err == nil || !repeat || !Retryable(err) || ctx.Err() != nil {
			return err
		}
		if !sleep(ctx, jittered(backoff)) {
			return err
		}
		backoff = min(2*backoff, retryMax)
	}
}

// Retryable reports whether a NATS or JetStream error may go away by
// itself: a timeout, no responders, a disconnected client, or a JetStream
// API error of the 5xx kind (cluster not available, stream offline, not
// the leader) — what a leader change or a restarting server looks like.
// Missing resources, conflicts and a closed connection are not.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrNoServers),
		errors.Is(err, nats.ErrStaleConnection):
		return true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return false
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code >= 500
}

// missing reports whether err says a stream, consumer or bucket does not
// exist: the one start-up failure `ingest setup` fixes.
func missing(err error) bool {
	return errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound)
}

// SetupHint is appended to a start-up error: the operator is sent to
// `ingest setup` only when something is missing.
func SetupHint(err error) string {
	if missing(err) {
		return " (run `ingest setup`)"
	}
	return ""
}

// await runs fn until it succeeds, fails for good, or ctx ends: start-up
// waits while the cluster elects leaders or a server restarts, logging
// that it waits, rather than giving up on a condition that passes.
func (r requests) await(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	backoff := 250 * time.Millisecond
	var first, logged time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		err := fn(actx)
		cancel()
		if err == nil {
			if !first.IsZero() {
				r.log.Info().Str("waited_for", what).Dur("waited", time.Since(first).Round(time.Millisecond)).Msg("JetStream answered")
			}
			return nil
		}
		if !Retryable(err) || ctx.Err() != nil {
			return err
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		if logged.IsZero() || now.Sub(logged) >= 10*time.Second {
			logged = now
			r.log.Warn().Err(err).Dur("waited", now.Sub(first).Round(time.Millisecond)).
				Msg("waiting for JetStream: " + what + " (a leader election, or a server starting)")
		}
		if !sleep(ctx, jittered(backoff)) {
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// WithRequestTimeout returns js with every request bounded by timeout
// (DefaultRequestTimeout when not positive) and repeated while safe:
//
//   - KeyValue and Consumer wait for the cluster (leader elections, a
//     server starting), logging "waiting for JetStream", until ctx ends;
//     they fail at once only for what does not exist (then the operator
//     runs `ingest setup`) or cannot work.
//   - The KeyValue buckets it returns bound each Get, Put, Create, Update,
//     Delete, Purge and key listing and repeat them after a timeout, a
//     missing responder or a cluster error, with backoff, while the
//     caller's context lasts.
//   - PublishMsg and Publish are bounded; they are repeated only when the
//     message carries a Nats-Msg-Id (JetStream drops the copies).
//
// The worker wraps its JetStream itself; pass the wrapped one to domain
// code that opens buckets of its own (assemble.New), so that its requests
// are bounded too. Wrapping again replaces the timeout.
func WithRequestTimeout(js jetstream.JetStream, timeout time.Duration, log zerolog.Logger) jetstream.JetStream {
	if b, ok := js.(*boundedJS); ok {
		js = b.JetStream
	}
	return &boundedJS{JetStream: js, r: newRequests(timeout, log)}
}

type boundedJS struct {
	jetstream.JetStream
	r requests
}

func (j *boundedJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := j.r.await(ctx, "KV bucket "+bucket, func(ctx context.Context) error {
		var err error
		kv, err = j.JetStream.KeyValue(ctx, bucket)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &boundedKV{KeyValue: kv, r: j.r}, nil
}

func (j *boundedJS) Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := j.r.await(ctx, "consumer "+name+" on "+stream, func(ctx context.Context) error {
		var err error
		c, err = j.JetStream.Consumer(ctx, stream, name)
		return err
	})
	return c, err
}

func (j *boundedJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	var ack *jetstream.PubAck
	backoff := retryFirst
	for {
		actx, cancel := context.WithTimeout(ctx, j.r.timeout)
		var err error
		ack, err = j.JetStream.PublishMsg(actx, msg, opts...)
		cancel()
		// The message id option lands in the header on the first
		// attempt; without one a repeat could store the event twice.
		if err == nil || msg.Header.Get(jetstream.MsgIDHeader) == "" || !Retryable(err) || ctx.Err() != nil {
			return ack, err
		}
		if !sleep(ctx, jittered(backoff)) {
			return ack, err
		}
		backoff = min(2*backoff, retryMax)
	}
}

func (j *boundedJS) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return j.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data}, opts...)
}

// boundedKV bounds and repeats the requests of one bucket (see
// WithRequestTimeout). Watches pass through unchanged.
type boundedKV struct {
	jetstream.KeyValue
	r requests
}

func (b *boundedKV) Get(ctx context.Context, key string) (e jetstream.KeyValueEntry, err error) {
	err = b.r.do(ctx, true, func(ctx context.Context) error { e, err = b.KeyValue.Get(ctx, key); return err })
	return e, err
}

func (b *boundedKV) GetRevision(ctx context.Context, key string, revision uint64) (e jetstream.KeyValueEntry, err error) {
	err = b.r.do(ctx, true, func(ctx context.Context) error { e, err = b.KeyValue.GetRevision(ctx, key, revision); return err })
	return e, err
}

func (b *boundedKV) Put(ctx context.Context, key string, value []byte) (rev uint64, err error) {
	err = b.r.do(ctx, true, func(ctx context.Context) error { rev, err = b.KeyValue.Put(ctx, key, value); return err })
	return rev, err
}

func (b *boundedKV) PutString(ctx context.Context, key, value string) (uint64, error) {
	return b.Put(ctx, key, []byte(value))
}

func (b *boundedKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (rev uint64, err error) {
	err = b.r.do(ctx, true, func(ctx context.Context) error { rev, err = b.KeyValue.Create(ctx, key, value, opts...); return err })
	return rev, err
}

func (b *boundedKV) Update(ctx context.Context, key string, value []byte, revision uint64) (rev uint64, err error) {
	err = b.r.do(ctx, true, func(ctx context.Context) error { rev, err = b.KeyValue.Update(ctx, key, value, revision); return err })
	return rev, err
}

func (b *boundedKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return b.r.do(ctx, true, func(ctx context.Context) error { return b.KeyValue.Delete(ctx, key, opts...) })
}

func (b *boundedKV) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	return b.r.do(ctx, true, func(ctx context.Context) error { return b.KeyValue.Purge(ctx, key, opts...) })
}

// ListKeys lists the bucket's keys in full or fails: the listing's watcher
// must make progress (a key, or the end of the listing) within the request
// timeout, else it is started again. The keys are collected before they
// are handed out (callers list small buckets: the timer index).
func (b *boundedKV) ListKeys(ctx context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyLister, error) {
	var keys []string
	err := b.r.do(ctx, true, func(context.Context) error {
		// Bounded by progress rather than by the attempt's deadline.
		var err error
		keys, err = b.listOnce(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, jetstream.ErrNoKeysFound
	}
	ch := make(chan string, len(keys))
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	return sliceLister(ch), nil
}

func (b *boundedKV) listOnce(ctx context.Context, opts []jetstream.WatchOpt) ([]string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	idle := time.AfterFunc(b.r.timeout, func() { stalled.Store(true); cancel() })
	defer idle.Stop()
	w, err := b.KeyValue.WatchAll(wctx, append(append([]jetstream.WatchOpt(nil), opts...), jetstream.IgnoreDeletes(), jetstream.MetaOnly())...)
	if err != nil {
		if stalled.Load() {
			return nil, fmt.Errorf("list keys: %w", context.DeadlineExceeded)
		}
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var keys []string
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("list keys: the watcher stopped: %w", context.DeadlineExceeded)
			}
			if e == nil {
				return keys, nil
			}
			keys = append(keys, e.Key())
			idle.Reset(b.r.timeout)
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("list keys: no progress for %s: %w", b.r.timeout, context.DeadlineExceeded)
		}
	}
}

type sliceLister chan string

func (l sliceLister) Keys() <-chan string { return l }
func (l sliceLister) Stop() error         { return nil }
