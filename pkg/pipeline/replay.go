package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// ReplayStats counts one replay.
type ReplayStats struct {
	// Replayed entries were copied back to the work stream and deleted.
	Replayed int `json:"replayed"`
	// Skipped entries could not be read and were left in place.
	Skipped int `json:"skipped"`
}

// Replay re-drives DLQ entries (all, or those with reason) to the work
// stream: each is first published as a replay work item (its Nats-Msg-Id
// derived from the DLQ sequence, so a replay interrupted and run again does
// not enqueue it twice within the duplicate window), and only then deleted
// from the DLQ. A replay work item is processed even though the version was
// rejected before; a version processed since is still skipped.
// printreg_ingest_dlq_replayed_total is counted by the worker that takes
// each re-driven item, not here (m is not used for it).
func Replay(ctx context.Context, js jetstream.JetStream, topo Topology, reason string, log zerolog.Logger, m *Metrics) (ReplayStats, error) {
	var st ReplayStats
	filter := topo.DLQSubject + ".>"
	if reason != "" {
		if cleanReason(reason) != reason {
			return st, fmt.Errorf("replay: %q is not a reason code", reason)
		}
		filter = topo.DLQSubjectFor(reason)
	}
	stream, err := js.Stream(ctx, topo.DLQStream)
	if err != nil {
		return st, fmt.Errorf("replay: stream %s: %w", topo.DLQStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return st, nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	log = log.With().Str("component", "replay").Logger()
	for {
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return st, fmt.Errorf("replay: %w", err)
		}
		n := 0
		reachedEnd := false
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				st.Skipped++
				continue
			}
			seq := meta.Sequence.Stream
			if seq > last {
				// Added after the replay began (perhaps an entry this
				// replay re-drove failing again): left for the next replay.
				reachedEnd = true
				continue
			}
			if err := replayOne(ctx, js, topo, stream, msg, seq); err != nil {
				log.Warn().Uint64("dlq_seq", seq).Err(err).Msg("entry not replayed; left in the DLQ")
				if errors.Is(err, errReplayUnreadable) {
					st.Skipped++
					continue
				}
				return st, err
			}
			st.Replayed++
			log.Info().Uint64("dlq_seq", seq).Str("reason", msg.Headers().Get(HeaderReason)).
				Str("object", msg.Headers().Get(HeaderObject)).Msg("DLQ entry re-driven")
			if seq >= last {
				reachedEnd = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
			return st, fmt.Errorf("replay: %w", err)
		}
		if n == 0 || reachedEnd {
			return st, nil
		}
	}
}

var errReplayUnreadable = errors.New("DLQ entry is not a work item")

func replayOne(ctx context.Context, js jetstream.JetStream, topo Topology, stream jetstream.Stream, msg jetstream.Msg, seq uint64) error {
	body := msg.Data()
	if msg.Headers().Get(HeaderRaw) == "" {
		var it workItem
		if err := json.Unmarshal(body, &it); err != nil || it.V != workItemVersion {
			return errReplayUnreadable
		}
		it.Replay = true
		b, err := json.Marshal(it)
		if err != nil {
			return err
		}
		body = b
	}
	out := &nats.Msg{Subject: topo.WorkSubjectFor(SourceReplay), Data: body, Header: nats.Header{}}
	out.Header.Set("Printreg-DLQ-Seq", strconv.FormatUint(seq, 10))
	id := fmt.Sprintf("replay-%s-%d", topo.DLQStream, seq)
	if _, err := js.PublishMsg(ctx, out, jetstream.WithMsgID(id), jetstream.WithExpectStream(topo.WorkStream)); err != nil {
		return fmt.Errorf("replay: enqueue: %w", err)
	}
	if err := stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("replay: delete DLQ entry %d: %w", seq, err)
	}
	return nil
}
