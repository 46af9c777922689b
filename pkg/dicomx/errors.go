package dicomx

import (
	"errors"
	"fmt"
)

// Error kinds. Every error the reader returns wraps exactly one of them, so a
// caller can route the object: malformed and not-DICOM input is permanent,
// over-limit input may be accepted with other limits.
var (
	ErrNotDICOM    = errors.New("not a DICOM object")
	ErrMalformed   = errors.New("malformed DICOM")
	ErrTooLarge    = errors.New("over a configured limit")
	ErrUnsupported = errors.New("unsupported DICOM encoding")
)

// FormatError locates a problem in the object. It never carries values read
// from the object, only positions, tags and sizes.
type FormatError struct {
	Kind   error // one of the Err* kinds
	Offset int64 // byte offset in the (inflated) stream
	Tag    Tag   // element being read, 0 when none
	Reason string
}

func (e *FormatError) Error() string {
	if e.Tag != 0 {
		return fmt.Sprintf("%v: %s (element %s at byte %d)", e.Kind, e.Reason, e.Tag, e.Offset)
	}
	return fmt.Sprintf("%v: %s (at byte %d)", e.Kind, e.Reason, e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Kind }

func malformed(off int64, t Tag, format string, args ...any) error {
	return &FormatError{Kind: ErrMalformed, Offset: off, Tag: t, Reason: fmt.Sprintf(format, args...)}
}

func tooLarge(off int64, t Tag, format string, args ...any) error {
	return &FormatError{Kind: ErrTooLarge, Offset: off, Tag: t, Reason: fmt.Sprintf(format, args...)}
}
