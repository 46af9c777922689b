package dicomx

// VR is a value representation, two ASCII letters packed big-endian ('A'<<8|'E').
type VR uint16

// Value representations of PS3.5 Table 6.2-1. VRNone marks item and
// delimitation tags, which have none.
const (
	VRNone VR = 0
	VRAE   VR = 'A'<<8 | 'E'
	VRAS   VR = 'A'<<8 | 'S'
	VRAT   VR = 'A'<<8 | 'T'
	VRCS   VR = 'C'<<8 | 'S'
	VRDA   VR = 'D'<<8 | 'A'
	VRDS   VR = 'D'<<8 | 'S'
	VRDT   VR = 'D'<<8 | 'T'
	VRFD   VR = 'F'<<8 | 'D'
	VRFL   VR = 'F'<<8 | 'L'
	VRIS   VR = 'I'<<8 | 'S'
	VRLO   VR = 'L'<<8 | 'O'
	VRLT   VR = 'L'<<8 | 'T'
	VROB   VR = 'O'<<8 | 'B'
	VROD   VR = 'O'<<8 | 'D'
	VROF   VR = 'O'<<8 | 'F'
	VROL   VR = 'O'<<8 | 'L'
	VROV   VR = 'O'<<8 | 'V'
	VROW   VR = 'O'<<8 | 'W'
	VRPN   VR = 'P'<<8 | 'N'
	VRSH   VR = 'S'<<8 | 'H'
	VRSL   VR = 'S'<<8 | 'L'
	VRSQ   VR = 'S'<<8 | 'Q'
	VRSS   VR = 'S'<<8 | 'S'
	VRST   VR = 'S'<<8 | 'T'
	VRSV   VR = 'S'<<8 | 'V'
	VRTM   VR = 'T'<<8 | 'M'
	VRUC   VR = 'U'<<8 | 'C'
	VRUI   VR = 'U'<<8 | 'I'
	VRUL   VR = 'U'<<8 | 'L'
	VRUN   VR = 'U'<<8 | 'N'
	VRUR   VR = 'U'<<8 | 'R'
	VRUS   VR = 'U'<<8 | 'S'
	VRUT   VR = 'U'<<8 | 'T'
	VRUV   VR = 'U'<<8 | 'V'
)

// String returns the two letters, or "--" for VRNone.
func (v VR) String() string {
	if v == VRNone {
		return "--"
	}
	return string([]byte{byte(v >> 8), byte(v)})
}

// ParseVR returns the VR for two letters, and false when they are not a
// known VR.
func ParseVR(b0, b1 byte) (VR, bool) {
	v := VR(uint16(b0)<<8 | uint16(b1))
	return v, v.Known()
}

// Known reports whether v is one of the VRs of PS3.5.
func (v VR) Known() bool {
	switch v {
	case VRAE, VRAS, VRAT, VRCS, VRDA, VRDS, VRDT, VRFD, VRFL, VRIS, VRLO, VRLT, VROB, VROD, VROF,
		VROL, VROV, VROW, VRPN, VRSH, VRSL, VRSQ, VRSS, VRST, VRSV, VRTM, VRUC, VRUI, VRUL, VRUN,
		VRUR, VRUS, VRUT, VRUV:
		return true
	}
	return false
}

// LongLength reports whether explicit VR encoding uses the 2-byte reserved
// field and a 4-byte length for this VR (PS3.5 7.1.2).
func (v VR) LongLength() bool {
	switch v {
	case VROB, VROD, VROF, VROL, VROV, VROW, VRSQ, VRUC, VRUN, VRUR, VRUT, VRSV, VRUV:
		return true
	}
	return false
}

// IsText reports whether values of this VR are character strings.
func (v VR) IsText() bool {
	switch v {
	case VRAE, VRAS, VRCS, VRDA, VRDS, VRDT, VRIS, VRLO, VRLT, VRPN, VRSH, VRST, VRTM, VRUC, VRUI, VRUR, VRUT:
		return true
	}
	return false
}

// IsFreeText reports whether the VR can carry free text that may identify a
// person (the VRs the de-identifier treats as text by default).
func (v VR) IsFreeText() bool {
	switch v {
	case VRLO, VRLT, VRSH, VRST, VRUT, VRUC, VRPN:
		return true
	}
	return false
}

// IsBinary reports whether values are opaque bytes or words (OB, OW, …, UN).
func (v VR) IsBinary() bool {
	switch v {
	case VROB, VROD, VROF, VROL, VROV, VROW, VRUN:
		return true
	}
	return false
}

// PadByte is the byte used to pad a value of this VR to even length.
func (v VR) PadByte() byte {
	if v.IsText() && v != VRUI {
		return ' '
	}
	return 0
}

// FixedSize is the byte size of one value for binary numeric VRs, else 0.
func (v VR) FixedSize() int {
	switch v {
	case VRUS, VRSS:
		return 2
	case VRUL, VRSL, VRFL, VRAT:
		return 4
	case VRFD, VRSV, VRUV:
		return 8
	}
	return 0
}
