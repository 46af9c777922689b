package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// ErrNoDLQEntry means the DLQ holds no entry with the sequence asked for
// (replayed, expired, or never there).
var ErrNoDLQEntry = errors.New("no such DLQ entry")

// ReplayEntry re-drives one DLQ entry, named by its sequence in the DLQ
// stream, exactly as Replay re-drives each entry: copied back to the work
// stream with a Nats-Msg-Id derived from the sequence, then deleted from
// the DLQ.
func ReplayEntry(ctx context.Context, js jetstream.JetStream, topo Topology, seq uint64, log zerolog.Logger, m *Metrics) error {
	stream, err := js.Stream(ctx, topo.DLQStream)
	if err != nil {
		return fmt.Errorf("replay: stream %s: %w", topo.DLQStream, err)
	}
	if _, err := stream.GetMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ErrNoDLQEntry
		}
		return fmt.Errorf("replay: %w", err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{topo.DLQSubject + ".>"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    seq,
	})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if meta.Sequence.Stream != seq {
		return ErrNoDLQEntry // deleted between the look and the read
	}
	if err := replayOne(ctx, js, topo, stream, msg, seq); err != nil {
		return err
	}
	log = log.With().Str("component", "replay").Logger()
	log.Info().Uint64("dlq_seq", seq).
		Str("reason", msg.Headers().Get(HeaderReason)).Str("object", msg.Headers().Get(HeaderObject)).Msg("DLQ entry re-driven")
	return nil
}
