package dicomx

import "encoding/binary"

// Sniff reports whether head — the first bytes of an object, at least 132
// when the object is that long — looks like DICOM: a Part 10 file ("DICM"
// after the preamble) or a bare dataset whose first element is a plausible
// file meta or identifying element in any of the three encodings.
func Sniff(head []byte) bool {
	if len(head) >= 132 && string(head[128:132]) == "DICM" {
		return true
	}
	if len(head) < 8 {
		return false
	}
	if string(head[:4]) == "DICM" {
		return true
	}
	for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		g, el := o.Uint16(head), o.Uint16(head[2:])
		if g != 0x0002 && g != 0x0008 {
			continue
		}
		if el > 0x1FFF {
			continue
		}
		if _, ok := ParseVR(head[4], head[5]); ok {
			return true
		}
		if o == binary.LittleEndian && binary.LittleEndian.Uint32(head[4:]) < 1024 {
			return true // implicit VR little endian, short first value
		}
	}
	return false
}
