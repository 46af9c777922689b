package mesh

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/printreg/printreg/internal/meshgen"
)

// benchTriangles is the size of the generated benchmark mesh.
const benchTriangles = 2_000_000

var benchFiles struct {
	sync.Mutex
	mesh  *meshgen.Mesh
	files map[string][]byte
}

// benchFile generates the benchmark torus in one format, once per run.
func benchFile(b *testing.B, format string) []byte {
	b.Helper()
	benchFiles.Lock()
	defer benchFiles.Unlock()
	if f, ok := benchFiles.files[format]; ok {
		return f
	}
	if benchFiles.mesh == nil {
		benchFiles.mesh = meshgen.TorusTriangles(benchTriangles)
		benchFiles.files = map[string][]byte{}
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "stl":
		err = benchFiles.mesh.WriteBinarySTL(&buf)
	case "ascii-stl":
		err = benchFiles.mesh.WriteASCIISTL(&buf)
	case "3mf":
		err = benchFiles.mesh.Write3MF(&buf)
	case "obj":
		err = benchFiles.mesh.WriteOBJ(&buf)
	}
	if err != nil {
		b.Fatal(err)
	}
	benchFiles.files[format] = buf.Bytes()
	return buf.Bytes()
}

func benchMeasure(b *testing.B, format string) {
	data := benchFile(b, format)
	opt := DefaultOptions()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	var tris int64
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		rep, err := MeasureBytes(context.Background(), data, opt)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.Watertight || rep.Shells != 1 {
			b.Fatalf("generated torus measured as not watertight or not one shell: %+v", rep.Metrics)
		}
		tris += rep.Triangles
	}
	b.ReportMetric(float64(tris)/b.Elapsed().Seconds()/1e6, "Mtri/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		// per core: with -cpu 1 the process runs on one core at a time
		b.ReportMetric(float64(tris)/cpu.Seconds()/1e6, "Mtri/cpu-s")
	}
}

// Full metrics (welding, area, volume, edges, shells) on a generated
// 2-million-triangle closed mesh. Mtri/s is triangles per second of wall
// time; Mtri/cpu-s per second of CPU time, which on a shared machine is the
// fairer per-core figure (run with -cpu 1 so the collector shares the core).
func BenchmarkMeasureBinarySTL(b *testing.B) { benchMeasure(b, "stl") }

// BenchmarkMeasureBinarySTLFile measures the benchmark torus from a file
// (page cache), as extract and meshstat read it: through mapped windows on
// Linux.
func BenchmarkMeasureBinarySTLFile(b *testing.B) {
	data := benchFile(b, "stl")
	path := filepath.Join(b.TempDir(), "torus.stl")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Measure(context.Background(), f, int64(len(data)), DefaultOptions()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMeasureASCIISTL(b *testing.B) { benchMeasure(b, "ascii-stl") }
func BenchmarkMeasure3MF(b *testing.B)      { benchMeasure(b, "3mf") }
func BenchmarkMeasureOBJ(b *testing.B)      { benchMeasure(b, "obj") }
