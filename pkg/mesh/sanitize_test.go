package mesh

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
)

// sanitize runs the sanitizer for a format.
func sanitize(ctx context.Context, f Format, b []byte) ([]byte, error) {
	var out bytes.Buffer
	err := Sanitize(ctx, &out, bytes.NewReader(b), int64(len(b)), f)
	return out.Bytes(), err
}

// sameGeometry compares what sanitizing must keep: units, totals and every
// object's metrics and type.
func sameGeometry(t testing.TB, a, b *Report) {
	t.Helper()
	if a.Units != b.Units || a.Format != b.Format {
		t.Errorf("units/format %s/%s became %s/%s", a.Units, a.Format, b.Units, b.Format)
	}
	if !reflect.DeepEqual(a.Metrics, b.Metrics) {
		t.Errorf("metrics changed:\n%+v\n%+v", a.Metrics, b.Metrics)
	}
	if len(a.Objects) != len(b.Objects) {
		t.Fatalf("%d objects became %d", len(a.Objects), len(b.Objects))
	}
	for i := range a.Objects {
		if !reflect.DeepEqual(a.Objects[i].Metrics, b.Objects[i].Metrics) || a.Objects[i].Type != b.Objects[i].Type {
			t.Errorf("object %d changed:\n%+v\n%+v", i, a.Objects[i], b.Objects[i])
		}
	}
}

// TestSanitizeKeepsGeometry: every test file that measures measures the
// same after sanitizing.
func TestSanitizeKeepsGeometry(t *testing.T) {
	for _, f := range modelFiles(t) {
		t.Run(f, func(t *testing.T) {
			b := readTestdata(t, f)
			before, err := MeasureBytes(context.Background(), b, DefaultOptions())
			if err != nil {
				if _, serr := sanitize(context.Background(), Sniff(b, int64(len(b)), f), b); serr == nil {
					t.Errorf("sanitizer accepts what Measure refuses (%v)", err)
				}
				return
			}
			out, err := sanitize(context.Background(), before.Format, b)
			if err != nil {
				t.Fatalf("sanitize: %v", err)
			}
			after := measure(t, out, DefaultOptions())
			sameGeometry(t, before, after)
			if after.Metadata != nil || len(after.metadataValues) > 0 {
				t.Errorf("metadata survived: %v", after.Metadata)
			}
			for _, o := range after.Objects {
				if o.Name != "" && !strings.HasPrefix(string(o.Name), "object") {
					t.Errorf("object name %q survived", o.Name)
				}
			}
		})
	}
}

const canary = "CANARY^DOE^JANE^MRN0042"

// assertClean fails if the canary is in the bytes, in any zip entry name or
// in any inflated zip entry.
func assertClean(t *testing.T, out []byte) {
	t.Helper()
	if bytes.Contains(out, []byte(canary)) || bytes.Contains(out, []byte("MRN0042")) {
		t.Errorf("canary in the output")
	}
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		return
	}
	for _, f := range zr.File {
		if strings.Contains(f.Name, "MRN0042") || strings.Contains(f.Comment, "MRN0042") {
			t.Errorf("canary in a part name")
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if bytes.Contains(b, []byte("MRN0042")) || bytes.Contains(b, []byte("DOE")) {
			t.Errorf("canary in part %s:\n%.400s", f.Name, b)
		}
	}
	if strings.Contains(zr.Comment, "MRN0042") {
		t.Errorf("canary in the zip comment")
	}
}

// TestSanitizeRemovesText plants the canary wherever model files carry text
// and checks it is gone while the geometry stays.
func TestSanitizeRemovesText(t *testing.T) {
	cube := cubeTris([3]float32{1, 2, 3}, 10)
	tetra := []tri{{{0, 0, 0}, {0, 1, 0}, {1, 0, 0}}, {{0, 0, 0}, {1, 0, 0}, {0, 0, 1}}, {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}}, {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	objText := `# patient ` + canary + `
mtllib ` + canary + `.mtl
o ` + canary + `
v 0 0 0
v 0 1 0
v 1 0 0
v 0 0 1
vt 0.5 0.5
vn 0 0 1
usemtl ` + canary + `
s 1
f 1/1/1 2/1/1 3/1/1
f 1 3 4
f 1//1 4//1 2//1
g ` + canary + `
f 3 2 4 # ` + canary + `
l 1 2
g second ` + canary + `
v 5 0 0
v 5 1 0
v 6 0 0
v 5 0 1
f -4 -3 -2
f -4 -2 -1
f -4 -1 -3
f -2 -3 -1
`
	threeMFText := `<?xml version="1.0" encoding="UTF-8"?>
<!-- ` + canary + ` -->
<model unit="millimeter" xml:lang="en-US" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02" xmlns:p="http://schemas.microsoft.com/3dmanufacturing/production/2015/06" xmlns:m="http://schemas.microsoft.com/3dmanufacturing/material/2015/02" xmlns:v="http://vendor.example/` + canary + `" requiredextensions="p">
<metadata name="Title">` + canary + `</metadata>
<metadata name="v:Patient" preserve="1">` + canary + `</metadata>
<resources>
<basematerials id="7"><base name="` + canary + `" displaycolor="#FFFFFF"/></basematerials>
<m:colorgroup id="8"><m:color color="#00FF00"/></m:colorgroup>
<m:texture2d id="9" path="/3D/Textures/` + canary + `.png" contenttype="image/png"/>
<m:texture2dgroup id="10" texid="9"><m:tex2coord u="0" v="0"/></m:texture2dgroup>
<object id="1" type="model" name="` + canary + `" partnumber="` + canary + `" thumbnail="/Thumbnails/` + canary + `.png" pid="7" pindex="0" v:note="` + canary + `" p:UUID="` + canary + `">
<metadatagroup><metadata name="Note">` + canary + `</metadata></metadatagroup>
` + cubeMesh(10) + `
<v:extra>` + canary + `</v:extra>
</object>
<object id="2" name="` + canary + `"><components><component objectid="1" transform="1 0 0 0 1 0 0 0 -1 0 0 0"/><component objectid="3" p:path="/3D/` + canary + `.model"/></components></object>
</resources>
<build p:UUID="` + canary + `"><item objectid="2" partnumber="` + canary + `" transform="1 0 0 0 1 0 0 0 1 5 5 5"/><item objectid="1"/></build>
</model>`
	otherPart := `<?xml version="1.0" encoding="UTF-8"?>
<model unit="millimeter" xmlns="http://schemas.microsoft.com/3dmanufacturing/core/2015/02">
<metadata name="Title">` + canary + `</metadata>
<resources><object id="3" name="` + canary + `">` + cubeMesh(3) + `</object></resources><build/></model>`
	cases := []struct {
		name   string
		format Format
		data   []byte
	}{
		{"binary STL header", STL, binarySTL("PATIENT "+canary, cube)},
		{"binary STL header starting with solid", STL, binarySTL("solid "+canary, cube)},
		{"ASCII STL names", STL, []byte(asciiSolid(canary, cube) + asciiSolid("second "+canary, tetra) + "\n" + canary + "\n")},
		{"OBJ comments and names", OBJ, []byte(objText)},
		{"3MF metadata, names, thumbnails, parts", ThreeMF, threeMF(t, threeMFText,
			"3D/"+canary+".model", otherPart,
			"3D/Textures/"+canary+".png", canary,
			"Thumbnails/"+canary+".png", canary,
			"Metadata/thumbnail.png", canary,
			"Metadata/"+canary+".txt", canary,
			"3D/_rels/3dmodel.model.rels", `<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Target="/Thumbnails/`+canary+`.png" Id="r1" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"/></Relationships>`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := measure(t, c.data, DefaultOptions())
			out, err := sanitize(context.Background(), c.format, c.data)
			if err != nil {
				t.Fatalf("sanitize: %v", err)
			}
			assertClean(t, out)
			after := measure(t, out, DefaultOptions())
			sameGeometry(t, before, after)
			if c.format == ThreeMF && (len(after.Materials) != 1 || after.Materials[0].Color != "#FFFFFF" || len(after.Colors) != 1) {
				t.Errorf("display colours not kept: %+v %v", after.Materials, after.Colors)
			}
		})
	}
}

// TestSanitizeRefuses: the sanitizers fail where Measure fails.
func TestSanitizeRefuses(t *testing.T) {
	cases := []struct {
		format Format
		data   []byte
	}{
		{STL, binarySTL("", cubeTris([3]float32{}, 1))[:100]},
		{STL, []byte("solid x\nfacet normal 0 0 1\nouter loop\nvertex 0 0 inf\n")},
		{OBJ, []byte("v 0 0 0\nf 1 2 3\n")},
		{ThreeMF, threeMF(t, model("millimeter", `<object id="1"><components><component objectid="1"/></components></object>`, `<item objectid="1"/>`))},
		{ThreeMF, []byte("PK\x03\x04 not a zip")},
	}
	for i, c := range cases {
		if _, err := sanitize(context.Background(), c.format, c.data); err == nil {
			t.Errorf("case %d: sanitized input Measure refuses", i)
		}
	}
}
