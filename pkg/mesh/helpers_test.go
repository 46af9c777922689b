package mesh

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// readTestdata reads a file under testdata; .gz files are inflated.
func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(rel, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// modelFiles lists the model files under testdata (relative paths).
func modelFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.Walk("testdata", func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() || strings.Contains(p, "golden") || strings.Contains(p, string(filepath.Separator)+"fuzz"+string(filepath.Separator)) {
			return nil
		}
		switch strings.ToLower(filepath.Ext(strings.TrimSuffix(p, ".gz"))) {
		case ".stl", ".3mf", ".obj":
			rel, _ := filepath.Rel("testdata", p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// golden compares got with testdata/golden/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; run go test -run %s -update and review the diff", name, t.Name())
	}
}

func measure(t testing.TB, b []byte, opt Options) *Report {
	t.Helper()
	rep, err := MeasureBytes(context.Background(), b, opt)
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	return rep
}

// near: relative 1e-4, or 5e-5 absolute for figures printed with four
// decimals (the MANIFEST's precision).
func near(got, want float64) bool {
	d := math.Abs(got - want)
	return d <= 1e-4*math.Abs(want) || d <= 5e-5
}

// tri is a triangle for the builders below.
type tri [3][3]float32

// binarySTL builds a binary STL file.
func binarySTL(header string, tris []tri) []byte {
	b := make([]byte, 84+50*len(tris))
	copy(b, header)
	binary.LittleEndian.PutUint32(b[80:], uint32(len(tris)))
	for i, t := range tris {
		for v := 0; v < 3; v++ {
			for k := 0; k < 3; k++ {
				binary.LittleEndian.PutUint32(b[84+50*i+12+12*v+4*k:], math.Float32bits(t[v][k]))
			}
		}
	}
	return b
}

// cubeTris is an axis-aligned cube from lo to lo+size, outward-facing.
func cubeTris(lo [3]float32, size float32) []tri {
	v := func(x, y, z float32) [3]float32 { return [3]float32{lo[0] + x*size, lo[1] + y*size, lo[2] + z*size} }
	p := [8][3]float32{v(0, 0, 0), v(1, 0, 0), v(1, 1, 0), v(0, 1, 0), v(0, 0, 1), v(1, 0, 1), v(1, 1, 1), v(0, 1, 1)}
	quads := [6][4]int{{0, 3, 2, 1}, {4, 5, 6, 7}, {0, 1, 5, 4}, {1, 2, 6, 5}, {2, 3, 7, 6}, {3, 0, 4, 7}}
	var out []tri
	for _, q := range quads {
		out = append(out, tri{p[q[0]], p[q[1]], p[q[2]]}, tri{p[q[0]], p[q[2]], p[q[3]]})
	}
	return out
}

// flip reverses the winding of triangles.
func flip(ts []tri) []tri {
	out := make([]tri, len(ts))
	for i, t := range ts {
		out[i] = tri{t[0], t[2], t[1]}
	}
	return out
}

// asciiSolid writes triangles as one ASCII solid.
func asciiSolid(name string, tris []tri) string {
	var b strings.Builder
	b.WriteString("solid " + name + "\n")
	for _, t := range tris {
		b.WriteString("facet normal 0 0 0\nouter loop\n")
		for _, v := range t {
			b.WriteString("vertex " + f32(v[0]) + " " + f32(v[1]) + " " + f32(v[2]) + "\n")
		}
		b.WriteString("endloop\nendfacet\n")
	}
	b.WriteString("endsolid " + name + "\n")
	return b.String()
}

func f32(f float32) string { return strconv.FormatFloat(float64(f), 'g', -1, 32) }

func formatG(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// zipFiles builds a zip archive of name → content, in the given order.
func zipFiles(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		w, err := zw.Create(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, files[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testRels = `<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/3D/3dmodel.model" Id="rel0" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>`

// threeMF builds a package with the given root model part and extra parts.
func threeMF(t testing.TB, model string, extra ...string) []byte {
	t.Helper()
	files := append([]string{"[Content_Types].xml", contentTypesXML, "_rels/.rels", testRels, "3D/3dmodel.model", model}, extra...)
	return zipFiles(t, files...)
}

// cubeMesh is the 3MF mesh of a cube of the given size at the origin.
func cubeMesh(size float64) string {
	s := formatG(size)
	return `<mesh><vertices>
<vertex x="0" y="0" z="0"/><vertex x="` + s + `" y="0" z="0"/><vertex x="` + s + `" y="` + s + `" z="0"/><vertex x="0" y="` + s + `" z="0"/>
<vertex x="0" y="0" z="` + s + `"/><vertex x="` + s + `" y="0" z="` + s + `"/><vertex x="` + s + `" y="` + s + `" z="` + s + `"/><vertex x="0" y="` + s + `" z="` + s + `"/>
</vertices><triangles>
<triangle v1="0" v2="3" v3="2"/><triangle v1="0" v2="2" v3="1"/><triangle v1="4" v2="5" v3="6"/><triangle v1="4" v2="6" v3="7"/>
<triangle v1="0" v2="1" v3="5"/><triangle v1="0" v2="5" v3="4"/><triangle v1="1" v2="2" v3="6"/><triangle v1="1" v2="6" v3="5"/>
<triangle v1="2" v2="3" v3="7"/><triangle v1="2" v2="7" v3="6"/><triangle v1="3" v2="0" v3="4"/><triangle v1="3" v2="4" v3="7"/>
</triangles></mesh>`
}

// model wraps resources and build in a 3MF model element.
func model(unit, resources, build string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<model unit="` + unit + `" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02" xmlns:p="http://schemas.microsoft.com/3dmanufacturing/production/2015/06" xmlns:m="http://schemas.microsoft.com/3dmanufacturing/material/2015/02">
<resources>` + resources + `</resources>
<build>` + build + `</build>
</model>`
}
