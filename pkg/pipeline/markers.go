package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Marker records the last version of an object that was handled, and
// what it left in its case, so that a repeat of that version is found
// before the object is read and the object's deletion can be retracted.
// Its KV key is "o." and the object's keyed hash (ObjectID), so the bucket
// holds no object keys.
//
// Earlier releases also kept one marker per version, under the version's
// keyed hash (VersionID). Those are still honoured by a scan and removed
// on retraction; none are written.
type Marker struct {
	// Outcome is OutcomeProcessed or OutcomeRejected.
	Outcome string `json:"outcome"`
	// Reason is the rejection reason code.
	Reason string `json:"reason,omitempty"`
	// CaseID is the case the object's facts are in, if any: a version
	// rejected without a case keeps the one an earlier version left.
	CaseID string `json:"case_id,omitempty"`
	// At is when it was handled.
	At time.Time `json:"at"`
	// Token is the processor's Result.Token of what is in the case.
	Token string `json:"token,omitempty"`
	// Version is the VersionID of the version handled.
	Version string `json:"version,omitempty"`
	// Bucket is the raw bucket's name (a bucket name, never an object key).
	Bucket string `json:"bucket,omitempty"`
	// Modified is when the version handled landed (zero when unknown): a
	// deletion seen before it is not this version's.
	Modified time.Time `json:"modified,omitzero"`
	// Processed says an earlier version was processed, for a refused one
	// that carries its case and token: the deletion retracts it even when
	// it named no case.
	Processed bool `json:"processed,omitempty"`
}

// wasProcessed tells whether this version or, for a refused one, an
// earlier version of the object was processed.
func (m Marker) wasProcessed() bool { return m.Outcome == OutcomeProcessed || m.Processed }

// objectMarkerPrefix starts the KV keys of object markers. The version
// markers of earlier releases are bare hex, so the two never collide, and
// "o.>" lists object markers.
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

// Handled reports whether version vid of object objID was handled: its
// object marker names it, or, for an object without one, an earlier
// release marked the version.
func (m *Markers) Handled(ctx context.Context, objID, vid string) (bool, error) {
	mk, _, found, err := m.GetObject(ctx, objID)
	switch {
	case err != nil:
		return false, err
	case found:
		return mk.Version == vid, nil
	}
	return m.legacy(ctx, vid)
}

// legacy reports whether an earlier release's version marker vid exists.
func (m *Markers) legacy(ctx context.Context, vid string) (bool, error) {
	_, err := m.kv.Get(ctx, vid)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("processed marker: %w", err)
	}
	return true, nil
}

// DeleteLegacy removes an earlier release's version marker vid, if there
// is one (a deletion of a key that is not there would store a tombstone).
func (m *Markers) DeleteLegacy(ctx context.Context, vid string) error {
	found, err := m.legacy(ctx, vid)
	if err != nil || !found {
		return err
	}
	if err := m.kv.Delete(ctx, vid); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
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
	b, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	if _, err := m.kv.Put(ctx, objectMarkerKey(objID), b); err != nil {
		return fmt.Errorf("object marker: %w", err)
	}
	return nil
}

// ReplaceObject stores the object marker of objID if it is still at
// revision rev (0: if there is none); errMarkerChanged when another was
// stored meanwhile.
func (m *Markers) ReplaceObject(ctx context.Context, objID string, mk Marker, rev uint64) error {
	b, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	_, err = writeAt(ctx, m.kv, objectMarkerKey(objID), b, rev)
	switch {
	case err == nil:
		return nil
	case IsConflict(err):
		return errMarkerChanged
	}
	return fmt.Errorf("object marker: %w", err)
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
