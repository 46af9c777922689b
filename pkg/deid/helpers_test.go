package deid

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/printreg/printreg/pkg/dicomx"
	"github.com/printreg/printreg/pkg/sitekey"
)

const corpusDir = "../../testdata/dicom"

func testKey(t testing.TB, s string) *sitekey.Key {
	t.Helper()
	k, err := sitekey.New([]byte(strings.Repeat(s, 40/len(s)+1)))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEngine(t testing.TB, p Profile) *Engine {
	t.Helper()
	e, err := New(testKey(t, "test-secret-"), p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// corpusFiles lists the DICOM files of the shared test data.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(corpusDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() && strings.HasSuffix(p, ".dcm") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no corpus files")
	}
	return out
}

func deidBytes(t testing.TB, e *Engine, in []byte, explain bool) ([]byte, *Result, error) {
	t.Helper()
	var out bytes.Buffer
	var res *Result
	var err error
	if explain {
		res, err = e.Explain(context.Background(), &out, bytes.NewReader(in), int64(len(in)))
	} else {
		res, err = e.Deidentify(context.Background(), &out, bytes.NewReader(in), int64(len(in)))
	}
	return out.Bytes(), res, err
}

// readAll parses an object fully with the project's reader.
func readAll(t testing.TB, b []byte) (*dicomx.Dataset, *dicomx.Dataset) {
	t.Helper()
	rd, err := dicomx.NewReader(bytes.NewReader(b), int64(len(b)), dicomx.Options{})
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	ds, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	return rd.Meta(), ds
}
