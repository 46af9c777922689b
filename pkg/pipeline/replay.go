package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

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
	if reason != "" && cleanReason(reason) != reason {
		return st, fmt.Errorf("replay: %q is not a reason code", reason)
	}
	stream, err := js.Stream(ctx, topo.DLQStream)
	if err != nil {
		return st, fmt.Errorf("replay: stream %s: %w", topo.DLQStream, err)
	}
	log = log.With().Str("component", "replay").Logger()
	// Entries added after the replay began (perhaps one this replay
	// re-drove failing again) are left for the next replay.
	err = EachDLQ(ctx, js, topo, reason, func(msg jetstream.Msg, meta *jetstream.MsgMetadata) (bool, error) {
		seq := meta.Sequence.Stream
		if err := replayOne(ctx, js, topo, stream, msg.Data(), msg.Headers(), seq); err != nil {
			log.Warn().Uint64("dlq_seq", seq).Err(err).Msg("entry not replayed; left in the DLQ")
			if errors.Is(err, errReplayUnreadable) {
				st.Skipped++
				return true, nil
			}
			return false, err
		}
		st.Replayed++
		log.Info().Uint64("dlq_seq", seq).Str("reason", msg.Headers().Get(HeaderReason)).
			Str("object", msg.Headers().Get(HeaderObject)).Msg("DLQ entry re-driven")
		return true, nil
	})
	if err != nil {
		return st, fmt.Errorf("replay: %w", err)
	}
	return st, nil
}

var errReplayUnreadable = errors.New("DLQ entry is not a work item")

func replayOne(ctx context.Context, js jetstream.JetStream, topo Topology, stream jetstream.Stream, body []byte, hdr nats.Header, seq uint64) error {
	if hdr.Get(HeaderRaw) == "" {
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
