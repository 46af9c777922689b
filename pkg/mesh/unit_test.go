package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/printreg/printreg/internal/meshgen"
)

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestShapes(t *testing.T) {
	unit := cubeTris([3]float32{0, 0, 0}, 1)
	big := cubeTris([3]float32{-1, -1, -1}, 3)
	small := cubeTris([3]float32{0, 0, 0}, 1)
	holed := unit[1:]
	tet := []tri{
		{{0, 0, 0}, {0, 1, 0}, {1, 0, 0}},
		{{0, 0, 0}, {1, 0, 0}, {0, 0, 1}},
		{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}},
		{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
	}
	far := cubeTris([3]float32{1e5, 1e5, 1e5}, 1)
	cases := []struct {
		name                    string
		tris                    []tri
		volume, signed, area    float64
		watertight, inverted    bool
		shells, boundary, verts int64
	}{
		{"unit cube", unit, 1, 1, 6, true, false, 1, 0, 8},
		{"tetrahedron", tet, 1.0 / 6, 1.0 / 6, 1.5 + math.Sqrt(3)/2, true, false, 1, 0, 4},
		{"inverted cube", flip(unit), 1, -1, 6, true, true, 1, 0, 8},
		{"two shells", append(cubeTris([3]float32{0, 0, 0}, 1), cubeTris([3]float32{5, 0, 0}, 2)...), 9, 9, 30, true, false, 2, 0, 16},
		{"cube with a hole", holed, 1, 1, 5.5, false, false, 1, 3, 8},
		{"cavity", append(big, flip(small)...), 26, 26, 60, true, false, 2, 0, 16},
		{"cavity facing the wrong way", append(big, small...), 26, 28, 60, true, true, 2, 0, 16},
		{"far from the origin", far, 1, 1, 6, true, false, 1, 0, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := measure(t, binarySTL("test", c.tris), DefaultOptions()).Metrics
			if !closeTo(m.VolumeMM3, c.volume) || !closeTo(m.SignedVolumeMM3, c.signed) || !closeTo(m.SurfaceAreaMM2, c.area) {
				t.Errorf("volume %v signed %v area %v, want %v %v %v", m.VolumeMM3, m.SignedVolumeMM3, m.SurfaceAreaMM2, c.volume, c.signed, c.area)
			}
			if m.Watertight != c.watertight || m.Inverted != c.inverted || m.Shells != c.shells || m.BoundaryEdges != c.boundary || m.Vertices != c.verts {
				t.Errorf("watertight %v inverted %v shells %d boundary %d vertices %d, want %v %v %d %d %d",
					m.Watertight, m.Inverted, m.Shells, m.BoundaryEdges, m.Vertices, c.watertight, c.inverted, c.shells, c.boundary, c.verts)
			}
		})
	}
	// the hole's volume is taken about the origin: the open cube's five
	// remaining faces, of which two pass through the origin
	m := measure(t, binarySTL("", holed), DefaultOptions()).Metrics
	if m.Triangles != 11 || m.DegenerateTriangles != 0 {
		t.Errorf("holed cube: %+v", m)
	}
}

func TestDegenerateTriangles(t *testing.T) {
	ts := cubeTris([3]float32{0, 0, 0}, 1)
	ts = append(ts, tri{{0, 0, 0}, {0.5, 0, 0}, {1, 0, 0}}, tri{{2, 2, 2}, {2, 2, 2}, {3, 3, 3}})
	m := measure(t, binarySTL("", ts), DefaultOptions()).Metrics
	if m.DegenerateTriangles != 2 {
		t.Errorf("%d degenerate triangles, want 2", m.DegenerateTriangles)
	}
}

func TestUnits(t *testing.T) {
	inchCube := threeMF(t, model("inch", `<object id="1" type="model">`+cubeMesh(1)+`</object>`, `<item objectid="1"/>`))
	rep := measure(t, inchCube, DefaultOptions())
	if rep.Units != Inch || rep.UnitsAssumed || !closeTo(rep.VolumeMM3, 16387.064) || !closeTo(rep.SurfaceAreaMM2, 6*645.16) || !closeTo(rep.BBox.Max[0], 25.4) {
		t.Errorf("inch cube: units %s volume %v area %v bbox %v", rep.Units, rep.VolumeMM3, rep.SurfaceAreaMM2, rep.BBox.Max)
	}
	stl := binarySTL("", cubeTris([3]float32{0, 0, 0}, 2))
	opt := DefaultOptions()
	opt.Units = "in"
	if r := measure(t, stl, opt); r.Units != Inch || r.UnitsAssumed || r.UnitsHint != "" || !closeTo(r.VolumeMM3, 8*16387.064) {
		t.Errorf("STL declared in inches: %+v", r.Metrics)
	}
	opt.Units = "um" // UCUM code, as DICOM MeasurementUnitsCodeSequence gives it
	if r := measure(t, stl, opt); r.Units != Micron || !closeTo(r.BBox.Size[0], 0.002) {
		t.Errorf("STL in microns: units %s size %v", r.Units, r.BBox.Size)
	}
	r := measure(t, stl, DefaultOptions())
	if r.Units != Millimeter || !r.UnitsAssumed || r.UnitsHint != Inch {
		t.Errorf("assumed mm for a 2-unit cube: units %s assumed %v hint %q", r.Units, r.UnitsAssumed, r.UnitsHint)
	}
	opt.Units = "furlong"
	if _, err := MeasureBytes(context.Background(), stl, opt); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown unit: %v", err)
	}
	for _, u := range []struct {
		name string
		mm   float64
	}{{"micron", 0.001}, {"millimeter", 1}, {"centimeter", 10}, {"meter", 1000}, {"foot", 304.8}} {
		r := measure(t, threeMF(t, model(u.name, `<object id="1">`+cubeMesh(1)+`</object>`, `<item objectid="1"/>`)), DefaultOptions())
		if !closeTo(r.BBox.Size[2], u.mm) {
			t.Errorf("%s: size %v", u.name, r.BBox.Size)
		}
	}
}

func TestThreeMFTransforms(t *testing.T) {
	cube := `<object id="1" type="model" name="part">` + cubeMesh(10) + `</object>`
	cases := []struct {
		name      string
		resources string
		build     string
		volume    float64
		min, max  [3]float64
		objects   int
	}{
		{"item translation", cube, `<item objectid="1" transform="1 0 0 0 1 0 0 0 1 5 6 7"/>`, 1000, [3]float64{5, 6, 7}, [3]float64{15, 16, 17}, 1},
		{"mirrored item", cube, `<item objectid="1" transform="-1 0 0 0 1 0 0 0 1 0 0 0"/>`, 1000, [3]float64{-10, 0, 0}, [3]float64{0, 10, 10}, 1},
		{"mirrored component", cube + `<object id="2"><components><component objectid="1" transform="1 0 0 0 1 0 0 0 -1 0 0 0"/><component objectid="1" transform="1 0 0 0 1 0 0 0 1 20 0 0"/></components></object>`,
			`<item objectid="2"/>`, 2000, [3]float64{0, 0, -10}, [3]float64{30, 10, 10}, 1},
		{"scaled and composed", cube + `<object id="2"><components><component objectid="1" transform="2 0 0 0 2 0 0 0 2 0 0 0"/></components></object>`,
			`<item objectid="2" transform="1 0 0 0 1 0 0 0 1 100 0 0"/>`, 8000, [3]float64{100, 0, 0}, [3]float64{120, 20, 20}, 1},
		{"rotation", cube, `<item objectid="1" transform="0 1 0 -1 0 0 0 0 1 0 0 0"/>`, 1000, [3]float64{-10, 0, 0}, [3]float64{0, 10, 10}, 1},
		{"two items", cube, `<item objectid="1"/><item objectid="1" transform="1 0 0 0 1 0 0 0 1 50 0 0"/>`, 2000, [3]float64{0, 0, 0}, [3]float64{60, 10, 10}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := measure(t, threeMF(t, model("millimeter", c.resources, c.build)), DefaultOptions())
			if !closeTo(rep.SignedVolumeMM3, c.volume) || !closeTo(rep.VolumeMM3, c.volume) || rep.Inverted || !rep.Watertight {
				t.Errorf("volume %v signed %v inverted %v watertight %v, want %v", rep.VolumeMM3, rep.SignedVolumeMM3, rep.Inverted, rep.Watertight, c.volume)
			}
			for k := 0; k < 3; k++ {
				if !closeTo(rep.BBox.Min[k], c.min[k]) || !closeTo(rep.BBox.Max[k], c.max[k]) {
					t.Errorf("bbox %v..%v, want %v..%v", rep.BBox.Min, rep.BBox.Max, c.min, c.max)
					break
				}
			}
			if len(rep.Objects) != c.objects {
				t.Errorf("%d objects, want %d", len(rep.Objects), c.objects)
			}
		})
	}
}

func TestASCIISTLGrammar(t *testing.T) {
	facet := func(kw string, v [3]string) string {
		return kw + " normal 0 0 1\n outer loop\n  vertex " + v[0] + "\n  vertex " + v[1] + "\n  vertex " + v[2] + "\n endloop\nendfacet\n"
	}
	tet := asciiSolid("a", []tri{{{0, 0, 0}, {0, 1, 0}, {1, 0, 0}}, {{0, 0, 0}, {1, 0, 0}, {0, 0, 1}}, {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}}, {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}})
	cases := []struct {
		name, text string
		triangles  int64
		objects    int
		warning    string
	}{
		{"one solid", tet, 4, 1, ""},
		{"several solids", tet + strings.ReplaceAll(tet, "solid a", "solid b"), 8, 2, ""},
		{"missing endsolid", strings.TrimSuffix(tet, "endsolid a\n"), 4, 1, "without endsolid"},
		{"solid after solid without endsolid", strings.TrimSuffix(tet, "endsolid a\n") + tet, 8, 2, "without endsolid"},
		{"CRLF", strings.ReplaceAll(tet, "\n", "\r\n"), 4, 1, ""},
		{"upper case and tabs", strings.ReplaceAll(strings.ToUpper(tet), " ", "\t"), 4, 1, ""},
		{"scientific notation", "solid x\n" + facet("facet", [3]string{"0.0E+000 0e0 -0.0", "1.000000e+000 0 0", "0 1.0E0 0"}) + "endsolid\n", 1, 1, ""},
		{"byte order mark", "\ufeff" + tet, 4, 1, ""},
		{"quad loop fanned", "solid q\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 1 1 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid\n", 2, 1, "fanned"},
		{"facet without normal", "solid x\nfacet\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid x\n", 1, 1, ""},
		{"trailing junk after endsolid", tet + "garbage\x00\x00", 4, 1, "after the last endsolid"},
		{"empty solid", "solid empty\nendsolid empty\n", 0, 1, "no triangles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := measure(t, []byte(c.text), DefaultOptions())
			if rep.Format != STL || rep.Triangles != c.triangles || len(rep.Objects) != c.objects {
				t.Errorf("format %s, %d triangles, %d objects; want %d, %d", rep.Format, rep.Triangles, len(rep.Objects), c.triangles, c.objects)
			}
			if c.warning != "" && !strings.Contains(strings.Join(rep.Warnings, "|"), c.warning) {
				t.Errorf("warnings %q lack %q", rep.Warnings, c.warning)
			}
		})
	}
	if rep := measure(t, []byte(tet), DefaultOptions()); !closeTo(rep.VolumeMM3, 1.0/6) || rep.Objects[0].Name != "a" {
		t.Errorf("tetrahedron: volume %v name %q", rep.VolumeMM3, rep.Objects[0].Name)
	}
	bad := []struct{ name, text, reason string }{
		{"vertex with two numbers", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n", "three numbers"},
		{"two vertices", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nendloop\nendfacet\n", "fewer than three"},
		{"not a number", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 zero\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n", "three numbers"},
		{"infinite", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 1e99\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\n", "not a finite number"},
		{"ends inside a facet", "solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\n", "expected vertex"},
		{"binary inside", "solid x\nfacet normal 0 0 1\nouter\x00 loop\n", "binary data"},
	}
	for _, c := range bad {
		_, err := MeasureBytes(context.Background(), []byte(c.text), Options{Format: STL})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want malformed (%s)", c.name, err, c.reason)
		}
	}
}

func TestBinarySTLSize(t *testing.T) {
	good := binarySTL("solid but binary", cubeTris([3]float32{0, 0, 0}, 1))
	if rep := measure(t, good, DefaultOptions()); rep.Triangles != 12 {
		t.Fatalf("binary file with a solid header: %d triangles", rep.Triangles)
	}
	cases := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"truncated", good[:len(good)-7], "truncated binary STL"},
		{"over-long", append(append([]byte{}, good...), 0, 0, 0), "bytes after its 12 declared triangles"},
		{"too short", good[:50], "too short"},
		{"NaN coordinate", func() []byte {
			b := append([]byte{}, good...)
			copy(b[84+50*3+12:], []byte{0, 0, 0xC0, 0x7F})
			return b
		}(), "not a finite number"},
	}
	for _, c := range cases {
		_, err := MeasureBytes(context.Background(), c.data, Options{Format: STL})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want malformed (%s)", c.name, err, c.reason)
		}
	}
	lim := DefaultOptions()
	lim.Limits.MaxTriangles = 10
	if _, err := MeasureBytes(context.Background(), good, lim); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxTriangles: %v", err)
	}
	lim = DefaultOptions()
	lim.Limits.MaxVertices = 5
	if _, err := MeasureBytes(context.Background(), good, lim); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxVertices: %v", err)
	}
}

func TestOBJ(t *testing.T) {
	cube := `# exported by hand
mtllib cube.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
vt 0 0
vt 1 0
vn 0 0 -1
o Cube
usemtl red
f 1 4 3 2
f 5/1 6/2 7/1 8/2
f 1//1 2//1 6//1 5//1
f 2/1/1 3/1/1 7/1/1 6/1/1
f -5 -1 -2 -6
f 4 1 5 \
  8
`
	rep := measure(t, []byte(cube), DefaultOptions())
	if rep.Format != OBJ || rep.Triangles != 12 || !rep.Watertight || !closeTo(rep.VolumeMM3, 1) || len(rep.Objects) != 1 || rep.Objects[0].Name != "Cube" {
		t.Errorf("cube: %+v objects %+v", rep.Metrics, rep.Objects)
	}
	tets := `v 0 0 0
v 0 1 0
v 1 0 0
v 0 0 1
g first
f 1 2 3
f 1 3 4
f 1 4 2
f 3 2 4
g second
v 5 0 0
v 5 1 0
v 6 0 0
v 5 0 1
f -4 -3 -2
f -4 -2 -1
f -4 -1 -3
f -2 -3 -1
`
	rep = measure(t, []byte(tets), DefaultOptions())
	if len(rep.Objects) != 2 || rep.Objects[0].Name != "first" || rep.Objects[1].Name != "second" || !closeTo(rep.VolumeMM3, 1.0/3) || rep.Shells != 2 || !rep.Watertight {
		t.Errorf("two groups: %+v %+v", rep.Metrics, rep.Objects)
	}
	// duplicated positions weld, as in STL
	dup := "v 0 0 0\nv 0 1 0\nv 1 0 0\nv 0 0 1\nv 0 0 0\nf 1 2 3\nf 5 3 4\nf 1 4 2\nf 3 2 4\n"
	if r := measure(t, []byte(dup), DefaultOptions()); !r.Watertight || r.Vertices != 4 {
		t.Errorf("welded duplicate position: %+v", r.Metrics)
	}
	bad := []struct{ name, text, reason string }{
		{"index past the end", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "refers to vertex 4"},
		{"zero index", "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "non-zero"},
		{"negative before the start", "v 0 0 0\nf -1 -2 -3\n", "before the first"},
		{"two-vertex face", "v 0 0 0\nv 1 0 0\nf 1 2\n", "fewer than three"},
		{"vertex without numbers", "v 0 zero 0\n", "finite number"},
	}
	for _, c := range bad {
		_, err := MeasureBytes(context.Background(), []byte(c.text), Options{Format: OBJ})
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v, want malformed (%s)", c.name, err, c.reason)
		}
	}
}

func TestSniff(t *testing.T) {
	bin := binarySTL("solid looks like text", cubeTris([3]float32{}, 1))
	cases := []struct {
		name string
		head []byte
		size int64
		file string
		want Format
	}{
		{"zip", []byte("PK\x03\x04rest"), 100, "x.stl", ThreeMF},
		{"binary STL with solid header", bin, int64(len(bin)), "", STL},
		{"ASCII STL", []byte("solid x\nfacet normal 0 0 1\n"), 1000, "model.obj", STL},
		{"OBJ", []byte("# c\nv 1 2 3\nf 1 2 3\n"), 1000, "", OBJ},
		{"OBJ named .bin", []byte("mtllib a.mtl\no x\nv 1 2 3\n"), 1000, "file.bin", OBJ},
		{"truncated binary named .STL", bin[:200], 200, "part.STL", STL},
		{"comment-only head named .obj", []byte("# only comments\n"), 1 << 20, "scan.OBJ", OBJ},
		{"PDF", []byte("%PDF-1.4\n"), 1000, "x.pdf", ""},
		{"text named .3mf", []byte("hello"), 5, "x.3mf", ThreeMF},
		{"no name", []byte{1, 2, 3}, 3, "", ""},
	}
	for _, c := range cases {
		if got := Sniff(c.head, c.size, c.file); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestThreeMFMetadataAndText(t *testing.T) {
	m := `<?xml version="1.0" encoding="UTF-8"?>
<!-- exported -->
<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02" xmlns:m="http://schemas.microsoft.com/3dmanufacturing/material/2015/02">
<metadata name="Title">Skull of J. Do&amp;e &#x263A;</metadata>
<metadata name="Designer"><![CDATA[Dr. <Smith> & co]]></metadata>
<metadata name="vendor:Thing">x</metadata>
<resources>
<basematerials id="5"><base name="Bone white" displaycolor="#F0F0E0"/></basematerials>
<m:colorgroup id="6"><m:color color="#FF0000"/><m:color color="not a colour"/></m:colorgroup>
<object id="1" name="Mandible MRN 12345" partnumber="P-1">` + cubeMesh(10) + `</object>
</resources>
<build><item objectid="1" partnumber="X"/></build>
</model>`
	rep := measure(t, threeMF(t, m), DefaultOptions())
	if v, _ := rep.MetadataValue("Title"); v != "Skull of J. Do&e \u263a" {
		t.Errorf("title %q", v)
	}
	if v, _ := rep.MetadataValue("Designer"); v != "Dr. <Smith> & co" {
		t.Errorf("designer %q", v)
	}
	if !equalSets(rep.Metadata, []string{"Title", "Designer", "vendor:Thing"}) {
		t.Errorf("metadata %v", rep.Metadata)
	}
	if len(rep.Materials) != 1 || rep.Materials[0].Name != "Bone white" || rep.Materials[0].Color != "#F0F0E0" || len(rep.Colors) != 1 || rep.ColorGroups != 1 {
		t.Errorf("materials %+v colors %v", rep.Materials, rep.Colors)
	}
	js, _ := json.Marshal(rep)
	for _, leak := range []string{"J. Do", "Smith"} {
		if strings.Contains(string(js), leak) {
			t.Errorf("JSON carries metadata value %q", leak)
		}
	}
	if !strings.Contains(string(js), "MRN 12345") {
		t.Errorf("object name missing before StripText")
	}
	rep.StripText()
	js, _ = json.Marshal(rep)
	for _, leak := range []string{"MRN", "Bone"} {
		if strings.Contains(string(js), leak) {
			t.Errorf("StripText left %q", leak)
		}
	}
	if _, ok := rep.MetadataValue("Title"); ok {
		t.Error("StripText kept metadata values")
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := binarySTL("", cubeTris([3]float32{}, 1))
	if _, err := MeasureBytes(ctx, b, DefaultOptions()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestMemoryFollowsVertices: the same surface written with every triangle
// three times (a file three times larger, the same unique vertices and
// edges) costs about the same memory to measure.
func TestMemoryFollowsVertices(t *testing.T) {
	m := meshgen.TorusTriangles(200_000)
	var once, thrice bytes.Buffer
	if err := m.WriteBinarySTL(&once); err != nil {
		t.Fatal(err)
	}
	m.T = append(append(m.T, m.T...), m.T...)
	if err := m.WriteBinarySTL(&thrice); err != nil {
		t.Fatal(err)
	}
	alloc := func(b []byte) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rep := measure(t, b, DefaultOptions())
		runtime.ReadMemStats(&after)
		if rep.Vertices != int64(len(m.V)) {
			t.Fatalf("%d vertices, want %d", rep.Vertices, len(m.V))
		}
		return after.TotalAlloc - before.TotalAlloc
	}
	a1, a3 := alloc(once.Bytes()), alloc(thrice.Bytes())
	t.Logf("%d-byte file: %d bytes allocated; %d-byte file: %d bytes", once.Len(), a1, thrice.Len(), a3)
	// the weld table is sized from the triangle count (4 bytes a slot);
	// everything else follows the vertices. Allocations are counted in
	// total, including arrays outgrown and freed.
	if float64(a3) > 1.5*float64(a1) {
		t.Errorf("tripling the file raised allocations from %d to %d bytes", a1, a3)
	}
	if a1 > uint64(once.Len()) {
		t.Errorf("measuring allocated %d bytes for a %d-byte file", a1, once.Len())
	}
}
