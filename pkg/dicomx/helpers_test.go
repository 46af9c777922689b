package dicomx

import (
	"bytes"
	"flag"
	"fmt"
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
		t.Fatalf("the test corpus %s cannot be listed: %v", corpusDir, err)
	}
	if len(out) == 0 {
		t.Fatalf("the test corpus %s has no .dcm files", corpusDir)
	}
	sort.Strings(out)
	libTestdata(t)
	for _, name := range libFiles {
		out = append(out, "lib/"+name)
	}
	return out
}

// libFiles are the files of github.com/suyashkumar/dicom's testdata the
// tests read (see testdata/dicom/PROVENANCE.md).
var libFiles = []string{"1.dcm", "2.dcm", "3.dcm", "4.dcm", "5.dcm", "6.dcm"}

var libDirOnce struct {
	sync.Once
	dir string
	err string
}

// libTestdata returns the directory of github.com/suyashkumar/dicom's
// testdata in the module cache: the module is a dependency, so it is there
// whenever the tests build. When it or any of libFiles is missing, the test
// fails, naming what is missing.
func libTestdata(t testing.TB) string {
	t.Helper()
	libDirOnce.Do(func() {
		cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/suyashkumar/dicom")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		dir := strings.TrimSpace(string(out))
		if err != nil || dir == "" {
			libDirOnce.err = fmt.Sprintf("the test corpus files lib/*.dcm come from github.com/suyashkumar/dicom's testdata, "+
				"but go list does not find the module's directory (go mod download github.com/suyashkumar/dicom fetches it): %v %s",
				err, strings.TrimSpace(stderr.String()))
			return
		}
		dir = filepath.Join(dir, "testdata")
		for _, name := range libFiles {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				libDirOnce.err = fmt.Sprintf("test corpus file lib/%s is missing: %v", name, err)
				return
			}
		}
		libDirOnce.dir = dir
	})
	if libDirOnce.err != "" {
		t.Fatal(libDirOnce.err)
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
		t.Fatalf("test corpus file %s cannot be read: %v", rel, err)
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
