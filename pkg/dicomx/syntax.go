package dicomx

import (
	"strings"

	libuid "github.com/suyashkumar/dicom/pkg/uid"
)

// Transfer syntax UIDs read and written natively.
const (
	ImplicitVRLittleEndian         = "1.2.840.10008.1.2"
	ExplicitVRLittleEndian         = "1.2.840.10008.1.2.1"
	DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
	ExplicitVRBigEndian            = "1.2.840.10008.1.2.2"
)

// Syntax says how a dataset is encoded.
type Syntax struct {
	UID       string
	Implicit  bool // implicit VR (VRs come from the dictionary)
	BigEndian bool
	Deflated  bool // the dataset after the file meta is a raw deflate stream
	// Encapsulated is set for compressed syntaxes: Pixel Data is a sequence of
	// fragments. The header is explicit VR little endian.
	Encapsulated bool
}

// SyntaxFor maps a transfer syntax UID to its encoding. Unknown UIDs are taken
// as explicit VR little endian with encapsulated pixel data, which is what
// every compressed syntax of PS3.5 uses; the reader verifies this as it goes.
func SyntaxFor(uid string) Syntax {
	uid = trimUID(uid)
	switch uid {
	case ImplicitVRLittleEndian:
		return Syntax{UID: uid, Implicit: true}
	case ExplicitVRLittleEndian:
		return Syntax{UID: uid}
	case DeflatedExplicitVRLittleEndian:
		return Syntax{UID: uid, Deflated: true}
	case ExplicitVRBigEndian:
		return Syntax{UID: uid, BigEndian: true}
	case "1.2.840.10008.1.2.1.98": // Encapsulated Uncompressed Explicit VR Little Endian
		return Syntax{UID: uid, Encapsulated: true}
	}
	return Syntax{UID: uid, Encapsulated: true}
}

// Name returns the transfer syntax's registered name, or its UID.
func (s Syntax) Name() string {
	if n := UIDName(s.UID); n != "" {
		return n
	}
	if s.UID == "" {
		return "unknown (no file meta)"
	}
	return s.UID
}

// trimUID drops the NUL or space padding a UI value may carry.
func trimUID(s string) string { return strings.TrimRight(s, "\x00 ") }

// newerUIDs names UIDs added to the standard after the library's registry was
// generated.
var newerUIDs = map[string]string{
	"1.2.840.10008.5.1.4.1.1.66.7":  "Label Map Segmentation Storage",
	"1.2.840.10008.5.1.4.1.1.66.8":  "Height Map Segmentation Storage",
	"1.2.840.10008.5.1.4.1.1.104.3": "Encapsulated STL Storage",
	"1.2.840.10008.5.1.4.1.1.104.4": "Encapsulated OBJ Storage",
	"1.2.840.10008.5.1.4.1.1.104.5": "Encapsulated MTL Storage",
	"1.2.840.10008.5.1.4.1.1.68.1":  "Surface Scan Mesh Storage",
	"1.2.840.10008.5.1.4.1.1.68.2":  "Surface Scan Point Cloud Storage",
	"1.2.840.10008.1.2.8.1":         "Deflated Image Frame Compression",
	"1.2.840.10008.1.2.4.201":       "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.202":       "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
	"1.2.840.10008.1.2.4.203":       "High-Throughput JPEG 2000 Image Compression",
	"1.2.840.10008.1.2.1.98":        "Encapsulated Uncompressed Explicit VR Little Endian",
	"1.2.840.10008.5.1.4.1.1.2.2":   "Legacy Converted Enhanced CT Image Storage",
	"1.2.840.10008.5.1.4.1.1.4.4":   "Legacy Converted Enhanced MR Image Storage",
}

// UIDName returns the registered name of a well-known DICOM UID (SOP class,
// transfer syntax, …), or "" when it is not in the registry.
func UIDName(uid string) string {
	uid = trimUID(uid)
	if n, ok := newerUIDs[uid]; ok {
		return n
	}
	if info, err := libuid.Lookup(uid); err == nil {
		return info.Name
	}
	return ""
}
