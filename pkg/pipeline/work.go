package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/pipeline/s3event"
	"github.com/printreg/printreg/pkg/sitekey"
)

// ObjectRef names one version of one raw object. Key holds the hospital's
// object key and may carry identifiers: never log it (log ObjectID).
type ObjectRef struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	ETag      string `json:"etag,omitempty"`
	VersionID string `json:"version_id,omitempty"`
	Size      int64  `json:"size,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// Hash domains (sitekey) of the ids derived from object references.
const (
	domainObject    = "printreg/pipeline/object/v1"
	domainProcessed = "printreg/pipeline/processed/v1"
)

// ObjectID is the keyed hash of (bucket, key): the same for every version of
// the object, safe to log and to show to operators.
func ObjectID(k *sitekey.Key, bucket, key string) string {
	return k.Hex(8, domainObject, bucket, key)
}

// VersionID is the keyed hash of (bucket, key, ETag, version): the identity
// processing is idempotent on, and the processed marker's key.
func VersionID(k *sitekey.Key, r ObjectRef) string {
	return k.Hex(16, domainProcessed, r.Bucket, r.Key, r.ETag, r.VersionID)
}

// workItem is the message scan, the inbox watcher and replay publish.
type workItem struct {
	V      int       `json:"v"`
	Object ObjectRef `json:"object"`
	// Replay marks a re-drive from the DLQ: an earlier rejection of this
	// version does not stop it (a completed processing still does).
	Replay bool `json:"replay,omitempty"`
	// Removed marks the object's deletion: what its last handled version
	// left in its case is retracted. Items without it (all items written
	// before removals were queued) announce a new version; a worker that
	// predates it takes a removal for an object that is gone, which
	// changes nothing.
	Removed bool `json:"removed,omitempty"`
	// Deleted is when the deletion was seen (removals only).
	Deleted time.Time `json:"deleted,omitzero"`
}

const workItemVersion = 1

// encodeWork returns the work-item message for r.
func encodeWork(r ObjectRef, replay bool) ([]byte, error) {
	return json.Marshal(workItem{V: workItemVersion, Object: r, Replay: replay})
}

// encodeRemoval returns the work-item message for the deletion of r, seen
// at deleted.
func encodeRemoval(r ObjectRef, deleted time.Time, replay bool) ([]byte, error) {
	return json.Marshal(workItem{V: workItemVersion, Object: r, Replay: replay, Removed: true, Deleted: deleted.UTC()})
}

// errBadWork wraps undecodable work messages: a permanent failure.
var errBadWork = errors.New("work item cannot be decoded")

// work is one decoded work message: the objects it names.
type work struct {
	// refs are new object versions to process.
	refs []ObjectRef
	// removals are deleted objects to retract.
	removals []removal
	replay   bool
	// ignored counts records that need no processing (test events, event
	// types other than creation and removal).
	ignored int
}

// removal is one deleted object.
type removal struct {
	Ref ObjectRef
	// Deleted is when the deletion was seen (zero: unknown).
	Deleted time.Time
}

// decodeWork reads a work message: an S3/MinIO notification (ObjectCreated
// and ObjectRemoved records are kept) or a work item, in one JSON pass.
// Errors never quote keys.
func decodeWork(data []byte) (work, error) {
	var m struct {
		s3event.Envelope
		workItem
	}
	if len(data) > s3event.MaxMessageBytes || json.Unmarshal(data, &m) != nil {
		return decodeWorkApart(data) // for the error the shape's own decoder gives
	}
	if m.IsNotification() {
		recs, err := m.Records()
		return fromRecords(recs, err)
	}
	return fromItem(m.workItem)
}

// decodeWorkApart tells the shapes apart first, then decodes the one found.
func decodeWorkApart(data []byte) (work, error) {
	if s3event.IsNotification(data) {
		return fromRecords(s3event.Parse(data))
	}
	var it workItem
	if err := json.Unmarshal(data, &it); err != nil {
		return work{}, fmt.Errorf("%w: not JSON of a known shape", errBadWork)
	}
	return fromItem(it)
}

// fromRecords is the work of a notification's records.
func fromRecords(recs []s3event.Record, err error) (work, error) {
	if err != nil {
		return work{}, fmt.Errorf("%w: %w", errBadWork, err)
	}
	var w work
	for _, r := range recs {
		ref := ObjectRef{
			Bucket: r.Bucket, Key: r.Key, ETag: r.ETag, VersionID: r.VersionID,
			Size: r.Size, Sequencer: r.Sequencer,
		}
		switch {
		case r.Created():
			w.refs = append(w.refs, ref)
		case r.Removed():
			w.removals = append(w.removals, removal{Ref: ref, Deleted: r.EventTime})
		default:
			w.ignored++
		}
	}
	if len(recs) == 0 {
		w.ignored++ // test event
	}
	return w, nil
}

// fromItem is the work of a work item.
func fromItem(it workItem) (work, error) {
	if it.V != workItemVersion {
		return work{}, fmt.Errorf("%w: unknown version %d", errBadWork, it.V)
	}
	if it.Object.Bucket == "" {
		return work{}, fmt.Errorf("%w: no bucket", errBadWork)
	}
	if err := objstore.CheckKey(it.Object.Key); err != nil {
		return work{}, fmt.Errorf("%w: %w", errBadWork, err)
	}
	if it.Removed {
		return work{removals: []removal{{Ref: it.Object, Deleted: it.Deleted}}, replay: it.Replay}, nil
	}
	return work{refs: []ObjectRef{it.Object}, replay: it.Replay}, nil
}
