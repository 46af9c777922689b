package mesh

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestThreeMFHostile: packages built to hurt a reader fail with the right
// kind of error and a reason, quickly and without large allocations.
func TestThreeMFHostile(t *testing.T) {
	cube := `<object id="1" type="model">` + cubeMesh(10) + `</object>`
	good := model("millimeter", cube, `<item objectid="1"/>`)
	deep := func(n int) string {
		var b strings.Builder
		b.WriteString(cube)
		for i := 2; i <= n; i++ {
			fmt.Fprintf(&b, `<object id="%d"><components><component objectid="%d"/></components></object>`, i, i-1)
		}
		return model("millimeter", b.String(), fmt.Sprintf(`<item objectid="%d"/>`, n))
	}
	fan := func() string {
		// each level places the one below ten times: 10^9 cubes
		var b strings.Builder
		b.WriteString(cube)
		for i := 2; i <= 10; i++ {
			fmt.Fprintf(&b, `<object id="%d"><components>`, i)
			for k := 0; k < 10; k++ {
				fmt.Fprintf(&b, `<component objectid="%d"/>`, i-1)
			}
			b.WriteString(`</components></object>`)
		}
		return model("millimeter", b.String(), `<item objectid="10"/>`)
	}
	emptyFan := func() string {
		// the same with an object that has no vertices or triangles
		return strings.Replace(fan(), cube, `<object id="1"><mesh><vertices/><triangles/></mesh></object>`, 1)
	}
	withRels := func(rels string, files ...string) []byte {
		return zipFiles(t, append([]string{"[Content_Types].xml", contentTypesXML, "_rels/.rels", rels}, files...)...)
	}
	relTo := func(target string) string {
		return `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="` + target + `" Id="r" Type="http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"/></Relationships>`
	}
	cases := []struct {
		name   string
		data   []byte
		kind   error
		reason string
	}{
		{"not a zip", []byte("PK\x03\x04 this is not a zip"), ErrMalformed, "zip"},
		{"no rels", zipFiles(t, "3D/3dmodel.model", good), ErrMalformed, "_rels/.rels"},
		{"rels without a model", withRels(`<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>`, "3D/3dmodel.model", good), ErrMalformed, "names no 3D model"},
		{"rels to a missing part", withRels(relTo("/3D/other.model"), "3D/3dmodel.model", good), ErrMalformed, "missing"},
		{"rels escaping the package", withRels(relTo("../../etc/passwd"), "3D/3dmodel.model", good), ErrMalformed, "outside the package"},
		{"absolute part name", zipFiles(t, "/3D/3dmodel.model", good, "_rels/.rels", testRels), ErrMalformed, "absolute"},
		{"parent part name", zipFiles(t, "../3dmodel.model", good, "_rels/.rels", testRels), ErrMalformed, "parent-relative"},
		{"backslash part name", zipFiles(t, `3D\3dmodel.model`, good, "_rels/.rels", testRels), ErrMalformed, "absolute"},
		{"names differing in case", threeMF(t, good, "3d/3DMODEL.model", good), ErrMalformed, "differ only in case"},
		{"component cycle", threeMF(t, model("millimeter", `<object id="1"><components><component objectid="2"/></components></object><object id="2"><components><component objectid="1"/></components></object>`, `<item objectid="1"/>`)), ErrMalformed, "cycle"},
		{"self reference", threeMF(t, model("millimeter", `<object id="1"><components><component objectid="1"/></components></object>`, `<item objectid="1"/>`)), ErrMalformed, "cycle"},
		{"deep nesting", threeMF(t, deep(40)), ErrTooLarge, "nested deeper"},
		{"component explosion", threeMF(t, fan()), ErrTooLarge, "places more than"},
		{"explosion of empty objects", threeMF(t, emptyFan()), ErrTooLarge, "build places more than 1048576 objects"},
		{"bad vertex index", threeMF(t, model("millimeter", `<object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/><vertex x="1" y="0" z="0"/><vertex x="0" y="1" z="0"/></vertices><triangles><triangle v1="0" v2="1" v3="7"/></triangles></mesh></object>`, `<item objectid="1"/>`)), ErrMalformed, "refers to vertex 7"},
		{"negative index", threeMF(t, model("millimeter", `<object id="1"><mesh><vertices><vertex x="0" y="0" z="0"/></vertices><triangles><triangle v1="0" v2="-1" v3="0"/></triangles></mesh></object>`, `<item objectid="1"/>`)), ErrMalformed, "not a valid number"},
		{"NaN coordinate", threeMF(t, strings.Replace(good, `x="10"`, `x="NaN"`, 1)), ErrMalformed, "not a number"},
		{"infinite coordinate", threeMF(t, strings.Replace(good, `x="10"`, `x="1e400"`, 1)), ErrMalformed, "not a finite number"},
		{"missing coordinate", threeMF(t, strings.Replace(good, `x="10" y="0"`, `y="0"`, 1)), ErrMalformed, "needs x, y and z"},
		{"bad transform", threeMF(t, model("millimeter", cube, `<item objectid="1" transform="1 0 0 0 1 0 0 0 1 0 0"/>`)), ErrMalformed, "transform"},
		{"huge transform", threeMF(t, model("millimeter", cube, `<item objectid="1" transform="1e300 0 0 0 1 0 0 0 1 0 0 0"/>`)), ErrMalformed, "transform"},
		{"undefined object", threeMF(t, model("millimeter", cube, `<item objectid="9"/>`)), ErrMalformed, "object 9"},
		{"duplicate ids", threeMF(t, model("millimeter", cube+cube, `<item objectid="1"/>`)), ErrMalformed, "share id 1"},
		{"bad unit", threeMF(t, model("furlong", cube, `<item objectid="1"/>`)), ErrMalformed, "unit"},
		{"bad object type", threeMF(t, model("millimeter", strings.Replace(cube, `type="model"`, `type="toy"`, 1), `<item objectid="1"/>`)), ErrMalformed, "type"},
		{"no build", threeMF(t, strings.Replace(good, `<build><item objectid="1"/></build>`, ``, 1)), ErrMalformed, "no build"},
		{"not UTF-8", threeMF(t, strings.Replace(good, `<resources>`, "<resources>\xff\xfe", 1)), ErrMalformed, "UTF-8"},
		{"UTF-16 declared", threeMF(t, strings.Replace(good, `encoding="UTF-8"`, `encoding="UTF-16"`, 1)), ErrMalformed, "encoding other than UTF-8"},
		{"DOCTYPE", threeMF(t, strings.Replace(good, `<model `, `<!DOCTYPE model [<!ENTITY a "aaaaaaaaaa">]><model `, 1)), ErrMalformed, "DTD"},
		{"undefined entity", threeMF(t, strings.Replace(good, `<resources>`, `<metadata name="Title">&a;</metadata><resources>`, 1)), ErrMalformed, "entity"},
		{"duplicate attribute", threeMF(t, strings.Replace(good, `<item objectid="1"/>`, `<item objectid="1" objectid="1"/>`, 1)), ErrMalformed, "duplicate attribute"},
		{"mismatched tags", threeMF(t, strings.Replace(good, `</resources>`, `</resource>`, 1)), ErrMalformed, "does not match"},
		{"truncated XML", threeMF(t, good[:len(good)/2]), ErrMalformed, "ends inside"},
		{"wrong root", threeMF(t, `<?xml version="1.0"?><html/>`), ErrMalformed, "not a 3MF model"},
		{"2013 namespace", threeMF(t, strings.Replace(good, "core/2015/02", "2013/01", 1)), ErrUnsupported, "2013/01"},
		{"unknown required extension", threeMF(t, strings.Replace(good, `<model `, `<model xmlns:q="http://example.com/ext" requiredextensions="q" `, 1)), ErrUnsupported, "unrecognised extension"},
		{"secure content required", threeMF(t, strings.Replace(good, `<model `, `<model xmlns:sc="http://schemas.microsoft.com/3dmanufacturing/securecontent/2019/04" requiredextensions="sc" `, 1)), ErrUnsupported, "securecontent"},
		{"undeclared required prefix", threeMF(t, strings.Replace(good, `<model `, `<model requiredextensions="zz" `, 1)), ErrMalformed, "not declared"},
		{"production path missing", threeMF(t, model("millimeter", ``, `<item objectid="1" p:path="/3D/missing.model"/>`)), ErrMalformed, "missing"},
		{"production path escaping", threeMF(t, model("millimeter", ``, `<item objectid="1" p:path="/../x.model"/>`)), ErrMalformed, "outside the package"},
		{"deep XML", threeMF(t, strings.Replace(good, `<resources>`, `<resources>`+strings.Repeat("<a>", 100)+strings.Repeat("</a>", 100), 1)), ErrTooLarge, "nested deeper"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := MeasureBytes(context.Background(), c.data, Options{Format: ThreeMF})
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("error %v, want %v (%s)", err, c.kind, c.reason)
			}
		})
	}
	if _, err := MeasureBytes(context.Background(), threeMF(t, good), DefaultOptions()); err != nil {
		t.Errorf("the good package fails: %v", err)
	}
}

// TestThreeMFZipBombs: inflation is capped by the declared sizes, the
// package budget and the compression ratio, before anything is inflated.
func TestThreeMFZipBombs(t *testing.T) {
	cube := model("millimeter", `<object id="1">`+cubeMesh(10)+`</object>`, `<item objectid="1"/>`)
	// 8 MiB of spaces inside the model part deflate to ~8 KiB: ratio ~1000
	padded := strings.Replace(cube, `<resources>`, `<resources>`+strings.Repeat(" ", 8<<20), 1)
	bomb := threeMF(t, padded)
	_, err := MeasureBytes(context.Background(), bomb, DefaultOptions())
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "zip bomb") {
		t.Errorf("ratio bomb: %v", err)
	}
	opt := DefaultOptions()
	opt.Limits.MaxRatio = 2000
	opt.Limits.MaxUncompressed = 4 << 20
	if _, err := MeasureBytes(context.Background(), bomb, opt); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "budget") {
		t.Errorf("budget: %v", err)
	}
	opt.Limits.MaxUncompressed = 16 << 20
	if _, err := MeasureBytes(context.Background(), bomb, opt); err != nil {
		t.Errorf("within raised limits: %v", err)
	}
	// a header that lies about the size: archive/zip and the counting
	// reader stop at the declared size
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range [][2]string{{"[Content_Types].xml", contentTypesXML}, {"_rels/.rels", testRels}} {
		w, _ := zw.Create(f[0])
		w.Write([]byte(f[1]))
	}
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "3D/3dmodel.model", Method: zip.Store, UncompressedSize64: 10, CompressedSize64: uint64(len(cube)), CRC32: 0})
	w.Write([]byte(cube))
	zw.Close()
	if _, err := MeasureBytes(context.Background(), buf.Bytes(), DefaultOptions()); err == nil {
		t.Errorf("lying size accepted")
	}
	// more entries than MaxParts: refused from the end record
	var many bytes.Buffer
	zw = zip.NewWriter(&many)
	for i := 0; i < 300; i++ {
		zw.Create(fmt.Sprintf("junk/%d", i))
	}
	zw.Close()
	opt = DefaultOptions()
	opt.Limits.MaxParts = 100
	if _, err := MeasureBytes(context.Background(), many.Bytes(), opt); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "entries") {
		t.Errorf("many entries: %v", err)
	}
}

func TestThreeMFLimits(t *testing.T) {
	m := threeMF(t, model("millimeter", `<object id="1">`+cubeMesh(10)+`</object>`, `<item objectid="1"/><item objectid="1"/>`))
	opt := DefaultOptions()
	opt.Limits.MaxTriangles = 20
	if _, err := MeasureBytes(context.Background(), m, opt); !errors.Is(err, ErrTooLarge) {
		t.Errorf("placed triangles over the limit: %v", err)
	}
	opt.Limits.MaxTriangles = 11
	if _, err := MeasureBytes(context.Background(), m, opt); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "holds more than") {
		t.Errorf("stored triangles over the limit: %v", err)
	}
	opt = DefaultOptions()
	opt.Limits.MaxVertices = 7
	if _, err := MeasureBytes(context.Background(), m, opt); !errors.Is(err, ErrTooLarge) {
		t.Errorf("vertices over the limit: %v", err)
	}
}

// TestErrorsCarryNoText: errors name positions and numbers, never text
// from the file.
func TestErrorsCarryNoText(t *testing.T) {
	token := "DOE^JOHN-MRN4711"
	bad := []struct {
		format Format
		data   []byte
	}{
		{STL, []byte("solid " + token + "\nfacet normal 0 0 1\nouter loop\nvertex " + token + "\n")},
		{STL, []byte("solid x\n" + token + "\n")},
		{OBJ, []byte("o " + token + "\nv 1 2 " + token + "\n")},
		{OBJ, []byte("g " + token + "\nf " + token + " 1 2\n")},
		{ThreeMF, threeMF(t, model("millimeter", `<object id="1" name="`+token+`"><mesh><vertices><vertex x="`+token+`" y="0" z="0"/></vertices></mesh></object>`, `<item objectid="1"/>`))},
		{ThreeMF, threeMF(t, model("millimeter", `<object id="1" type="`+token+`">`+cubeMesh(1)+`</object>`, `<item objectid="1"/>`))},
		{ThreeMF, threeMF(t, model(token, ``, ``))},
		{ThreeMF, threeMF(t, strings.Replace(model("millimeter", ``, ``), `<model `, `<model xmlns:q="http://`+token+`/3dmanufacturing/x/" requiredextensions="q" `, 1))},
		{ThreeMF, threeMF(t, model("millimeter", ``, `<item objectid="1" p:path="/3D/`+token+`.model"/>`))},
	}
	for i, c := range bad {
		_, err := MeasureBytes(context.Background(), c.data, Options{Format: c.format})
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), "DOE") || strings.Contains(err.Error(), "4711") {
			t.Errorf("case %d: error carries file text: %v", i, err)
		}
	}
}
