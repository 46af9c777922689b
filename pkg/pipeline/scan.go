package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/sitekey"
)

// Scanner enqueues objects that have not been processed: `ingest scan`
// (backfill, and repair of notifications MinIO dropped) and the embedded
// inbox watcher, which also enqueues the removal of files deleted from the
// inbox (EnqueueRemoval). Each work item is published with Nats-Msg-Id
// derived from the object version and its modification time, so
// overlapping scans within the work stream's duplicate window enqueue an
// object once, while the same content deleted and dropped again is
// enqueued anew; versions with a processed (or rejected) marker are
// skipped; anything enqueued twice anyway is recognised by the worker and
// changes nothing.
type Scanner struct {
	js      jetstream.JetStream
	topo    Topology
	key     *sitekey.Key
	markers *Markers
	log     zerolog.Logger
	m       *Metrics
}

// NewScanner binds to the work stream and processed markers of topo.
func NewScanner(ctx context.Context, js jetstream.JetStream, topo Topology, key *sitekey.Key, log zerolog.Logger, m *Metrics) (*Scanner, error) {
	markers, err := OpenMarkers(ctx, js, topo)
	if err != nil {
		return nil, err
	}
	return &Scanner{js: js, topo: topo, key: key, markers: markers, log: log.With().Str("component", "scan").Logger(), m: m}, nil
}

// ScanStats counts one scan.
type ScanStats struct {
	Listed   int `json:"listed"`
	Enqueued int `json:"enqueued"`
	// Queued counts objects already waiting in the work stream (a repeat
	// the stream deduplicated).
	Queued int `json:"already_queued"`
	// Done counts objects with a processed or rejected marker.
	Done int `json:"already_done"`
	// Gone counts objects deleted during the scan.
	Gone int `json:"gone"`
}

// maxAsyncPending bounds unacknowledged asynchronous publishes.
const maxAsyncPending = 256

// Scan lists b under prefix and enqueues every object version without a
// marker, from source (SourceScan or SourceInbox).
func (s *Scanner) Scan(ctx context.Context, b objstore.Bucket, prefix, source string) (ScanStats, error) {
	var st ScanStats
	var futures []jetstream.PubAckFuture
	count := func(ack *jetstream.PubAck) {
		if ack.Duplicate {
			st.Queued++
		} else {
			st.Enqueued++
			s.m.enqueue(source)
		}
	}
	settle := func() error {
		var errs []error
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				count(ack)
			case err := <-f.Err():
				// An unanswered publish (a stream leader changing) is
				// sent again: the message id makes it land once.
				ack, rerr := s.republish(ctx, f.Msg(), err)
				if rerr != nil {
					errs = append(errs, rerr)
					continue
				}
				count(ack)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		futures = futures[:0]
		if len(errs) > 0 {
			return fmt.Errorf("scan: enqueue: %w", errors.Join(errs...))
		}
		return nil
	}
	err := b.List(ctx, prefix, func(oi objstore.ObjectInfo) error {
		st.Listed++
		f, state, err := s.enqueue(ctx, b, oi, source)
		if err != nil {
			return err
		}
		switch state {
		case stateDone:
			st.Done++
		case stateGone:
			st.Gone++
		case statePublished:
			futures = append(futures, f)
			if len(futures) >= maxAsyncPending {
				return settle()
			}
		}
		return nil
	})
	if serr := settle(); err == nil {
		err = serr
	}
	if err != nil {
		return st, err
	}
	s.log.Info().Str("source", source).Int("listed", st.Listed).Int("enqueued", st.Enqueued).
		Int("already_queued", st.Queued).Int("already_done", st.Done).Msg("scan finished")
	return st, nil
}

// republish sends again a work item whose asynchronous publish failed with
// err, while the failure is one a cluster's leader change causes (no
// answer, a timeout): a few tries with backoff, each with its own deadline.
// The item's message id makes a repeat land once.
func (s *Scanner) republish(ctx context.Context, msg *nats.Msg, err error) (*jetstream.PubAck, error) {
	wait := 250 * time.Millisecond
	for try := 0; try < 6 && (Retryable(err) || errors.Is(err, jetstream.ErrAsyncPublishTimeout)); try++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 4*time.Second)
		rctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
		var ack *jetstream.PubAck
		ack, err = s.js.PublishMsg(rctx, msg, jetstream.WithMsgID(msg.Header.Get(jetstream.MsgIDHeader)), jetstream.WithExpectStream(s.topo.WorkStream))
		cancel()
		if err == nil {
			return ack, nil
		}
	}
	return nil, fmt.Errorf("scan: enqueue: %w", err)
}

type enqueueState int

const (
	statePublished enqueueState = iota
	stateDone
	stateGone
)

// enqueue publishes a work item for one listed object unless its version
// is already handled.
func (s *Scanner) enqueue(ctx context.Context, b objstore.Bucket, oi objstore.ObjectInfo, source string) (jetstream.PubAckFuture, enqueueState, error) {
	ref := ObjectRef{Bucket: b.Name(), Key: oi.Key, ETag: oi.ETag, VersionID: oi.VersionID, Size: oi.Size}
	if ref.ETag == "" {
		info, err := b.Stat(ctx, oi.Key)
		if errors.Is(err, objstore.ErrNotFound) {
			return nil, stateGone, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("scan: object %s: %w", ObjectID(s.key, ref.Bucket, ref.Key), err)
		}
		ref.ETag, ref.Size = info.ETag, info.Size
	}
	vid := VersionID(s.key, ref)
	if done, err := s.markers.Handled(ctx, ObjectID(s.key, ref.Bucket, ref.Key), vid); err != nil {
		return nil, 0, err
	} else if done {
		return nil, stateDone, nil
	}
	body, err := encodeWork(ref, false)
	if err != nil {
		return nil, 0, err
	}
	// The modification time tells the same content dropped again after its
	// deletion (retracted, markers gone) from a repeat of this scan.
	id := "obj-" + vid
	if !oi.ModTime.IsZero() {
		id += "-" + strconv.FormatInt(oi.ModTime.UnixNano(), 36)
	}
	msg := &nats.Msg{Subject: s.topo.WorkSubjectFor(source), Data: body}
	f, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(s.topo.WorkStream))
	if err != nil {
		return nil, 0, fmt.Errorf("scan: enqueue: %w", err)
	}
	return f, statePublished, nil
}

// EnqueueOne enqueues one object version (the inbox watcher's path). It
// reports whether a work item was published or was already queued.
func (s *Scanner) EnqueueOne(ctx context.Context, b objstore.Bucket, oi objstore.ObjectInfo, source string) (bool, error) {
	f, state, err := s.enqueue(ctx, b, oi, source)
	if err != nil || state != statePublished {
		return false, err
	}
	select {
	case ack := <-f.Ok():
		if !ack.Duplicate {
			s.m.enqueue(source)
		}
		return true, nil
	case err := <-f.Err():
		return false, fmt.Errorf("enqueue: %w", err)
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// EnqueueRemoval enqueues the deletion of the object key of b, seen at
// deleted (the inbox watcher's path): the worker retracts what the object
// left in its case, unless the object exists again by then. The work
// item's Nats-Msg-Id derives from the object and deleted, so a call
// repeated with the same arguments (an unconfirmed publish) enqueues it
// once.
func (s *Scanner) EnqueueRemoval(ctx context.Context, b objstore.Bucket, key string, deleted time.Time, source string) error {
	ref := ObjectRef{Bucket: b.Name(), Key: key}
	objID := ObjectID(s.key, ref.Bucket, ref.Key)
	body, err := encodeRemoval(ref, deleted, false)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: s.topo.WorkSubjectFor(source), Data: body}
	id := "rm-" + objID + "-" + strconv.FormatInt(deleted.UnixNano(), 36)
	pctx, cancel := context.WithTimeout(ctx, DefaultRequestTimeout)
	defer cancel()
	ack, err := s.js.PublishMsg(pctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectStream(s.topo.WorkStream))
	if err != nil {
		return fmt.Errorf("enqueue removal of object %s: %w", objID, err)
	}
	if !ack.Duplicate {
		s.m.enqueue(source)
	}
	return nil
}
