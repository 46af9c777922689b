// Package meshgen generates closed test meshes and writes them as binary
// STL, ASCII STL, 3MF and OBJ, for benchmarks and side-by-side runs against
// other tools. Generated files are never committed: a 2-million-triangle
// binary STL is 100 MB.
package meshgen

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
)

// Mesh is an indexed triangle mesh with float32 coordinates in millimetres.
type Mesh struct {
	V [][3]float32
	T [][3]uint32
}

// Torus returns a closed torus of major radius R and minor radius r with nu
// segments around the axis and nv around the tube: nu·nv vertices and
// 2·nu·nv outward-facing triangles, listed row by row (as marching-cubes
// and CAD exporters list them, neighbours close together).
func Torus(nu, nv int, R, r float64) *Mesh {
	m := &Mesh{V: make([][3]float32, 0, nu*nv), T: make([][3]uint32, 0, 2*nu*nv)}
	for i := 0; i < nu; i++ {
		th := 2 * math.Pi * float64(i) / float64(nu)
		for j := 0; j < nv; j++ {
			ph := 2 * math.Pi * float64(j) / float64(nv)
			d := R + r*math.Cos(ph)
			m.V = append(m.V, [3]float32{float32(d * math.Cos(th)), float32(d * math.Sin(th)), float32(r * math.Sin(ph))})
		}
	}
	id := func(i, j int) uint32 { return uint32((i%nu)*nv + j%nv) }
	for i := 0; i < nu; i++ {
		for j := 0; j < nv; j++ {
			a, b, c, d := id(i, j), id(i+1, j), id(i+1, j+1), id(i, j+1)
			m.T = append(m.T, [3]uint32{a, b, c}, [3]uint32{a, c, d})
		}
	}
	return m
}

// TorusTriangles returns a torus of about n triangles (n/2 vertices),
// 100 mm across, roughly square in its two directions.
func TorusTriangles(n int) *Mesh {
	nv := int(math.Sqrt(float64(n) / 2 / 2))
	nu := n / 2 / nv
	return Torus(nu, nv, 40, 10)
}

// Shuffle puts the triangles in random order: the worst case for any
// reader that relies on neighbouring triangles sharing vertices.
func (m *Mesh) Shuffle(seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	r.Shuffle(len(m.T), func(i, j int) { m.T[i], m.T[j] = m.T[j], m.T[i] })
}

// WriteBinarySTL writes the mesh as binary STL with facet normals.
func (m *Mesh) WriteBinarySTL(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var head [84]byte
	copy(head[:], "meshgen torus")
	binary.LittleEndian.PutUint32(head[80:], uint32(len(m.T)))
	bw.Write(head[:])
	var rec [50]byte
	for _, t := range m.T {
		n := m.normal(t)
		for k := 0; k < 3; k++ {
			binary.LittleEndian.PutUint32(rec[4*k:], math.Float32bits(n[k]))
		}
		for v := 0; v < 3; v++ {
			for k := 0; k < 3; k++ {
				binary.LittleEndian.PutUint32(rec[12+12*v+4*k:], math.Float32bits(m.V[t[v]][k]))
			}
		}
		if _, err := bw.Write(rec[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (m *Mesh) normal(t [3]uint32) [3]float32 {
	a, b, c := m.V[t[0]], m.V[t[1]], m.V[t[2]]
	u := [3]float64{float64(b[0] - a[0]), float64(b[1] - a[1]), float64(b[2] - a[2])}
	v := [3]float64{float64(c[0] - a[0]), float64(c[1] - a[1]), float64(c[2] - a[2])}
	n := [3]float64{u[1]*v[2] - u[2]*v[1], u[2]*v[0] - u[0]*v[2], u[0]*v[1] - u[1]*v[0]}
	l := math.Sqrt(n[0]*n[0] + n[1]*n[1] + n[2]*n[2])
	if l == 0 {
		return [3]float32{}
	}
	return [3]float32{float32(n[0] / l), float32(n[1] / l), float32(n[2] / l)}
}

func appendF32(b []byte, f float32) []byte {
	return strconv.AppendFloat(b, float64(f), 'e', 6, 32)
}

// WriteASCIISTL writes the mesh as ASCII STL in the usual exporter layout
// (scientific notation, indented).
func (m *Mesh) WriteASCIISTL(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString("solid torus\n")
	var b []byte
	for _, t := range m.T {
		n := m.normal(t)
		b = append(b[:0], "  facet normal "...)
		b = appendF32(b, n[0])
		b = append(b, ' ')
		b = appendF32(b, n[1])
		b = append(b, ' ')
		b = appendF32(b, n[2])
		b = append(b, "\n    outer loop\n"...)
		for v := 0; v < 3; v++ {
			p := m.V[t[v]]
			b = append(b, "      vertex "...)
			b = appendF32(b, p[0])
			b = append(b, ' ')
			b = appendF32(b, p[1])
			b = append(b, ' ')
			b = appendF32(b, p[2])
			b = append(b, '\n')
		}
		b = append(b, "    endloop\n  endfacet\n"...)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	bw.WriteString("endsolid torus\n")
	return bw.Flush()
}

// WriteOBJ writes the mesh as OBJ.
func (m *Mesh) WriteOBJ(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var b []byte
	for _, p := range m.V {
		b = append(b[:0], 'v', ' ')
		b = strconv.AppendFloat(b, float64(p[0]), 'g', -1, 32)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(p[1]), 'g', -1, 32)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(p[2]), 'g', -1, 32)
		b = append(b, '\n')
		bw.Write(b)
	}
	for _, t := range m.T {
		b = append(b[:0], 'f', ' ')
		b = strconv.AppendUint(b, uint64(t[0])+1, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(t[1])+1, 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(t[2])+1, 10)
		b = append(b, '\n')
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Write3MF writes the mesh as a 3MF package with one object and one build
// item.
func (m *Mesh) Write3MF(w io.Writer) error {
	zw := zip.NewWriter(w)
	put := func(name, s string) error {
		f, err := zw.Create(name)
		if err != nil {
			return err
		}
		_, err = io.WriteString(f, s)
		return err
	}
	if err := put("[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="model" ContentType="application/vnd.ms-package.3dmanufacturing-3dmodel+xml"/></Types>`); err != nil {
		return err
	}
	if err := put("_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>`); err != nil {
		return err
	}
	f, err := zw.Create("3D/3dmodel.model")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
 <resources>
  <object id="1" type="model">
   <mesh>
    <vertices>
`)
	var b []byte
	for _, p := range m.V {
		b = append(b[:0], `     <vertex x="`...)
		b = strconv.AppendFloat(b, float64(p[0]), 'g', -1, 32)
		b = append(b, `" y="`...)
		b = strconv.AppendFloat(b, float64(p[1]), 'g', -1, 32)
		b = append(b, `" z="`...)
		b = strconv.AppendFloat(b, float64(p[2]), 'g', -1, 32)
		b = append(b, "\"/>\n"...)
		bw.Write(b)
	}
	bw.WriteString("    </vertices>\n    <triangles>\n")
	for _, t := range m.T {
		b = append(b[:0], `     <triangle v1="`...)
		b = strconv.AppendUint(b, uint64(t[0]), 10)
		b = append(b, `" v2="`...)
		b = strconv.AppendUint(b, uint64(t[1]), 10)
		b = append(b, `" v3="`...)
		b = strconv.AppendUint(b, uint64(t[2]), 10)
		b = append(b, "\"/>\n"...)
		bw.Write(b)
	}
	bw.WriteString("    </triangles>\n   </mesh>\n  </object>\n </resources>\n <build>\n  <item objectid=\"1\"/>\n </build>\n</model>\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	return zw.Close()
}
