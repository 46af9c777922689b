package dicomx

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits bound what a reader accepts. The zero value of a field means its
// default.
type Limits struct {
	// MaxValueBytes is the largest single value loaded into memory
	// (default 256 MiB). Larger top-level values can still be streamed.
	MaxValueBytes int64
	// BulkThreshold: top-level binary values at least this long are left in
	// the stream instead of loaded (default 256 KiB). Pixel Data always is.
	BulkThreshold int64
	// MaxDepth bounds sequence nesting (default 32).
	MaxDepth int
	// MaxElements bounds elements and items at all depths (default 4,000,000).
	MaxElements int
	// MaxInflatedBytes bounds a deflated dataset after inflation
	// (default 4 GiB).
	MaxInflatedBytes int64
	// MaxHeldBytes bounds the values one reader holds in memory in total:
	// header values at every depth and loaded bulk values (default 256
	// MiB). MaxValueBytes alone would let a small deflated object hold
	// many values just under it.
	MaxHeldBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = 256 << 20
	}
	if l.BulkThreshold <= 0 {
		l.BulkThreshold = 256 << 10
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 32
	}
	if l.MaxElements <= 0 {
		l.MaxElements = 4_000_000
	}
	if l.MaxInflatedBytes <= 0 {
		l.MaxInflatedBytes = 4 << 30
	}
	if l.MaxHeldBytes <= 0 {
		l.MaxHeldBytes = 256 << 20
	}
	return l
}

// Options configure a Reader.
type Options struct {
	Limits Limits
	// LoadBulk, when set, loads the listed top-level bulk elements into memory
	// (within MaxValueBytes) instead of leaving them in the stream; e.g. the
	// Encapsulated Document of an STL model.
	LoadBulk func(Tag) bool
	// BufferSize is the read buffer (default 16 KiB).
	BufferSize int
	// Hold, when set, reserves every value held against a process-wide
	// Budget (ErrBusy when it stays full).
	Hold *Hold
}

// Reader reads one DICOM object element by element. Sequences are read whole
// (bounded by Limits); bulk values are left in the stream until the caller
// copies, loads or skips them.
type Reader struct {
	src      *source
	opt      Options
	lim      Limits
	meta     *Dataset
	preamble []byte // nil when the object has none
	syn      Syntax
	count    int
	pending  *Element // bulk element whose value is still in the stream
	arena    arena
	slab     []Element
	done     bool
	held     int64 // value bytes loaded so far, against MaxHeldBytes
}

// hold accounts for n more value bytes about to be loaded at off.
func (r *Reader) hold(off int64, t Tag, n int64) error {
	if r.held+n > r.lim.MaxHeldBytes {
		return tooLarge(off, t, "the object's values held in memory exceed the %d-byte limit", r.lim.MaxHeldBytes)
	}
	if err := r.opt.Hold.reserve(n); err != nil {
		var fe *FormatError
		if errors.As(err, &fe) {
			fe.Offset, fe.Tag = off, t
		}
		return err
	}
	r.held += n
	return nil
}

// NewReader reads the preamble and file meta of an object of size bytes
// (-1 when unknown) and positions the reader on the first dataset element.
// Objects without a preamble or without file meta are accepted; their
// encoding is detected from the first element.
func NewReader(r io.Reader, size int64, opt Options) (*Reader, error) {
	bs := opt.BufferSize
	if bs <= 0 {
		bs = 16 << 10
	}
	rd := &Reader{src: newSource(r, size, bs), opt: opt, lim: opt.Limits.withDefaults()}
	if err := rd.readPreambleAndMeta(); err != nil {
		return nil, err
	}
	return rd, nil
}

// Meta returns the file meta information (group 0002); empty when absent.
func (r *Reader) Meta() *Dataset { return r.meta }

// Preamble returns the 128-byte preamble, or nil when the object has none.
func (r *Reader) Preamble() []byte { return r.preamble }

// Syntax returns the dataset's transfer syntax.
func (r *Reader) Syntax() Syntax { return r.syn }

func (r *Reader) readPreambleAndMeta() error {
	head := r.src.peek(132)
	r.meta = &Dataset{sorted: true}
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		r.preamble = append([]byte(nil), head[:128]...)
		if _, err := r.src.next(132); err != nil {
			return err
		}
	case len(head) >= 4 && string(head[:4]) == "DICM":
		if _, err := r.src.next(4); err != nil {
			return err
		}
	}
	// File meta: explicit VR little endian, group 0002, however it is
	// announced. Its group length is not trusted to end it (writers get it
	// wrong), except before a deflated dataset, whose compressed bytes may
	// start like a group 0002 element.
	metaEnd := int64(-1)
	for {
		if metaEnd >= 0 && r.src.pos == metaEnd && SyntaxFor(r.meta.Str(TagTransferSyntaxUID)).Deflated {
			break
		}
		h := r.src.peek(6)
		if len(h) < 6 || binary.LittleEndian.Uint16(h) != 0x0002 {
			break
		}
		e, err := r.readElement(0, r.endOfStream(), enc{}, nil)
		if err != nil {
			return err
		}
		switch n := len(r.meta.Elements); {
		case n == 0 && e.Tag == TagFileMetaInformationGroupLength && len(e.Value) == 4:
			metaEnd = r.src.pos + int64(binary.LittleEndian.Uint32(e.Value))
		case n > 0 && e.Tag <= r.meta.Elements[n-1].Tag:
			r.meta.sorted = false
		}
		r.meta.Elements = append(r.meta.Elements, e)
	}
	if len(r.meta.Elements) > 0 {
		ts := r.meta.Str(TagTransferSyntaxUID)
		if ts == "" {
			return &FormatError{Kind: ErrMalformed, Offset: r.src.pos, Reason: "file meta has no transfer syntax"}
		}
		r.syn = SyntaxFor(ts)
	} else {
		if r.preamble == nil && !r.looksLikeDataset() {
			return &FormatError{Kind: ErrNotDICOM, Reason: "no DICM prefix, no file meta and no plausible first element"}
		}
		r.syn = r.guessSyntax()
	}
	if r.syn.Deflated {
		inflated := &capReader{r: flate.NewReader(r.src.rest()), left: r.lim.MaxInflatedBytes}
		pos := r.src.pos
		r.src = newSource(inflated, -1, len(r.src.buf))
		r.src.pos = pos
	}
	return nil
}

// looksLikeDataset checks the first 8 bytes for an element header: a small
// even group and, when explicit, a known VR.
func (r *Reader) looksLikeDataset() bool {
	h := r.src.peek(8)
	if len(h) < 8 {
		return false
	}
	le, be := binary.LittleEndian.Uint16(h), binary.BigEndian.Uint16(h)
	plausible := func(g uint16) bool { return g >= 0x0002 && g <= 0x0FFF && g%2 == 0 }
	return plausible(le) || plausible(be)
}

// guessSyntax picks the encoding of a dataset that has no file meta.
func (r *Reader) guessSyntax() Syntax {
	h := r.src.peek(8)
	if len(h) < 8 {
		return SyntaxFor(ImplicitVRLittleEndian)
	}
	_, explicit := ParseVR(h[4], h[5])
	// The first group of a dataset is small (0008 in practice): the byte order
	// that reads it as such wins.
	big := binary.LittleEndian.Uint16(h) > 0x00FF && binary.BigEndian.Uint16(h) <= 0x00FF
	switch {
	case big && explicit:
		return SyntaxFor(ExplicitVRBigEndian)
	case explicit:
		return Syntax{UID: "", Implicit: false}
	default:
		return Syntax{UID: "", Implicit: true}
	}
}

// enc is the encoding in force while reading one (nested) dataset.
type enc struct {
	implicit bool
	big      bool
}

func (e enc) order() binary.ByteOrder {
	if e.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (r *Reader) datasetEnc() enc { return enc{implicit: r.syn.Implicit, big: r.syn.BigEndian} }

func (r *Reader) endOfStream() int64 {
	if r.src.limit < 0 {
		return math.MaxInt64
	}
	return r.src.limit
}

// Next returns the next top-level element, or io.EOF after the last one. If
// the previous element was bulk and its value was not consumed, Next skips it.
func (r *Reader) Next() (*Element, error) {
	if r.pending != nil {
		if err := r.SkipValue(); err != nil {
			return nil, err
		}
	}
	if r.done || r.src.atEOF() {
		if err := r.src.err; err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		r.done = true
		return nil, io.EOF
	}
	e, err := r.readElement(0, r.endOfStream(), r.datasetEnc(), nil)
	if err != nil {
		return nil, err
	}
	if e.Bulk {
		r.pending = e
		if r.opt.LoadBulk != nil && r.opt.LoadBulk(e.Tag) {
			if _, err := r.ReadValue(); err != nil {
				return nil, err
			}
		}
	}
	return e, nil
}

// ReadAll reads the rest of the object into a dataset, loading bulk values
// (each within MaxValueBytes).
func (r *Reader) ReadAll() (*Dataset, error) {
	ds := &Dataset{sorted: true}
	var last Tag
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ds, nil
		}
		if err != nil {
			return nil, err
		}
		if e.Bulk {
			if _, err := r.ReadValue(); err != nil {
				return nil, err
			}
		}
		if len(ds.Elements) > 0 && e.Tag <= last {
			ds.sorted = false
		}
		last = e.Tag
		ds.Elements = append(ds.Elements, e)
	}
}

// CopyValue writes the pending bulk value to w as encoded: for encapsulated
// pixel data, the raw item stream with its delimiter. It returns the bytes
// written.
func (r *Reader) CopyValue(w io.Writer) (int64, error) {
	e := r.pending
	if e == nil {
		return 0, errors.New("dicomx: no bulk value pending")
	}
	r.pending = nil
	if !e.Encapsulated {
		n, err := r.src.copyN(w, e.Length)
		if err != nil {
			return n, r.streamErr(e, err)
		}
		e.Bulk = true
		return n, nil
	}
	return r.copyFragments(e, w, r.endOfStream())
}

// SkipValue discards the pending bulk value.
func (r *Reader) SkipValue() error {
	_, err := r.CopyValue(io.Discard)
	return err
}

// ReadValue loads the pending bulk value into e.Value (within MaxValueBytes)
// and returns it.
func (r *Reader) ReadValue() ([]byte, error) {
	e := r.pending
	if e == nil {
		return nil, errors.New("dicomx: no bulk value pending")
	}
	if !e.Encapsulated {
		if e.Length > r.lim.MaxValueBytes {
			r.pending = nil
			return nil, tooLarge(e.Offset, e.Tag, "value of %d bytes is over the %d-byte limit for values held in memory", e.Length, r.lim.MaxValueBytes)
		}
		r.pending = nil
		v, err := r.readValueBytes(e.Tag, e.Length)
		if err != nil {
			return nil, err
		}
		e.Value, e.Bulk = v, false
		return v, nil
	}
	var buf bytes.Buffer
	lw := &capWriter{w: &buf, left: r.lim.MaxValueBytes, hold: r.holder(e)}
	if _, err := r.CopyValue(lw); err != nil {
		if lw.over {
			return nil, tooLarge(e.Offset, e.Tag, "encapsulated value is over the %d-byte limit for values held in memory", r.lim.MaxValueBytes)
		}
		return nil, err
	}
	e.Value, e.Bulk = buf.Bytes(), false
	return e.Value, nil
}

func (r *Reader) streamErr(e *Element, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(e.Offset, e.Tag, "truncated: the object ends inside this value")
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("dicomx: reading value of %s: %w", e.Tag, err)
}

// copyFragments copies an encapsulated value (items of fragments, then the
// sequence delimiter), checking each item header.
func (r *Reader) copyFragments(e *Element, w io.Writer, end int64) (int64, error) {
	var total int64
	for n := 0; ; n++ {
		if n > r.lim.MaxElements {
			return total, tooLarge(e.Offset, e.Tag, "more than %d fragments", r.lim.MaxElements)
		}
		off := r.src.pos
		h, err := r.src.next(8)
		if err != nil {
			return total, malformed(off, e.Tag, "truncated: the object ends inside encapsulated pixel data")
		}
		t := Tag(uint32(binary.LittleEndian.Uint16(h))<<16 | uint32(binary.LittleEndian.Uint16(h[2:])))
		l := binary.LittleEndian.Uint32(h[4:])
		if _, err := w.Write(h); err != nil {
			return total, err
		}
		total += 8
		switch t {
		case TagSequenceDelimitationItem:
			return total, nil
		case TagItem:
		default:
			return total, malformed(off, e.Tag, "expected a fragment item, found %s", t)
		}
		if l == 0xFFFFFFFF {
			return total, malformed(off, e.Tag, "fragment with undefined length")
		}
		if int64(l) > end-r.src.pos {
			return total, malformed(off, e.Tag, "fragment claims %d bytes but only %d remain", l, end-r.src.pos)
		}
		m, err := r.src.copyN(w, int64(l))
		total += m
		if err != nil {
			return total, r.streamErr(e, err)
		}
	}
}

// readElement reads one element whose bytes must end by end. items collects
// the count for limits.
func (r *Reader) readElement(depth int, end int64, en enc, _ *Dataset) (*Element, error) {
	off := r.src.pos
	r.count++
	if r.count > r.lim.MaxElements {
		return nil, tooLarge(off, 0, "more than %d elements", r.lim.MaxElements)
	}
	if end-off < 8 {
		return nil, malformed(off, 0, "truncated: %d bytes left where an element header needs 8", max(end-off, 0))
	}
	h, err := r.src.next(8)
	if err != nil {
		return nil, r.truncated(off, 0, err, "truncated element header")
	}
	o := en.order()
	g := o.Uint16(h)
	if binary.LittleEndian.Uint16(h) == 0x0002 {
		// Group 0002 is explicit VR little endian, also where it strays into
		// a dataset of another encoding (the Writer writes it so); a VR
		// tells whether a writer kept to that.
		_, explicit := ParseVR(h[4], h[5])
		o, en, g = binary.LittleEndian, enc{implicit: !explicit}, 0x0002
	}
	t := Tag(uint32(g)<<16 | uint32(o.Uint16(h[2:])))
	e := r.newElement()
	e.Tag, e.Offset, e.big = t, off, en.big
	var length uint32
	switch {
	case g == 0xFFFE:
		return nil, malformed(off, t, "item or delimiter where an element was expected")
	case en.implicit:
		e.VR = dictVR(t)
		length = o.Uint32(h[4:])
	default:
		vr, ok := ParseVR(h[4], h[5])
		if !ok {
			return nil, malformed(off, t, "invalid value representation %q", printable(h[4:6]))
		}
		e.VR = vr
		if vr.LongLength() {
			lb, err := r.src.next(4)
			if err != nil {
				return nil, r.truncated(off, t, err, "truncated element header")
			}
			length = o.Uint32(lb)
		} else {
			length = uint32(o.Uint16(h[6:]))
		}
	}
	if length == 0xFFFFFFFF {
		e.Length = -1
		switch {
		case t == TagPixelData || (e.VR != VRSQ && e.VR != VRUN && t.Group() != 0x0002):
			e.Encapsulated = true
			if depth == 0 {
				e.Bulk = true
				return e, nil
			}
			var buf bytes.Buffer
			if _, err := r.copyFragments(e, &capWriter{w: &buf, left: r.lim.MaxValueBytes, hold: r.holder(e)}, end); err != nil {
				return nil, err
			}
			e.Value = buf.Bytes()
			return e, nil
		case e.VR == VRUN:
			e.VR, e.FromUN = VRSQ, true
			en = enc{implicit: true}
		}
		if depth >= r.lim.MaxDepth {
			return nil, tooLarge(off, t, "sequences nested deeper than %d", r.lim.MaxDepth)
		}
		if err := r.readItems(e, depth+1, end, en, -1); err != nil {
			return nil, err
		}
		return e, nil
	}
	e.Length = int64(length)
	valEnd := r.src.pos + e.Length
	if valEnd > end {
		return nil, malformed(off, t, "truncated or corrupt length: value claims %d bytes but only %d remain", length, max(end-r.src.pos, 0))
	}
	if e.VR == VRSQ {
		if depth >= r.lim.MaxDepth {
			return nil, tooLarge(off, t, "sequences nested deeper than %d", r.lim.MaxDepth)
		}
		if err := r.readItems(e, depth+1, valEnd, en, e.Length); err != nil {
			return nil, err
		}
		return e, nil
	}
	if depth == 0 && (t == TagPixelData || t == TagFloatPixelData || t == TagDoubleFloatPixelData ||
		(e.Length >= r.lim.BulkThreshold && (e.VR.IsBinary() || e.VR == VRUT))) {
		e.Bulk = true
		return e, nil
	}
	if e.Length > r.lim.MaxValueBytes {
		return nil, tooLarge(off, t, "value of %d bytes is over the %d-byte limit", e.Length, r.lim.MaxValueBytes)
	}
	v, err := r.readValueBytes(t, e.Length)
	if err != nil {
		return nil, err
	}
	e.Value = v
	return e, nil
}

// readItems reads the items of sequence e. length is the sequence's value
// length, -1 when undefined; end bounds it either way.
func (r *Reader) readItems(e *Element, depth int, end int64, en enc, length int64) error {
	o := en.order()
	for {
		if length >= 0 && r.src.pos == end {
			return nil
		}
		off := r.src.pos
		r.count++
		if r.count > r.lim.MaxElements {
			return tooLarge(off, e.Tag, "more than %d elements", r.lim.MaxElements)
		}
		if end-off < 8 {
			return malformed(off, e.Tag, "truncated: sequence ends inside an item header")
		}
		h, err := r.src.next(8)
		if err != nil {
			return r.truncated(off, e.Tag, err, "truncated: the object ends inside a sequence")
		}
		t := Tag(uint32(o.Uint16(h))<<16 | uint32(o.Uint16(h[2:])))
		l := o.Uint32(h[4:])
		switch t {
		case TagSequenceDelimitationItem:
			if length >= 0 {
				return malformed(off, e.Tag, "sequence delimiter in a sequence of defined length")
			}
			return nil
		case TagItem:
		default:
			return malformed(off, e.Tag, "expected an item in the sequence, found %s", t)
		}
		item := &Dataset{Offset: off, sorted: true}
		if l == 0xFFFFFFFF {
			if err := r.readItemElements(item, depth, end, en, true); err != nil {
				return err
			}
		} else {
			itemEnd := r.src.pos + int64(l)
			if itemEnd > end {
				return malformed(off, e.Tag, "item claims %d bytes but only %d remain", l, end-r.src.pos)
			}
			if err := r.readItemElements(item, depth, itemEnd, en, false); err != nil {
				return err
			}
		}
		e.Items = append(e.Items, item)
	}
}

func (r *Reader) readItemElements(item *Dataset, depth int, end int64, en enc, undefined bool) error {
	o := en.order()
	var last Tag
	for {
		if !undefined && r.src.pos == end {
			return nil
		}
		if undefined {
			h := r.src.peek(8)
			if len(h) >= 4 {
				t := Tag(uint32(o.Uint16(h))<<16 | uint32(o.Uint16(h[2:])))
				if t == TagItemDelimitationItem {
					if end-r.src.pos < 8 {
						return malformed(r.src.pos, t, "truncated item delimiter")
					}
					_, err := r.src.next(8)
					return err
				}
				if t == TagSequenceDelimitationItem || t == TagItem {
					return malformed(r.src.pos, t, "item of undefined length is not closed by an item delimiter")
				}
			}
		}
		e, err := r.readElement(depth, end, en, item)
		if err != nil {
			return err
		}
		if len(item.Elements) > 0 && e.Tag <= last {
			item.sorted = false
		}
		last = e.Tag
		item.Elements = append(item.Elements, e)
	}
}

// readValueBytes reads n bytes already checked against the container end.
func (r *Reader) readValueBytes(t Tag, n int64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if err := r.hold(r.src.pos, t, n); err != nil {
		return nil, err
	}
	if r.src.limit < 0 {
		v, err := r.src.readGrowing(n)
		if err != nil {
			return nil, r.truncated(r.src.pos, t, err, "truncated: the object ends inside this value")
		}
		return v, nil
	}
	v := r.arena.alloc(int(n))
	if err := r.src.readInto(v); err != nil {
		return nil, r.truncated(r.src.pos, t, err, "truncated: the object ends inside this value")
	}
	return v, nil
}

// truncated reports a short read: a limit or decoding error from below
// (deflate) passes through, anything else means the object ends early.
func (r *Reader) truncated(off int64, t Tag, err error, reason string) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(off, t, "%s", reason)
	}
	return fmt.Errorf("dicomx: reading at byte %d: %w", off, err)
}

func (r *Reader) newElement() *Element {
	if len(r.slab) == cap(r.slab) {
		r.slab = make([]Element, 0, 64)
	}
	r.slab = r.slab[:len(r.slab)+1]
	return &r.slab[len(r.slab)-1]
}

// arena hands out small value buffers from shared chunks, so reading a header
// costs a few allocations instead of one per element.
type arena struct{ buf []byte }

func (a *arena) alloc(n int) []byte {
	if n > 4096 {
		return make([]byte, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, 16<<10)
	}
	s := len(a.buf)
	a.buf = a.buf[:s+n]
	return a.buf[s : s+n : s+n]
}

// capReader fails with ErrTooLarge once more than left bytes were read:
// a deflate bomb stops at the limit instead of filling memory or disk.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, &FormatError{Kind: ErrTooLarge, Reason: "deflated dataset inflates beyond the configured limit"}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, &FormatError{Kind: ErrMalformed, Reason: "deflated dataset does not inflate: " + err.Error()}
	}
	return n, err
}

// capWriter refuses to grow past left bytes, and accounts for what it
// holds through hold.
type capWriter struct {
	w    io.Writer
	left int64
	over bool
	hold func(n int64) error
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		c.over = true
		return 0, &FormatError{Kind: ErrTooLarge, Reason: "value is over the limit for values held in memory"}
	}
	if c.hold != nil {
		if err := c.hold(int64(len(p))); err != nil {
			return 0, err
		}
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

// holder accounts for the bytes of e's value as they are loaded.
func (r *Reader) holder(e *Element) func(int64) error {
	return func(n int64) error { return r.hold(e.Offset, e.Tag, n) }
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7E {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
