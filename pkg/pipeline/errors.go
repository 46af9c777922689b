package pipeline

import (
	"errors"
	"fmt"
)

// Reason codes of permanent failures: the DLQ subject suffix, the
// Printreg-Reason header and the reason label of the objects metric. Domain
// code may use its own codes (lower-case letters, digits, underscores, at most
// 32 characters); anything else is reported as ReasonOther.
const (
	ReasonMalformed        = "malformed"         // the object cannot be parsed
	ReasonUnsupported      = "unsupported"       // a format or variant we do not handle
	ReasonPHIResidue       = "phi_residue"       // identifiers found after de-identification
	ReasonBurnedIn         = "burned_in_text"    // pixel data may carry burned-in text
	ReasonInvalidSidecar   = "invalid_sidecar"   // case.json failed validation
	ReasonTooLarge         = "too_large"         // over a configured limit: the size cap, a reader's limit
	ReasonInvalidKey       = "invalid_key"       // the key cannot name an object here
	ReasonUnknownBucket    = "unknown_bucket"    // a notification for a bucket we do not read
	ReasonBadWork          = "bad_work_item"     // an undecodable work message
	ReasonRetriesExhausted = "retries_exhausted" // transient failures on every delivery
	ReasonMaxDeliveries    = "max_deliveries"    // redelivered past MaxDeliver without an answer
	ReasonOther            = "other"
)

// ReasonOverSize is the earlier name of ReasonTooLarge; its code was
// "over_size".
//
// Deprecated: use ReasonTooLarge.
const ReasonOverSize = ReasonTooLarge

// PermanentError marks a failure that retrying cannot fix. The worker copies
// the work item to the DLQ with Reason and terminates it.
type PermanentError struct {
	Reason string
	Err    error
}

func (e *PermanentError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure with a reason code. Its message
// must hold no identifiers (it is stored in the DLQ and logged).
func Permanent(reason string, err error) error {
	return &PermanentError{Reason: reason, Err: err}
}

// Permanentf is Permanent with a formatted message.
func Permanentf(reason, format string, args ...any) error {
	return &PermanentError{Reason: reason, Err: fmt.Errorf(format, args...)}
}

// ReasonOf returns the reason code of a permanent error and true, or "" and
// false for a transient one.
func ReasonOf(err error) (string, bool) {
	var pe *PermanentError
	if errors.As(err, &pe) {
		return cleanReason(pe.Reason), true
	}
	return "", false
}

// cleanReason keeps reason codes usable as a subject token and a metric
// label value.
func cleanReason(r string) string {
	if r == "" || len(r) > 32 {
		return ReasonOther
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return ReasonOther
		}
	}
	return r
}
