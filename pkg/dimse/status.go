package dimse

import "fmt"

// Status is a DIMSE status code (PS3.7 Annex C, PS3.4 B.2.3). STOW-RS uses
// the same codes as failure reasons (PS3.18 10.5.3).
type Status uint16

// Statuses the storage service sends.
const (
	StatusSuccess Status = 0x0000
	// StatusOutOfResources (A700): the store is unreachable, full, or the
	// instance is larger than the configured limit. The sender may retry.
	StatusOutOfResources Status = 0xA700
	// StatusDataSetMismatch (A900): the data set does not match the SOP
	// class or the identifiers of the request.
	StatusDataSetMismatch Status = 0xA900
	// StatusCannotUnderstand (C000): the data set cannot be parsed.
	StatusCannotUnderstand Status = 0xC000
	// StatusTransferSyntaxUnsupported (C122, STOW-RS): the instance is in a
	// transfer syntax printreg does not accept.
	StatusTransferSyntaxUnsupported Status = 0xC122
	// StatusProcessingFailure (0110): a failure that fits no other code.
	StatusProcessingFailure Status = 0x0110
	// StatusSOPClassNotSupported (0122).
	StatusSOPClassNotSupported Status = 0x0122
	// StatusUnrecognizedOperation (0211): a DIMSE service printreg does not
	// offer on this presentation context.
	StatusUnrecognizedOperation Status = 0x0211
	// StatusNotAuthorized (0124).
	StatusNotAuthorized Status = 0x0124
)

// IsSuccess reports a success status.
func (s Status) IsSuccess() bool { return s == StatusSuccess }

// IsWarning reports a warning status (0001, Bxxx, 0107, 0116).
func (s Status) IsWarning() bool {
	return s == 0x0001 || s&0xF000 == 0xB000 || s == 0x0107 || s == 0x0116
}

// IsFailure reports a failure status: anything that is neither success,
// warning nor pending.
func (s Status) IsFailure() bool {
	return !s.IsSuccess() && !s.IsWarning() && s != 0xFF00 && s != 0xFF01 && s != 0xFE00
}

// String names the status.
func (s Status) String() string {
	var name string
	switch {
	case s == StatusSuccess:
		name = "success"
	case s&0xFF00 == 0xA700:
		name = "refused: out of resources"
	case s&0xFF00 == 0xA900:
		name = "error: data set does not match SOP class"
	case s == StatusTransferSyntaxUnsupported:
		name = "error: transfer syntax not supported"
	case s&0xF000 == 0xC000:
		name = "error: cannot understand"
	case s == StatusProcessingFailure:
		name = "processing failure"
	case s == StatusSOPClassNotSupported:
		name = "SOP class not supported"
	case s == StatusUnrecognizedOperation:
		name = "unrecognized operation"
	case s == StatusNotAuthorized:
		name = "not authorized"
	case s.IsWarning():
		name = "warning"
	default:
		name = "failure"
	}
	return fmt.Sprintf("%04X (%s)", uint16(s), name)
}
