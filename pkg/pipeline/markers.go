package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Marker records that one object version was handled. Its KV key is the
// version's keyed hash (VersionID), so the bucket holds no object keys.
type Marker struct {
	// Outcome is OutcomeProcessed or OutcomeRejected.
	Outcome string `json:"outcome"`
	// Reason is the rejection reason code.
	Reason string `json:"reason,omitempty"`
	// CaseID is the case the object went to, if any.
	CaseID string `json:"case_id,omitempty"`
	// At is when it was handled.
	At time.Time `json:"at"`
}

// Markers is the processed-object marker bucket.
type Markers struct {
	kv jetstream.KeyValue
}

// OpenMarkers binds to the processed bucket of topo (created by Setup).
func OpenMarkers(ctx context.Context, js jetstream.JetStream, topo Topology) (*Markers, error) {
	kv, err := js.KeyValue(ctx, topo.ProcessedBucket)
	if err != nil {
		return nil, fmt.Errorf("KV bucket %s%s: %w", topo.ProcessedBucket, SetupHint(err), err)
	}
	return &Markers{kv: kv}, nil
}

// Get returns the marker of version id, and whether there is one.
func (m *Markers) Get(ctx context.Context, id string) (Marker, bool, error) {
	e, err := m.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("processed marker: %w", err)
	}
	var mk Marker
	if err := json.Unmarshal(e.Value(), &mk); err != nil {
		return Marker{}, false, nil // unreadable: treat as absent, it will be rewritten
	}
	return mk, true, nil
}

// Put stores the marker of version id.
func (m *Markers) Put(ctx context.Context, id string, mk Marker) error {
	b, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	if _, err := m.kv.Put(ctx, id, b); err != nil {
		return fmt.Errorf("processed marker: %w", err)
	}
	return nil
}

// Delete removes the marker of version id (used by replay to allow a
// rejected version through again).
func (m *Markers) Delete(ctx context.Context, id string) error {
	if err := m.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("processed marker: %w", err)
	}
	return nil
}
