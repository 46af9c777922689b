package dicomstatus

import "testing"

func TestCode(t *testing.T) {
	for _, c := range []struct {
		code                     Code
		name                     string
		success, warning, failed bool
	}{
		{Success, "0000 (success)", true, false, false},
		{OutOfResources, "A700 (refused: out of resources)", false, false, true},
		{0xA7FF, "A7FF (refused: out of resources)", false, false, true},
		{DataSetMismatch, "A900 (error: data set does not match SOP class)", false, false, true},
		{CannotUnderstand, "C000 (error: cannot understand)", false, false, true},
		{TransferSyntaxUnsupported, "C122 (error: transfer syntax not supported)", false, false, true},
		{ProcessingFailure, "0110 (processing failure)", false, false, true},
		{SOPClassNotSupported, "0122 (SOP class not supported)", false, false, true},
		{UnrecognizedOperation, "0211 (unrecognized operation)", false, false, true},
		{NotAuthorized, "0124 (not authorized)", false, false, true},
		{0xB000, "B000 (warning)", false, true, false},
		{0x0107, "0107 (warning)", false, true, false},
		{0xFF00, "FF00 (failure)", false, false, false}, // pending
	} {
		if got := c.code.String(); got != c.name {
			t.Errorf("%04X: String = %q, want %q", uint16(c.code), got, c.name)
		}
		if c.code.IsSuccess() != c.success || c.code.IsWarning() != c.warning || c.code.IsFailure() != c.failed {
			t.Errorf("%04X: success %v warning %v failure %v", uint16(c.code), c.code.IsSuccess(), c.code.IsWarning(), c.code.IsFailure())
		}
	}
}
