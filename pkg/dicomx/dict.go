package dicomx

import "sort"

// DictEntry describes one attribute of the PS3.6 data dictionary.
type DictEntry struct {
	Tag  Tag
	Mask uint32 // bits of Tag that are fixed; repeating groups (60xx) clear some
	VR   VR     // first VR when the dictionary allows several
	// MultiVR is set when the dictionary lists several VRs ("US or SS", "OB or OW").
	MultiVR bool
	VM      string
	Keyword string
	Name    string
	Retired bool
}

// Lookup finds a standard attribute in the data dictionary. Private tags are
// never found except private creators, which Lookup reports as LO. Group
// length tags are reported as UL.
func Lookup(t Tag) (DictEntry, bool) {
	i := sort.Search(len(dictExact), func(i int) bool { return dictExact[i].Tag >= t })
	if i < len(dictExact) && dictExact[i].Tag == t {
		return dictExact[i], true
	}
	if t.IsPrivate() {
		if t.IsPrivateCreator() {
			return DictEntry{Tag: t, Mask: 0xFFFFFFFF, VR: VRLO, VM: "1", Keyword: "PrivateCreator", Name: "Private Creator"}, true
		}
		return DictEntry{}, false
	}
	for _, e := range dictMasked {
		if uint32(t)&e.Mask == uint32(e.Tag) {
			return e, true
		}
	}
	if t.IsGroupLength() {
		return DictEntry{Tag: t, Mask: 0xFFFFFFFF, VR: VRUL, VM: "1", Keyword: "GroupLength", Name: "Group Length"}, true
	}
	return DictEntry{}, false
}

// Keyword returns the attribute keyword for t, or "" when unknown.
func Keyword(t Tag) string {
	e, _ := Lookup(t)
	return e.Keyword
}

// dictVR returns the VR used to read t in implicit VR, UN when unknown.
func dictVR(t Tag) VR {
	switch t {
	case TagItem, TagItemDelimitationItem, TagSequenceDelimitationItem:
		return VRNone
	}
	if e, ok := Lookup(t); ok && e.VR != VRNone {
		// "OB or OW" (Pixel Data, Overlay Data…) is OW in implicit VR
		// little endian (PS3.5 A.1, 8.1.2); the dictionary lists OB first.
		if e.MultiVR && e.VR == VROB {
			return VROW
		}
		return e.VR
	}
	return VRUN
}
