package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.MainChild(map[string]func([]string) int{
		"deid": func(args []string) int { return run(args, os.Stdout, os.Stderr) },
	})
	os.Exit(m.Run())
}

// maxPeakRSS is the documented bound (docs/security.md) on a command's
// peak memory, whatever its input claims.
const maxPeakRSS = 512 << 20

// TestDeflateBombPeakRSS: a 1.6 MB deflated object whose items each hold a
// 200 MiB text value is refused as too large, named, in a process that
// stays under the bound (it used to reach 5.4 GB), next to an ordinary file
// that is de-identified.
func TestDeflateBombPeakRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1.6 GB of inflated text")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	bomb := testenv.WriteDeflateBomb(t, in, 8, 200<<20)
	if st, _ := os.Stat(bomb); st.Size() > 4<<20 {
		t.Fatalf("the bomb is %d bytes", st.Size())
	}
	ct, _ := os.ReadFile("../../testdata/dicom/pydicom/CT_small.dcm")
	os.WriteFile(filepath.Join(in, "ct.dcm"), ct, 0o644)
	rep := filepath.Join(dir, "report.json")
	code, out, peak := testenv.RunChild(t, "deid", "--secret-file", writeSecret(t, secret), "-o", filepath.Join(dir, "out"),
		"--report", rep, "-j", "2", "--progress", "never", in)
	t.Logf("deid over the bomb: exit %d, peak RSS %d MiB", code, peak>>20)
	if code != 1 {
		t.Errorf("exit %d, want 1: %s", code, out)
	}
	if peak <= 0 || peak > maxPeakRSS {
		t.Errorf("peak RSS %d MiB, over the %d MiB bound", peak>>20, maxPeakRSS>>20)
	}
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Outcomes map[string]int `json:"outcomes"`
	}
	json.Unmarshal(b, &sum)
	if sum.Outcomes["deidentified"] != 1 || sum.Outcomes["failed"]+sum.Outcomes["quarantined"] != 1 {
		t.Errorf("outcomes %v, want the CT de-identified and the bomb refused", sum.Outcomes)
	}
	if !strings.Contains(string(b), "too_large") {
		t.Errorf("the report gives no too_large reason: %s", b)
	}
}
