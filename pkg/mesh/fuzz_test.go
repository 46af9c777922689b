package mesh

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzOptions keep generated inputs cheap.
func fuzzOptions(f Format) Options {
	opt := DefaultOptions()
	opt.Format = f
	opt.Limits.MaxTriangles = 200_000
	opt.Limits.MaxVertices = 200_000
	opt.Limits.MaxUncompressed = 16 << 20
	return opt
}

// seed adds the small test files of a format to the fuzz corpus.
func seed(f *testing.F, exts ...string) {
	for _, p := range modelFiles(f) {
		ext := strings.ToLower(filepath.Ext(p))
		for _, e := range exts {
			if ext != e {
				continue
			}
			if st, err := os.Stat(filepath.Join("testdata", p)); err == nil && st.Size() <= 128<<10 {
				f.Add(readTestdata(f, p))
			}
		}
	}
}

// checkMeasure is what every reader promises: no panic, errors of a known
// kind, and reports that marshal (no NaN or infinity).
func checkMeasure(t *testing.T, b []byte, opt Options) *Report {
	rep, err := MeasureBytes(context.Background(), b, opt)
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error of no known kind: %v", err)
		}
		return nil
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatalf("report does not marshal: %v", err)
	}
	if rep.Triangles < 0 || rep.Shells > rep.Vertices || rep.VolumeMM3 < 0 || rep.SurfaceAreaMM2 < 0 {
		t.Fatalf("impossible report: %+v", rep.Metrics)
	}
	return rep
}

// checkSanitize: a sanitized copy always re-measures, with the same
// geometry when the original measures.
func checkSanitize(t *testing.T, format Format, b []byte) {
	out, err := sanitize(context.Background(), format, b)
	if err != nil {
		return
	}
	opt := fuzzOptions(format)
	opt.Limits = DefaultLimits()
	after, err := MeasureBytes(context.Background(), out, opt)
	if err != nil {
		t.Fatalf("sanitized output does not measure: %v", err)
	}
	before, err := MeasureBytes(context.Background(), b, opt)
	if err != nil {
		t.Fatalf("sanitizer accepted input Measure refuses: %v", err)
	}
	if !reflect.DeepEqual(before.Metrics, after.Metrics) || len(before.Objects) != len(after.Objects) {
		t.Fatalf("sanitizing changed the geometry:\n%+v\n%+v", before.Metrics, after.Metrics)
	}
}

func FuzzMeasureSTL(f *testing.F) {
	seed(f, ".stl")
	f.Add([]byte("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid\n"))
	f.Add(binarySTL("solid", cubeTris([3]float32{}, 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMeasure(t, b, fuzzOptions(STL))
		checkMeasure(t, b, fuzzOptions(""))
	})
}

func FuzzMeasureOBJ(f *testing.F) {
	seed(f, ".obj")
	f.Add([]byte("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf -1 -2 -3\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMeasure(t, b, fuzzOptions(OBJ))
	})
}

func FuzzMeasure3MF(f *testing.F) {
	seed(f, ".3mf")
	// a directory claiming 200 times the real compressed size, and
	// packages of several objects and instances
	f.Add(rewriteDirSize(f, spacesPackage(f, 2<<20), "3D/3dmodel.model", dirCompressed, 200, 0))
	f.Add(threeMF(f, stripObjects(3, 40, false)))
	f.Add(threeMF(f, stripObjects(3, 40, true)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkMeasure(t, b, fuzzOptions(ThreeMF))
	})
}

// FuzzModel3MF mutates the model XML inside a well-formed package, where
// mutations of a whole zip mostly stop at the checksum.
func FuzzModel3MF(f *testing.F) {
	f.Add([]byte(model("millimeter", `<object id="1">`+cubeMesh(10)+`</object><object id="2"><components><component objectid="1" transform="-1 0 0 0 1 0 0 0 1 0 0 0"/></components></object>`,
		`<item objectid="2"/><item objectid="1" transform="1 0 0 0 1 0 0 0 1 20 0 0"/>`)))
	f.Add([]byte(`<?xml version="1.0"?><model xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02"><metadata name="Title">a&amp;b<![CDATA[x]]></metadata><resources/><build/></model>`))
	f.Fuzz(func(t *testing.T, xml []byte) {
		pkg := zipFiles(t, "[Content_Types].xml", contentTypesXML, "_rels/.rels", testRels, "3D/3dmodel.model", string(xml))
		checkMeasure(t, pkg, fuzzOptions(ThreeMF))
		checkSanitize(t, ThreeMF, pkg)
	})
}

func FuzzSanitizeSTL(f *testing.F) {
	seed(f, ".stl")
	f.Add([]byte("solid a b c\r\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nvertex 0 1 1\nendloop\nendfacet\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSanitize(t, STL, b)
	})
}

func FuzzSanitizeOBJ(f *testing.F) {
	seed(f, ".obj")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSanitize(t, OBJ, b)
	})
}

func FuzzSanitize3MF(f *testing.F) {
	seed(f, ".3mf")
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSanitize(t, ThreeMF, b)
	})
}
