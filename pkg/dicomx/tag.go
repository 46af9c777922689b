package dicomx

import "fmt"

// Tag is a DICOM attribute tag: group in the high 16 bits, element in the low.
type Tag uint32

// NewTag builds a tag from its group and element numbers.
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group is the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element is the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// String formats the tag as (gggg,eeee).
func (t Tag) String() string { return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element()) }

// IsPrivate reports whether the tag is in an odd (private) group.
func (t Tag) IsPrivate() bool { return t.Group()%2 == 1 && t.Group() > 8 }

// IsPrivateCreator reports whether the tag reserves a private block
// (gggg,0010)–(gggg,00FF).
func (t Tag) IsPrivateCreator() bool {
	e := t.Element()
	return t.IsPrivate() && e >= 0x10 && e <= 0xFF
}

// PrivateCreatorTag returns, for a private data element (gggg,xxyy), the tag
// of the creator element that reserves its block, (gggg,00xx). ok is false for
// non-private tags and for elements outside a block.
func (t Tag) PrivateCreatorTag() (Tag, bool) {
	if !t.IsPrivate() {
		return 0, false
	}
	block := t.Element() >> 8
	if block < 0x10 {
		return 0, false
	}
	return NewTag(t.Group(), block), true
}

// IsGroupLength reports whether the tag is a group length (gggg,0000).
func (t Tag) IsGroupLength() bool { return t.Element() == 0 }
