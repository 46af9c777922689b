package mesh

import (
	"bytes"
	"context"
	"io"
	"math"
)

// objRef is one corner of a face: absolute 1-based indices of its vertex,
// texture coordinate and normal (0 when absent). Positive indices may point
// ahead (checked once the file is read); negative ones count back from the
// last vertex read so far.
type objRef struct{ v, vt, vn int64 }

// objParser walks the statements of an OBJ file and hands them to its
// callbacks. It decides where objects begin — every `o` statement, and
// every `g` statement outside an `o` object (some exporters write only
// groups) — so measuring and sanitizing split a file the same way.
type objParser struct {
	sc           *scanner
	nv, nvt, nvn int64
	warnings     []string
	inO          bool
	maxV         int64
	vertex       func(x, y, z float64) error
	texture      func(v []float64) error
	normal       func(x, y, z float64) error
	face         func(refs []objRef) error
	object       func(name []byte) error
	refs         []objRef
	nums         []float64
	join         []byte
}

const objMaxLine = 1 << 20

func (p *objParser) errorf(format string, args ...any) error {
	args = append(args, p.sc.line)
	return malformed(OBJ, format+" (line %d)", args...)
}

func (p *objParser) warn(msg string) {
	for _, w := range p.warnings {
		if w == msg {
			return
		}
	}
	p.warnings = append(p.warnings, msg)
}

// field returns the next space-separated field of ln from i.
func field(ln []byte, i int) ([]byte, int) {
	for i < len(ln) && (ln[i] == ' ' || ln[i] == '\t' || ln[i] == '\r' || ln[i] == '\v' || ln[i] == '\f') {
		i++
	}
	j := i
	for j < len(ln) && ln[j] != ' ' && ln[j] != '\t' && ln[j] != '\r' && ln[j] != '\v' && ln[j] != '\f' {
		j++
	}
	return ln[i:j], j
}

func (p *objParser) run(ctx context.Context) error {
	sc := p.sc
	n := 0
	for {
		ln, ok := sc.nextLine()
		if !ok {
			break
		}
		// a trailing backslash continues the statement on the next line
		for len(ln) > 0 && ln[len(ln)-1] == '\\' || len(ln) > 1 && ln[len(ln)-1] == '\r' && ln[len(ln)-2] == '\\' {
			p.join = append(p.join[:0], bytes.TrimRight(ln, "\\\r")...)
			p.join = append(p.join, ' ')
			next, ok := sc.nextLine()
			if !ok {
				break
			}
			if len(p.join)+len(next) > objMaxLine {
				return p.errorf("statement longer than %d bytes", objMaxLine)
			}
			ln = append(p.join, next...)
		}
		n++
		if n&0xFFFF == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := p.statement(ln); err != nil {
			return err
		}
	}
	if sc.bad {
		return malformed(OBJ, "binary data or a line longer than %d bytes near line %d", objMaxLine, sc.line)
	}
	if sc.err != nil && sc.err != io.EOF {
		return malformed(OBJ, "cannot read the file near line %d", sc.line)
	}
	return nil
}

func (p *objParser) numbers(ln []byte, i, min, max int) ([]float64, error) {
	p.nums = p.nums[:0]
	for {
		f, j := field(ln, i)
		if len(f) == 0 {
			break
		}
		i = j
		if len(p.nums) == max {
			continue
		}
		v, ok := parseF64(f)
		if !ok || math.IsInf(v, 0) {
			return nil, p.errorf("expected a finite number")
		}
		p.nums = append(p.nums, v)
	}
	if len(p.nums) < min {
		return nil, p.errorf("statement needs at least %d numbers", min)
	}
	return p.nums, nil
}

func (p *objParser) statement(ln []byte) error {
	for _, c := range ln {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\v' && c != '\f' {
			return p.errorf("binary data in an OBJ file")
		}
	}
	kw, i := field(ln, 0)
	if len(kw) == 0 || kw[0] == '#' {
		return nil
	}
	if len(kw) <= 2 || string(kw) == "fo" {
		// numeric statements may end in a comment
		if h := bytes.IndexByte(ln, '#'); h >= 0 {
			ln = ln[:h]
		}
	}
	switch string(kw) {
	case "v":
		v, err := p.numbers(ln, i, 3, 3)
		if err != nil {
			return err
		}
		p.nv++
		if p.nv > p.maxV {
			return tooLarge(OBJ, "more than %d vertices", p.maxV)
		}
		return p.vertex(v[0], v[1], v[2])
	case "vt":
		v, err := p.numbers(ln, i, 1, 3)
		if err != nil {
			return err
		}
		p.nvt++
		if p.texture != nil {
			return p.texture(v)
		}
	case "vn":
		v, err := p.numbers(ln, i, 3, 3)
		if err != nil {
			return err
		}
		p.nvn++
		if p.normal != nil {
			return p.normal(v[0], v[1], v[2])
		}
	case "f", "fo":
		p.refs = p.refs[:0]
		for {
			f, j := field(ln, i)
			if len(f) == 0 {
				break
			}
			i = j
			r, err := p.ref(f)
			if err != nil {
				return err
			}
			p.refs = append(p.refs, r)
		}
		if len(p.refs) < 3 {
			return p.errorf("face with fewer than three vertices")
		}
		return p.face(p.refs)
	case "o":
		p.inO = true
		return p.object(bytes.TrimSpace(ln[i:]))
	case "g":
		if !p.inO {
			return p.object(bytes.TrimSpace(ln[i:]))
		}
	case "s", "mtllib", "usemtl", "l", "p", "vp", "mg", "lod", "maplib", "usemap",
		"shadow_obj", "trace_obj", "bevel", "c_interp", "d_interp", "ctech", "stech":
	case "cstype", "deg", "bmat", "step", "curv", "curv2", "surf", "parm", "trim", "hole", "scrv", "sp", "end", "con":
		p.warn("free-form curves and surfaces are not measured")
	default:
		p.warn("unknown OBJ statements were ignored")
	}
	return nil
}

// ref parses v, v/vt, v//vn or v/vt/vn.
func (p *objParser) ref(f []byte) (objRef, error) {
	var r objRef
	parts := [3][]byte{}
	k := 0
	for len(f) > 0 {
		if k == 3 {
			return r, p.errorf("face vertex with more than three indices")
		}
		j := bytes.IndexByte(f, '/')
		if j < 0 {
			parts[k] = f
			k++
			break
		}
		parts[k] = f[:j]
		k++
		f = f[j+1:]
	}
	idx := func(b []byte, count int64) (int64, error) {
		if len(b) == 0 {
			return 0, nil
		}
		n, ok := parseInt(b)
		switch {
		case !ok || n == 0:
			return 0, p.errorf("face index is not a non-zero integer")
		case n < 0:
			n += count + 1
			if n < 1 {
				return 0, p.errorf("negative face index points before the first element")
			}
		case n > maxVertexID:
			return 0, p.errorf("face index too large")
		}
		return n, nil
	}
	var err error
	if len(parts[0]) == 0 {
		return r, p.errorf("face vertex without a vertex index")
	}
	if r.v, err = idx(parts[0], p.nv); err != nil {
		return r, err
	}
	if r.vt, err = idx(parts[1], p.nvt); err != nil {
		return r, err
	}
	if r.vn, err = idx(parts[2], p.nvn); err != nil {
		return r, err
	}
	return r, nil
}

type objObject struct {
	name       Text
	start, end int // triangle range
}

func measureOBJ(ctx context.Context, r io.ReaderAt, size int64, scale float64, lim Limits) (*Report, error) {
	var xyz []float64
	var tri []uint32
	objs := []objObject{{}}
	var maxRef int64
	p := &objParser{sc: newScanner(r, size), maxV: min(lim.MaxVertices, maxVertexID)}
	p.sc.maxBuf = objMaxLine + scanBuf
	p.vertex = func(x, y, z float64) error {
		xyz = append(growF64(xyz, 3), x, y, z)
		return nil
	}
	p.face = func(refs []objRef) error {
		if int64(len(tri)/3+len(refs)-2) > lim.MaxTriangles {
			return tooLarge(OBJ, "more than %d triangles", lim.MaxTriangles)
		}
		for _, rf := range refs {
			maxRef = max(maxRef, rf.v)
		}
		a := uint32(refs[0].v - 1)
		tri = growU32(tri, 3*(len(refs)-2))
		for k := 1; k+1 < len(refs); k++ {
			tri = append(tri, a, uint32(refs[k].v-1), uint32(refs[k+1].v-1))
		}
		return nil
	}
	p.object = func(name []byte) error {
		cur := &objs[len(objs)-1]
		cur.end = len(tri) / 3
		if cur.end == cur.start {
			objs = objs[:len(objs)-1]
		}
		if len(objs) >= maxResources {
			return tooLarge(OBJ, "more than %d objects", maxResources)
		}
		objs = append(objs, objObject{name: Text(name[:min(len(name), maxNameBytes)]), start: len(tri) / 3})
		return nil
	}
	if err := p.run(ctx); err != nil {
		return nil, err
	}
	objs[len(objs)-1].end = len(tri) / 3
	if last := objs[len(objs)-1]; last.end == last.start {
		objs = objs[:len(objs)-1]
	}
	nv := int64(len(xyz) / 3)
	if maxRef > nv {
		return nil, malformed(OBJ, "a face refers to vertex %d, but the file has %d vertices", maxRef, nv)
	}
	// weld vertices with identical coordinates, as for STL
	canon, dups := weldPositions(xyz)
	rep := &Report{Format: OBJ, Warnings: p.warnings}
	var scratch []float64
	if len(objs) == 1 && !dups {
		// one object and no repeated positions: measure in place
		ms := &indexedMesh{xyz: xyz, tri: tri}
		rep.Objects = append(rep.Objects, Object{Name: objs[0].name, Type: "model", Metrics: measureIndexed(ms, &identity34, scale, &scratch)})
		return rep, nil
	}
	local := make([]uint32, nv)
	for i := range local {
		local[i] = noShell
	}
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ms := &indexedMesh{tri: make([]uint32, 0, 3*(o.end-o.start))}
		for _, g := range tri[3*o.start : 3*o.end] {
			c := canon[g]
			if local[c] == noShell {
				local[c] = uint32(len(ms.xyz) / 3)
				ms.xyz = append(growF64(ms.xyz, 3), xyz[3*c], xyz[3*c+1], xyz[3*c+2])
			}
			ms.tri = append(ms.tri, local[c])
		}
		for _, g := range tri[3*o.start : 3*o.end] {
			local[canon[g]] = noShell
		}
		rep.Objects = append(rep.Objects, Object{Name: o.name, Type: "model", Metrics: measureIndexed(ms, &identity34, scale, &scratch)})
	}
	return rep, nil
}

// weldPositions maps every vertex to the first vertex with bit-identical
// coordinates (-0 as +0), with an open-addressing table of vertex ids.
func weldPositions(xyz []float64) (canon []uint32, dups bool) {
	n := len(xyz) / 3
	canon = make([]uint32, n)
	size := 1024
	for size < 2*n {
		size <<= 1
	}
	slots := make([]uint32, size)
	mask := uint64(size - 1)
	for i := 0; i < n; i++ {
		x, y, z := math.Float64bits(xyz[3*i]+0), math.Float64bits(xyz[3*i+1]+0), math.Float64bits(xyz[3*i+2]+0)
		h := (x*0x9E3779B97F4A7C15 ^ y*0xC2B2AE3D27D4EB4F ^ z*0x165667B19E3779F9) * 0xBF58476D1CE4E5B9
		h ^= h >> 31
		j := h & mask
		canon[i] = uint32(i)
		for {
			s := slots[j]
			if s == 0 {
				slots[j] = uint32(i + 1)
				break
			}
			c := s - 1
			if xyz[3*c]+0 == xyz[3*i]+0 && xyz[3*c+1]+0 == xyz[3*i+1]+0 && xyz[3*c+2]+0 == xyz[3*i+2]+0 {
				canon[i], dups = c, true
				break
			}
			j = (j + 1) & mask
		}
	}
	return canon, dups
}
