package casemodel

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/printreg/printreg/pkg/registry"
)

// Event returns the CloudEvent for change ch of c (call it with the change
// Apply, Tick, Merge or Retire just returned, before the next one) and its
// id. The bytes are deterministic for the same state and change.
func (r *Registry) Event(c *Case, ch registry.Change) ([]byte, string, error) {
	id := registry.EventID(c.id, ch)
	ev := registry.CloudEvent{
		SpecVersion:     "1.0",
		ID:              id,
		Source:          r.cfg.Source,
		Type:            registry.EventType(ch.Kind),
		Subject:         c.id,
		Time:            ch.At.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		DataSchema:      r.cfg.DataSchema,
		Data:            registry.EventData{Case: r.Snapshot(c), Change: ch},
	}
	if ch.At.IsZero() {
		ev.Time = time.Unix(0, 0).UTC().Format(time.RFC3339)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, "", fmt.Errorf("registry: event for case %s: %w", c.id, err)
	}
	return b, id, nil
}
