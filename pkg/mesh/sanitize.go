package mesh

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math"
	"strconv"
)

// The sanitizers write a copy of a model without the free text model files
// carry (STL headers and solid names; OBJ comments, object, group and
// material names; 3MF metadata, names, part numbers, thumbnails and any
// part that is not model geometry) and with the geometry unchanged: numbers
// are parsed and written back in the shortest form that reads back to the
// same value, so measuring the copy gives the same figures. They validate
// as they go and fail where Measure would; on error, what was written is
// incomplete and must be discarded.

// Sanitize writes a text-free copy of a model in format f (see
// SanitizeSTL, SanitizeOBJ and Sanitize3MF).
func Sanitize(ctx context.Context, w io.Writer, r io.ReaderAt, size int64, f Format) error {
	switch f {
	case STL:
		return SanitizeSTL(ctx, w, r, size)
	case OBJ:
		return SanitizeOBJ(ctx, w, r, size)
	case ThreeMF:
		return Sanitize3MF(ctx, w, r, size)
	}
	return unsupported(f, "no sanitizer for this format")
}

// neutralSTLHeader replaces binary STL headers. It must not start with
// "solid", which would make naive readers take the file for ASCII.
var neutralSTLHeader = func() [80]byte {
	var h [80]byte
	copy(h[:], "binary STL")
	for i := len("binary STL"); i < 80; i++ {
		h[i] = ' '
	}
	return h
}()

// SanitizeSTL writes r as an STL file without text: a binary file keeps its
// triangles (attribute bytes, which some tools use for colour, are zeroed)
// under a neutral header; an ASCII file is rewritten with unnamed solids.
func SanitizeSTL(ctx context.Context, w io.Writer, r io.ReaderAt, size int64) error {
	kind, n, err := detectSTL(r, size)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if kind == stlBinary {
		if err := copyBinarySTL(ctx, bw, r, n); err != nil {
			return err
		}
		return bw.Flush()
	}
	var line []byte
	p := &asciiSTL{sc: newScanner(r, size)}
	p.begin = func([]byte) error {
		_, err := bw.WriteString("solid\n")
		return err
	}
	p.end = func() error {
		_, err := bw.WriteString("endsolid\n")
		return err
	}
	p.tri = func(c *[9]uint32) error {
		for _, b := range c {
			if !finite32(b) {
				return malformed(STL, "a triangle has a coordinate that is not a finite number")
			}
		}
		f := func(i int) float64 { return float64(math.Float32frombits(c[i])) }
		ux, uy, uz := f(3)-f(0), f(4)-f(1), f(5)-f(2)
		vx, vy, vz := f(6)-f(0), f(7)-f(1), f(8)-f(2)
		nx, ny, nz := uy*vz-uz*vy, uz*vx-ux*vz, ux*vy-uy*vx
		if l := math.Sqrt(nx*nx + ny*ny + nz*nz); l > 0 && !math.IsInf(l, 0) {
			nx, ny, nz = nx/l, ny/l, nz/l
		} else {
			nx, ny, nz = 0, 0, 0
		}
		line = append(line[:0], " facet normal "...)
		line = appendF32s(line, float32(nx), float32(ny), float32(nz))
		line = append(line, "\n  outer loop\n"...)
		for k := 0; k < 3; k++ {
			line = append(line, "   vertex "...)
			line = appendF32s(line, math.Float32frombits(c[3*k]), math.Float32frombits(c[3*k+1]), math.Float32frombits(c[3*k+2]))
			line = append(line, '\n')
		}
		line = append(line, "  endloop\n endfacet\n"...)
		_, err := bw.Write(line)
		return err
	}
	if err := p.run(ctx); err != nil {
		return err
	}
	return bw.Flush()
}

func appendF32s(b []byte, v ...float32) []byte {
	for i, f := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return b
}

func copyBinarySTL(ctx context.Context, w io.Writer, r io.ReaderAt, n uint32) error {
	var head [84]byte
	copy(head[:80], neutralSTLHeader[:])
	binary.LittleEndian.PutUint32(head[80:], n)
	if _, err := w.Write(head[:]); err != nil {
		return err
	}
	buf := make([]byte, 50*min(int(n), binChunk))
	off := int64(84)
	for done := 0; done < int(n); {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(int(n)-done, binChunk)
		b := buf[:50*k]
		if m, err := r.ReadAt(b, off); m < len(b) {
			return malformed(STL, "cannot read triangles %d to %d: %v", done+1, done+k, err)
		}
		for i := 0; i < k; i++ {
			t := b[50*i : 50*i+50]
			for j := 12; j < 48; j += 4 {
				if !finite32(binary.LittleEndian.Uint32(t[j:])) {
					return malformed(STL, "triangle %d has a coordinate that is not a finite number", done+i+1)
				}
			}
			t[48], t[49] = 0, 0
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		off += int64(len(b))
		done += k
	}
	return nil
}

// SanitizeOBJ writes r as an OBJ file with vertices, texture coordinates,
// normals and faces only. Comments go, and so do object and group names
// (each object becomes "o object<N>"), material library and material names
// (free text chosen by whoever exported the file), smoothing groups, lines,
// points and free-form statements. Face indices are written as absolute.
func SanitizeOBJ(ctx context.Context, w io.Writer, r io.ReaderAt, size int64) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var line []byte
	var maxRef int64
	objects := 0
	lim := DefaultLimits()
	p := &objParser{sc: newScanner(r, size), maxV: min(lim.MaxVertices, maxVertexID)}
	p.sc.maxBuf = objMaxLine + scanBuf
	write := func() error {
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	}
	p.vertex = func(x, y, z float64) error {
		line = append(line[:0], "v "...)
		line = appendF64s(line, x, y, z)
		return write()
	}
	p.texture = func(v []float64) error {
		line = append(line[:0], "vt "...)
		line = appendF64s(line, v...)
		return write()
	}
	p.normal = func(x, y, z float64) error {
		line = append(line[:0], "vn "...)
		line = appendF64s(line, x, y, z)
		return write()
	}
	p.face = func(refs []objRef) error {
		line = append(line[:0], 'f')
		for _, rf := range refs {
			maxRef = max(maxRef, rf.v)
			line = append(line, ' ')
			line = strconv.AppendInt(line, rf.v, 10)
			switch {
			case rf.vt != 0 && rf.vn != 0:
				line = append(line, '/')
				line = strconv.AppendInt(line, rf.vt, 10)
				line = append(line, '/')
				line = strconv.AppendInt(line, rf.vn, 10)
			case rf.vt != 0:
				line = append(line, '/')
				line = strconv.AppendInt(line, rf.vt, 10)
			case rf.vn != 0:
				line = append(line, "//"...)
				line = strconv.AppendInt(line, rf.vn, 10)
			}
		}
		return write()
	}
	p.object = func([]byte) error {
		objects++
		line = append(line[:0], "o object"...)
		line = strconv.AppendInt(line, int64(objects), 10)
		return write()
	}
	if err := p.run(ctx); err != nil {
		return err
	}
	if maxRef > p.nv {
		return malformed(OBJ, "a face refers to vertex %d, but the file has %d vertices", maxRef, p.nv)
	}
	return bw.Flush()
}

func appendF64s(b []byte, v ...float64) []byte {
	for i, f := range v {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return b
}
