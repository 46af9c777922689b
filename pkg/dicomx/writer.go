package dicomx

import (
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Writer writes a DICOM object in a given transfer syntax. Values are written
// as given (raw bytes in the syntax's byte order) and padded to even length;
// sequences and items are written with undefined length, so a changed item
// never needs its ancestors' lengths recomputed. Group length elements other
// than the file meta's are dropped: they are optional and would be stale
// after any change.
type Writer struct {
	base io.Writer
	w    io.Writer
	fw   *flate.Writer
	syn  Syntax
	buf  [16]byte
	n    int64
	err  error
}

// NewWriter returns a writer for an object in syntax syn.
func NewWriter(w io.Writer, syn Syntax) *Writer {
	return &Writer{base: w, w: w, syn: syn}
}

// Written returns the bytes written so far (before deflate compression, when
// the syntax is deflated).
func (w *Writer) Written() int64 { return w.n }

func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	m, err := w.w.Write(p)
	w.n += int64(m)
	if err != nil {
		w.err = err
	}
	return err
}

// WriteFileHeader writes the preamble (zeros when preamble is nil), "DICM"
// and the file meta group in explicit VR little endian, with its group
// length computed here. When the syntax is deflated, what follows is
// compressed.
func (w *Writer) WriteFileHeader(preamble []byte, meta *Dataset) error {
	var pre [128]byte
	copy(pre[:], preamble)
	if err := w.write(pre[:]); err != nil {
		return err
	}
	if err := w.write([]byte("DICM")); err != nil {
		return err
	}
	var body []*Element
	var size int64
	for _, e := range meta.Elements {
		if e.Tag.Group() != 0x0002 || e.Tag.IsGroupLength() {
			continue
		}
		if e.VR == VRSQ || e.Bulk {
			return fmt.Errorf("dicomx: file meta element %s cannot be a sequence or bulk value", e.Tag)
		}
		body = append(body, e)
		n := int64(len(e.Value) + len(e.Value)%2)
		if e.VR.LongLength() {
			size += 12 + n
		} else {
			size += 8 + n
		}
	}
	if size > 0xFFFFFFFF {
		return errors.New("dicomx: file meta too large")
	}
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(size))
	metaEnc := enc{}
	if err := w.writeElement(&Element{Tag: TagFileMetaInformationGroupLength, VR: VRUL, Value: gl}, metaEnc); err != nil {
		return err
	}
	for _, e := range body {
		if err := w.writeElement(e, metaEnc); err != nil {
			return err
		}
	}
	if w.syn.Deflated {
		fw, err := flate.NewWriter(w.base, flate.DefaultCompression)
		if err != nil {
			return err
		}
		w.fw, w.w = fw, fw
	}
	return nil
}

func (w *Writer) enc() enc { return enc{implicit: w.syn.Implicit, big: w.syn.BigEndian} }

// WriteElement writes a complete element: a value, a sequence with its items,
// or a loaded encapsulated value. Bulk elements still in a reader's stream
// are written with WriteHeader and Raw instead.
func (w *Writer) WriteElement(e *Element) error {
	if e.Bulk && e.Value == nil {
		return fmt.Errorf("dicomx: element %s is a bulk value still in the stream; write it with WriteHeader", e.Tag)
	}
	return w.writeElement(e, w.enc())
}

// WriteHeader writes an element header for a value the caller streams next
// through Raw: length bytes, or an encapsulated item stream when length < 0.
func (w *Writer) WriteHeader(t Tag, vr VR, length int64) error {
	if length < 0 {
		return w.header(t, vr, 0xFFFFFFFF, w.enc())
	}
	if length > 0xFFFFFFFE {
		return fmt.Errorf("dicomx: value of %s is too long for DICOM (%d bytes)", t, length)
	}
	return w.header(t, vr, uint32(length), w.enc())
}

// Raw returns the writer that value bytes go to after WriteHeader (the
// deflate stream when the syntax is deflated). Bytes written to it are counted.
func (w *Writer) Raw() io.Writer { return rawWriter{w} }

type rawWriter struct{ w *Writer }

func (r rawWriter) Write(p []byte) (int, error) {
	if err := r.w.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close flushes a deflate stream. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.fw != nil {
		return w.fw.Close()
	}
	return nil
}

func (w *Writer) header(t Tag, vr VR, length uint32, en enc) error {
	b := w.buf[:0]
	var o binary.AppendByteOrder = binary.LittleEndian
	if en.big && t.Group() != 0x0002 {
		o = binary.BigEndian
	}
	b = o.AppendUint16(b, t.Group())
	b = o.AppendUint16(b, t.Element())
	switch {
	case en.implicit && t.Group() != 0x0002:
		b = o.AppendUint32(b, length)
	case vr.LongLength():
		b = append(b, byte(vr>>8), byte(vr), 0, 0)
		b = o.AppendUint32(b, length)
	default:
		if length > 0xFFFF {
			return fmt.Errorf("dicomx: value of %s (%s) is %d bytes, over the 65534 bytes its VR allows in explicit VR", t, vr, length)
		}
		b = append(b, byte(vr>>8), byte(vr))
		b = o.AppendUint16(b, uint16(length))
	}
	return w.write(b)
}

func (w *Writer) marker(t Tag, length uint32, en enc) error {
	b := w.buf[:0]
	var o binary.AppendByteOrder = binary.LittleEndian
	if en.big {
		o = binary.BigEndian
	}
	b = o.AppendUint16(b, t.Group())
	b = o.AppendUint16(b, t.Element())
	b = o.AppendUint32(b, length)
	return w.write(b)
}

func (w *Writer) writeElement(e *Element, en enc) error {
	if e.Tag.IsGroupLength() && e.Tag.Group() != 0x0002 {
		return nil
	}
	if e.VR == VRSQ {
		if err := w.header(e.Tag, VRSQ, 0xFFFFFFFF, en); err != nil {
			return err
		}
		for _, item := range e.Items {
			if err := w.marker(TagItem, 0xFFFFFFFF, en); err != nil {
				return err
			}
			for _, c := range item.Elements {
				if err := w.writeElement(c, en); err != nil {
					return err
				}
			}
			if err := w.marker(TagItemDelimitationItem, 0, en); err != nil {
				return err
			}
		}
		return w.marker(TagSequenceDelimitationItem, 0, en)
	}
	if e.Encapsulated {
		if err := w.header(e.Tag, e.VR, 0xFFFFFFFF, en); err != nil {
			return err
		}
		return w.write(e.Value)
	}
	v := e.Value
	if e.big != en.big && e.Tag.Group() != 0x0002 {
		v = swapped(v, e.VR)
	}
	n := len(v)
	if n > 0xFFFFFFFE {
		return fmt.Errorf("dicomx: value of %s is too long", e.Tag)
	}
	padded := n + n%2
	if err := w.header(e.Tag, e.VR, uint32(padded), en); err != nil {
		return err
	}
	if err := w.write(v); err != nil {
		return err
	}
	if n%2 == 1 {
		return w.write([]byte{e.VR.PadByte()})
	}
	return nil
}

// swapped returns v with each binary word reversed, for an element read in
// one byte order and written in the other (a UN sequence, always little
// endian, inside a big endian object).
func swapped(v []byte, vr VR) []byte {
	size := vr.FixedSize()
	switch vr {
	case VROW:
		size = 2
	case VROF, VROL:
		size = 4
	case VROD, VROV:
		size = 8
	}
	if size < 2 || len(v)%size != 0 {
		return v
	}
	out := make([]byte, len(v))
	for i := 0; i < len(v); i += size {
		for j := 0; j < size; j++ {
			out[i+j] = v[i+size-1-j]
		}
	}
	return out
}
