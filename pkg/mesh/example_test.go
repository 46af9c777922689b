package mesh_test

import (
	"context"
	"fmt"

	"github.com/printreg/printreg/pkg/mesh"
)

// A closed tetrahedron with legs of 10 mm along the axes: a sixth of a
// 10 mm cube.
func ExampleMeasureBytes() {
	stl := []byte(`solid tetra
facet normal 0 0 -1
 outer loop
  vertex 0 0 0
  vertex 0 10 0
  vertex 10 0 0
 endloop
endfacet
facet normal 0 -1 0
 outer loop
  vertex 0 0 0
  vertex 10 0 0
  vertex 0 0 10
 endloop
endfacet
facet normal -1 0 0
 outer loop
  vertex 0 0 0
  vertex 0 0 10
  vertex 0 10 0
 endloop
endfacet
facet normal 1 1 1
 outer loop
  vertex 10 0 0
  vertex 0 10 0
  vertex 0 0 10
 endloop
endfacet
endsolid tetra
`)
	rep, err := mesh.MeasureBytes(context.Background(), stl, mesh.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d triangles, watertight %v, volume %.1f mm³, box %v mm\n",
		rep.Format, rep.Triangles, rep.Watertight, rep.VolumeMM3, rep.BBox.Size)
	// Output:
	// stl: 4 triangles, watertight true, volume 166.7 mm³, box [10 10 10] mm
}
