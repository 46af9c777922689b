package dirstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/printreg/printreg/pkg/objstore"
	"github.com/printreg/printreg/pkg/objstore/dirstore"
	"github.com/printreg/printreg/pkg/objstore/objstoretest"
)

func newStore(t *testing.T) *dirstore.Store {
	t.Helper()
	s, err := dirstore.New(filepath.Join(t.TempDir(), "bucket"), "raw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket { return newStore(t) }, objstoretest.Options{LargeBytes: 3 << 20})
}

func TestTraversalRefused(t *testing.T) {
	s := newStore(t)
	outside := filepath.Join(filepath.Dir(s.Dir()), "outside.txt")
	if err := os.WriteFile(outside, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := []string{
		"../outside.txt",
		"a/../../outside.txt",
		"/etc/passwd",
		"a//b",
		"./a",
		"a/./b",
		"a/..",
		dirstore.TmpDir + "/x",
		dirstore.TmpDir,
	}
	ctx := context.Background()
	for _, k := range keys {
		if _, err := s.Put(ctx, k, bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q): err = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q): err = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q): err = %v, want ErrInvalidKey", k, err)
		}
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Error("a file outside the store was changed")
	}
}

func TestSymlinkEscapeRefused(t *testing.T) {
	s := newStore(t)
	outsideDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(outsideDir, "f"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outsideDir, filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if rc, err := s.Get(ctx, "link/f"); err == nil {
		rc.Close()
		t.Error("Get through a symlink leaving the store succeeded")
	} else if !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("Get through a symlink: %v, want ErrInvalidKey (refused once, not retried)", err)
	}
	if err := os.Symlink(filepath.Join(outsideDir, "f"), filepath.Join(s.Dir(), "file-link")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "file-link"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("Stat of a symlink out: %v, want ErrInvalidKey", err)
	}
	if rc, err := s.Get(ctx, "file-link"); err == nil {
		rc.Close()
		t.Error("Get of a symlink to a file outside the store succeeded")
	} else if !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("Get of a symlink out: %v, want ErrInvalidKey", err)
	}
	if _, err := s.Put(ctx, "link/g", bytes.NewReader([]byte("x")), 1, objstore.PutOptions{}); err == nil {
		t.Error("Put through a symlink leaving the store succeeded")
	}
	if _, err := os.Stat(filepath.Join(outsideDir, "g")); err == nil {
		t.Error("a file was created outside the store")
	}
	var listed []string
	_ = s.List(ctx, "", func(oi objstore.ObjectInfo) error { listed = append(listed, oi.Key); return nil })
	if len(listed) != 0 {
		t.Errorf("List followed a symlink out of the store: %q", listed)
	}
}

func TestErrorsHoldNoKey(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const key = "DOE^JOHN MRN12345/scan.dcm"
	_, err := s.Stat(ctx, key)
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("MRN12345")) {
		t.Errorf("Stat error %q quotes the key", err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir(), "DOE^JOHN MRN12345", "scan.dcm"), 0o750); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, objstore.PutOptions{})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("MRN12345")) {
		t.Errorf("Put error %q quotes the key", err)
	}
}

func TestListSkipsHiddenAndTemp(t *testing.T) {
	s := newStore(t)
	for _, p := range []string{".hidden", "dir/.partial.swp", ".git/config", "ok/file"} {
		full := filepath.Join(s.Dir(), filepath.FromSlash(p))
		_ = os.MkdirAll(filepath.Dir(full), 0o750)
		if err := os.WriteFile(full, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	if err := s.List(context.Background(), "", func(oi objstore.ObjectInfo) error { listed = append(listed, oi.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "ok/file" {
		t.Errorf("List = %q, want only ok/file", listed)
	}
}
