package mesh

import (
	"errors"
	"fmt"
)

// Error kinds. Every error a reader returns for bad input wraps exactly one
// of them, so a caller can route the object: malformed input is permanent,
// unsupported input may become readable in a later version, and over-limit
// input may be accepted with other limits. Context errors are returned as
// they are.
var (
	ErrMalformed   = errors.New("malformed model file")
	ErrUnsupported = errors.New("unsupported model file")
	ErrTooLarge    = errors.New("model file over a configured limit")
)

// FormatError says what is wrong with a model file. Its text is built from
// fixed phrases, numbers and element names of the format only — never from
// names, comments or other text found in the file — so it is safe to log.
type FormatError struct {
	Kind   error  // ErrMalformed, ErrUnsupported or ErrTooLarge
	Format Format // "stl", "3mf", "obj" or "" before the format is known
	Reason string
}

func (e *FormatError) Error() string {
	if e.Format == "" {
		return fmt.Sprintf("%v: %s", e.Kind, e.Reason)
	}
	return fmt.Sprintf("%s: %v: %s", e.Format, e.Kind, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Kind }

func malformed(f Format, format string, args ...any) error {
	return &FormatError{Kind: ErrMalformed, Format: f, Reason: fmt.Sprintf(format, args...)}
}

func unsupported(f Format, format string, args ...any) error {
	return &FormatError{Kind: ErrUnsupported, Format: f, Reason: fmt.Sprintf(format, args...)}
}

func tooLarge(f Format, format string, args ...any) error {
	return &FormatError{Kind: ErrTooLarge, Format: f, Reason: fmt.Sprintf(format, args...)}
}
