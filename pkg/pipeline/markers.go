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
//
// The same bucket holds one object marker per object (every version), under
// "o." and the object's keyed hash (ObjectID): what the last version handled
// left in its case, so that the object's deletion can be retracted.
type Marker struct {
	// Outcome is OutcomeProcessed or OutcomeRejected.
	Outcome string `json:"outcome"`
	// Reason is the rejection reason code.
	Reason string `json:"reason,omitempty"`
	// CaseID is the case the object went to, if any.
	CaseID string `json:"case_id,omitempty"`
	// At is when it was handled.
	At time.Time `json:"at"`
	// Token is the processor's Result.Token (object markers only).
	Token string `json:"token,omitempty"`
	// Version is the VersionID of the version handled (object markers
	// only): the version marker to delete with the object marker.
	Version string `json:"version,omitempty"`
	// Bucket is the raw bucket's name (object markers only; a bucket name,
	// never an object key).
	Bucket string `json:"bucket,omitempty"`
	// Modified is when the version handled landed (object markers only;
	// zero when unknown): a deletion seen before it is not this version's.
	Modified time.Time `json:"modified,omitzero"`
}

// objectMarkerPrefix starts the KV keys of object markers. Version markers
// are bare hex, so the two never collide, and "o.>" lists object markers.
const objectMarkerPrefix = "o."

// objectMarkerKey is the KV key of object objID's marker.
func objectMarkerKey(objID string) string { return objectMarkerPrefix + objID }

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

// GetObject returns the object marker of objID (an ObjectID), its
// revision (for DeleteObject), and whether there is one.
func (m *Markers) GetObject(ctx context.Context, objID string) (Marker, uint64, bool, error) {
	e, err := m.kv.Get(ctx, objectMarkerKey(objID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Marker{}, 0, false, nil
	}
	if err != nil {
		return Marker{}, 0, false, fmt.Errorf("object marker: %w", err)
	}
	var mk Marker
	if err := json.Unmarshal(e.Value(), &mk); err != nil {
		return Marker{}, 0, false, nil // unreadable: treat as absent
	}
	return mk, e.Revision(), true, nil
}

// PutObject stores the object marker of objID.
func (m *Markers) PutObject(ctx context.Context, objID string, mk Marker) error {
	return m.Put(ctx, objectMarkerKey(objID), mk)
}

// errMarkerChanged means an object marker was rewritten since it was read.
var errMarkerChanged = errors.New("object marker changed since it was read")

// DeleteObject removes the object marker of objID if it is still at
// revision rev (0: whatever its revision); errMarkerChanged when another
// version's marker replaced it meanwhile.
func (m *Markers) DeleteObject(ctx context.Context, objID string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := m.kv.Delete(ctx, objectMarkerKey(objID), opts...)
	switch {
	case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
		return nil
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return errMarkerChanged
	}
	return fmt.Errorf("object marker: %w", err)
}
