package mesh

import (
	"bytes"
	"context"
	"io"
	"math"
	"path"
	"slices"
	"strings"
)

// 3MF namespaces.
const (
	ns3MF          = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02"
	ns3MF2013      = "http://schemas.microsoft.com/3dmanufacturing/2013/01"
	nsMaterial     = "http://schemas.microsoft.com/3dmanufacturing/material/2015/02"
	nsProduction   = "http://schemas.microsoft.com/3dmanufacturing/production/2015/06"
	nsSlice        = "http://schemas.microsoft.com/3dmanufacturing/slice/2015/07"
	nsBeamLattice  = "http://schemas.microsoft.com/3dmanufacturing/beamlattice/2017/02"
	nsTriangleSets = "http://schemas.microsoft.com/3dmanufacturing/trianglesets/2021/07"
)

// extNames are the extension names a report may carry; a namespace is
// named only when its URI matches one of them, so no text from the file
// reaches the report this way.
var extNames = []string{"material", "production", "slice", "beamlattice", "trianglesets",
	"securecontent", "volumetric", "displacement", "booleanoperations", "implicit"}

// extName names a namespace URI, or "" for the core and unknown ones.
func extName(uri string) string {
	if uri == "" || uri == ns3MF || uri == nsXML || uri == nsXMLNS {
		return ""
	}
	if !strings.Contains(uri, "3dmanufacturing") {
		return ""
	}
	for _, n := range extNames {
		if strings.Contains(uri, "/"+n+"/") {
			return n
		}
	}
	return ""
}

// measurable extensions: their geometry is a mesh this reader measures, or
// they add nothing to the geometry (materials, production, slices and beams
// are recorded, not measured).
func measurableExt(name string) bool {
	switch name {
	case "material", "production", "slice", "beamlattice", "trianglesets":
		return true
	}
	return false
}

// mat34 is a 3MF transform: rows m00 m01 m02 / m10 m11 m12 / m20 m21 m22 /
// m30 m31 m32 of a 4×4 affine matrix acting on row vectors, p' = [x y z 1]·M.
type mat34 [12]float64

var identity34 = mat34{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}

// mul returns a·b: first a, then b.
func (a *mat34) mul(b *mat34) mat34 {
	var r mat34
	for i := 0; i < 4; i++ {
		for j := 0; j < 3; j++ {
			s := a[3*i]*b[j] + a[3*i+1]*b[3+j] + a[3*i+2]*b[6+j]
			if i == 3 {
				s += b[9+j]
			}
			r[3*i+j] = s
		}
	}
	return r
}

func (a *mat34) det() float64 {
	return a[0]*(a[4]*a[8]-a[5]*a[7]) - a[1]*(a[3]*a[8]-a[5]*a[6]) + a[2]*(a[3]*a[7]-a[4]*a[6])
}

func (a *mat34) apply(x, y, z float64) (float64, float64, float64) {
	return x*a[0] + y*a[3] + z*a[6] + a[9], x*a[1] + y*a[4] + z*a[7] + a[10], x*a[2] + y*a[5] + z*a[8] + a[11]
}

func parseTransform(v []byte) (mat34, bool) {
	var m mat34
	f := bytes.Fields(v)
	if len(f) != 12 {
		return m, false
	}
	for i, s := range f {
		x, ok := parseF64(s)
		if !ok || math.IsNaN(x) || math.Abs(x) > 1e9 {
			return m, false
		}
		m[i] = x
	}
	return m, true
}

// model3mf is one parsed model part.
type model3mf struct {
	part        string
	unit        string
	objects     map[int64]*obj3mf
	ids         map[int64]bool
	items       []ref3mf
	hasBuild    bool
	meta        []metaEntry
	materials   []Material
	colorGroups int
	colors      []string
	exts        map[string]bool
	beams       int64
	slicestacks int
}

type metaEntry struct{ name, value string }

type obj3mf struct {
	id     int64
	part   *model3mf
	typ    string
	name   Text
	mesh   *indexedMesh
	comps  []ref3mf
	state  uint8 // 0 new, 1 being expanded, 2 expanded
	tris   int64 // triangles placed with its components, once expanded (saturating)
	verts  int64 // vertices likewise
	insts  int64 // objects placed: itself and its components' (saturating)
	height int   // component levels below
}

// ref3mf is a component or a build item: an object, in this part or in the
// part named by path, placed by m.
type ref3mf struct {
	objectID int64
	path     string
	m        mat34
	ident    bool
}

// pkgBudget counts what a package holds, across all its objects and model
// parts: triangles and vertices against MaxTriangles and MaxVertices, and
// the bytes reserved for their tables against MaxMeshBytes.
type pkgBudget struct {
	triangles int64
	vertices  int64
	bytes     int64
	resources int
}

// grow makes room in a vertex or triangle table (elements of size bytes)
// for n more elements: by doubling, as growF64 does, but never past 1/share
// of what the package's MaxMeshBytes leaves for the table, and charges the
// budget for the growth. Vertex tables take at most half of what is left,
// keeping room for the triangles that follow them. It fails when the
// elements do not fit.
func grow[T float64 | uint32](s []T, n int, size int64, share int64, b *pkgBudget, lim *Limits) ([]T, error) {
	if cap(s)-len(s) >= n {
		return s, nil
	}
	held := int64(cap(s)) * size
	c := min(int64(max(2*cap(s), len(s)+n, 1024)), (lim.MaxMeshBytes-(b.bytes-held))/share/size)
	if c < int64(len(s)+n) {
		return s, tooLarge(ThreeMF, "the package's vertex and triangle tables need more than %d bytes, the memory budget", lim.MaxMeshBytes)
	}
	ns := make([]T, len(s), c)
	copy(ns, s)
	b.bytes += c*size - held
	return ns, nil
}

const (
	maxResources = 1 << 20
	maxNameBytes = 1024
)

type modelParser struct {
	ctx    context.Context
	x      *xmlScanner
	m      *model3mf
	root   bool
	lim    Limits
	budget *pkgBudget
	rep    *Report
	events int
}

func (p *modelParser) next() (xmlEvent, error) {
	p.events++
	if p.events&0xFFFF == 0 {
		if err := p.ctx.Err(); err != nil {
			return xmlEOF, err
		}
	}
	ev, err := p.x.Next()
	if err != nil {
		if p.ctx.Err() != nil {
			return xmlEOF, p.ctx.Err()
		}
		return xmlEOF, xmlErr(err, "model part")
	}
	return ev, nil
}

// skip consumes the rest of the element the scanner is in: the one just
// started, or the one whose child just ended.
func (p *modelParser) skip() error {
	return p.skipTo(p.x.depth - 1)
}

// skipTo reads on until the scanner is back at depth d, noting the
// extension namespaces of the elements it passes.
func (p *modelParser) skipTo(d int) error {
	for p.x.depth > d {
		ev, err := p.next()
		if err != nil {
			return err
		}
		switch ev {
		case xmlStart:
			p.noteExt(p.x.Space)
		case xmlEOF:
			// the scanner reports an unclosed element as an error first
			return malformed(ThreeMF, "model part ends inside an element")
		}
	}
	return nil
}

// children reads the children of the element just started, through its
// end tag, calling fn at the start tag of each child element. fn may read
// the child, all of it or part of it, or nothing; what it leaves unread is
// skipped as skip does. fn must not read past the child's end tag.
func (p *modelParser) children(fn func() error) error {
	d := p.x.depth
	for {
		ev, err := p.next()
		if err != nil {
			return err
		}
		switch ev {
		case xmlEnd:
			return nil
		case xmlEOF:
			return malformed(ThreeMF, "model part ends inside an element")
		}
		if err := fn(); err != nil {
			return err
		}
		if err := p.skipTo(d); err != nil {
			return err
		}
	}
}

// endLeaf reads the rest of a vertex or triangle, usually only its end
// tag. Anything inside is skipped; the first child's own namespace is
// not noted as an extension.
func (p *modelParser) endLeaf() error {
	ev, err := p.next()
	if err != nil || ev != xmlStart {
		return err
	}
	if err := p.skip(); err != nil {
		return err
	}
	return p.skip()
}

func (p *modelParser) noteExt(space string) {
	if n := extName(space); n != "" {
		p.m.exts[n] = true
	}
}

// noteAttrs records extensions used by attributes of the current element.
func (p *modelParser) noteAttrs() {
	for i := 0; i < p.x.NumAttr(); i++ {
		if space, prefixed, _, _ := p.x.AttrAt(i); prefixed {
			p.noteExt(space)
		}
	}
}

func (p *modelParser) attr(local string) ([]byte, bool) {
	for i := 0; i < p.x.NumAttr(); i++ {
		if _, prefixed, l, v := p.x.AttrAt(i); !prefixed && string(l) == local {
			return bytes.TrimSpace(v), true
		}
	}
	return nil, false
}

func (p *modelParser) resourceID(what string) (int64, error) {
	v, ok := p.attr("id")
	if !ok {
		return 0, malformed(ThreeMF, "%s without an id", what)
	}
	id, ok := parseInt(v)
	if !ok || id <= 0 || id > math.MaxInt32 {
		return 0, malformed(ThreeMF, "%s with an id that is not a positive integer", what)
	}
	if p.m.ids[id] {
		return 0, malformed(ThreeMF, "two resources share id %d", id)
	}
	p.budget.resources++
	if p.budget.resources > maxResources {
		return 0, tooLarge(ThreeMF, "more than %d resources", maxResources)
	}
	p.m.ids[id] = true
	return id, nil
}

var units3MF = []string{Micron, Millimeter, Centimeter, Inch, Foot, Meter}

func parseModelPart(ctx context.Context, pkg *opcPackage, part string, root bool, budget *pkgBudget, rep *Report) (*model3mf, error) {
	rc, err := pkg.open(part)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	p := &modelParser{ctx: ctx, x: newXMLScanner(rc), root: root, lim: pkg.lim, budget: budget, rep: rep,
		m: &model3mf{part: part, objects: map[int64]*obj3mf{}, ids: map[int64]bool{}, exts: map[string]bool{}}}
	if err := p.model(); err != nil {
		return nil, err
	}
	// the scanner checks that nothing but comments follows the root
	if ev, err := p.next(); err != nil {
		return nil, err
	} else if ev != xmlEOF {
		return nil, malformed(ThreeMF, "model part has content after its root element")
	}
	return p.m, nil
}

func (p *modelParser) model() error {
	ev, err := p.next()
	if err != nil {
		return err
	}
	x := p.x
	if ev != xmlStart || string(x.Local) != "model" || x.Space != ns3MF {
		if ev == xmlStart && string(x.Local) == "model" && x.Space == ns3MF2013 {
			return unsupported(ThreeMF, "model uses the pre-release 2013/01 core namespace")
		}
		return malformed(ThreeMF, "model part's root element is not a 3MF model")
	}
	p.m.unit = Millimeter
	if u, ok := p.attr("unit"); ok {
		if !slices.Contains(units3MF, string(u)) {
			return malformed(ThreeMF, "model unit must be one of micron, millimeter, centimeter, inch, foot, meter")
		}
		p.m.unit = string(u)
	}
	if req, ok := p.attr("requiredextensions"); ok {
		for _, prefix := range bytes.Fields(req) {
			uri, ok := x.lookup(prefix)
			if !ok || uri == "" {
				return malformed(ThreeMF, "requiredextensions names a prefix that is not declared")
			}
			if uri == ns3MF {
				continue
			}
			name := extName(uri)
			if !measurableExt(name) {
				if name == "" {
					return unsupported(ThreeMF, "model requires an unrecognised extension")
				}
				return unsupported(ThreeMF, "model requires the %s extension, which this reader does not support", name)
			}
			p.m.exts[name] = true
		}
	}
	p.noteAttrs()
	return p.children(func() error {
		if x.Space != ns3MF {
			p.noteExt(x.Space)
			return nil
		}
		switch string(x.Local) {
		case "metadata":
			return p.metadata()
		case "resources":
			return p.resources()
		case "build":
			return p.build()
		}
		return nil
	})
}

func validMetaName(n []byte) bool {
	if len(n) == 0 || len(n) > 128 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (p *modelParser) metadata() error {
	name, ok := p.attr("name")
	if !ok || len(name) == 0 {
		return malformed(ThreeMF, "metadata entry without a name")
	}
	keep := p.root && validMetaName(name)
	var n string
	if keep {
		n = string(name)
	}
	p.x.WantText = true
	ev, err := p.next()
	if err != nil {
		return err
	}
	if ev == xmlStart {
		if err := p.skip(); err != nil {
			return err
		}
		return p.skip()
	}
	if !keep {
		if p.root {
			p.rep.warn("a metadata entry with an unusual name was left out of the report")
		}
		return nil
	}
	v, err := p.x.TextValue()
	if err != nil {
		return xmlErr(err, "model part")
	}
	for _, e := range p.m.meta {
		if e.name == n {
			p.rep.warn("metadata names repeat")
			return nil
		}
	}
	if len(p.m.meta) < 1024 {
		p.m.meta = append(p.m.meta, metaEntry{name: n, value: string(v)})
	}
	return nil
}

func (p *modelParser) resources() error {
	x := p.x
	return p.children(func() error {
		local := string(x.Local)
		var err error
		switch {
		case x.Space == ns3MF && local == "object":
			err = p.object()
		case x.Space == ns3MF && local == "basematerials":
			err = p.baseMaterials()
		case x.Space == nsMaterial && local == "colorgroup":
			err = p.colorGroup()
		case x.Space == nsSlice && local == "slicestack":
			p.m.exts["slice"] = true
			p.m.slicestacks++
			_, err = p.resourceID("slice stack")
		case x.Space == nsMaterial:
			p.m.exts["material"] = true
			_, err = p.resourceID("material resource")
		default:
			p.noteExt(x.Space)
		}
		return err
	})
}

var objectTypes = []string{"model", "solidsupport", "support", "surface", "other"}

func (p *modelParser) object() error {
	id, err := p.resourceID("object")
	if err != nil {
		return err
	}
	o := &obj3mf{id: id, part: p.m, typ: "model"}
	if t, ok := p.attr("type"); ok {
		if !slices.Contains(objectTypes, string(t)) {
			return malformed(ThreeMF, "object %d has a type other than model, solidsupport, support, surface or other", id)
		}
		o.typ = string(t)
	}
	if n, ok := p.attr("name"); ok {
		o.name = Text(n[:min(len(n), maxNameBytes)])
	}
	p.noteAttrs()
	_, sliced := p.x.Attr(nsSlice, "slicestackid")
	x := p.x
	err = p.children(func() error {
		switch {
		case x.Space == ns3MF && string(x.Local) == "mesh":
			if o.mesh != nil || o.comps != nil {
				return malformed(ThreeMF, "object %d has more than one mesh or components element", id)
			}
			return p.mesh(o)
		case x.Space == ns3MF && string(x.Local) == "components":
			if o.mesh != nil || o.comps != nil {
				return malformed(ThreeMF, "object %d has more than one mesh or components element", id)
			}
			o.comps = []ref3mf{}
			return p.components(o)
		}
		p.noteExt(x.Space)
		return nil
	})
	if err != nil {
		return err
	}
	if o.mesh == nil && o.comps == nil && !sliced {
		return malformed(ThreeMF, "object %d has neither a mesh nor components", id)
	}
	p.m.objects[id] = o
	return nil
}

func (p *modelParser) mesh(o *obj3mf) error {
	ms := &indexedMesh{}
	o.mesh = ms
	x := p.x
	err := p.children(func() error {
		switch {
		case x.Space == ns3MF && string(x.Local) == "vertices":
			return p.vertices(o, ms)
		case x.Space == ns3MF && string(x.Local) == "triangles":
			return p.triangles(o, ms)
		case x.Space == nsBeamLattice:
			p.m.exts["beamlattice"] = true
			return p.countBeams()
		}
		p.noteExt(x.Space)
		return nil
	})
	if err != nil {
		return err
	}
	nv := uint32(len(ms.xyz) / 3)
	for i, v := range ms.tri {
		if v >= nv {
			return malformed(ThreeMF, "object %d: triangle %d refers to vertex %d, but the mesh has %d vertices", o.id, i/3, v, nv)
		}
	}
	return nil
}

func (p *modelParser) countBeams() error {
	for depth := 1; depth > 0; {
		ev, err := p.next()
		if err != nil {
			return err
		}
		switch ev {
		case xmlStart:
			depth++
			if p.x.Space == nsBeamLattice && string(p.x.Local) == "beam" {
				p.m.beams++
			}
		case xmlEnd:
			depth--
		}
	}
	return nil
}

func (p *modelParser) vertices(o *obj3mf, ms *indexedMesh) error {
	x := p.x
	return p.children(func() error {
		if x.Space != ns3MF || string(x.Local) != "vertex" {
			return nil
		}
		var c [3]float64
		got := 0
		for i := 0; i < x.NumAttr(); i++ {
			_, prefixed, l, v := x.AttrAt(i)
			if prefixed || len(l) != 1 || l[0] < 'x' || l[0] > 'z' {
				continue
			}
			k := l[0] - 'x'
			f, ok := parseF64(bytes.TrimSpace(v))
			if !ok {
				return malformed(ThreeMF, "object %d: vertex %d has a coordinate that is not a number", o.id, len(ms.xyz)/3)
			}
			if math.IsInf(f, 0) {
				return malformed(ThreeMF, "object %d: vertex %d has a coordinate that is not a finite number", o.id, len(ms.xyz)/3)
			}
			c[k] = f
			got |= 1 << k
		}
		if got != 7 {
			return malformed(ThreeMF, "object %d: vertex %d needs x, y and z", o.id, len(ms.xyz)/3)
		}
		if len(ms.xyz)/3 >= maxVertexID {
			return tooLarge(ThreeMF, "object %d has more than %d vertices", o.id, maxVertexID)
		}
		if p.budget.vertices++; p.budget.vertices > p.lim.MaxVertices {
			return tooLarge(ThreeMF, "package holds more than %d vertices", p.lim.MaxVertices)
		}
		if cap(ms.xyz)-len(ms.xyz) < 3 {
			var err error
			if ms.xyz, err = grow(ms.xyz, 3, 8, 2, p.budget, &p.lim); err != nil {
				return err
			}
		}
		ms.xyz = append(ms.xyz, c[0], c[1], c[2])
		return p.endLeaf()
	})
}

func (p *modelParser) triangles(o *obj3mf, ms *indexedMesh) error {
	x := p.x
	return p.children(func() error {
		if x.Space != ns3MF || string(x.Local) != "triangle" {
			p.noteExt(x.Space)
			return nil
		}
		var v [3]uint32
		got := 0
		for i := 0; i < x.NumAttr(); i++ {
			_, prefixed, l, val := x.AttrAt(i)
			if prefixed || len(l) != 2 || l[0] != 'v' || l[1] < '1' || l[1] > '3' {
				continue
			}
			k := l[1] - '1'
			n, ok := parseInt(bytes.TrimSpace(val))
			if !ok || n < 0 || n > maxVertexID {
				return malformed(ThreeMF, "object %d: triangle %d has a vertex index that is not a valid number", o.id, len(ms.tri)/3)
			}
			v[k] = uint32(n)
			got |= 1 << k
		}
		if got != 7 {
			return malformed(ThreeMF, "object %d: triangle %d needs v1, v2 and v3", o.id, len(ms.tri)/3)
		}
		if p.budget.triangles++; p.budget.triangles > p.lim.MaxTriangles {
			return tooLarge(ThreeMF, "package holds more than %d triangles", p.lim.MaxTriangles)
		}
		if cap(ms.tri)-len(ms.tri) < 3 {
			var err error
			if ms.tri, err = grow(ms.tri, 3, 4, 1, p.budget, &p.lim); err != nil {
				return err
			}
		}
		ms.tri = append(ms.tri, v[0], v[1], v[2])
		return p.endLeaf()
	})
}

// ref parses the objectid, transform and p:path of a component or item.
func (p *modelParser) ref(what string) (ref3mf, error) {
	r := ref3mf{m: identity34, ident: true}
	v, ok := p.attr("objectid")
	if !ok {
		return r, malformed(ThreeMF, "%s without an objectid", what)
	}
	id, ok := parseInt(v)
	if !ok || id <= 0 || id > math.MaxInt32 {
		return r, malformed(ThreeMF, "%s with an objectid that is not a positive integer", what)
	}
	r.objectID = id
	if t, ok := p.attr("transform"); ok {
		m, ok := parseTransform(t)
		if !ok {
			return r, malformed(ThreeMF, "%s transform needs 12 finite numbers of magnitude at most 1e9", what)
		}
		r.m, r.ident = m, m == identity34
	}
	if pp, ok := p.x.Attr(nsProduction, "path"); ok {
		p.m.exts["production"] = true
		part, ok := resolvePart(path.Dir(p.m.part), string(pp))
		if !ok {
			return r, malformed(ThreeMF, "%s path points outside the package", what)
		}
		if !strings.EqualFold(part, p.m.part) {
			r.path = part
		}
	}
	p.noteAttrs()
	return r, nil
}

func (p *modelParser) components(o *obj3mf) error {
	x := p.x
	return p.children(func() error {
		if x.Space != ns3MF || string(x.Local) != "component" {
			p.noteExt(x.Space)
			return nil
		}
		r, err := p.ref("component")
		if err != nil {
			return err
		}
		if len(o.comps) >= maxResources {
			return tooLarge(ThreeMF, "object %d has more than %d components", o.id, maxResources)
		}
		o.comps = append(o.comps, r)
		return nil
	})
}

func (p *modelParser) build() error {
	if p.root {
		p.m.hasBuild = true
	}
	p.noteAttrs()
	x := p.x
	return p.children(func() error {
		if x.Space != ns3MF || string(x.Local) != "item" || !p.root {
			p.noteExt(x.Space)
			return nil
		}
		r, err := p.ref("build item")
		if err != nil {
			return err
		}
		if len(p.m.items) >= maxResources {
			return tooLarge(ThreeMF, "more than %d build items", maxResources)
		}
		p.m.items = append(p.m.items, r)
		return nil
	})
}

func validColor(c []byte) bool {
	if len(c) != 7 && len(c) != 9 || c[0] != '#' {
		return false
	}
	for _, d := range c[1:] {
		if !(d >= '0' && d <= '9' || d >= 'a' && d <= 'f' || d >= 'A' && d <= 'F') {
			return false
		}
	}
	return true
}

func (p *modelParser) baseMaterials() error {
	if _, err := p.resourceID("base materials"); err != nil {
		return err
	}
	x := p.x
	return p.children(func() error {
		if x.Space == ns3MF && string(x.Local) == "base" && len(p.m.materials) < 1024 {
			var m Material
			if n, ok := p.attr("name"); ok {
				m.Name = Text(n[:min(len(n), maxNameBytes)])
			}
			if c, ok := p.attr("displaycolor"); ok && validColor(c) {
				m.Color = strings.ToUpper(string(c))
			}
			p.m.materials = append(p.m.materials, m)
		}
		return nil
	})
}

func (p *modelParser) colorGroup() error {
	p.m.exts["material"] = true
	if _, err := p.resourceID("color group"); err != nil {
		return err
	}
	p.m.colorGroups++
	x := p.x
	return p.children(func() error {
		if x.Space == nsMaterial && string(x.Local) == "color" && len(p.m.colors) < 256 {
			if c, ok := p.attr("color"); ok && validColor(c) {
				s := strings.ToUpper(string(c))
				if !slices.Contains(p.m.colors, s) {
					p.m.colors = append(p.m.colors, s)
				}
			}
		}
		return nil
	})
}

// build3mf measures the build of a package.
type build3mf struct {
	ctx     context.Context
	pkg     *opcPackage
	lim     Limits
	rep     *Report
	budget  pkgBudget
	parts   map[string]*model3mf
	order   []*model3mf
	scale   float64
	scratch []float64
}

func (b *build3mf) load(part string, root bool) (*model3mf, error) {
	key := strings.ToLower(part)
	if m, ok := b.parts[key]; ok {
		return m, nil
	}
	if len(b.parts) >= b.lim.MaxModelParts {
		return nil, tooLarge(ThreeMF, "package references more than %d model parts", b.lim.MaxModelParts)
	}
	if !b.pkg.has(part) {
		if root {
			return nil, malformed(ThreeMF, "the 3D model part named by _rels/.rels is missing")
		}
		return nil, malformed(ThreeMF, "a production path names a model part that is missing")
	}
	m, err := parseModelPart(b.ctx, b.pkg, part, root, &b.budget, b.rep)
	if err != nil {
		return nil, err
	}
	b.parts[key] = m
	b.order = append(b.order, m)
	return m, nil
}

func (b *build3mf) resolve(from *model3mf, r *ref3mf) (*obj3mf, error) {
	m := from
	if r.path != "" {
		var err error
		if m, err = b.load(r.path, false); err != nil {
			return nil, err
		}
		if m.unit != b.order[0].unit {
			b.rep.warn("model parts declare different units; the root part's unit was used")
		}
	}
	o := m.objects[r.objectID]
	if o == nil {
		return nil, malformed(ThreeMF, "a build item or component refers to object %d, which is not defined", r.objectID)
	}
	return o, nil
}

// expand counts the triangles, vertices and objects an object places, with
// its components, and finds cycles and excessive nesting before any
// geometry is computed.
func (b *build3mf) expand(o *obj3mf) error {
	switch o.state {
	case 2:
		return nil
	case 1:
		return malformed(ThreeMF, "components of object %d form a cycle", o.id)
	}
	o.state = 1
	o.insts = 1
	if o.mesh != nil {
		o.tris = int64(len(o.mesh.tri) / 3)
		o.verts = int64(len(o.mesh.xyz) / 3)
	}
	for i := range o.comps {
		c, err := b.resolve(o.part, &o.comps[i])
		if err != nil {
			return err
		}
		if err := b.expand(c); err != nil {
			return err
		}
		o.tris = min(o.tris+c.tris, math.MaxInt64/4)
		o.verts = min(o.verts+c.verts, math.MaxInt64/4)
		o.insts = min(o.insts+c.insts, math.MaxInt64/4)
		o.height = max(o.height, c.height+1)
		if o.height > b.lim.MaxDepth {
			return tooLarge(ThreeMF, "components nested deeper than %d levels", b.lim.MaxDepth)
		}
	}
	o.state = 2
	return nil
}

func measure3MF(ctx context.Context, r io.ReaderAt, size int64, lim Limits) (*Report, error) {
	pkg, err := openPackage(r, size, lim)
	if err != nil {
		return nil, err
	}
	start, err := startPart(pkg)
	if err != nil {
		return nil, err
	}
	rep := &Report{Format: ThreeMF}
	b := &build3mf{ctx: ctx, pkg: pkg, lim: lim, rep: rep, parts: map[string]*model3mf{}}
	root, err := b.load(start, true)
	if err != nil {
		return nil, err
	}
	if !root.hasBuild {
		return nil, malformed(ThreeMF, "model has no build element (3MF requires one)")
	}
	unit, scale, _ := unitScale(root.unit)
	rep.Units, b.scale = unit, scale
	var placed, placedV, placedN int64
	objs := make([]*obj3mf, len(root.items))
	for i := range root.items {
		o, err := b.resolve(root, &root.items[i])
		if err != nil {
			return nil, err
		}
		if err := b.expand(o); err != nil {
			return nil, err
		}
		placed = min(placed+o.tris, math.MaxInt64/4)
		placedV = min(placedV+o.verts, math.MaxInt64/4)
		placedN = min(placedN+o.insts, math.MaxInt64/4)
		switch {
		case placed > lim.MaxTriangles:
			return nil, tooLarge(ThreeMF, "build places more than %d triangles", lim.MaxTriangles)
		case placedV > lim.MaxVertices:
			return nil, tooLarge(ThreeMF, "build places more than %d vertices", lim.MaxVertices)
		case placedN > maxResources:
			return nil, tooLarge(ThreeMF, "build places more than %d objects", maxResources)
		}
		if o.typ == "other" {
			rep.warn("a build item places an object of type other")
		}
		objs[i] = o
	}
	for i, o := range objs {
		obj := Object{Name: o.name, Type: o.typ, Metrics: Metrics{Watertight: true}}
		if err := b.place(o, &root.items[i].m, 0, &obj.Metrics); err != nil {
			return nil, err
		}
		obj.Watertight = obj.Watertight && obj.Triangles > 0
		rep.Objects = append(rep.Objects, obj)
	}
	if len(root.items) == 0 {
		rep.warn("build has no items")
	}
	b.report(root)
	return rep, nil
}

// place measures o under transform m and adds it to acc.
func (b *build3mf) place(o *obj3mf, m *mat34, depth int, acc *Metrics) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	if depth > b.lim.MaxDepth {
		return tooLarge(ThreeMF, "components nested deeper than %d levels", b.lim.MaxDepth)
	}
	if o.mesh != nil && len(o.mesh.tri) > 0 {
		mm := b.instance(o.mesh, m)
		acc.add(&mm)
	} else if o.mesh != nil {
		acc.Vertices += int64(len(o.mesh.xyz) / 3)
	}
	for i := range o.comps {
		c, err := b.resolve(o.part, &o.comps[i])
		if err != nil {
			return err
		}
		cm := o.comps[i].m.mul(m)
		if err := b.place(c, &cm, depth+1, acc); err != nil {
			return err
		}
	}
	return nil
}

// instance measures one placed mesh.
func (b *build3mf) instance(ms *indexedMesh, m *mat34) Metrics {
	return measureIndexed(ms, m, b.scale, &b.scratch)
}

// report fills in metadata, materials and extensions.
func (b *build3mf) report(root *model3mf) {
	rep := b.rep
	rep.metadataValues = map[string]string{}
	for _, e := range root.meta {
		rep.Metadata = append(rep.Metadata, e.name)
		rep.metadataValues[e.name] = e.value
	}
	exts := map[string]bool{}
	pf := &PackageFacts{ModelParts: len(b.order), BuildItems: len(root.items)}
	for _, m := range b.order {
		pf.Objects += len(m.objects)
		for _, o := range m.objects {
			if o.comps != nil {
				pf.ComponentObjects++
			}
			if o.mesh == nil {
				continue
			}
			pf.MeshObjects++
			pf.Triangles += int64(len(o.mesh.tri) / 3)
			pf.Vertices += int64(len(o.mesh.xyz) / 3)
			if len(o.mesh.tri) > 0 {
				o.mesh.connect()
				if o.mesh.topo.boundary == 0 && o.mesh.topo.nonManifold == 0 {
					pf.ClosedMeshes++
				}
			}
		}
		pf.Beams += m.beams
		pf.SliceStacks += m.slicestacks
	}
	rep.Package = pf
	for _, m := range b.order {
		rep.Materials = append(rep.Materials, m.materials...)
		rep.ColorGroups += m.colorGroups
		for _, c := range m.colors {
			if !slices.Contains(rep.Colors, c) {
				rep.Colors = append(rep.Colors, c)
			}
		}
		for e := range m.exts {
			exts[e] = true
		}
	}
	if len(b.order) > 1 {
		exts["production"] = true
	}
	for e := range exts {
		rep.Extensions = append(rep.Extensions, e)
	}
	slices.Sort(rep.Extensions)
	if exts["beamlattice"] {
		rep.warn("beam lattice geometry is present and not measured")
	}
	if exts["slice"] {
		rep.warn("slice stacks are present and not measured")
	}
}
