package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/printreg/printreg/internal/meshgen"
)

// readerAtOnly hides the *os.File behind a reader, so Measure copies
// through ReadAt.
type readerAtOnly struct{ r io.ReaderAt }

func (r readerAtOnly) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }

// TestMappedFileMatchesMemory: a binary STL large enough to be read through
// mapped windows gives the same report as the same bytes measured in
// memory and as the file read through ReadAt.
func TestMappedFileMatchesMemory(t *testing.T) {
	var buf bytes.Buffer
	if err := meshgen.TorusTriangles(200_000).WriteBinarySTL(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < minMapped {
		t.Fatalf("test file of %d bytes is below the mapping threshold", buf.Len())
	}
	path := filepath.Join(t.TempDir(), "torus.stl")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(buf.Len())
	if windowsOf(f, size) == nil && runtime.GOOS == "linux" {
		t.Fatal("the file is not read through mapped windows")
	}
	ctx := context.Background()
	reports := map[string]func() (*Report, error){
		"memory":  func() (*Report, error) { return MeasureBytes(ctx, buf.Bytes(), DefaultOptions()) },
		"file":    func() (*Report, error) { return Measure(ctx, f, size, DefaultOptions()) },
		"readers": func() (*Report, error) { return Measure(ctx, readerAtOnly{f}, size, DefaultOptions()) },
	}
	var want []byte
	for _, name := range []string{"memory", "file", "readers"} {
		rep, err := reports[name]()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, _ := json.Marshal(rep)
		if want == nil {
			want = got
			if rep.Triangles < 190_000 || !rep.Watertight {
				t.Fatalf("%s: %d triangles, watertight %v", name, rep.Triangles, rep.Watertight)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s report differs from the in-memory one:\n%s\n%s", name, got, want)
		}
	}
}
