package mesh

import (
	"math"
	"slices"
)

// indexedMesh is a mesh with a shared vertex table (3MF meshes, OBJ
// objects); its edges are defined by vertex index.
type indexedMesh struct {
	xyz  []float64
	tri  []uint32
	topo *topoResult
}

// connect computes the mesh's connectivity once.
func (ms *indexedMesh) connect() {
	if ms.topo != nil {
		return
	}
	n := len(ms.xyz) / 3
	t := newTopo(n, true)
	t.tris(ms.tri)
	res := t.finish()
	ms.topo = &res
}

// measureIndexed measures one placed mesh. Connectivity does not depend on
// the placement and is computed once per mesh; geometry is recomputed on
// the transformed vertices. A mirroring transform (negative determinant)
// reverses the winding, as 3MF consumers must, so the volume keeps its sign.
func measureIndexed(ms *indexedMesh, m *mat34, scale float64, scratch *[]float64) Metrics {
	ms.connect()
	pts := ms.xyz
	if *m != identity34 {
		*scratch = slices.Grow((*scratch)[:0], len(ms.xyz))[:len(ms.xyz)]
		pts = *scratch
		for i := 0; i+2 < len(ms.xyz); i += 3 {
			pts[i], pts[i+1], pts[i+2] = m.apply(ms.xyz[i], ms.xyz[i+1], ms.xyz[i+2])
		}
	}
	sign := 1.0
	if m.det() < 0 {
		sign = -1
	}
	res := *ms.topo
	res.shells = make([]shellInfo, len(ms.topo.shells))
	for i := range res.shells {
		res.shells[i].open = ms.topo.shells[i].open
	}
	var tl tally
	tri := ms.tri
	a0 := 3 * int(tri[0])
	tl.ref = [3]float64{pts[a0], pts[a0+1], pts[a0+2]}
	rx, ry, rz := tl.ref[0], tl.ref[1], tl.ref[2]
	for i := 0; i+2 < len(tri); i += 3 {
		ia, ib, ic := tri[i], tri[i+1], tri[i+2]
		a, bb, c := 3*int(ia), 3*int(ib), 3*int(ic)
		ax, ay, az := pts[a]-rx, pts[a+1]-ry, pts[a+2]-rz
		ux, uy, uz := pts[bb]-rx-ax, pts[bb+1]-ry-ay, pts[bb+2]-rz-az
		vx, vy, vz := pts[c]-rx-ax, pts[c+1]-ry-ay, pts[c+2]-rz-az
		nx := (uy*vz - uz*vy) * sign
		ny := (uz*vx - ux*vz) * sign
		nz := (ux*vy - uy*vx) * sign
		l2 := nx*nx + ny*ny + nz*nz
		if l2 == 0 || ia == ib || ib == ic || ia == ic {
			tl.degenerate++
		}
		tl.area2 += math.Sqrt(l2)
		v6 := ax*nx + ay*ny + az*nz
		tl.vol6 += v6
		res.shells[res.label[ia]].vol6 += v6
		tl.sumN[0] += nx
		tl.sumN[1] += ny
		tl.sumN[2] += nz
	}
	tl.triangles = int64(len(tri) / 3)
	for v, l := range res.label {
		if l != noShell {
			tl.vertices++
			tl.box.add(pts[3*v], pts[3*v+1], pts[3*v+2])
		}
	}
	tl.settle(&res, func(want []uint32) []box {
		slot := make(map[uint32]int, len(want))
		for i, s := range want {
			slot[s] = i
		}
		boxes := make([]box, len(want))
		for v, l := range res.label {
			if i, ok := slot[l]; ok {
				boxes[i].add(pts[3*v], pts[3*v+1], pts[3*v+2])
			}
		}
		return boxes
	})
	return tl.metrics(scale)
}

// growF64 makes room for n more elements, doubling: append's gentler
// growth for large slices reallocates (and copies) a mesh many times.
func growF64(s []float64, n int) []float64 {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]float64, len(s), max(2*cap(s), len(s)+n, 1024))
	copy(ns, s)
	return ns
}

func growU32(s []uint32, n int) []uint32 {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]uint32, len(s), max(2*cap(s), len(s)+n, 1024))
	copy(ns, s)
	return ns
}
