// Package dicomstatus holds the DIMSE status codes (PS3.7 Annex C, PS3.4
// B.2.3) that the storage service answers with. STOW-RS uses the same codes
// as failure reasons (PS3.18 10.5.3), so the C-STORE receiver (package
// dimse), the STOW-RS endpoint (package stow) and the receiver behind both
// (package receive) share them.
package dicomstatus

import "fmt"

// Code is a DIMSE status code.
type Code uint16

// Statuses the storage service sends.
const (
	Success Code = 0x0000
	// OutOfResources (A700): the store is unreachable, full, or the
	// instance is larger than the configured limit. The sender may retry.
	OutOfResources Code = 0xA700
	// DataSetMismatch (A900): the data set does not match the SOP class or
	// the identifiers of the request.
	DataSetMismatch Code = 0xA900
	// CannotUnderstand (C000): the data set cannot be parsed.
	CannotUnderstand Code = 0xC000
	// TransferSyntaxUnsupported (C122, STOW-RS): the instance is in a
	// transfer syntax printreg does not accept.
	TransferSyntaxUnsupported Code = 0xC122
	// ProcessingFailure (0110): a failure that fits no other code.
	ProcessingFailure Code = 0x0110
	// SOPClassNotSupported (0122).
	SOPClassNotSupported Code = 0x0122
	// UnrecognizedOperation (0211): a DIMSE service printreg does not offer
	// on this presentation context.
	UnrecognizedOperation Code = 0x0211
	// NotAuthorized (0124).
	NotAuthorized Code = 0x0124
)

// IsSuccess reports a success status.
func (s Code) IsSuccess() bool { return s == Success }

// IsWarning reports a warning status (0001, Bxxx, 0107, 0116).
func (s Code) IsWarning() bool {
	return s == 0x0001 || s&0xF000 == 0xB000 || s == 0x0107 || s == 0x0116
}

// IsFailure reports a failure status: anything that is neither success,
// warning nor pending.
func (s Code) IsFailure() bool {
	return !s.IsSuccess() && !s.IsWarning() && s != 0xFF00 && s != 0xFF01 && s != 0xFE00
}

// String names the status.
func (s Code) String() string {
	var name string
	switch {
	case s == Success:
		name = "success"
	case s&0xFF00 == 0xA700:
		name = "refused: out of resources"
	case s&0xFF00 == 0xA900:
		name = "error: data set does not match SOP class"
	case s == TransferSyntaxUnsupported:
		name = "error: transfer syntax not supported"
	case s&0xF000 == 0xC000:
		name = "error: cannot understand"
	case s == ProcessingFailure:
		name = "processing failure"
	case s == SOPClassNotSupported:
		name = "SOP class not supported"
	case s == UnrecognizedOperation:
		name = "unrecognized operation"
	case s == NotAuthorized:
		name = "not authorized"
	case s.IsWarning():
		name = "warning"
	default:
		name = "failure"
	}
	return fmt.Sprintf("%04X (%s)", uint16(s), name)
}
