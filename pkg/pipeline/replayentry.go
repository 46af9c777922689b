package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
func ReplayEntry(ctx context.Context, js jetstream.JetStream, topo Topology, seq uint64, log zerolog.Logger) error {
	stream, err := js.Stream(ctx, topo.DLQStream)
	if err != nil {
		return fmt.Errorf("replay: stream %s: %w", topo.DLQStream, err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return ErrNoDLQEntry
		}
		return fmt.Errorf("replay: %w", err)
	}
	if !strings.HasPrefix(msg.Subject, topo.DLQSubject+".") {
		return ErrNoDLQEntry
	}
	if err := replayOne(ctx, js, topo, stream, msg.Data, msg.Header, seq); err != nil {
		return err
	}
	log = log.With().Str("component", "replay").Logger()
	log.Info().Uint64("dlq_seq", seq).
		Str("reason", msg.Header.Get(HeaderReason)).Str("object", msg.Header.Get(HeaderObject)).Msg("DLQ entry re-driven")
	return nil
}
