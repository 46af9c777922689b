package dicomx

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
)

// stack builds single-frame instances at the given positions with one
// orientation and thickness.
func stack(orient []float64, thick float64, positions ...[3]float64) []*Instance {
	var out []*Instance
	for i, p := range positions {
		in := &Instance{
			SOPInstanceUID: fmt.Sprintf("1.2.3.%d", i), SeriesInstanceUID: "1.2.3", StudyInstanceUID: "1.2",
			Modality: "CT", Rows: 512, Columns: 512, PixelSpacing: []float64{0.7, 0.7},
			ImagePosition: []float64{p[0], p[1], p[2]}, ImageOrientation: orient,
		}
		if thick > 0 {
			t := thick
			in.SliceThickness = &t
		}
		in.Frames = []Frame{{Position: in.ImagePosition, Orientation: orient}}
		out = append(out, in)
	}
	return out
}

func zs(vals ...float64) [][3]float64 {
	var out [][3]float64
	for _, z := range vals {
		out = append(out, [3]float64{-100, -120, z})
	}
	return out
}

var axial = []float64{1, 0, 0, 0, 1, 0}

func TestSeriesGeometry(t *testing.T) {
	deg := math.Pi / 180
	tilt := 15 * deg
	// Gantry tilt: the image plane is rotated about x, the table still moves along z.
	tilted := []float64{1, 0, 0, 0, math.Cos(tilt), -math.Sin(tilt)}
	// Oblique: the plane rotated 20° about y, slices stacked along its normal.
	ob := 20 * deg
	oblique := []float64{math.Cos(ob), 0, -math.Sin(ob), 0, 1, 0}
	n := cross([3]float64{oblique[0], oblique[1], oblique[2]}, [3]float64{oblique[3], oblique[4], oblique[5]})
	var obliquePos [][3]float64
	for i := 0; i < 5; i++ {
		obliquePos = append(obliquePos, scale(n, float64(i)*0.8))
	}
	mixed := append(stack(axial, 1, zs(0, 1, 2, 3)...), stack([]float64{0, 1, 0, 0, 0, -1}, 1, [3]float64{0, 0, 0}, [3]float64{1, 0, 0})...)
	for i, in := range mixed {
		in.SOPInstanceUID = fmt.Sprintf("9.%d", i)
	}
	tests := []struct {
		name     string
		ins      []*Instance
		spacing  float64 // 0: none expected
		extent   float64
		flags    Flags
		thin     bool
		tiltDeg  float64
		sliceCnt int
	}{
		{"regular thin", stack(axial, 1, zs(0, 1, 2, 3, 4)...), 1, 4, Flags{}, true, 0, 5},
		{"reversed order", stack(axial, 1, zs(4, 3, 2, 1, 0)...), 1, 4, Flags{}, true, 0, 5},
		{"shuffled, negative z", stack(axial, 0.625, zs(-10, -11.25, -10.625, -11.875, -12.5)...), 0.625, 2.5, Flags{}, true, 0, 5},
		{"thick", stack(axial, 5, zs(0, 5, 10)...), 5, 10, Flags{}, false, 0, 3},
		{"overlap", stack(axial, 1.25, zs(0, 1, 2, 3)...), 1, 3, Flags{Overlap: true}, true, 0, 4},
		{"gap", stack(axial, 1, zs(0, 1, 2, 5, 6)...), 1, 6, Flags{UnevenSpacing: true, Gaps: true}, false, 0, 5},
		{"duplicates", stack(axial, 1, zs(0, 1, 1, 2, 3)...), 1, 3, Flags{DuplicatePositions: true}, true, 0, 5},
		{"uneven", stack(axial, 1, zs(0, 1, 2.1, 3)...), 1, 3, Flags{UnevenSpacing: true}, true, 0, 4},
		{"gantry tilt", stack(tilted, 1, zs(0, 1, 2, 3)...), math.Cos(tilt), 3 * math.Cos(tilt), Flags{Oblique: true, Tilted: true, Overlap: true}, true, 15, 4},
		{"oblique", stack(oblique, 0.8, obliquePos...), 0.8, 3.2, Flags{Oblique: true}, true, 0, 5},
		{"mixed orientations", mixed, 1, 3, Flags{MixedOrientations: true}, true, 0, 6},
		{"single slice", stack(axial, 1, zs(0)...), 0, 0, Flags{}, false, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := BuildSeries(tc.ins, SeriesOptions{})
			if len(ss) != 1 {
				t.Fatalf("%d series", len(ss))
			}
			s := ss[0]
			if s.SliceCount != tc.sliceCnt {
				t.Errorf("slice count %d, want %d", s.SliceCount, tc.sliceCnt)
			}
			if tc.spacing == 0 {
				if s.SliceSpacingMM != nil {
					t.Errorf("spacing %v, want none", *s.SliceSpacingMM)
				}
			} else if s.SliceSpacingMM == nil || math.Abs(*s.SliceSpacingMM-tc.spacing) > 1e-6 {
				t.Errorf("spacing %v, want %v", ptr(s.SliceSpacingMM), tc.spacing)
			}
			if tc.extent > 0 && (s.ExtentMM == nil || math.Abs(*s.ExtentMM-tc.extent) > 1e-6) {
				t.Errorf("extent %v, want %v", ptr(s.ExtentMM), tc.extent)
			}
			if s.Flags != tc.flags {
				t.Errorf("flags %+v, want %+v", s.Flags, tc.flags)
			}
			if s.ThinSlice != tc.thin {
				t.Errorf("thin slice %v (%s), want %v", s.ThinSlice, s.ThinSliceReason, tc.thin)
			}
			if tc.tiltDeg > 0 && (s.GantryTiltDeg == nil || math.Abs(*s.GantryTiltDeg-tc.tiltDeg) > 1e-3) {
				t.Errorf("tilt %v, want %v", ptr(s.GantryTiltDeg), tc.tiltDeg)
			}
		})
	}
}

func TestThinSliceThresholdConfigurable(t *testing.T) {
	ins := stack(axial, 2, zs(0, 2, 4)...)
	if BuildSeries(ins, SeriesOptions{})[0].ThinSlice {
		t.Error("2 mm slices pass the default 1.25 mm guidance")
	}
	if !BuildSeries(ins, SeriesOptions{ThinSliceMaxMM: 2})[0].ThinSlice {
		t.Error("2 mm slices fail a 2 mm threshold")
	}
}

func TestSeriesOrderIndependent(t *testing.T) {
	a := stack(axial, 1, zs(0, 1, 2, 3)...)
	b := []*Instance{a[2], a[0], a[3], a[1]}
	sa, sb := BuildSeries(a, SeriesOptions{})[0], BuildSeries(b, SeriesOptions{})[0]
	ja, _ := json.Marshal(sa)
	jb, _ := json.Marshal(sb)
	if string(ja) != string(jb) {
		t.Errorf("arrival order changed the series:\n%s\n%s", ja, jb)
	}
}
