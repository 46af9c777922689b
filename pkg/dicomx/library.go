package dicomx

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/suyashkumar/dicom"
	libuid "github.com/suyashkumar/dicom/pkg/uid"
)

// ParseFull returns an object as a github.com/suyashkumar/dicom Dataset, for
// callers who want that library's API. The library trusts length fields and
// can panic on bad input, so the object is first read completely by this
// package's reader, with its limits; only an object that passes is handed to
// the library, with pixel data skipped so that no frame or dimension field
// drives an allocation. Nothing is recovered: bad input never reaches it.
func ParseFull(r io.Reader, size int64, opt Options) (dicom.Dataset, error) {
	lim := opt.Limits.withDefaults()
	if size < 0 || size > lim.MaxValueBytes {
		return dicom.Dataset{}, tooLarge(0, 0, "object of %d bytes is over the %d-byte limit for full parsing", size, lim.MaxValueBytes)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return dicom.Dataset{}, fmt.Errorf("dicomx: reading object: %w", err)
	}
	if err := validateForLibrary(b, opt); err != nil {
		return dicom.Dataset{}, err
	}
	ds, err := dicom.Parse(bytes.NewReader(b), size, nil, dicom.SkipPixelData(), dicom.AllowMissingMetaElementGroupLength(), dicom.AllowUnknownSpecificCharacterSet())
	if err != nil {
		return dicom.Dataset{}, fmt.Errorf("%w: the DICOM library cannot parse this object: %v", ErrUnsupported, err)
	}
	return ds, nil
}

// validateForLibrary reads b completely and checks what the library assumes
// but does not verify: a file meta with a transfer syntax the library knows,
// and no structure this reader refuses.
func validateForLibrary(b []byte, opt Options) error {
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)), opt)
	if err != nil {
		return err
	}
	if rd.Preamble() == nil || len(rd.Meta().Elements) == 0 {
		return &FormatError{Kind: ErrUnsupported, Reason: "full parsing needs a Part 10 file with preamble and file meta"}
	}
	// The library dereferences a nil byte order for a transfer syntax it does
	// not know (newer ones such as Deflated Image Frame Compression).
	if _, _, err := libuid.ParseTransferSyntaxUID(rd.Syntax().UID); err != nil {
		return &FormatError{Kind: ErrUnsupported, Reason: "the library does not know transfer syntax " + rd.Syntax().UID}
	}
	if rd.Meta().Get(TagFileMetaInformationGroupLength) == nil {
		return &FormatError{Kind: ErrUnsupported, Reason: "full parsing needs the file meta group length"}
	}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.Bulk {
			if err := rd.SkipValue(); err != nil {
				return err
			}
		}
	}
}
