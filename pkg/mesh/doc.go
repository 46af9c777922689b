// Package mesh reads the 3D model files a printing lab produces — STL
// (binary and ASCII), 3MF and OBJ — and measures what was made: triangle and
// vertex counts, bounding box, surface area, signed and enclosed volume,
// watertightness, shells, degenerate triangles and inverted orientation, all
// in millimetres, per object and per file.
//
// Readers stream and keep memory proportional to the mesh (unique vertices,
// edges), never to the file: a binary STL is read in fixed chunks and welded
// on the fly through an open-addressing table keyed on the exact float bits;
// 3MF parts are inflated through a byte-counting reader with absolute and
// ratio caps and parsed by a small UTF-8-only XML scanner that refuses DTDs.
// Every count read from a file is checked against the bytes left and a
// limit before anything is allocated, and malformed input yields an error
// wrapping ErrMalformed, ErrUnsupported or ErrTooLarge — never a panic.
//
// Model files carry free text (STL headers and solid names, OBJ comments and
// object names, 3MF metadata and object names) that may hold patient
// identifiers. Reports expose such text only in fields of type Text, which
// Report.StripText blanks, and keep 3MF metadata values out of JSON. The
// Sanitize functions write a copy of a model with that text removed and the
// geometry unchanged.
package mesh
