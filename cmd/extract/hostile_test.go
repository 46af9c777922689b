package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.MainChild(map[string]func([]string) int{
		"extract": func(args []string) int { return run(args, os.Stdout, os.Stderr) },
	})
	os.Exit(m.Run())
}

// TestDeflateBombPeakRSS: extract names the deflate bomb as too large, in a
// process that stays under 512 MiB (it used to reach 3.3 GB), and still
// reports the ordinary file beside it.
func TestDeflateBombPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1.6 GB of inflated text")
	}
	dir := t.TempDir()
	bomb := testenv.WriteDeflateBomb(t, dir, 8, 200<<20)
	ct, _ := os.ReadFile("../../testdata/dicom/pydicom/CT_small.dcm")
	os.WriteFile(filepath.Join(dir, "ct.dcm"), ct, 0o644)
	code, out, peak := testenv.RunChild(t, "extract", "-j", "2", dir)
	t.Logf("extract over the bomb: exit %d, peak RSS %d MiB", code, peak>>20)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if peak <= 0 || peak > 512<<20 {
		t.Errorf("peak RSS %d MiB, over the 512 MiB bound", peak>>20)
	}
	s := string(out)
	if !strings.Contains(s, filepath.Base(bomb)) || !strings.Contains(s, "over a configured limit") || !strings.Contains(s, `"modality": "CT"`) {
		t.Errorf("the output does not name the bomb as too large beside the CT:\n%.2000s", s)
	}
}
