// Package dirstore is an objstore.Bucket on a local directory: the embedded
// default's inbox and de-identified output, and a fast store for tests.
//
// Keys map to relative paths ("a/b/c.dcm" is the file c.dcm in a/b). All file
// access goes through an os.Root, so neither a key nor a symbolic link inside
// the directory can reach a file outside it. Writes go to a temporary file in
// the directory's .printreg-tmp folder, are synced, then renamed into place:
// a reader never sees a half-written object. The ETag is the hex SHA-256 of
// the content (computed once per file version and cached).
package dirstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/printreg/printreg/pkg/objstore"
)

// TmpDir is the folder, inside the store's directory, that holds files being
// written. List skips it, and keys may not start with it.
const TmpDir = ".printreg-tmp"

// maxCachedETags bounds the ETag cache (the files being read now); when
// full, an arbitrary entry makes room.
const maxCachedETags = 4096

// Store is a directory used as a bucket. It is safe for concurrent use.
type Store struct {
	name string
	dir  string
	root *os.Root

	mu    sync.Mutex
	etags map[versionKey]string
}

// versionKey identifies one version of one file without reading it.
type versionKey struct {
	key   string
	size  int64
	mtime int64
	ino   uint64
}

// New opens (creating it if needed) the directory dir as the bucket called
// name. Close releases it.
func New(dir, name string) (*Store, error) {
	if name == "" {
		name = filepath.Base(dir)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("directory store %q: %w", name, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("directory store %q: %w", name, err)
	}
	if err := root.MkdirAll(TmpDir, 0o750); err != nil {
		root.Close()
		return nil, fmt.Errorf("directory store %q: %w", name, err)
	}
	return &Store{name: name, dir: dir, root: root, etags: make(map[versionKey]string)}, nil
}

// Name returns the bucket name given to New.
func (s *Store) Name() string { return s.name }

// Dir returns the directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory handle.
func (s *Store) Close() error { return s.root.Close() }

// checkKey applies objstore.CheckKey and the directory rules: a relative
// path of non-empty segments, none of them "." or "..", not inside TmpDir.
func checkKey(key string) error {
	if err := objstore.CheckKey(key); err != nil {
		return err
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w: starts with a slash", objstore.ErrInvalidKey)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: empty path segment", objstore.ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%w: %q path segment", objstore.ErrInvalidKey, seg)
		}
	}
	if key == TmpDir || strings.HasPrefix(key, TmpDir+"/") {
		return fmt.Errorf("%w: reserved folder", objstore.ErrInvalidKey)
	}
	if !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("%w: not a local path", objstore.ErrInvalidKey)
	}
	return nil
}

// mapErr turns file-system errors into objstore sentinels, without the path
// (which is the key).
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, objstore.ErrInvalidKey) || errors.Is(err, objstore.ErrNotFound) ||
		errors.Is(err, objstore.ErrChanged) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("directory %s: %w", op, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("directory %s: %w", op, objstore.ErrNotFound)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &opError{msg: fmt.Sprintf("directory %s: %s: %v", op, pe.Op, pe.Err), err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &opError{msg: fmt.Sprintf("directory %s: %s: %v", op, le.Op, le.Err), err: le.Err}
	}
	return &opError{msg: fmt.Sprintf("directory %s: %v", op, err), err: err}
}

// opError carries a message stripped of paths while keeping the cause for
// errors.Is.
type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// Stat returns the object's metadata; computing the ETag reads the file the
// first time this version is seen.
func (s *Store) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	f, info, err := s.openInfo(ctx, "stat", key)
	if err != nil {
		return info, err
	}
	f.Close()
	return info, nil
}

// Open opens the file and returns its metadata, with one open (Stat then
// Get would open it twice).
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, objstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	f, info, err := s.openInfo(ctx, "get", key)
	if err != nil {
		return nil, info, err
	}
	return objstore.ExactReadCloser(f, info.Size), info, nil
}

// openInfo opens key as a regular file and returns it with its metadata.
func (s *Store) openInfo(ctx context.Context, op, key string) (*os.File, objstore.ObjectInfo, error) {
	f, fi, err := s.openRegular(op, key)
	if err != nil {
		return nil, objstore.ObjectInfo{}, err
	}
	etag, err := s.etag(ctx, key, f, fi)
	if err != nil {
		f.Close()
		return nil, objstore.ObjectInfo{}, mapErr(op, err)
	}
	return f, objstore.ObjectInfo{Key: key, Size: fi.Size(), ETag: etag, ModTime: fi.ModTime()}, nil
}

func vkey(key string, fi fs.FileInfo) versionKey {
	v := versionKey{key: key, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v.ino = uint64(st.Ino)
	}
	return v
}

// etag returns the cached content hash of this version of the file, or reads
// f to compute it.
func (s *Store) etag(ctx context.Context, key string, f *os.File, fi fs.FileInfo) (string, error) {
	vk := vkey(key, fi)
	s.mu.Lock()
	e, ok := s.etags[vk]
	s.mu.Unlock()
	if ok {
		return e, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, objstore.ContextReader(ctx, io.NewSectionReader(f, 0, fi.Size()))); err != nil {
		return "", err
	}
	e = hex.EncodeToString(h.Sum(nil))
	s.remember(vk, e)
	return e, nil
}

func (s *Store) remember(vk versionKey, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.etags) >= maxCachedETags {
		for k := range s.etags { // an arbitrary entry makes room
			delete(s.etags, k)
			break
		}
	}
	s.etags[vk] = etag
}

// openRegular opens key and checks that it is a regular file.
func (s *Store) openRegular(op, key string) (*os.File, fs.FileInfo, error) {
	if err := checkKey(key); err != nil {
		return nil, nil, mapErr(op, err)
	}
	f, err := s.root.Open(key)
	if err != nil {
		// A symbolic link out of the folder (or to nothing) is refused
		// once, as a key that names no object here, not retried.
		if linkOut(err) && s.throughSymlink(key) {
			return nil, nil, mapErr(op, fmt.Errorf("%w: a symbolic link leading outside the folder or to nothing", objstore.ErrInvalidKey))
		}
		return nil, nil, mapErr(op, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, mapErr(op, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, mapErr(op, objstore.ErrNotFound)
	}
	return f, fi, nil
}

// linkOut reports an open error a symbolic link out of the folder (or to
// nothing) gives: os.Root's refusal to leave the folder, or no such file.
// Other errors through a link (EIO, EMFILE) stay transient.
func linkOut(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "path escapes from parent")
}

// throughSymlink reports whether a component of key is a symbolic link.
func (s *Store) throughSymlink(key string) bool {
	for i := 0; i <= len(key); i++ {
		if i < len(key) && key[i] != '/' {
			continue
		}
		if fi, err := s.root.Lstat(key[:i]); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// Get opens the file for reading.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, _, err := s.openRegular("get", key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// GetAt opens the file for random access.
func (s *Store) GetAt(ctx context.Context, key string) (objstore.ReaderAt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, fi, err := s.openRegular("get", key)
	if err != nil {
		return nil, err
	}
	return &fileAt{File: f, size: fi.Size()}, nil
}

type fileAt struct {
	*os.File
	size int64
}

func (f *fileAt) Size() int64 { return f.size }

// Put writes r to a temporary file, syncs it and renames it to key.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, _ objstore.PutOptions) (objstore.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	tmp := TmpDir + "/put-" + hex.EncodeToString(rnd[:])
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			_ = s.root.Remove(tmp)
		}
	}()
	src := r
	if size >= 0 {
		src = objstore.ExactReader(r, size)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), objstore.ContextReader(ctx, src))
	if err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	if err := f.Sync(); err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	if err := f.Close(); err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	dir := path.Dir(key)
	if dir != "." {
		if err := s.root.MkdirAll(dir, 0o750); err != nil {
			return objstore.ObjectInfo{}, mapErr("put", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return objstore.ObjectInfo{}, err
	}
	if err := s.root.Rename(tmp, key); err != nil {
		return objstore.ObjectInfo{}, mapErr("put", err)
	}
	done = true
	if d, err := s.root.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable
		d.Close()
	}
	etag := hex.EncodeToString(h.Sum(nil))
	s.remember(vkey(key, fi), etag)
	return objstore.ObjectInfo{Key: key, Size: n, ETag: etag, ModTime: fi.ModTime()}, nil
}

// List walks the directory under the deepest folder named by prefix and calls
// fn for each regular file whose key starts with prefix. Hidden files and
// folders (names starting with ".") are skipped: editors and copy tools use
// them for partial files. ETags are left empty (use Stat); listing never reads
// content.
func (s *Store) List(ctx context.Context, prefix string, fn func(objstore.ObjectInfo) error) error {
	start := "."
	if i := strings.LastIndexByte(prefix, '/'); i > 0 {
		start = prefix[:i]
		if checkKey(start) != nil {
			return nil // no object can have this prefix
		}
	}
	fsys := s.root.FS()
	err := fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Skip folders that cannot hold a matching key.
			if p != "." && p != start && !strings.HasPrefix(p+"/", prefix) && !strings.HasPrefix(prefix, p+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(p, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while listing
			}
			return err
		}
		return fn(objstore.ObjectInfo{Key: p, Size: fi.Size(), ModTime: fi.ModTime()})
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return mapErr("list", err)
		}
		return err
	}
	return nil
}

// Delete removes the file. Empty parent folders are left in place.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return mapErr("delete", err)
	}
	err := s.root.Remove(key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return mapErr("delete", err)
	}
	return nil
}

// CleanTmp removes temporary files older than age left behind by a crash
// during Put.
func (s *Store) CleanTmp(age time.Duration) error {
	entries, err := fs.ReadDir(s.root.FS(), TmpDir)
	if err != nil {
		return mapErr("clean", err)
	}
	cut := time.Now().Add(-age)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cut) {
			_ = s.root.Remove(TmpDir + "/" + e.Name())
		}
	}
	return nil
}
