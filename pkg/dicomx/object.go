package dicomx

import (
	"errors"
	"io"
)

// Object is the header of one DICOM object: everything before Pixel Data.
type Object struct {
	Meta     *Dataset
	Preamble bool
	Syntax   Syntax
	Dataset  *Dataset
	// PixelData is the Pixel Data element's header (value not loaded), nil
	// when the object has none.
	PixelData *Element
}

// ReadMeta reads an object's header from r (size bytes, -1 when unknown) and
// stops at Pixel Data, which it does not read. opt.LoadBulk can ask for bulk
// values before Pixel Data (an encapsulated document, say).
func ReadMeta(r io.Reader, size int64, opt Options) (*Object, error) {
	rd, err := NewReader(r, size, opt)
	if err != nil {
		return nil, err
	}
	obj := &Object{Meta: rd.Meta(), Preamble: rd.Preamble() != nil, Syntax: rd.Syntax(), Dataset: &Dataset{sorted: true}}
	var last Tag
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return obj, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Tag.Group() >= 0x7FE0 && !e.Tag.IsGroupLength() {
			if e.Tag == TagPixelData || e.Tag == TagFloatPixelData || e.Tag == TagDoubleFloatPixelData {
				obj.PixelData = e
			}
			return obj, nil
		}
		if len(obj.Dataset.Elements) > 0 && e.Tag <= last {
			obj.Dataset.sorted = false
		}
		last = e.Tag
		obj.Dataset.Elements = append(obj.Dataset.Elements, e)
	}
}
