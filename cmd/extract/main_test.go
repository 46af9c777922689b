package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
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
	// Two damaged DICOM files and four documentation files.
	wantErr := map[string]string{
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
