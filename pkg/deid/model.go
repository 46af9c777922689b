package deid

import (
	"bytes"
	"context"

	"github.com/printreg/printreg/pkg/mesh"
)

// Encapsulated models keep their geometry and lose their free text.
// STL and OBJ go through pkg/mesh's sanitizers (the same code that cleans
// model files dropped by a lab): a binary STL keeps its triangles under a
// neutral header, an ASCII STL is rewritten with unnamed solids, an OBJ keeps
// vertices, texture coordinates, normals and faces only. MTL has no
// sanitizer there; its comment lines are dropped here and material
// statements kept. The second result is the part of the output that can
// hold text, for the residue scan: the header of a binary STL, the whole of
// a text model.
func sanitizeModel(ctx context.Context, format string, doc []byte) (out []byte, text []byte, err error) {
	var buf bytes.Buffer
	buf.Grow(len(doc))
	r := bytes.NewReader(doc)
	switch format {
	case "stl":
		if err := mesh.SanitizeSTL(ctx, &buf, r, int64(len(doc))); err != nil {
			return nil, nil, err
		}
		out = buf.Bytes()
		if isASCIISTL(out) {
			return out, out, nil
		}
		return out, out[:min(80, len(out))], nil
	case "obj":
		if err := mesh.SanitizeOBJ(ctx, &buf, r, int64(len(doc))); err != nil {
			return nil, nil, err
		}
		return buf.Bytes(), buf.Bytes(), nil
	case "mtl":
		out = sanitizeLines(doc, mtlLine)
		return out, out, nil
	}
	return dummyDocument("", ""), nil, nil
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

func mtlLine(line []byte) ([]byte, bool) {
	t := bytes.TrimLeft(line, " \t")
	if len(t) > 0 && t[0] == '#' {
		return nil, false
	}
	if i := bytes.IndexByte(line, '#'); i >= 0 {
		// A trailing comment after a statement.
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
