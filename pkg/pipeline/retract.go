package pipeline

import (
	"context"
	"time"
)

// Retraction is what the worker hands the processor when an object it
// handled was deleted.
type Retraction struct {
	Ref      ObjectRef // bucket and key of the deleted object (key may hold identifiers: never log it)
	ObjectID string    // loggable keyed hash of bucket and key
	CaseID   string    // the case the last processed version went to ("" for none)
	Token    string    // Result.Token of the last processed version
	Deleted  time.Time // when the deletion was seen (event time, or now)
}

// Retracter is optionally implemented by a Processor: it returns the facts
// that take a deleted object out of its case (Result.CaseID, Result.Facts,
// applied through the CaseModel like any result) and removes what it stored
// for the object.
//
// Retract must be idempotent: a removal whose handling was interrupted
// after the case update is handed over again, and retracting again must
// change nothing. Return Permanent(reason, err) for a retraction that can
// never succeed (the removal is dead-lettered); any other error is retried.
// Result.Outputs are not written and Result.AfterCase runs as for
// processed objects.
type Retracter interface {
	Retract(ctx context.Context, r Retraction) (Result, error)
}
