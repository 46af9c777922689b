package pipeline

import (
	"context"
	"io"
	"time"

	"github.com/printreg/printreg/pkg/objstore"
)

// Input is one raw object handed to a Processor. The object has been checked
// against the size cap; it is read only through Open or OpenAt (each call
// opens it anew, so a processor may read twice, e.g. a header pass then a
// full pass).
type Input struct {
	// Ref names the object. Ref.Key may hold identifiers: never log or
	// emit it; derive what you need with the site key.
	Ref ObjectRef
	// ObjectID is the loggable keyed hash of bucket and key.
	ObjectID string
	// Size, ETag and ContentType come from Stat.
	Size        int64
	ETag        string
	ContentType string
	// Modified is when this version landed (S3 LastModified, file mtime):
	// the order of revisions of one object.
	Modified time.Time
	// Open streams the object. The reader fails with objstore.ErrChanged if
	// the object's size differs from Size.
	Open func(ctx context.Context) (io.ReadCloser, error)
	// OpenAt gives random access (range reads on S3), for zip-based formats
	// such as 3MF.
	OpenAt func(ctx context.Context) (objstore.ReaderAt, error)
}

// Output is one object to write to the de-identified bucket.
type Output struct {
	// Key is the output key; it must hold no identifiers (build it from
	// hashed ids, e.g. <case_id>/<study>/<series>/<sop>.dcm).
	Key string
	// Size is the exact length, or -1 when unknown.
	Size int64
	// ContentType of the output.
	ContentType string
	// Open returns the content; it is called once per write attempt and the
	// reader is closed after the write.
	Open func() (io.ReadCloser, error)
}

// Result is what processing one object produced.
type Result struct {
	// CaseID is the case the object belongs to ("" for none). It must be a
	// subject token: letters, digits, '-' or '_' (the registry's hashed ids).
	CaseID string
	// Facts are merged into the case by CaseModel.Apply; opaque here.
	Facts any
	// Outputs are written to the de-identified bucket before the case is
	// updated, so an event never announces an output that is not stored.
	Outputs []Output
	// Kind labels the object in metrics (dicom, stl, 3mf, obj, sidecar…): a
	// short lower-case code, never an identifier.
	Kind string
	// AfterCase, when set, runs once the facts are in the case and before
	// the object is marked processed; an error retries the object (the case
	// update is idempotent). The domain step uses it to look again, after
	// its write, for what may have changed since it chose the case.
	AfterCase func(ctx context.Context) error
	// Token is an opaque reference the processor wants back in a
	// Retraction if the object is deleted; it must hold no identifiers.
	Token string
}

// Processor turns one raw object into a Result. It must be safe for
// concurrent use, read the object only through the Input's Open functions,
// and honour ctx. Return Permanent(reason, err) for input that can never
// succeed; any other error is retried with backoff. A Result returned with
// a permanent error (CaseID and Facts set) is still merged into the case, so
// the case can list the rejected object.
type Processor interface {
	Process(ctx context.Context, in Input) (Result, error)
}

// Rejecter is optionally implemented by a Processor to record, in a case,
// an object the worker refused before processing (over the size cap, key
// unusable). in.Open and in.OpenAt are nil.
type Rejecter interface {
	Reject(ctx context.Context, in Input, reason string) (Result, error)
}

// Event is one case event to publish on the case's subject.
type Event struct {
	// ID is deterministic for the change it announces; it becomes the
	// Nats-Msg-Id, so JetStream drops a repeat.
	ID string `json:"id"`
	// Data is the message body (a CloudEvents JSON document).
	Data []byte `json:"data"`
}

// Mutation is the outcome of a merge into a case.
type Mutation struct {
	// State is the new case state, or nil when the merge changed nothing.
	State []byte
	// Events to publish, in order, once State is stored.
	Events []Event
	// Timer is when Tick next has work for the new state (zero: none). It
	// is read only when State is not nil.
	Timer time.Time
}

// CaseModel is the case logic the pipeline stores and schedules without
// understanding it. Both methods must be pure functions of their arguments
// (they are re-run on compare-and-set conflicts) and joins: applying the same
// facts again, or a tick that already fired, returns a nil State.
type CaseModel interface {
	// Apply merges facts from one object into state (nil for a new case).
	Apply(caseID string, state []byte, facts any, now time.Time) (Mutation, error)
	// Tick fires the completeness timers of the case due at now.
	Tick(caseID string, state []byte, now time.Time) (Mutation, error)
}
