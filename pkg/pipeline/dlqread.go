package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// EachDLQ calls f with each dead-letter entry (with reason, only those),
// in order, up to the last one stored when it began, until f returns false
// or an error. What is stored is read at once; a fetch that waits is only
// tried when one that does not came back empty. A missing DLQ stream is
// jetstream.ErrStreamNotFound.
func EachDLQ(ctx context.Context, js jetstream.JetStream, topo Topology, reason string, f func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error)) error {
	stream, err := js.Stream(ctx, topo.DLQStream)
	if err != nil {
		return err
	}
	info := stream.CachedInfo() // js.Stream has just fetched it
	if info.State.Msgs == 0 {
		return nil
	}
	last := info.State.LastSeq
	filter := topo.DLQSubject + ".>"
	if reason != "" {
		filter = topo.DLQSubjectFor(reason)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return err
	}
	wait := false
	for {
		var batch jetstream.MessageBatch
		if wait {
			batch, err = cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		} else {
			batch, err = cons.FetchNoWait(256)
		}
		if err != nil {
			return err
		}
		n, done := 0, false
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil || done {
				continue
			}
			seq := meta.Sequence.Stream
			if seq > last {
				done = true
				continue
			}
			more, err := f(msg, meta)
			if err != nil {
				return err
			}
			if !more || seq == last || meta.NumPending == 0 {
				done = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return err
		}
		switch {
		case done || (n == 0 && wait):
			return nil
		case n == 0:
			wait = true
		default:
			wait = false
		}
	}
}
