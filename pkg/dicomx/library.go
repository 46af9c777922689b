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
// drives an allocation. Validation keeps known crashers away from the
// library; a panic it still raises is recovered as ErrUnsupported, so that a
// gap in validation costs one object, never the process.
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
	var ds dicom.Dataset
	err := callLibrary(func() error {
		var err error
		ds, err = dicom.Parse(bytes.NewReader(b), size, nil, dicom.SkipPixelData(), dicom.AllowMissingMetaElementGroupLength(), dicom.AllowUnknownSpecificCharacterSet())
		return err
	})
	if err != nil {
		return dicom.Dataset{}, err
	}
	return ds, nil
}

// callLibrary runs f, turning its error or panic into ErrUnsupported.
// Neither the panic value nor the library's error text is kept: either may
// quote bytes of the object.
func callLibrary(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &FormatError{Kind: ErrUnsupported, Reason: "the DICOM library failed on this object"}
		}
	}()
	if f() != nil {
		return &FormatError{Kind: ErrUnsupported, Reason: "the DICOM library cannot parse this object"}
	}
	return nil
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
	// The library indexes the group length's first value, and the transfer
	// syntax's, without checking that there is one or that it has the type
	// it expects.
	meta := rd.Meta().Elements
	if gl := rd.Meta().Get(TagFileMetaInformationGroupLength); gl == nil || meta[0] != gl || gl.VR != VRUL || len(gl.Value) != 4 {
		return &FormatError{Kind: ErrUnsupported, Reason: "full parsing needs a file meta group length first, as one UL value"}
	}
	if ts := rd.Meta().Get(TagTransferSyntaxUID); ts == nil || ts.VR != VRUI || trimUID(string(ts.Value)) == "" {
		return &FormatError{Kind: ErrUnsupported, Reason: "full parsing needs a transfer syntax UID as a UI value"}
	}
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		// The library reads Specific Character Set as strings whatever its
		// VR says; in explicit VR a UL there would crash it.
		if e.Tag == TagSpecificCharacterSet && !rd.Syntax().Implicit && e.VR != VRCS {
			return &FormatError{Kind: ErrUnsupported, Tag: e.Tag, Reason: "full parsing needs Specific Character Set as CS"}
		}
		if e.Bulk {
			if err := rd.SkipValue(); err != nil {
				return err
			}
		}
	}
}
