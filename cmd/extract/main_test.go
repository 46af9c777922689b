package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runExtract(t *testing.T, args ...string) (int, []byte) {
	t.Helper()
	var out bytes.Buffer
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	code := run(args, &out, devnull)
	return code, out.Bytes()
}

func TestExtractCorpusGolden(t *testing.T) {
	code, out := runExtract(t, "-j", "3", "../../testdata/dicom")
	if code != 1 {
		t.Errorf("exit %d, want 1 (the corpus holds two damaged files)", code)
	}
	var rep struct {
		Series        []map[string]any `json:"series"`
		Segmentations []map[string]any `json:"segmentations"`
		Models        []map[string]any `json:"models"`
		Errors        []struct{ Path, Error string }
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	// Two damaged DICOM files and five documentation files.
	wantErr := map[string]string{
		"charset/FileInfo.txt":                         "not a DICOM object",
		"pydicom/MR_truncated.dcm":                     "truncated",
		"pydicom/no_meta.dcm":                          "not a DICOM object",
		"PROVENANCE.md":                                "not a DICOM object",
		"expected_facts.json":                          "not a DICOM object",
		"seg/dcmqi/seg-example_multiple_segments.json": "not a DICOM object",
		"tools/independent_facts.py":                   "not a DICOM object",
	}
	if len(rep.Errors) != len(wantErr) {
		t.Errorf("errors: %+v", rep.Errors)
	}
	for _, e := range rep.Errors {
		rel := strings.TrimPrefix(e.Path, "../../testdata/dicom/")
		if want, ok := wantErr[rel]; !ok || !strings.Contains(e.Error, want) {
			t.Errorf("%s: reason %q, want one containing %q", rel, e.Error, want)
		}
	}
	if len(rep.Segmentations) != 20 || len(rep.Models) != 3 {
		t.Errorf("%d segmentations, %d models", len(rep.Segmentations), len(rep.Models))
	}
	golden(t, "corpus.json", out)
}

// TestExtractModels: model files (by content, whatever their extension) and
// a model hidden under a misleading name.
func TestExtractModels(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("../../pkg/mesh/testdata/stl/lib3mf/Sphere.stl", "sphere.STL")
	copyFile("../../pkg/mesh/testdata/3mf/3mf-samples/core_box.3mf", "box.3mf")
	copyFile("../../pkg/mesh/testdata/stl/trimesh/origin_inside.STL", "named-like-a-scan.dcm")
	code, out := runExtract(t, dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var rep struct {
		Models []struct {
			Source     string                       `json:"source"`
			Format     string                       `json:"format"`
			Units      string                       `json:"units"`
			Triangles  int                          `json:"triangles"`
			Vertices   int                          `json:"vertices"`
			Volume     float64                      `json:"volume_mm3"`
			Area       float64                      `json:"surface_area_mm2"`
			Watertight bool                         `json:"watertight"`
			Shells     int                          `json:"shells"`
			BBox       struct{ Min, Max []float64 } `json:"bbox_mm"`
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range rep.Models {
		got[filepath.Base(m.Source)] = fmt.Sprintf("%s %d tris %d verts watertight=%v shells=%d", m.Format, m.Triangles, m.Vertices, m.Watertight, m.Shells)
		if len(m.BBox.Min) != 3 || m.Area <= 0 {
			t.Errorf("%s: bbox %v area %v", m.Source, m.BBox, m.Area)
		}
	}
	want := map[string]string{
		"sphere.STL":            "stl 2880 tris 1442 verts watertight=true shells=1",
		"box.3mf":               "3mf 12 tris 8 verts watertight=true shells=1",
		"named-like-a-scan.dcm": "stl 28 tris 16 verts watertight=true shells=1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
}

func TestExtractDeterministicAcrossWorkers(t *testing.T) {
	_, a := runExtract(t, "-j", "1", "--instances", "../../testdata/dicom")
	_, b := runExtract(t, "-j", "4", "--instances", "../../testdata/dicom")
	if !bytes.Equal(a, b) {
		t.Fatal("output depends on the number of workers")
	}
}

func TestExtractNDJSON(t *testing.T) {
	code, out := runExtract(t, "--format", "ndjson", "--instances", "../../testdata/dicom/series_pydicom_CT5N_5slices", "../../testdata/dicom/pydicom/MR_truncated.dcm")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var rec struct {
			Record string          `json:"record"`
			Data   json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		counts[rec.Record]++
	}
	if counts["instance"] != 5 || counts["series"] != 1 || counts["error"] != 1 {
		t.Errorf("records %v", counts)
	}
}

func TestExtractExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ct.dcm")
	b, _ := os.ReadFile("../../testdata/dicom/pydicom/CT_small.dcm")
	os.WriteFile(good, b, 0o644)
	tests := []struct {
		args []string
		want int
	}{
		{[]string{good}, 0},
		{[]string{dir}, 0},
		{[]string{}, 2},
		{[]string{"--format", "xml", good}, 2},
		{[]string{"--no-such-flag", good}, 2},
		{[]string{filepath.Join(dir, "missing.dcm")}, 1},
		{[]string{"../../README.md"}, 1},
	}
	for _, tc := range tests {
		if code, _ := runExtract(t, tc.args...); code != tc.want {
			t.Errorf("extract %v: exit %d, want %d", tc.args, code, tc.want)
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; rerun with -update and review the diff", name)
	}
}

// runExtractStderr is runExtract that also returns stderr.
func runExtractStderr(t *testing.T, args ...string) (int, []byte, string) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	var out bytes.Buffer
	code := run(args, &out, errf)
	b, _ := os.ReadFile(errf.Name())
	return code, out.Bytes(), string(b)
}

// TestExtractNamesFailedPaths: every file that could not be read is named
// on stderr by its path with the reason (a path that does not exist says
// so), as in the output's errors; flags after the paths are flags.
func TestExtractNamesFailedPaths(t *testing.T) {
	dir := t.TempDir()
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("neither DICOM nor a model"), 0o644)
	ct := "../../testdata/dicom/pydicom/CT_small.dcm"
	missing := filepath.Join(t.TempDir(), "no such scan.dcm")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
		errors map[string]string // path → reason in the output
		ndjson bool
	}{
		{"a path that does not exist", []string{missing}, 1,
			[]string{"extract: failed " + missing + ": does not exist"}, map[string]string{missing: "does not exist"}, false},
		{"not a DICOM object, flags after the paths", []string{ct, dir, "--format", "ndjson", "-j", "1"}, 1,
			[]string{"extract: failed " + notes + ": not a DICOM object"}, map[string]string{notes: "not a DICOM object"}, true},
		{"everything read", []string{"-j", "1", ct, "--progress", "never"}, 0, nil, map[string]string{}, false},
		{"-- ends the flags", []string{ct, "--", "--format"}, 1,
			[]string{"extract: failed --format: does not exist"}, map[string]string{"--format": "does not exist"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runExtractStderr(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Count(stderr, "extract: failed ") != len(tc.errors) {
				t.Errorf("stderr lists %d failures, want %d:\n%s", strings.Count(stderr, "extract: failed "), len(tc.errors), stderr)
			}
			got := map[string]string{}
			if tc.ndjson {
				sc := bufio.NewScanner(bytes.NewReader(out))
				for sc.Scan() {
					var rec struct {
						Record string
						Data   struct{ Path, Error string }
					}
					if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Record == "error" {
						got[rec.Data.Path] = rec.Data.Error
					}
				}
			} else {
				var rep struct {
					Errors []struct{ Path, Error string }
				}
				if err := json.Unmarshal(out, &rep); err != nil {
					t.Fatalf("output: %v", err)
				}
				for _, e := range rep.Errors {
					got[e.Path] = e.Error
				}
			}
			if len(got) != len(tc.errors) {
				t.Errorf("errors %v, want %v", got, tc.errors)
			}
			for p, why := range tc.errors {
				if !strings.Contains(got[p], why) {
					t.Errorf("%s: error %q, want one containing %q", p, got[p], why)
				}
			}
		})
	}
}
