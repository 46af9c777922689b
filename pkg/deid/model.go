package deid

import (
	"bytes"
)

// Encapsulated models keep their geometry and lose their free text. This is
// a deliberately small scrubber, not a model parser: it never changes a
// coordinate or a face, only text that is not geometry.
//   - Binary STL: the 80-byte header is zeroed (it often carries the source
//     file name or a patient name); triangles are copied.
//   - ASCII STL ("solid" …, with "facet" lines): the names after "solid" and
//     "endsolid" are dropped.
//   - OBJ and MTL: comment lines ("#") are dropped, object and group names
//     ("o", "g") become "o model" / "g part"; "newmtl"/"usemtl"/"mtllib"
//     references are kept (they link the OBJ to its MTL and textures).
// The second result is the part of the output that can hold text, for the
// residue scan: the header of a binary STL, the whole of a text model.

func sanitizeModel(format string, doc []byte) (out []byte, text []byte) {
	switch format {
	case "stl":
		if isASCIISTL(doc) {
			out = sanitizeLines(doc, stlLine)
			return out, out
		}
		out = append([]byte(nil), doc...)
		n := min(80, len(out))
		clear(out[:n])
		return out, out[:n]
	case "obj", "mtl":
		out = sanitizeLines(doc, objLine)
		return out, out
	}
	return dummyDocument("", ""), nil
}

// isASCIISTL: starts with "solid" and holds "facet" near the start, and the
// binary triangle count does not explain the length.
func isASCIISTL(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	if !bytes.HasPrefix(t, []byte("solid")) {
		return false
	}
	if len(b) >= 84 {
		n := uint32(b[80]) | uint32(b[81])<<8 | uint32(b[82])<<16 | uint32(b[83])<<24
		if uint64(n)*50+84 == uint64(len(b)) {
			return false
		}
	}
	head := t[:min(len(t), 1024)]
	return bytes.Contains(head, []byte("facet")) || bytes.Contains(head, []byte("endsolid"))
}

func sanitizeLines(doc []byte, f func(line []byte) ([]byte, bool)) []byte {
	var out bytes.Buffer
	out.Grow(len(doc))
	for len(doc) > 0 {
		i := bytes.IndexByte(doc, '\n')
		var line []byte
		if i < 0 {
			line, doc = doc, nil
		} else {
			line, doc = doc[:i+1], doc[i+1:]
		}
		if l, keep := f(line); keep {
			out.Write(l)
		}
	}
	return out.Bytes()
}

func lineEnd(line []byte) []byte {
	if bytes.HasSuffix(line, []byte("\r\n")) {
		return []byte("\r\n")
	}
	if bytes.HasSuffix(line, []byte("\n")) {
		return []byte("\n")
	}
	return nil
}

func stlLine(line []byte) ([]byte, bool) {
	t := bytes.TrimLeft(line, " \t")
	indent := line[:len(line)-len(t)]
	switch {
	case bytes.HasPrefix(t, []byte("endsolid")):
		return append(append(append([]byte(nil), indent...), "endsolid"...), lineEnd(line)...), true
	case bytes.HasPrefix(t, []byte("solid")):
		return append(append(append([]byte(nil), indent...), "solid"...), lineEnd(line)...), true
	}
	return line, true
}

func objLine(line []byte) ([]byte, bool) {
	t := bytes.TrimLeft(line, " \t")
	switch {
	case len(t) > 0 && t[0] == '#':
		return nil, false
	case bytes.HasPrefix(t, []byte("o ")) || bytes.HasPrefix(t, []byte("o\t")):
		return append([]byte("o model"), lineEnd(line)...), true
	case bytes.HasPrefix(t, []byte("g ")) || bytes.HasPrefix(t, []byte("g\t")):
		return append([]byte("g part"), lineEnd(line)...), true
	}
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		// A trailing comment after data.
		return append(bytes.TrimRight(line[:i], " \t"), lineEnd(line)...), true
	}
	return line, true
}

// trimDoc drops the pad byte of an encapsulated document, using the
// Encapsulated Document Length when it is there and plausible.
func trimDoc(doc []byte, n int64) []byte {
	if n >= 0 && n <= int64(len(doc)) && int64(len(doc))-n <= 1 {
		return doc[:n]
	}
	return doc
}

// dummyDocument replaces an Encapsulated Document (action D): an empty but
// valid model for STL (header and zero triangles) and OBJ/MTL, a single NUL
// pair otherwise.
func dummyDocument(format, mime string) []byte {
	switch {
	case format == "stl" || mime == "model/stl":
		return make([]byte, 84)
	case format == "obj" || format == "mtl" || mime == "model/obj" || mime == "model/mtl":
		return []byte("\n")
	}
	return []byte{0, 0}
}
