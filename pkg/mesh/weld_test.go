package mesh

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// connectivity is what welding and the edge pass decide for a mesh.
type connectivity struct {
	vertices, boundary, nonManifold, misoriented, shells, degenerate int64
}

// refConnectivity computes connectivity the plain way, with maps, as a
// second implementation for the batched welding (recent corners, weld
// table, queued edges) to be checked against.
func refConnectivity(tris []tri) connectivity {
	fold := func(f float32) uint32 {
		if b := math.Float32bits(f); b != 1<<31 {
			return b
		}
		return 0
	}
	ids := map[[3]uint32]int{}
	id := func(p [3]float32) int {
		k := [3]uint32{fold(p[0]), fold(p[1]), fold(p[2])}
		if v, ok := ids[k]; ok {
			return v
		}
		ids[k] = len(ids)
		return len(ids) - 1
	}
	type edge struct{ lo, hi int }
	dir := map[edge][2]int{} // walks lo→hi, hi→lo
	var parent []int
	var find func(int) int
	find = func(x int) int {
		if parent[x] != x {
			parent[x] = find(parent[x])
		}
		return parent[x]
	}
	var c connectivity
	for _, t := range tris {
		v := [3]int{id(t[0]), id(t[1]), id(t[2])}
		for len(parent) < len(ids) {
			parent = append(parent, len(parent))
		}
		a, b, cc := t[0], t[1], t[2]
		ux, uy, uz := float64(b[0])-float64(a[0]), float64(b[1])-float64(a[1]), float64(b[2])-float64(a[2])
		vx, vy, vz := float64(cc[0])-float64(a[0]), float64(cc[1])-float64(a[1]), float64(cc[2])-float64(a[2])
		nx, ny, nz := uy*vz-uz*vy, uz*vx-ux*vz, ux*vy-uy*vx
		if nx == 0 && ny == 0 && nz == 0 || v[0] == v[1] || v[1] == v[2] || v[0] == v[2] {
			c.degenerate++
		}
		for k := 0; k < 3; k++ {
			from, to := v[k], v[(k+1)%3]
			if from == to {
				continue
			}
			e, w := edge{from, to}, 0
			if to < from {
				e, w = edge{to, from}, 1
			}
			d := dir[e]
			d[w] = min(d[w]+1, 3)
			dir[e] = d
			parent[find(from)] = find(to)
		}
	}
	for _, d := range dir {
		switch f, b := d[0], d[1]; {
		case f == 1 && b == 1:
		case f+b == 1:
			c.boundary++
		case f+b == 2:
			c.misoriented++
		default:
			c.nonManifold++
		}
	}
	c.vertices = int64(len(ids))
	for v := range parent {
		if find(v) == v {
			c.shells++
		}
	}
	return c
}

func measuredConnectivity(m Metrics) connectivity {
	return connectivity{m.Vertices, m.BoundaryEdges, m.NonManifoldEdges, m.MisorientedEdges, m.Shells, m.DegenerateTriangles}
}

// pool is a set of vertices for random meshes: points of a grid, some
// with -0 twins of their +0 coordinates (which must weld with them).
func pool(n int) [][3]float32 {
	p := make([][3]float32, n)
	negZero := float32(math.Copysign(0, -1))
	for i := range p {
		k := i / 2
		p[i] = [3]float32{float32(k % 37), float32(k / 37 % 23), float32(k / 851)}
		if i%2 == 1 {
			// the twin: the same point with -0 for its zero coordinates
			for j := range p[i] {
				if p[i][j] == 0 {
					p[i][j] = negZero
				}
			}
		}
	}
	return p
}

// randomTris draws triangles from the pool, close to the previous ones
// (as meshes list them) with jumps far back, and some repeated corners.
func randomTris(r *rand.Rand, p [][3]float32, n int) []tri {
	ts := make([]tri, n)
	at := 0
	for i := range ts {
		if r.IntN(50) == 0 {
			at = r.IntN(len(p))
		}
		for c := 0; c < 3; c++ {
			j := at + r.IntN(40) - 20
			if r.IntN(200) == 0 {
				j = r.IntN(len(p))
			}
			j = min(max(j, 0), len(p)-1)
			ts[i][c] = p[j]
		}
		if r.IntN(100) == 0 {
			ts[i][2] = ts[i][0]
		}
		at = min(at+1, len(p)-1)
	}
	return ts
}

// TestWeldMatchesReference: welding, edges and shells of binary STL (which
// batches, finds corners among recent ones and queues edges) agree with
// the plain implementation, on meshes spanning several batches, with
// vertices repeated within a batch and far back, -0 twins, degenerate
// triangles, fans that overflow the inline edge slots, and more vertices
// than the recent-corner table holds.
func TestWeldMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name       string
		pool, tris int
	}{
		{"small pool", 64, 3 * stlBatch},
		{"few batches", 2000, 2*stlBatch + 17},
		{"more vertices than recent", 4 * recentSize, 5 * stlBatch},
		{"sparse", 20 * recentSize, 3 * stlBatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := randomTris(r, pool(tc.pool), tc.tris)
			want := refConnectivity(ts)
			got := measuredConnectivity(measure(t, binarySTL("weld", ts), DefaultOptions()).Metrics)
			if got != want {
				t.Errorf("binary STL: got %+v, want %+v", got, want)
			}
			if tc.tris <= 2*stlBatch+17 {
				var b strings.Builder
				b.WriteString(asciiSolid("weld", ts))
				got := measuredConnectivity(measure(t, []byte(b.String()), DefaultOptions()).Metrics)
				if got != want {
					t.Errorf("ASCII STL: got %+v, want %+v", got, want)
				}
			}
		})
	}
}

// FuzzWeld: for any triangles drawn from a small pool (three bytes a
// triangle), binary STL connectivity agrees with the plain implementation.
func FuzzWeld(f *testing.F) {
	f.Add([]byte{0, 1, 2, 2, 1, 3})
	f.Add([]byte{0, 1, 2, 0, 2, 3, 0, 3, 1, 1, 3, 2})
	f.Add([]byte{5, 5, 5, 1, 0, 1, 7, 8, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := pool(64)
		var ts []tri
		for i := 0; i+2 < len(b) && len(ts) < 3*stlBatch; i += 3 {
			ts = append(ts, tri{p[b[i]%64], p[b[i+1]%64], p[b[i+2]%64]})
		}
		// repeat the list so that it spans batches
		for len(ts) > 0 && len(ts) < stlBatch+1 {
			ts = append(ts, ts...)
		}
		want := refConnectivity(ts)
		rep := checkMeasure(t, binarySTL("fuzz", ts), fuzzOptions(STL))
		if rep == nil {
			t.Fatal("valid binary STL refused")
		}
		if got := measuredConnectivity(rep.Metrics); got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})
}
