package dicomx

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const corpusDir = "../../testdata/dicom"

// corpusFiles lists the repository's test DICOM files (relative to corpusDir)
// and the six files of the suyashkumar/dicom module's testdata (prefixed "lib/").
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(corpusDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && strings.HasSuffix(p, ".dcm") {
			rel, _ := filepath.Rel(corpusDir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	if dir := libTestdata(t); dir != "" {
		for i := 1; i <= 6; i++ {
			out = append(out, "lib/"+string(rune('0'+i))+".dcm")
		}
	}
	return out
}

var libDirOnce struct {
	sync.Once
	dir string
}

// libTestdata finds github.com/suyashkumar/dicom's testdata in the module
// cache: the module is a dependency, so it is there whenever the tests build.
func libTestdata(t testing.TB) string {
	libDirOnce.Do(func() {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/suyashkumar/dicom").Output()
		if err == nil {
			libDirOnce.dir = filepath.Join(strings.TrimSpace(string(out)), "testdata")
		}
	})
	if libDirOnce.dir == "" {
		t.Log("suyashkumar/dicom testdata not found in the module cache; its six files are not tested")
	}
	return libDirOnce.dir
}

func corpusPath(t testing.TB, rel string) string {
	if strings.HasPrefix(rel, "lib/") {
		return filepath.Join(libTestdata(t), strings.TrimPrefix(rel, "lib/"))
	}
	return filepath.Join(corpusDir, rel)
}

func readCorpus(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(corpusPath(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares got with testdata/golden/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file; run go test -run %s -update and review the diff", name, t.Name())
	}
}

// requireTool returns the path of an external tool, failing the test when the
// build asks for every integration test to run (make test) and skipping it
// otherwise.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("PRINTREG_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("%s is not installed; scripts/test-deps.sh installs it", name)
	}
	t.Skipf("%s is not installed; run make test (it installs it) to include this test", name)
	return ""
}
