package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TailOptions selects the events Tail prints.
type TailOptions struct {
	// CaseID limits the output to one case ("" for all).
	CaseID string
	// FromStart prints the stored history first; otherwise only new events.
	FromStart bool
	// Limit stops after this many events (0: until ctx ends).
	Limit int
}

// Tail writes case events as JSON lines (one CloudEvent per line) until ctx
// ends or Limit events were written. If the event stream does not exist yet
// it waits for it.
func Tail(ctx context.Context, js jetstream.JetStream, topo Topology, opts TailOptions, w io.Writer) error {
	filter := topo.RegistrySubject + ".>"
	if opts.CaseID != "" {
		if !ValidCaseID(opts.CaseID) {
			return fmt.Errorf("tail: %q is not a case id", opts.CaseID)
		}
		filter = topo.CaseSubject(opts.CaseID)
	}
	policy := jetstream.DeliverNewPolicy
	if opts.FromStart {
		policy = jetstream.DeliverAllPolicy
	}
	var cons jetstream.Consumer
	for {
		c, err := js.OrderedConsumer(ctx, topo.RegistryStream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{filter},
			DeliverPolicy:  policy,
		})
		if err == nil {
			cons = c
			break
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("tail: stream %s: %w", topo.RegistryStream, err)
		}
		// Not set up yet (a worker starting alongside): wait for it.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	n := 0
	var buf bytes.Buffer
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("tail: %w", err)
		}
		buf.Reset()
		if json.Compact(&buf, msg.Data()) != nil {
			continue // not JSON: not one of our events
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		n++
		if opts.Limit > 0 && n >= opts.Limit {
			return nil
		}
	}
}
