// Package dicomx reads and writes DICOM safely and extracts the facts a 3D
// printing registry needs.
//
// The reader is a streaming element codec with hard limits: every length field
// is checked against the bytes that remain in the object and against a cap
// before anything is allocated, sequence nesting and element counts are
// bounded, and malformed input yields an error — never a panic. Values stay as
// raw bytes in the object's byte order and are decoded on demand, so an
// element that nobody looks at costs one slice header. Bulk values (pixel
// data, large OB/OW/UN) are not loaded: the caller copies or skips them as a
// stream, which is what lets de-identification run near copy speed.
//
// github.com/suyashkumar/dicom, which trusts length fields and panics on some
// input, is never handed an object: its UID registry supplies SOP class names,
// and its parser runs only in TestDifferentialLibrary, as a second reader of
// the test files.
//
// Metadata extraction (instances, series geometry, segmentations, encapsulated
// models) reads the header only and stops at Pixel Data.
package dicomx

//go:generate go run ./internal/gendict -in standard/attributes_2024b.json -out dict_gen.go
