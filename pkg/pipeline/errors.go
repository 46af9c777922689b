package pipeline

import (
	"errors"
)

// Reason codes of permanent failures: the DLQ subject suffix, the
// Printreg-Reason header and the reason label of the objects metric. These
// are the pipeline's own; the processor brings the codes of what it finds
// in content (lower-case letters, digits, underscores, at most 32
// characters); anything else is reported as ReasonOther.
const (
	ReasonTooLarge         = "too_large"         // over a configured limit: the size cap, a reader's limit
	ReasonInvalidKey       = "invalid_key"       // the key cannot name an object here
	ReasonUnknownBucket    = "unknown_bucket"    // a notification for a bucket we do not read
	ReasonBadWork          = "bad_work_item"     // an undecodable work message
	ReasonRetriesExhausted = "retries_exhausted" // transient failures on every delivery
	ReasonMaxDeliveries    = "max_deliveries"    // redelivered past MaxDeliver without an answer
	ReasonOther            = "other"
)

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
	if !ValidReason(r) {
		return ReasonOther
	}
	return r
}

// ValidReason tells whether r has the form of a reason code: 1 to 32
// lower-case letters, digits or underscores (a subject token and a metric
// label value that can hold no identifier).
func ValidReason(r string) bool {
	if r == "" || len(r) > 32 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
