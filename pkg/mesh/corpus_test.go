package mesh

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// stlFact is a row of the shared corpus MANIFEST: figures computed
// independently (admesh 0.98.4 and a numpy script), in file units, printed
// with four decimals.
type stlFact struct {
	file             string
	triangles        int64
	volume, area     float64 // signed volume about the origin; area
	min, max         [3]float64
	boundary, nonMan int64
	misoriented      int64 // "directed edges used twice", where no edge is non-manifold
	solids           int
}

var stlFacts = []stlFact{
	{"stl/admesh/block_normal-directions-bad.stl", 12, 50.8531, 93.0002, [3]float64{-1.9685, -1.9685, -1.9685}, [3]float64{1.9685, 1.9685, 1.9685}, 0, 0, 3, 1},
	{"stl/admesh/conveyor_basic.stl", 856, 350655916.8275, 4778984.7142, [3]float64{-500, 0, -100}, [3]float64{500, 1500, 300}, 0, 0, 0, 1},
	{"stl/lib3mf/Pyramid.stl", 10, 507230.1208, 43222.984, [3]float64{0, 0, 0}, [3]float64{144.7214, 152.169, 100}, 0, 0, 0, 1},
	{"stl/lib3mf/Sphere.stl", 2880, 33382.4211, 5015.9292, [3]float64{-20, -20, -20}, [3]float64{20, 20, 20}, 0, 0, 0, 1},
	{"stl/trimesh/20mm-xyz-cube.stl", 260, 7938.6819, 2499.0249, [3]float64{-47.9519, -4.908, -30.9815}, [3]float64{-27.9519, 15.092, -10.9815}, 0, 0, 0, 1},
	{"stl/trimesh/7_8ths_cube.stl", 24, 55999.9959, 9599.9996, [3]float64{-20, -20, -20}, [3]float64{20, 20, 20}, 0, 0, 0, 1},
	{"stl/trimesh/ADIS16480.STL.gz", 7436, 0.0, 0.0074, [3]float64{-0.0224, -0.0061, -0.0192}, [3]float64{0.0216, 0.0079, 0.0278}, 0, 0, 0, 1},
	{"stl/trimesh/busted.STL", 3878, 526.4489, 349.2798, [3]float64{-5.3983, 18.3005, -9.9357}, [3]float64{5.2772, 29.6852, -0.3633}, 0, 0, 0, 1},
	{"stl/trimesh/empty.stl", 0, 0, 0, [3]float64{}, [3]float64{}, 0, 0, 0, 1},
	{"stl/trimesh/featuretype.STL", 3476, 11.6277, 53.8274, [3]float64{-2.5, -1.25, 0}, [3]float64{2.5, 1.25, 1.375}, 576, 0, 0, 1},
	{"stl/trimesh/multibody.stl", 32, 0.0037, 0.3672, [3]float64{-0.5108, -0.7188, -0.0519}, [3]float64{0.1252, 0.3696, 0.288}, 0, 0, 12, 2},
	{"stl/trimesh/origin_inside.STL", 28, 0.9688, 6.5, [3]float64{-0.5, -0.5, -0.5}, [3]float64{0.5, 0.5, 0.5}, 0, 0, 0, 1},
	{"stl/trimesh/shared.STL", 24, 2.0, 12.0, [3]float64{-0.5, -0.5, -0.5}, [3]float64{1.5, 1.5, 0.5}, 0, 1, 0, 1},
	{"stl/trimesh/soup.stl", 100, -0.0486, 14.5789, [3]float64{0.0024, 0.0025, 0.0061}, [3]float64{0.9998, 0.9991, 0.999}, 300, 0, 0, 1},
	{"stl/trimesh/stl_empty_bin.stl", 0, 0, 0, [3]float64{}, [3]float64{}, 0, 0, 0, 1},
	{"stl/trimesh/teapot.stl", 894, 22963.0321, 4941.3696, [3]float64{-28.8592, -19.6542, 0.8701}, [3]float64{34.3105, 19.6542, 30.3514}, 64, 0, 0, 1},
	{"stl/trimesh/two_objects_mixed_case_names.stl", 24, 2.0, 12.0, [3]float64{0, 0, 0}, [3]float64{6, 1, 1}, 0, 0, 0, 2},
	{"stl/trimesh/unit_sphere.STL", 1280, 4.1527, 12.5065, [3]float64{-1, -1, -1}, [3]float64{1, 1, 1}, 0, 0, 0, 1},
}

// TestSTLCorpusMatchesManifest checks counts exactly and volume, area and
// bounding box within relative 1e-4 (or the MANIFEST's print precision)
// against the independently computed figures, and that the open,
// non-manifold and flipped examples are reported as such.
func TestSTLCorpusMatchesManifest(t *testing.T) {
	for _, f := range stlFacts {
		t.Run(f.file, func(t *testing.T) {
			rep := measure(t, readTestdata(t, f.file), DefaultOptions())
			m := rep.Metrics
			if m.Triangles != f.triangles {
				t.Errorf("triangles %d, want %d", m.Triangles, f.triangles)
			}
			if !near(m.SignedVolumeMM3, f.volume) {
				t.Errorf("signed volume %v, want %v", m.SignedVolumeMM3, f.volume)
			}
			if !near(m.SurfaceAreaMM2, f.area) {
				t.Errorf("area %v, want %v", m.SurfaceAreaMM2, f.area)
			}
			for k := 0; k < 3; k++ {
				if !near(m.BBox.Min[k], f.min[k]) || !near(m.BBox.Max[k], f.max[k]) {
					t.Errorf("bbox %v..%v, want %v..%v", m.BBox.Min, m.BBox.Max, f.min, f.max)
					break
				}
			}
			if m.BoundaryEdges != f.boundary || m.NonManifoldEdges != f.nonMan || m.MisorientedEdges != f.misoriented {
				t.Errorf("boundary/non-manifold/misoriented edges %d/%d/%d, want %d/%d/%d",
					m.BoundaryEdges, m.NonManifoldEdges, m.MisorientedEdges, f.boundary, f.nonMan, f.misoriented)
			}
			closed := f.boundary == 0 && f.nonMan == 0 && f.misoriented == 0 && f.triangles > 0
			if m.Watertight != closed {
				t.Errorf("watertight %v, want %v", m.Watertight, closed)
			}
			if len(rep.Objects) != f.solids {
				t.Errorf("%d objects, want %d solids", len(rep.Objects), f.solids)
			}
		})
	}
}

// TestSTLCorpusFindings names what the MANIFEST and the file histories say
// each problem file shows.
func TestSTLCorpusFindings(t *testing.T) {
	get := func(f string) Metrics { return measure(t, readTestdata(t, f), DefaultOptions()).Metrics }
	if m := get("stl/admesh/conveyor_basic.stl"); m.DegenerateTriangles != 34 || !m.Watertight {
		t.Errorf("conveyor: %d degenerate triangles (want the MANIFEST's 34 zero-area triangles), watertight %v", m.DegenerateTriangles, m.Watertight)
	}
	if m := get("stl/trimesh/soup.stl"); m.Shells != 100 || m.Vertices != 300 {
		t.Errorf("soup: %d shells, %d vertices; want 100 separate triangles", m.Shells, m.Vertices)
	}
	if m := get("stl/trimesh/teapot.stl"); m.Watertight || m.BoundaryEdges == 0 {
		t.Errorf("teapot is open but measured watertight")
	}
	if m := get("stl/trimesh/shared.STL"); m.Watertight || m.NonManifoldEdges != 1 || m.VolumeMM3 != 2 {
		t.Errorf("shared: %+v; want one non-manifold edge and volume 2", m)
	}
	if m := get("stl/admesh/block_normal-directions-bad.stl"); m.Watertight || m.MisorientedEdges != 3 {
		t.Errorf("flipped facet not reported: %+v", m)
	}
	// A binary file whose header starts with "solid" is still binary.
	rep := measure(t, readTestdata(t, "stl/trimesh/origin_inside.STL"), DefaultOptions())
	if rep.Triangles != 28 || !rep.Watertight {
		t.Errorf("origin_inside: %d triangles", rep.Triangles)
	}
	// Units hints: an IMU part exported in metres, a CAD part in inches.
	if h := measure(t, readTestdata(t, "stl/trimesh/ADIS16480.STL.gz"), DefaultOptions()).UnitsHint; h != Meter {
		t.Errorf("ADIS16480 units hint %q, want meter", h)
	}
	if h := measure(t, readTestdata(t, "stl/trimesh/featuretype.STL"), DefaultOptions()).UnitsHint; h != Inch {
		t.Errorf("featuretype units hint %q, want inch", h)
	}
	if h := measure(t, readTestdata(t, "stl/lib3mf/Sphere.stl"), DefaultOptions()).UnitsHint; h != "" {
		t.Errorf("40 mm sphere got units hint %q", h)
	}
}

// threeMFFact is a row of the MANIFEST for a 3MF file: counts over every
// object of the package, as stored (python zipfile + xml.etree).
type threeMFFact struct {
	file                              string
	objects, meshes, withComps, items int
	triangles, vertices               int64
	unit                              string
	closed                            int // meshes whose every edge is used twice
	beams                             int64
	metadata                          []string
	required                          string
}

var threeMFFacts = []threeMFFact{
	{"3mf/3mf-samples/beam_lattice_pyramid.3mf", 1, 1, 0, 1, 0, 123, "millimeter", 0, 391, []string{"Copyright"}, "b"},
	{"3mf/3mf-samples/beam_lattice_spinal_implant.3mf", 2, 2, 0, 2, 5672, 10090, "millimeter", 1, 11821, nil, "b"},
	{"3mf/3mf-samples/core_box.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/core_cube_gears.3mf", 17, 17, 0, 17, 25692, 12864, "millimeter", 17, 0, []string{"Title", "Designer", "LicenseTerms", "CreationDate", "Description", "Copyright"}, ""},
	{"3mf/3mf-samples/core_cylinder.3mf", 1, 1, 0, 1, 88, 46, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/core_dodeca_chain_loop.3mf", 1, 1, 0, 1, 7680, 3040, "millimeter", 1, 0, []string{"Title", "Designer", "LicenseTerms", "CreationDate", "Description", "Copyright"}, ""},
	{"3mf/3mf-samples/core_multiple_cylinders.3mf", 1, 1, 0, 6, 88, 46, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/core_torus.3mf", 1, 1, 0, 1, 2200, 1100, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/material_multiprop-opaque.3mf", 2, 1, 1, 1, 12, 8, "centimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/material_pyramid_vertexcolor.3mf", 1, 1, 0, 1, 4, 4, "millimeter", 1, 0, []string{"CreationDate", "Description", "Copyright"}, ""},
	{"3mf/3mf-samples/material_rhombicuboctahedron_color.3mf", 1, 1, 0, 1, 44, 24, "millimeter", 1, 0, []string{"CreationDate", "Description", "Copyright"}, ""},
	{"3mf/3mf-samples/material_sphere_logo.3mf", 1, 1, 0, 1, 3032, 1518, "millimeter", 1, 0, []string{"CreationDate", "Description", "Copyright"}, ""},
	{"3mf/3mf-samples/production_box_prod.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/slices_box_sliced.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, []string{"Copyright"}, ""},
	{"3mf/3mf-samples/validation_MUSTPASS_Chapter3.2b_UnitsMeasurementMM.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, nil, ""},
	{"3mf/3mf-samples/validation_MUSTPASS_Chapter3.2c_MultipleItemsTransform.3mf", 1, 1, 0, 2, 30, 17, "millimeter", 1, 0, nil, ""},
	{"3mf/3mf-samples/validation_MUSTPASS_Chapter3.4.2_MetaData_Resources_Build.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, []string{"Designer", "Title", "Description", "Copyright", "LicenseTerms", "Rating", "CreationDate", "ModificationDate"}, ""},
	{"3mf/3mf-samples/validation_MUSTPASS_Chapter4.2_Components.3mf", 2, 1, 1, 1, 30, 17, "millimeter", 1, 0, nil, ""},
	{"3mf/go3mf/cube.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, nil, ""},
	{"3mf/lib3mf/2ProductionBoxes.3mf", 2, 2, 0, 2, 25, 17, "millimeter", 1, 0, nil, "s p"},
	{"3mf/lib3mf/3mfbase12_holed_cube.3mf", 1, 1, 0, 1, 144, 64, "inch", 1, 0, nil, ""},
	{"3mf/lib3mf/MetaData_Model_DefaultNS.3mf", 2, 1, 1, 1, 12, 8, "millimeter", 1, 0, []string{"Copyright", "Application", "LicenseTerms", "Title", "Designer", "CreationDate", "ModificationDate", "Description"}, ""},
	{"3mf/lib3mf/MetaData_Model_VendorNS.3mf", 2, 1, 1, 1, 12, 8, "millimeter", 1, 0, []string{"vendor1:CustomMetadata1"}, ""},
	{"3mf/lib3mf/PartsForBoundingBox.3mf", 3, 2, 1, 2, 98, 53, "millimeter", 2, 0, nil, ""},
	{"3mf/lib3mf/PyramidVolume.3mf", 1, 1, 0, 1, 10, 7, "millimeter", 1, 0, nil, ""},
	{"3mf/lib3mf/Thumbnail_Package.3mf", 1, 1, 0, 1, 12, 8, "millimeter", 1, 0, nil, "s p"},
	{"3mf/lib3mf/WagonWithWheels.3mf", 3, 2, 1, 2, 152, 80, "millimeter", 2, 0, nil, ""},
	{"3mf/trimesh/P_XPM_0331_01.3mf", 1, 1, 0, 1, 6, 5, "millimeter", 1, 0, []string{"Copyright", "Description"}, "m p"},
	{"3mf/trimesh/counterX.3MF", 2, 1, 1, 1, 8080, 4661, "millimeter", 1, 0, []string{"CreationDate", "ModificationDate"}, ""},
	{"3mf/trimesh/cube_and_sphere_same_name.3mf", 4, 2, 2, 2, 5132, 2570, "millimeter", 2, 0, nil, ""},
	{"3mf/trimesh/featuretype.3MF", 1, 1, 0, 1, 2208, 1092, "inch", 0, 0, []string{"Title", "Designer"}, ""},
	{"3mf/trimesh/pyramids.3mf", 7, 6, 1, 9, 3172, 1601, "millimeter", 6, 0, nil, ""},
}

// TestThreeMFCorpusMatchesManifest checks the MANIFEST's package counts
// exactly; every file listed there as readable passes, the MUSTPASS files
// among them.
func TestThreeMFCorpusMatchesManifest(t *testing.T) {
	for _, f := range threeMFFacts {
		t.Run(f.file, func(t *testing.T) {
			rep := measure(t, readTestdata(t, f.file), DefaultOptions())
			p := rep.Package
			if p == nil {
				t.Fatal("no package facts")
			}
			got := [4]int{p.Objects, p.MeshObjects, p.ComponentObjects, p.BuildItems}
			if want := [4]int{f.objects, f.meshes, f.withComps, f.items}; got != want {
				t.Errorf("objects/meshes/with components/items %v, want %v", got, want)
			}
			if p.Triangles != f.triangles || p.Vertices != f.vertices {
				t.Errorf("triangles/vertices %d/%d, want %d/%d", p.Triangles, p.Vertices, f.triangles, f.vertices)
			}
			if rep.Units != f.unit {
				t.Errorf("units %q, want %q", rep.Units, f.unit)
			}
			if p.ClosedMeshes != f.closed {
				t.Errorf("%d closed meshes, want %d", p.ClosedMeshes, f.closed)
			}
			if p.Beams != f.beams {
				t.Errorf("%d beams, want %d", p.Beams, f.beams)
			}
			if !equalSets(rep.Metadata, f.metadata) {
				t.Errorf("metadata names %v, want %v", rep.Metadata, f.metadata)
			}
			for _, prefix := range strings.Fields(f.required) {
				name := map[string]string{"b": "beamlattice", "s": "slice", "p": "production", "m": "material"}[prefix]
				if !slices.Contains(rep.Extensions, name) {
					t.Errorf("extensions %v lack required %s", rep.Extensions, name)
				}
			}
			if _, err := json.Marshal(rep); err != nil {
				t.Error(err)
			}
		})
	}
}

func equalSets(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestThreeMFCorpusMatchesReference compares every build item with figures
// from a second implementation (bench/mesh/reference3mf.py, Python stdlib:
// transforms composed, winding reversed under mirroring), stored in
// testdata/3mf/reference.jsonl.
func TestThreeMFCorpusMatchesReference(t *testing.T) {
	type item struct {
		Triangles int64       `json:"triangles"`
		Volume    float64     `json:"signed_volume_mm3"`
		Area      float64     `json:"surface_area_mm2"`
		Min       *[3]float64 `json:"bbox_min"`
		Max       *[3]float64 `json:"bbox_max"`
	}
	sc := bufio.NewScanner(bytes.NewReader(readTestdata(t, "3mf/reference.jsonl")))
	n := 0
	for sc.Scan() {
		var ref struct {
			File  string `json:"file"`
			Items []item `json:"items"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ref); err != nil {
			t.Fatal(err)
		}
		n++
		rep := measure(t, readTestdata(t, "3mf/"+ref.File), DefaultOptions())
		if len(rep.Objects) != len(ref.Items) {
			t.Errorf("%s: %d objects, want %d build items", ref.File, len(rep.Objects), len(ref.Items))
			continue
		}
		for i, want := range ref.Items {
			got := rep.Objects[i]
			rel := func(a, b float64) bool { return a == b || abs(a-b) <= 1e-6*max(abs(b), 1e-9) || abs(a-b) < 1e-9 }
			if got.Triangles != want.Triangles || !rel(got.SignedVolumeMM3, want.Volume) || !rel(got.SurfaceAreaMM2, want.Area) {
				t.Errorf("%s item %d: triangles %d volume %v area %v, want %d %v %v", ref.File, i,
					got.Triangles, got.SignedVolumeMM3, got.SurfaceAreaMM2, want.Triangles, want.Volume, want.Area)
			}
			if want.Min != nil {
				for k := 0; k < 3; k++ {
					if !rel(got.BBox.Min[k], want.Min[k]) && abs(got.BBox.Min[k]-want.Min[k]) > 1e-9 ||
						!rel(got.BBox.Max[k], want.Max[k]) && abs(got.BBox.Max[k]-want.Max[k]) > 1e-9 {
						t.Errorf("%s item %d: bbox %v..%v, want %v..%v", ref.File, i, got.BBox.Min, got.BBox.Max, *want.Min, *want.Max)
						break
					}
				}
			}
		}
	}
	if n < 30 {
		t.Errorf("only %d reference rows", n)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestThreeMFMustFail: the consortium's MUSTFAIL files, and a file with a
// duplicate attribute, fail as malformed with a reason a person can act on.
func TestThreeMFMustFail(t *testing.T) {
	cases := []struct{ file, reason string }{
		{"3mf/3mf-samples/validation_MUSTFAIL_Chapter2.3.2a_NonUTF_Encoding.3mf", "UTF-8"},
		{"3mf/3mf-samples/validation_MUSTFAIL_Chapter3.4b_MissingBuildElement.3mf", "no build element"},
		{"3mf/lib3mf/GEN-C-ADA-COMPONENT-TRANSFORM-0.3mf", "duplicate attribute"},
	}
	for _, c := range cases {
		_, err := MeasureBytes(t.Context(), readTestdata(t, c.file), DefaultOptions())
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: error %v, want malformed (%s)", c.file, err, c.reason)
		}
	}
}
