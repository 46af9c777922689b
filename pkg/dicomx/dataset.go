package dicomx

import (
	"encoding/binary"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Element is one data element. Value holds the raw bytes as encoded (in the
// dataset's byte order, padding included), so an element that nobody decodes
// costs nothing and an unchanged element is written back byte for byte.
type Element struct {
	Tag Tag
	VR  VR
	// Value is nil for sequences and for bulk values left in the stream.
	Value []byte
	// Items are the items of a sequence (VR SQ, or UN with undefined length,
	// which PS3.5 6.2.2 says to read as an implicit VR little endian sequence;
	// such elements are reported with VR SQ and FromUN set).
	Items []*Dataset
	// Length is the value length as encoded; -1 when undefined.
	Length int64
	// Bulk marks a top-level value left in the stream: copy or skip it with the
	// Reader before the next call to Next.
	Bulk bool
	// Encapsulated marks pixel data in fragments: Value (when loaded) is the
	// raw item stream, sequence delimiter included.
	Encapsulated bool
	// FromUN marks a sequence that was encoded as UN with undefined length.
	FromUN bool
	// Offset is the position of the element's first byte in the stream.
	Offset int64
	big    bool
}

// BigEndian reports the byte order of the element's binary value.
func (e *Element) BigEndian() bool { return e.big }

func (e *Element) order() binary.ByteOrder {
	if e.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// Str returns a text value with its padding and surrounding spaces removed
// (all values, backslashes included).
func (e *Element) Str() string {
	if e == nil || len(e.Value) == 0 {
		return ""
	}
	return strings.Trim(string(e.Value), " \x00")
}

// Strs splits a text value into its values (backslash-separated), each trimmed.
// LT, ST, UT and UR are single-valued: their backslashes are text.
func (e *Element) Strs() []string {
	if e == nil || len(e.Value) == 0 {
		return nil
	}
	s := string(e.Value)
	switch e.VR {
	case VRLT, VRST, VRUT, VRUR:
		return []string{strings.Trim(s, " \x00")}
	}
	parts := strings.Split(s, `\`)
	for i, p := range parts {
		parts[i] = strings.Trim(p, " \x00")
	}
	return parts
}

// Floats decodes numeric values: DS and IS text, or binary FL, FD, US, SS,
// UL, SL, SV, UV, OF, OD. Values that do not parse are skipped and ok is false.
func (e *Element) Floats() (vals []float64, ok bool) {
	if e == nil {
		return nil, false
	}
	ok = true
	switch e.VR {
	case VRDS, VRIS:
		for _, p := range e.Strs() {
			if p == "" {
				continue
			}
			f, err := strconv.ParseFloat(p, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				ok = false
				continue
			}
			vals = append(vals, f)
		}
		return vals, ok
	case VRFL, VROF:
		o := e.order()
		for i := 0; i+4 <= len(e.Value); i += 4 {
			vals = append(vals, float64(math.Float32frombits(o.Uint32(e.Value[i:]))))
		}
	case VRFD, VROD:
		o := e.order()
		for i := 0; i+8 <= len(e.Value); i += 8 {
			vals = append(vals, math.Float64frombits(o.Uint64(e.Value[i:])))
		}
	default:
		ints, iok := e.Ints()
		for _, v := range ints {
			vals = append(vals, float64(v))
		}
		return vals, iok
	}
	for _, f := range vals {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
	}
	return vals, ok
}

// Ints decodes integer values: IS text or binary US, SS, UL, SL, SV, UV, AT.
func (e *Element) Ints() (vals []int64, ok bool) {
	if e == nil {
		return nil, false
	}
	o := e.order()
	b := e.Value
	switch e.VR {
	case VRIS, VRDS:
		ok = true
		for _, p := range e.Strs() {
			if p == "" {
				continue
			}
			v, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(p, 64)
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					ok = false
					continue
				}
				v = int64(f)
			}
			vals = append(vals, v)
		}
		return vals, ok
	case VRUS, VROW:
		for i := 0; i+2 <= len(b); i += 2 {
			vals = append(vals, int64(o.Uint16(b[i:])))
		}
	case VRSS:
		for i := 0; i+2 <= len(b); i += 2 {
			vals = append(vals, int64(int16(o.Uint16(b[i:]))))
		}
	case VRUL, VROL, VRAT:
		for i := 0; i+4 <= len(b); i += 4 {
			vals = append(vals, int64(o.Uint32(b[i:])))
		}
	case VRSL:
		for i := 0; i+4 <= len(b); i += 4 {
			vals = append(vals, int64(int32(o.Uint32(b[i:]))))
		}
	case VRSV, VRUV, VROV:
		for i := 0; i+8 <= len(b); i += 8 {
			vals = append(vals, int64(o.Uint64(b[i:])))
		}
	default:
		return nil, false
	}
	return vals, true
}

// Dataset is an ordered list of elements: a whole object, the file meta, or
// one sequence item.
type Dataset struct {
	Elements []*Element
	// Offset is the stream position of the item header (0 for a top-level set).
	Offset int64
	sorted bool
}

// Get returns the element with tag t, or nil.
func (d *Dataset) Get(t Tag) *Element {
	if d == nil {
		return nil
	}
	if d.sorted {
		els := d.Elements
		i := sort.Search(len(els), func(i int) bool { return els[i].Tag >= t })
		if i < len(els) && els[i].Tag == t {
			return els[i]
		}
		return nil
	}
	for _, e := range d.Elements {
		if e.Tag == t {
			return e
		}
	}
	return nil
}

// Str returns the trimmed text value of t ("" when absent).
func (d *Dataset) Str(t Tag) string { return d.Get(t).Str() }

// Strs returns the values of t.
func (d *Dataset) Strs(t Tag) []string { return d.Get(t).Strs() }

// Floats returns the numeric values of t (nil when absent or unparsable).
func (d *Dataset) Floats(t Tag) []float64 {
	v, ok := d.Get(t).Floats()
	if !ok {
		return nil
	}
	return v
}

// Float returns the first numeric value of t.
func (d *Dataset) Float(t Tag) (float64, bool) {
	v := d.Floats(t)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Int returns the first integer value of t.
func (d *Dataset) Int(t Tag) (int64, bool) {
	v, ok := d.Get(t).Ints()
	if !ok || len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

// Seq returns the items of sequence t.
func (d *Dataset) Seq(t Tag) []*Dataset {
	e := d.Get(t)
	if e == nil {
		return nil
	}
	return e.Items
}

// Item returns the first item of sequence t, or nil.
func (d *Dataset) Item(t Tag) *Dataset {
	items := d.Seq(t)
	if len(items) == 0 {
		return nil
	}
	return items[0]
}

// Set replaces the element with e's tag, or inserts e in tag order.
func (d *Dataset) Set(e *Element) {
	for i, x := range d.Elements {
		if x.Tag == e.Tag {
			d.Elements[i] = e
			return
		}
		if x.Tag > e.Tag {
			d.Elements = append(d.Elements, nil)
			copy(d.Elements[i+1:], d.Elements[i:])
			d.Elements[i] = e
			return
		}
	}
	d.Elements = append(d.Elements, e)
}

// Delete removes the element with tag t and reports whether it was there.
func (d *Dataset) Delete(t Tag) bool {
	for i, x := range d.Elements {
		if x.Tag == t {
			d.Elements = append(d.Elements[:i], d.Elements[i+1:]...)
			return true
		}
	}
	return false
}

// NewText builds a text element; the writer pads it to even length.
func NewText(t Tag, vr VR, values ...string) *Element {
	v := []byte(strings.Join(values, `\`))
	return &Element{Tag: t, VR: vr, Value: v, Length: int64(len(v))}
}

// NewUint16 builds a US element in the given byte order.
func NewUint16(t Tag, bigEndian bool, values ...uint16) *Element {
	b := make([]byte, 2*len(values))
	for i, v := range values {
		if bigEndian {
			binary.BigEndian.PutUint16(b[2*i:], v)
		} else {
			binary.LittleEndian.PutUint16(b[2*i:], v)
		}
	}
	return &Element{Tag: t, VR: VRUS, Value: b, Length: int64(len(b)), big: bigEndian}
}

// NewSequence builds a sequence element.
func NewSequence(t Tag, items ...*Dataset) *Element {
	return &Element{Tag: t, VR: VRSQ, Items: items, Length: -1}
}

// NewUint32 builds a UL element in the given byte order.
func NewUint32(t Tag, bigEndian bool, values ...uint32) *Element {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		if bigEndian {
			binary.BigEndian.PutUint32(b[4*i:], v)
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
	}
	return &Element{Tag: t, VR: VRUL, Value: b, Length: int64(len(b)), big: bigEndian}
}

// NewBytes builds a binary element (OB, OW, UN …) holding b as is.
func NewBytes(t Tag, vr VR, b []byte) *Element {
	return &Element{Tag: t, VR: vr, Value: b, Length: int64(len(b))}
}
