package mesh

import (
	"math"
	"slices"
)

// maxVertexID bounds vertex ids: edge entries keep the far vertex in 28 bits.
const maxVertexID = 1<<28 - 1

// noShell labels a vertex no triangle uses.
const noShell = ^uint32(0)

// Each undirected edge (lo, hi) is kept with its lower vertex lo as a key:
// hi and two 2-bit counters of the triangles that walk it lo→hi (fwd) and
// hi→lo (bwd), saturating at 3. Keys are never 0 (a stored edge has been
// walked once), so 0 marks a free slot.
const (
	fwdOne = 1 << 2
	bwdOne = 1
)

// inlineEdges is how many edges a vertex keeps in place; a closed mesh has
// three edges per vertex on average (E = 3V), so most vertices never
// overflow into the list.
const inlineEdges = 3

// edgeEnt is an overflow entry of a vertex with more edges.
type edgeEnt struct {
	key  uint32
	next uint32 // 1-based index of the next entry of the vertex, 0 ends it
}

// listScan is how far an insertion looks down a vertex's overflow list.
// Longer lists (fans) may then hold duplicates, which finish merges.
const listScan = 8

// topo gathers the connectivity of a mesh as triangles arrive: the edges of
// each vertex for the manifold and orientation checks, and a union-find
// forest for shells. Memory is 20 bytes per vertex plus 8 per overflowing
// edge; nothing is kept per triangle, and an edge is found in the 16 bytes
// of its lower vertex without chasing pointers.
type topo struct {
	parent []uint32
	adj    [][4]uint32 // per vertex: inlineEdges keys, then the overflow head
	ents   []edgeEnt
	used   []uint64 // bitset of vertices some triangle uses; nil = all
	queue  []uint64 // tris' list of queued edges, kept for the next call
}

// newTopo sizes a topo for n vertices (each its own shell).
func newTopo(n int, track bool) *topo {
	t := &topo{parent: make([]uint32, n), adj: make([][4]uint32, n)}
	for i := range t.parent {
		t.parent[i] = uint32(i)
	}
	if track {
		t.used = make([]uint64, (n+63)/64)
	}
	return t
}

func (t *topo) find(x uint32) uint32 {
	p := t.parent
	for p[x] != x {
		p[x] = p[p[x]]
		x = p[x]
	}
	return x
}

// union joins the shells of a and b (nothing to do for siblings, often
// both under the root already).
func (t *topo) union(a, b uint32) {
	if t.parent[a] == t.parent[b] {
		return
	}
	ra, rb := t.find(a), t.find(b)
	switch {
	case ra < rb:
		t.parent[rb] = ra
	case rb < ra:
		t.parent[ra] = rb
	}
}

// tris records triangles by vertex id, three ids each: each edge is found
// in, or added to, the inline slots of its lower vertex. The loops make no
// calls and hold few variables, so that these stay in registers: the
// edges are first listed as (lower, higher, direction), then looked up; a
// new edge whose ends may be in different shells, and an edge that does
// not fit in the inline slots, are queued and handled after that, in order
// (which gives the same edges and shells as handling them at once).
func (t *topo) tris(ids []uint32) {
	if t.used != nil {
		used := t.used
		for _, v := range ids {
			used[v>>6] |= 1 << (v & 63)
		}
	}
	q := t.queue[:0]
	for len(ids) >= 3 {
		m := 3 * min(len(ids)/3, 4096)
		if cap(q) < m {
			q = make([]uint64, m)
		}
		q = q[:m]
		for i := 0; i+2 < m; i += 3 {
			a, b, c := ids[i], ids[i+1], ids[i+2]
			q[i], q[i+1], q[i+2] = queued(a, b), queued(b, c), queued(c, a)
		}
		t.edges(q)
		ids = ids[m:]
	}
	t.queue = q[:0]
}

// edges records edges listed by queued (the list is overwritten).
func (t *topo) edges(q []uint64) {
	t.drain(t.inline(q))
}

// Queued edges: the lower vertex in the low 32 bits, the higher above it,
// a flag for an edge walked from the lower vertex to the higher, and one
// for an edge already stored (then only the shells need joining).
const (
	qStored = 1 << 63
	qFwd    = 1 << 62
)

// queued packs the edge walked from one vertex to another.
func queued(from, to uint32) uint64 {
	if from < to {
		return qFwd | uint64(to)<<32 | uint64(from)
	}
	return uint64(from)<<32 | uint64(to)
}

// inline finds or adds the listed edges in the inline slots, and returns,
// in the front of the same list, the new edges to link and those that do
// not fit.
func (t *topo) inline(edges []uint64) []uint64 {
	adj, parent := t.adj, t.parent
	n := 0
	for k := range edges {
		e := edges[k]
		lo, hi := uint32(e), uint32(e>>32)&^(qStored>>32|qFwd>>32)
		if lo == hi {
			continue
		}
		one := uint32(bwdOne)
		if e&qFwd != 0 {
			one = fwdOne
		}
		slot := &adj[lo]
		j := 0
		key := slot[0]
		if key>>4 != hi && key != 0 {
			j, key = 1, slot[1]
			if key>>4 != hi && key != 0 {
				j, key = 2, slot[2]
				if key>>4 != hi && key != 0 {
					edges[n] = e
					n++
					continue
				}
			}
		}
		if key == 0 {
			slot[j] = hi<<4 | one
			if pl, ph := parent[lo], parent[hi]; pl != ph {
				if ph == hi && pl < hi && parent[pl] == pl {
					// the usual case, a vertex alone joining a
					// shell: link the roots here
					parent[hi] = pl
				} else {
					edges[n] = e | qStored
					n++
				}
			}
			continue
		}
		if key&(one*3) != one*3 {
			slot[j] = key + one
		}
	}
	return edges[:n]
}

// drain links the queued new edges' shells and stores the queued edges
// that overflow their inline slots.
func (t *topo) drain(q []uint64) {
	for _, e := range q {
		lo, hi := uint32(e), uint32(e>>32)&^(qStored>>32|qFwd>>32)
		if e&qStored != 0 {
			t.union(lo, hi)
			continue
		}
		one := uint32(bwdOne)
		if e&qFwd != 0 {
			one = fwdOne
		}
		t.overflow(&t.adj[lo], lo, hi, one)
	}
}

// overflow finds or adds edge (lo, hi) in the overflow list of lo, whose
// inline slots are full.
func (t *topo) overflow(slot *[4]uint32, lo, hi, one uint32) {
	e := slot[3]
	for i := 0; e != 0 && i < listScan; i++ {
		p := &t.ents[e-1]
		if p.key>>4 == hi {
			if p.key&(one*3) != one*3 {
				p.key += one
			}
			return
		}
		e = p.next
	}
	t.ents = append(t.ents, edgeEnt{key: hi<<4 | one, next: slot[3]})
	slot[3] = uint32(len(t.ents))
	t.union(lo, hi)
}

func (t *topo) isUsed(v uint32) bool {
	return t.used == nil || t.used[v>>6]&(1<<(v&63)) != 0
}

// shellInfo is what topology says about one shell; vol6 is filled in by the
// geometry pass.
type shellInfo struct {
	vol6 float64 // six times the signed volume, about the reference point
	open bool    // some edge is not balanced (holes, flips, odd fans)
}

// topoResult is the connectivity of a finished mesh.
type topoResult struct {
	label                              []uint32 // shell per vertex, noShell if unused
	shells                             []shellInfo
	boundary, nonManifold, misoriented int64
}

// finish labels shells and classifies every undirected edge, in one pass
// over the vertices. Links always hang the higher root under the lower and
// path halving only shortens links, so a vertex's parent is never above it:
// walking the vertices in order, a vertex's parent already holds its shell
// label, and labels can replace the parent links in place. The topo is
// consumed.
func (t *topo) finish() topoResult {
	n := len(t.parent)
	p := t.parent
	var res topoResult
	var scratch []uint32
	for v := 0; v < n; v++ {
		if !t.isUsed(uint32(v)) {
			p[v] = noShell
			continue
		}
		if r := p[v]; r == uint32(v) {
			p[v] = uint32(len(res.shells))
			res.shells = append(res.shells, shellInfo{})
		} else {
			p[v] = p[r]
		}
		slot := &t.adj[v]
		if slot[0] == 0 {
			continue
		}
		s := &res.shells[p[v]]
		k := 0
		for x := slot[3]; x != 0 && k <= listScan; x = t.ents[x-1].next {
			k++
		}
		if k <= listScan {
			// every insertion saw the whole overflow list: no duplicates
			for j := 0; j < inlineEdges && slot[j] != 0; j++ {
				res.classify(s, slot[j])
			}
			for x := slot[3]; x != 0; x = t.ents[x-1].next {
				res.classify(s, t.ents[x-1].key)
			}
			continue
		}
		// A long list may repeat an edge: sort by far vertex and merge.
		scratch = append(scratch[:0], slot[:inlineEdges]...)
		for x := slot[3]; x != 0; x = t.ents[x-1].next {
			scratch = append(scratch, t.ents[x-1].key)
		}
		slices.Sort(scratch)
		for i := 0; i < len(scratch); {
			key := scratch[i]
			f, b := (key>>2)&3, key&3
			j := i + 1
			for ; j < len(scratch) && scratch[j]>>4 == key>>4; j++ {
				f = min(f+(scratch[j]>>2)&3, 3)
				b = min(b+scratch[j]&3, 3)
			}
			res.classify(s, key&^15|f<<2|b)
			i = j
		}
	}
	res.label = p
	t.parent, t.adj, t.ents = nil, nil, nil
	return res
}

func (res *topoResult) classify(s *shellInfo, key uint32) {
	f, b := (key>>2)&3, key&3
	switch {
	case f == 1 && b == 1:
		return
	case f+b == 1:
		res.boundary++
		s.open = true
	case f+b == 2:
		res.misoriented++
		s.open = true
	default:
		res.nonManifold++
		if f != b || f == 3 {
			s.open = true
		}
	}
}

// box is a bounding box in file units.
type box struct {
	min, max [3]float64
	ok       bool
}

func (b *box) add(x, y, z float64) {
	if !b.ok {
		b.min = [3]float64{x, y, z}
		b.max = b.min
		b.ok = true
		return
	}
	// coordinates are finite: plain comparisons suffice
	if x < b.min[0] {
		b.min[0] = x
	} else if x > b.max[0] {
		b.max[0] = x
	}
	if y < b.min[1] {
		b.min[1] = y
	} else if y > b.max[1] {
		b.max[1] = y
	}
	if z < b.min[2] {
		b.min[2] = z
	} else if z > b.max[2] {
		b.max[2] = z
	}
}

func (b *box) contains(o box) bool {
	for i := 0; i < 3; i++ {
		if o.min[i] < b.min[i] || o.max[i] > b.max[i] {
			return false
		}
	}
	return true
}

func (b *box) diag() float64 {
	if !b.ok {
		return 0
	}
	dx, dy, dz := b.max[0]-b.min[0], b.max[1]-b.min[1], b.max[2]-b.min[2]
	return math.Sqrt(dx*dx + dy*dy + dz*dz)
}

// tally is the raw result of measuring one mesh (or one placed instance of
// it), in file units.
type tally struct {
	triangles, vertices int64
	area2               float64    // Σ |(b−a)×(c−a)| = twice the area
	vol6                float64    // Σ a'·((b'−a')×(c'−a')) about ref
	sumN                [3]float64 // Σ (b'−a')×(c'−a'), for moving vol6 to the origin
	ref                 [3]float64
	box                 box
	degenerate          int64
	boundary            int64
	nonManifold         int64
	misoriented         int64
	shells              int64
	signed6, abs6       float64
	inverted            int64
}

// settle turns per-shell volumes into the signed and the enclosed volume
// and counts inverted shells. bboxes returns the bounding boxes of the
// shells asked for; it is called only when some closed shell is negative,
// because only then does nesting decide between cavity and inversion.
func (t *tally) settle(topo *topoResult, bboxes func(want []uint32) []box) {
	t.boundary, t.nonManifold, t.misoriented = topo.boundary, topo.nonManifold, topo.misoriented
	t.shells = int64(len(topo.shells))
	anyOpen := false
	closed6 := 0.0
	for i := range topo.shells {
		if topo.shells[i].open {
			anyOpen = true
		} else {
			closed6 += topo.shells[i].vol6
		}
	}
	t.signed6 = t.vol6
	if anyOpen {
		// Open parts have no origin-free volume; report it about the
		// file's origin like other tools: V₀ = V_ref + ref·ΣN.
		t.signed6 += t.ref[0]*t.sumN[0] + t.ref[1]*t.sumN[1] + t.ref[2]*t.sumN[2]
	}
	open6 := t.signed6 - closed6
	if !anyOpen {
		open6 = 0
	}
	// Shells thinner than this are flat (double-sided sheets): their sign
	// is rounding noise.
	d := t.box.diag()
	eps := 1e-9 * d * d * d
	var cl []uint32
	for i := range topo.shells {
		if !topo.shells[i].open && math.Abs(topo.shells[i].vol6) > eps {
			cl = append(cl, uint32(i))
		}
	}
	if len(cl) == 1 {
		v := topo.shells[cl[0]].vol6
		if v < 0 {
			t.inverted++
		}
		t.abs6 = math.Abs(v) + math.Abs(open6)
		return
	}
	if len(cl) == 0 {
		t.abs6 = math.Abs(open6)
		return
	}
	// Several closed shells: one inside another is a cavity (or an island
	// in a cavity). Order them by size; a shell's parent is the smallest
	// larger shell whose box contains it; depth parity gives the sign it
	// adds to the volume and the orientation it should have.
	const maxNest = 4096
	slices.SortFunc(cl, func(a, b uint32) int {
		va, vb := math.Abs(topo.shells[a].vol6), math.Abs(topo.shells[b].vol6)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return int(a) - int(b)
	})
	nest := cl
	if len(nest) > maxNest {
		nest = nest[:maxNest]
	}
	boxes := bboxes(nest)
	depth := make([]int, len(nest))
	abs6 := 0.0
	for i, s := range cl {
		v := topo.shells[s].vol6
		dep := 0
		if i < len(nest) {
			for j := i - 1; j >= 0; j-- {
				if boxes[j].contains(boxes[i]) {
					dep = depth[j] + 1
					break
				}
			}
			depth[i] = dep
		}
		if dep%2 == 0 {
			abs6 += math.Abs(v)
			if v < 0 {
				t.inverted++
			}
		} else {
			abs6 -= math.Abs(v)
			if v > 0 {
				t.inverted++
			}
		}
	}
	t.abs6 = math.Abs(abs6) + math.Abs(open6)
}

// metrics converts a tally to millimetres.
func (t *tally) metrics(scale float64) Metrics {
	m := Metrics{
		Triangles:           t.triangles,
		Vertices:            t.vertices,
		SurfaceAreaMM2:      t.area2 / 2 * scale * scale,
		SignedVolumeMM3:     t.signed6 / 6 * scale * scale * scale,
		VolumeMM3:           t.abs6 / 6 * scale * scale * scale,
		BoundaryEdges:       t.boundary,
		NonManifoldEdges:    t.nonManifold,
		MisorientedEdges:    t.misoriented,
		Shells:              t.shells,
		DegenerateTriangles: t.degenerate,
		InvertedShells:      t.inverted,
		Inverted:            t.inverted > 0,
	}
	m.Watertight = t.triangles > 0 && t.boundary == 0 && t.nonManifold == 0 && t.misoriented == 0
	if t.box.ok {
		for i := 0; i < 3; i++ {
			m.BBox.Min[i] = t.box.min[i] * scale
			m.BBox.Max[i] = t.box.max[i] * scale
			m.BBox.Size[i] = m.BBox.Max[i] - m.BBox.Min[i]
		}
	}
	return m
}
