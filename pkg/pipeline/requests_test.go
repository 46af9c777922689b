package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/internal/testenv"
)

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("case x: read: %w", nats.ErrTimeout), true},
		{nats.ErrNoResponders, true},
		{jetstream.ErrNoStreamResponse, true},
		{nats.ErrConnectionReconnecting, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 500, ErrorCode: 10118, Description: "stream is offline"}, true},
		{jetstream.ErrJetStreamNotEnabled, true},
		{context.Canceled, false},
		{nats.ErrConnectionClosed, false},
		{jetstream.ErrKeyNotFound, false},
		{jetstream.ErrKeyExists, false},
		{jetstream.ErrBucketNotFound, false},
		{jetstream.ErrStreamNotFound, false},
		{jetstream.ErrConsumerNotFound, false},
		{jetstream.ErrJetStreamNotEnabledForAccount, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence"}, false},
		{errors.New("something else"), false},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// fakeKV answers Get from script: each call takes the next entry; "hang"
// waits for the request's context (a request nobody answers).
type fakeKV struct {
	jetstream.KeyValue
	calls  atomic.Int32
	script []string
}

func (f *fakeKV) step() string {
	i := int(f.calls.Add(1)) - 1
	return f.script[min(i, len(f.script)-1)]
}

func (f *fakeKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	switch f.step() {
	case "hang":
		<-ctx.Done()
		return nil, ctx.Err()
	case "noresp":
		return nil, nats.ErrNoResponders
	case "missing":
		return nil, jetstream.ErrKeyNotFound
	default:
		return nil, nil
	}
}

func (f *fakeKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	switch f.step() {
	case "hang":
		<-ctx.Done()
		return 0, ctx.Err()
	case "conflict":
		return 0, jetstream.ErrKeyExists
	default:
		return rev + 1, nil
	}
}

// TestBoundedRequestOutlivesAHungOne: a request nobody answers costs one
// request timeout, then the repeat succeeds, although the caller's context
// (the object's time) is half an hour.
func TestBoundedRequestOutlivesAHungOne(t *testing.T) {
	f := &fakeKV{script: []string{"hang", "noresp", "ok"}}
	kv := &boundedKV{KeyValue: f, r: newRequests(200*time.Millisecond, zerolog.Nop())}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := kv.Get(c, "k"); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %s", d)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

// TestBoundedRequestStopsWithTheObject: repeats end with the caller's
// context.
func TestBoundedRequestStopsWithTheObject(t *testing.T) {
	f := &fakeKV{script: []string{"hang"}}
	kv := &boundedKV{KeyValue: f, r: newRequests(100*time.Millisecond, zerolog.Nop())}
	c, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := kv.Get(c, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want a deadline error", err)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 2*time.Second {
		t.Errorf("Get gave up after %s, want about 700ms", d)
	}
	if n := f.calls.Load(); n < 3 {
		t.Errorf("only %d attempts", n)
	}
}

// TestBoundedRequestKeepsDefiniteAnswers: a missing key or a lost
// compare-and-set is an answer, returned at once.
func TestBoundedRequestKeepsDefiniteAnswers(t *testing.T) {
	f := &fakeKV{script: []string{"missing"}}
	kv := &boundedKV{KeyValue: f, r: newRequests(time.Second, zerolog.Nop())}
	if _, err := kv.Get(context.Background(), "k"); !errors.Is(err, jetstream.ErrKeyNotFound) || f.calls.Load() != 1 {
		t.Errorf("Get = %v after %d calls", err, f.calls.Load())
	}
	f = &fakeKV{script: []string{"hang", "conflict"}}
	kv = &boundedKV{KeyValue: f, r: newRequests(100*time.Millisecond, zerolog.Nop())}
	// The first write may have landed: its repeat then meets its own
	// revision and reports a conflict, which the caller reads again for.
	if _, err := kv.Update(context.Background(), "k", nil, 3); !IsConflict(err) || f.calls.Load() != 2 {
		t.Errorf("Update = %v after %d calls", err, f.calls.Load())
	}
}

// fakeJS scripts bucket lookups and publishes.
type fakeJS struct {
	jetstream.JetStream
	lookups   []error // one per KeyValue call; the last repeats
	calls     atomic.Int32
	publishes atomic.Int32
}

func (f *fakeJS) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	i := int(f.calls.Add(1)) - 1
	if err := f.lookups[min(i, len(f.lookups)-1)]; err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, err
	}
	return &fakeKV{script: []string{"ok"}}, nil
}

func (f *fakeJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	f.publishes.Add(1)
	return nil, jetstream.ErrNoStreamResponse
}

// TestStartupWaitsForTheCluster: opening the buckets waits, with a log
// line, while the cluster does not answer; only a bucket that does not
// exist sends the operator to `ingest setup`.
func TestStartupWaitsForTheCluster(t *testing.T) {
	var logs testenv.Buffer
	log := zerolog.New(&logs)
	topo := DefaultTopology()
	f := &fakeJS{lookups: []error{context.DeadlineExceeded, nats.ErrNoResponders,
		&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, nil}}
	js := WithRequestTimeout(f, 100*time.Millisecond, log)
	if _, err := OpenCaseStore(context.Background(), js, topo, nil, log); err != nil {
		t.Fatalf("OpenCaseStore while the cluster elects: %v", err)
	}
	if !strings.Contains(logs.String(), "waiting for JetStream: KV bucket "+topo.CasesBucket) || !strings.Contains(logs.String(), "JetStream answered") {
		t.Errorf("no waiting log line:\n%s", logs.String())
	}

	f = &fakeJS{lookups: []error{nats.ErrNoResponders, jetstream.ErrBucketNotFound}}
	_, err := OpenCaseStore(context.Background(), WithRequestTimeout(f, 100*time.Millisecond, log), topo, nil, log)
	if !errors.Is(err, jetstream.ErrBucketNotFound) || !strings.Contains(err.Error(), "ingest setup") {
		t.Errorf("missing bucket: %v", err)
	}

	f = &fakeJS{lookups: []error{context.DeadlineExceeded}}
	c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = OpenMarkers(c, WithRequestTimeout(f, 100*time.Millisecond, log), topo)
	if err == nil || strings.Contains(err.Error(), "ingest setup") {
		t.Errorf("a cluster that never answers: %v (no setup hint wanted)", err)
	}
}

// TestPublishRepeatsOnlyWithAMessageID: a publish JetStream did not confirm
// is repeated only when a Nats-Msg-Id lets JetStream drop a copy.
func TestPublishRepeatsOnlyWithAMessageID(t *testing.T) {
	f := &fakeJS{}
	js := WithRequestTimeout(f, 50*time.Millisecond, zerolog.Nop())
	c, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := js.PublishMsg(c, &nats.Msg{Subject: "s", Data: []byte("x")}); err == nil || f.publishes.Load() != 1 {
		t.Errorf("publish without id: %v after %d attempts, want one attempt", err, f.publishes.Load())
	}
	f.publishes.Store(0)
	msg := &nats.Msg{Subject: "s", Data: []byte("x"), Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, "event-1")
	if _, err := js.PublishMsg(c, msg); err == nil || f.publishes.Load() < 2 {
		t.Errorf("publish with id: %v after %d attempts, want repeats until the deadline", err, f.publishes.Load())
	}
}

// TestBoundedListKeys lists a bucket in full through the wrapper, and an
// empty one as no keys.
func TestBoundedListKeys(t *testing.T) {
	n, topo := storeEnv(t)
	_, raw := n.Connect(t)
	js := WithRequestTimeout(raw, time.Second, zerolog.Nop())
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kv, err := js.KeyValue(c, topo.TimersBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.ListKeys(c); !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Errorf("empty bucket: %v", err)
	}
	var want []string
	for i := range 300 {
		k := fmt.Sprintf("case-%03d", i)
		want = append(want, k)
		if _, err := kv.Put(c, k, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(c, "case-000"); err != nil {
		t.Fatal(err)
	}
	l, err := kv.ListKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range l.Keys() {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want[1:]) {
		t.Errorf("listed %d keys, want %d", len(got), len(want)-1)
	}
}
