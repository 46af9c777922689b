package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/printreg/printreg/pkg/objstore"
)

// Retraction is what the worker hands the processor when an object it
// handled was deleted.
type Retraction struct {
	Ref      ObjectRef // bucket and key of the deleted object (key may hold identifiers: never log it)
	ObjectID string    // loggable keyed hash of bucket and key
	CaseID   string    // the case the object's facts are in: the last processed version's, or a refusal's the case recorded ("" for none)
	Token    string    // Result.Token of that version
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

// putObjectMarker stores that version vid of object objID was handled and
// what it left in its case (res.CaseID, res.Token): the marker a repeat is
// found by and a deletion is retracted from.
func (w *Worker) putObjectMarker(ctx context.Context, objID, vid string, in Input, outcome, reason string, res Result) error {
	return w.markers.PutObject(ctx, objID, w.objectMarker(vid, in, outcome, reason, res))
}

// objectMarker is the marker of version vid of in, handled with outcome.
func (w *Worker) objectMarker(vid string, in Input, outcome, reason string, res Result) Marker {
	return Marker{
		Outcome: outcome, Reason: reason, CaseID: res.CaseID, Token: res.Token,
		Version: vid, Bucket: in.Ref.Bucket, Modified: in.Modified.UTC(), At: w.d.Now().UTC(),
	}
}

// markRejected stores that the version in was refused. A refusal the case
// did not record (no res.CaseID) leaves in the case what an earlier version
// left there, so the marker keeps that version's case and token: the
// object's deletion still retracts them. The marker read is replaced only
// at its revision, so a version handled meanwhile is not lost.
func (w *Worker) markRejected(ctx context.Context, in Input, reason string, res Result) error {
	vid := VersionID(w.d.Key, in.Ref)
	if res.CaseID != "" {
		return w.putObjectMarker(ctx, in.ObjectID, vid, in, OutcomeRejected, reason, res)
	}
	for range 5 {
		prev, rev, found, err := w.markers.GetObject(ctx, in.ObjectID)
		if err != nil {
			return err
		}
		mk := w.objectMarker(vid, in, OutcomeRejected, reason, Result{})
		if found {
			mk.CaseID, mk.Token, mk.Processed = prev.CaseID, prev.Token, prev.wasProcessed()
		}
		if err := w.markers.ReplaceObject(ctx, in.ObjectID, mk, rev); !errors.Is(err, errMarkerChanged) {
			return err
		}
	}
	return errMarkerChanged
}

// removal handles the deletion of one object: when the object is still
// gone and a version of it was handled, the processor retracts it (if it is
// a Retracter), the result is merged into the case like any result, and
// its marker is deleted, so the same file dropped again is processed anew.
// Permanent failures are dead-lettered here; only
// transient ones are returned. Handling a removal again (a crash after the
// case update) retracts again, which changes nothing.
func (w *Worker) removal(ctx context.Context, log zerolog.Logger, meta *jetstream.MsgMetadata, idx int, rm removal) objResult {
	ref := rm.Ref
	objID := ObjectID(w.d.Key, ref.Bucket, ref.Key)
	log = log.With().Str("object", objID).Logger()
	bucket, ok := w.d.Raw[ref.Bucket]
	if !ok {
		w.d.Metrics.object(OutcomeIgnored, "", "")
		log.Debug().Msg("removal in a bucket that is not a configured raw bucket; nothing to retract")
		return objResult{}
	}
	t := time.Now()
	_, err := bucket.Stat(ctx, ref.Key)
	w.d.Metrics.observe("stat", t)
	switch {
	case err == nil:
		w.d.Metrics.object(OutcomeSuperseded, "", "")
		log.Info().Msg("deleted object created again; its new version has its own work item")
		return objResult{}
	case errors.Is(err, objstore.ErrInvalidKey):
		w.d.Metrics.object(OutcomeIgnored, "", "")
		log.Debug().Msg("removal of a key that cannot name an object here; nothing to retract")
		return objResult{}
	case !errors.Is(err, objstore.ErrNotFound):
		return w.retry(log, err, "")
	}
	t = time.Now()
	mk, rev, found, err := w.markers.GetObject(ctx, objID)
	w.d.Metrics.observe("marker", t)
	if err != nil {
		return w.retry(log, err, "")
	}
	deleted := rm.Deleted
	if deleted.IsZero() {
		deleted = w.d.Now()
	}
	switch {
	case !found:
		w.d.Metrics.object(OutcomeIgnored, "", "")
		log.Debug().Msg("deleted object was never handled; nothing to retract")
		return objResult{}
	case !rm.Deleted.IsZero() && mk.Modified.After(rm.Deleted):
		// Deleted, created again and handled before this removal came.
		w.d.Metrics.object(OutcomeSuperseded, "", "")
		log.Info().Msg("deleted object created again since; nothing to retract")
		return objResult{}
	}
	outcome := OutcomeIgnored
	var res Result
	// A version refused before any was processed left nothing to retract.
	inCase := mk.CaseID != "" || mk.Token != "" || mk.wasProcessed()
	if rt, ok := w.d.Processor.(Retracter); ok && inCase {
		outcome = OutcomeRetracted
		t = time.Now()
		var rerr error
		res, rerr = rt.Retract(ctx, Retraction{Ref: ref, ObjectID: objID, CaseID: mk.CaseID, Token: mk.Token, Deleted: deleted.UTC()})
		w.d.Metrics.observe("process", t)
		if rerr != nil {
			if reason, perm := ReasonOf(rerr); perm {
				return w.rejectRemoval(ctx, log, meta, idx, rm, reason, rerr, res.Kind)
			}
			return w.retry(log, rerr, res.Kind)
		}
		if res.CaseID != "" && w.d.Model != nil {
			t = time.Now()
			_, err := w.applyCase(ctx, res)
			w.d.Metrics.observe("case", t)
			if err != nil {
				if reason, perm := ReasonOf(err); perm {
					return w.rejectRemoval(ctx, log, meta, idx, rm, reason, err, res.Kind)
				}
				return w.retry(log, err, res.Kind)
			}
		}
	}
	// An earlier release's version marker first: while the object marker
	// stays, a repeat retracts again.
	if mk.Version != "" {
		if err := w.markers.DeleteLegacy(ctx, mk.Version); err != nil {
			return w.retry(log, err, res.Kind)
		}
	}
	if err := w.markers.DeleteObject(ctx, objID, rev); err != nil {
		if !errors.Is(err, errMarkerChanged) {
			return w.retry(log, err, res.Kind)
		}
		// Deleted by a repeat of this removal, or rewritten by a version
		// created and handled meanwhile, whose marker is kept.
		if _, _, again, err := w.markers.GetObject(ctx, objID); err == nil && again {
			log.Info().Msg("deleted object created and handled again while it was retracted; its new marker is kept")
		}
	}
	w.d.Metrics.object(outcome, "", res.Kind)
	caseID := res.CaseID
	if caseID == "" {
		caseID = mk.CaseID
	}
	if outcome == OutcomeRetracted {
		log.Info().Str("case_id", caseID).Msg("deleted object retracted from its case")
	} else {
		log.Debug().Str("case_id", caseID).Bool("in_case", inCase).Msg("deleted object forgotten; nothing of it to retract, or the processor does not retract")
	}
	return objResult{}
}

// rejectRemoval dead-letters a removal whose retraction failed
// permanently. The markers stay, so a replay retracts it again.
func (w *Worker) rejectRemoval(ctx context.Context, log zerolog.Logger, meta *jetstream.MsgMetadata, idx int, rm removal, reason string, cause error, kind string) objResult {
	reason = cleanReason(reason)
	if err := w.deadLetterRemoval(ctx, meta, idx, rm, reason, cause); err != nil {
		return w.retry(log, err, kind)
	}
	w.d.Metrics.object(OutcomeRejected, reason, kind)
	log.Warn().Str("reason", reason).Err(cause).Msg("deleted object not retracted; removal sent to the dead-letter stream")
	return objResult{}
}
