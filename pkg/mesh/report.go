package mesh

import (
	"math"
	"strconv"
)

// Format names a model file format.
type Format string

// Model formats.
const (
	STL     Format = "stl"
	ThreeMF Format = "3mf"
	OBJ     Format = "obj"
)

// Text is free text copied from a model file: an object, solid, group or
// material name. Labs and modelling tools put anything there, patient names
// and record numbers included, so callers that publish a Report beyond the
// worker should call Report.StripText (or drop these fields) first.
type Text string

// BBox is an axis-aligned bounding box in millimetres.
type BBox struct {
	Min  [3]float64 `json:"min"`
	Max  [3]float64 `json:"max"`
	Size [3]float64 `json:"size"`
}

// Metrics measure one object, one build item or a whole file. Lengths are
// in millimetres, areas in mm², volumes in mm³.
type Metrics struct {
	Triangles int64 `json:"triangles"`
	// Vertices counts unique vertices: welded by exact coordinates for STL
	// and OBJ, as listed in the mesh for 3MF (whose edges are defined by
	// vertex index).
	Vertices int64 `json:"vertices"`
	// VolumeMM3 is the enclosed volume: closed shells count positive, or
	// negative when they sit inside another shell as a cavity, whatever
	// their orientation; open parts add the magnitude of their signed
	// volume about the origin.
	VolumeMM3 float64 `json:"volume_mm3"`
	// SignedVolumeMM3 is the divergence-theorem volume; negative when the
	// triangles face inwards. For meshes with holes it depends on the
	// origin (it is taken about the file's origin, as other tools do).
	SignedVolumeMM3 float64 `json:"signed_volume_mm3"`
	SurfaceAreaMM2  float64 `json:"surface_area_mm2"`
	BBox            BBox    `json:"bbox_mm"`
	// Watertight: at least one triangle and every edge is used by exactly
	// two triangles with opposite winding.
	Watertight bool `json:"watertight"`
	// BoundaryEdges are used by one triangle (holes); NonManifoldEdges by
	// three or more; MisorientedEdges by two triangles with the same
	// winding (a flipped neighbour).
	BoundaryEdges    int64 `json:"boundary_edges"`
	NonManifoldEdges int64 `json:"non_manifold_edges"`
	MisorientedEdges int64 `json:"misoriented_edges"`
	// Shells are connected components (triangles sharing vertices).
	Shells              int64 `json:"shells"`
	DegenerateTriangles int64 `json:"degenerate_triangles"`
	// Inverted: some closed shell has the opposite orientation to what its
	// nesting calls for (an outer shell with negative volume, or a cavity
	// with positive volume). InvertedShells counts them.
	Inverted       bool  `json:"inverted"`
	InvertedShells int64 `json:"inverted_shells,omitempty"`
}

// Object is one measured object: a build item of a 3MF file (after its
// transform and with its components), a solid of an ASCII STL, an object or
// group of an OBJ file, or the whole mesh of a binary STL.
type Object struct {
	// Name is the object's name in the file; it may hold an identifier.
	Name Text `json:"name,omitempty"`
	// Type is the 3MF object type (model, solidsupport, support, surface,
	// other); "model" for STL and OBJ.
	Type string `json:"type"`
	Metrics
}

// Material is a 3MF base material: its name (free text) and its display
// colour (#RRGGBB or #RRGGBBAA, sRGB — for display, not a printing promise).
type Material struct {
	Name  Text   `json:"name,omitempty"`
	Color string `json:"display_color,omitempty"`
}

// PackageFacts count the content of a 3MF package as stored: objects and
// meshes once each, however often the build places them.
type PackageFacts struct {
	ModelParts       int   `json:"model_parts"`
	Objects          int   `json:"objects"`
	MeshObjects      int   `json:"mesh_objects"`
	ComponentObjects int   `json:"component_objects"`
	BuildItems       int   `json:"build_items"`
	Triangles        int64 `json:"triangles"`
	Vertices         int64 `json:"vertices"`
	// ClosedMeshes counts mesh objects whose every edge (by vertex index)
	// is used by exactly two triangles.
	ClosedMeshes int   `json:"closed_meshes"`
	Beams        int64 `json:"beams,omitempty"`
	SliceStacks  int   `json:"slice_stacks,omitempty"`
}

// Report is what measuring one model file gives.
type Report struct {
	// Source is left for the caller (object key reference, DICOM instance…).
	Source string `json:"source,omitempty"`
	Format Format `json:"format"`
	// Units is the unit of the file's coordinates (canonical name, see
	// Millimeter and friends). UnitsAssumed is set when the file declares
	// none and the caller's default was used; UnitsHint then names the
	// unit the model's size suggests, when it is not the assumed one.
	Units        string `json:"units"`
	UnitsAssumed bool   `json:"units_assumed,omitempty"`
	UnitsHint    string `json:"units_hint,omitempty"`
	// Totals over all objects: counts and areas add up; the bounding box
	// is their union.
	Metrics
	Objects []Object `json:"objects"`
	// Metadata lists the names of 3MF metadata entries; their values may
	// hold identifiers and stay out of JSON (see MetadataValue).
	Metadata []string `json:"metadata,omitempty"`
	// Materials lists 3MF base materials; ColorGroups counts colour groups
	// and Colors their distinct colours.
	Materials   []Material `json:"materials,omitempty"`
	ColorGroups int        `json:"color_groups,omitempty"`
	Colors      []string   `json:"colors,omitempty"`
	// Extensions names the 3MF extensions the file uses (material,
	// production, beamlattice, slice, trianglesets, …).
	Extensions []string `json:"extensions,omitempty"`
	// Package describes what a 3MF package holds before placement.
	Package *PackageFacts `json:"package,omitempty"`
	// Warnings are fixed phrases about things noticed but tolerated.
	Warnings []string `json:"warnings,omitempty"`

	metadataValues map[string]string
}

// MetadataValue returns the value of a 3MF metadata entry. Values are kept
// out of JSON because Title, Designer, Description and vendor entries may
// name the patient.
func (r *Report) MetadataValue(name string) (string, bool) {
	v, ok := r.metadataValues[name]
	return v, ok
}

// StripText blanks every free-text field (object and material names) and
// drops metadata values, for reports that leave the worker.
func (r *Report) StripText() {
	for i := range r.Objects {
		r.Objects[i].Name = ""
	}
	for i := range r.Materials {
		r.Materials[i].Name = ""
	}
	r.metadataValues = nil
}

func (r *Report) warn(msg string) {
	for _, w := range r.Warnings {
		if w == msg {
			return
		}
	}
	r.Warnings = append(r.Warnings, msg)
}

// add folds o into m (totals over objects).
func (m *Metrics) add(o *Metrics) {
	if o.Triangles > 0 { // only triangles have a bounding box
		if m.Triangles == 0 {
			m.BBox = o.BBox
		} else {
			for i := 0; i < 3; i++ {
				m.BBox.Min[i] = math.Min(m.BBox.Min[i], o.BBox.Min[i])
				m.BBox.Max[i] = math.Max(m.BBox.Max[i], o.BBox.Max[i])
				m.BBox.Size[i] = m.BBox.Max[i] - m.BBox.Min[i]
			}
		}
	}
	m.Triangles += o.Triangles
	m.Vertices += o.Vertices
	m.VolumeMM3 += o.VolumeMM3
	m.SignedVolumeMM3 += o.SignedVolumeMM3
	m.SurfaceAreaMM2 += o.SurfaceAreaMM2
	m.BoundaryEdges += o.BoundaryEdges
	m.NonManifoldEdges += o.NonManifoldEdges
	m.MisorientedEdges += o.MisorientedEdges
	m.Shells += o.Shells
	m.DegenerateTriangles += o.DegenerateTriangles
	m.InvertedShells += o.InvertedShells
	m.Inverted = m.InvertedShells > 0
	if o.Triangles > 0 {
		m.Watertight = m.Watertight && o.Watertight
	}
}

// totals recomputes the file totals from the objects.
func (r *Report) totals() {
	r.Metrics = Metrics{Watertight: true}
	for i := range r.Objects {
		r.Metrics.add(&r.Objects[i].Metrics)
	}
	r.Metrics.Watertight = r.Metrics.Watertight && r.Metrics.Triangles > 0
}

// round keeps 10 significant digits: more than float32 coordinates carry,
// and stable across platforms that fuse multiply-adds differently.
func round(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 10, 64), 64)
	return f
}

func (m *Metrics) round() {
	m.VolumeMM3 = round(m.VolumeMM3)
	m.SignedVolumeMM3 = round(m.SignedVolumeMM3)
	m.SurfaceAreaMM2 = round(m.SurfaceAreaMM2)
	for i := 0; i < 3; i++ {
		m.BBox.Min[i] = round(m.BBox.Min[i])
		m.BBox.Max[i] = round(m.BBox.Max[i])
		m.BBox.Size[i] = round(m.BBox.Size[i])
	}
}

// finish computes totals, rounds every figure and checks that all are
// finite (JSON cannot carry NaN or infinities).
func (r *Report) finish() error {
	r.totals()
	r.Metrics.round()
	for i := range r.Objects {
		r.Objects[i].Metrics.round()
	}
	if !r.Metrics.finite() {
		return malformed(r.Format, "coordinates too large to measure")
	}
	for i := range r.Objects {
		if !r.Objects[i].Metrics.finite() {
			return malformed(r.Format, "coordinates too large to measure")
		}
	}
	if r.Objects == nil {
		r.Objects = []Object{}
	}
	return nil
}

func (m *Metrics) finite() bool {
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !ok(m.VolumeMM3) || !ok(m.SignedVolumeMM3) || !ok(m.SurfaceAreaMM2) {
		return false
	}
	for i := 0; i < 3; i++ {
		if !ok(m.BBox.Min[i]) || !ok(m.BBox.Max[i]) || !ok(m.BBox.Size[i]) {
			return false
		}
	}
	return true
}
