//go:build linux

package mesh

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMappedFileTruncatedWhileRead: a mapped window whose file is cut short
// by someone else faults on the next read; the reader reports an error
// instead of crashing the process.
func TestMappedFileTruncatedWhileRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cut.stl")
	page := os.Getpagesize()
	if err := os.WriteFile(path, make([]byte, 8*page), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &fileWindows{fd: int(f.Fd()), size: int64(8 * page), page: int64(page)}
	defer w.close()
	b, ok := w.window(100, int64(6*page))
	if !ok {
		t.Fatal("the file could not be mapped")
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	read := func() (sum int, err error) {
		defer guardFaults(&err)()
		for i := 0; i < len(b); i += page {
			sum += int(b[i])
		}
		return sum, nil
	}
	if _, err := read(); err == nil {
		t.Fatal("reading a mapping of a truncated file succeeded; want an error")
	} else {
		t.Logf("error: %v", err)
	}
}

// TestWindowsOnlyForLargeRegularFiles: small files and readers other than
// files are copied through ReadAt.
func TestWindowsOnlyForLargeRegularFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "small.stl")
	if err := os.WriteFile(path, make([]byte, 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if windowsOf(f, 1024) != nil {
		t.Error("a 1 KiB file is mapped")
	}
	if windowsOf(bytesAt(make([]byte, minMapped)), minMapped) != nil {
		t.Error("an in-memory reader is mapped")
	}
	if windowsOf(f, minMapped) != nil {
		t.Error("a file shorter than the size given is mapped")
	}
}
