package assemble

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/printreg/printreg/pkg/pipeline"
	"github.com/printreg/printreg/pkg/registry"
)

// MaxMergeHops bounds how many merged_into pointers FindCase follows.
const MaxMergeHops = 4

// CaseLookup is where a case id leads.
type CaseLookup struct {
	// ID is the case that holds the facts.
	ID string
	// Last is that case's last event as published (nil: none yet).
	Last []byte
	// Alias is set when the id asked for was a study's other reference
	// (its StudyInstanceUID's): ID is then the study's case.
	Alias bool
	// Merged lists the retired cases followed through merged_into, in
	// order, before ID.
	Merged []string
}

// FindCase follows a case id to the case that holds its facts: through the
// alias a study records for its StudyInstanceUID (in the aliases bucket;
// "" or a bucket not yet created: none), then through merged_into of
// retired cases, and returns the case's last event. An error wrapping
// jetstream.ErrStreamNotFound means no case event was ever published.
func FindCase(ctx context.Context, js jetstream.JetStream, topo pipeline.Topology, aliases, id string) (CaseLookup, error) {
	l := CaseLookup{ID: id}
	if aliases != "" {
		kv, err := js.KeyValue(ctx, aliases)
		switch {
		case err == nil:
			e, err := kv.Get(ctx, id)
			switch {
			case err == nil:
				if t := string(e.Value()); registry.IsCaseID(t) && t != id {
					l.ID, l.Alias = t, true
				}
			case !errors.Is(err, jetstream.ErrKeyNotFound):
				return l, fmt.Errorf("case aliases (KV %s): %w", aliases, err)
			}
		case !errors.Is(err, jetstream.ErrBucketNotFound):
			return l, fmt.Errorf("case aliases (KV %s): %w", aliases, err)
		}
	}
	stream, err := js.Stream(ctx, topo.RegistryStream)
	if err != nil {
		return l, fmt.Errorf("stream %s: %w", topo.RegistryStream, err)
	}
	for hop := 0; ; hop++ {
		msg, err := stream.GetLastMsgForSubject(ctx, topo.CaseSubject(l.ID))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return l, nil
		}
		if err != nil {
			return l, fmt.Errorf("stream %s: %w", topo.RegistryStream, err)
		}
		var head struct {
			Data struct {
				Case *struct {
					MergedInto string `json:"merged_into"`
				} `json:"case"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg.Data, &head); err != nil || head.Data.Case == nil {
			return l, fmt.Errorf("case %s: the last event (sequence %d) is not a case event", l.ID, msg.Sequence)
		}
		l.Last = msg.Data
		into := head.Data.Case.MergedInto
		if into == "" || !registry.IsCaseID(into) || into == l.ID || hop >= MaxMergeHops {
			return l, nil
		}
		l.Merged = append(l.Merged, l.ID)
		l.ID, l.Last = into, nil
	}
}
