package mesh

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestThreeMFChildren: elements the reader does not know, in the core
// namespace or another, are skipped wherever they appear, with everything
// inside them; the extensions they belong to are recorded; and what the
// reader does know around them is still read.
func TestThreeMFChildren(t *testing.T) {
	const ns = ` xmlns:s="http://schemas.microsoft.com/3dmanufacturing/slice/2015/07"` +
		` xmlns:b="http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02"` +
		` xmlns:ts="http://schemas.microsoft.com/3dmanufacturing/trianglesets/2021/07"` +
		` xmlns:q="http://example.com/unknown"`
	// foreign adds a foreign element before every child of the element
	// named, and one with children at its end.
	foreign := func(m, open, close, elem string) string {
		m = strings.ReplaceAll(m, open, open+elem)
		return strings.ReplaceAll(m, close, `<q:x><core/>`+elem+`</q:x>`+close)
	}
	cube := `<object id="1">` + cubeMesh(10) + `</object>`
	base := model("millimeter", cube+`<basematerials id="2"><base name="red" displaycolor="#ff0000"/></basematerials>`+
		`<m:colorgroup id="3"><m:color color="#00ff00"/></m:colorgroup>`+
		`<object id="4"><components><component objectid="1"/></components></object>`,
		`<item objectid="4"/>`)
	base = strings.Replace(base, `<model `, `<model`+ns+` `, 1)
	base = strings.Replace(base, `<resources>`, `<metadata name="Title">T</metadata><resources>`, 1)

	cases := []struct {
		name  string
		model string
		exts  []string
	}{
		{"none", base, []string{"material"}},
		{"model", foreign(base, `<resources>`, `</model>`, `<s:a/>`), []string{"material", "slice"}},
		{"resources", foreign(base, `<object id="1">`, `</resources>`, `<core><s:a/></core>`), []string{"material", "slice"}},
		{"object", foreign(base, `<mesh>`, `</object>`, `<b:a/>`), []string{"beamlattice", "material"}},
		{"mesh", foreign(base, `<vertices>`, `</mesh>`, `<ts:a/>`), []string{"material", "trianglesets"}},
		{"vertices", foreign(base, `<vertex x="0" y="0" z="0"/>`, `</vertices>`, `<core><ts:a/></core>`), []string{"material", "trianglesets"}},
		{"triangles", foreign(base, `<triangle v1="0" v2="3" v3="2"/>`, `</triangles>`, `<ts:a/>`), []string{"material", "trianglesets"}},
		{"components", foreign(base, `<component objectid="1"/>`, `</components>`, `<s:a/>`), []string{"material", "slice"}},
		{"build", foreign(base, `<item objectid="4"/>`, `</build>`, `<s:a/>`), []string{"material", "slice"}},
		{"base materials", foreign(base, `<base name="red" displaycolor="#ff0000"/>`, `</basematerials>`, `<s:a/>`), []string{"material", "slice"}},
		{"color group", foreign(base, `<m:color color="#00ff00"/>`, `</m:colorgroup>`, `<s:a/>`), []string{"material", "slice"}},
		// inside a vertex or triangle the first child's own namespace is not
		// recorded, only those of the elements within it
		{"vertex child", strings.Replace(base, `<vertex x="0" y="0" z="0"/>`, `<vertex x="0" y="0" z="0"><ts:a/><s:b/></vertex>`, 1), []string{"material", "slice"}},
		{"triangle child", strings.Replace(base, `<triangle v1="0" v2="3" v3="2"/>`, `<triangle v1="0" v2="3" v3="2"><ts:a><b:c/></ts:a></triangle>`, 1), []string{"beamlattice", "material"}},
		{"component child", strings.Replace(base, `<component objectid="1"/>`, `<component objectid="1"><s:a/></component>`, 1), []string{"material", "slice"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := MeasureBytes(context.Background(), threeMF(t, c.model), Options{Format: ThreeMF})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Triangles != 12 || rep.Vertices != 8 || !rep.Watertight || len(rep.Objects) != 1 {
				t.Errorf("geometry %+v, want the closed 10 mm cube", rep.Metrics)
			}
			if !slices.Equal(rep.Metadata, []string{"Title"}) || len(rep.Materials) != 1 || rep.Materials[0].Color != "#FF0000" ||
				!slices.Equal(rep.Colors, []string{"#00FF00"}) || rep.ColorGroups != 1 {
				t.Errorf("metadata %v, materials %+v, colors %v in %d groups", rep.Metadata, rep.Materials, rep.Colors, rep.ColorGroups)
			}
			if !slices.Equal(rep.Extensions, c.exts) {
				t.Errorf("extensions %v, want %v", rep.Extensions, c.exts)
			}
		})
	}

	// a metadata entry with an element inside is left out, and what
	// follows it is read
	m := strings.Replace(base, `<metadata name="Title">T</metadata>`, `<metadata name="Title">T<q:x>y</q:x>z</metadata><metadata name="Designer">D</metadata>`, 1)
	rep, err := MeasureBytes(context.Background(), threeMF(t, m), Options{Format: ThreeMF})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Metadata, []string{"Designer"}) || rep.Triangles != 12 {
		t.Errorf("metadata %v, %d triangles", rep.Metadata, rep.Triangles)
	}
}
