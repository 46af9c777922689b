//go:build linux

package mesh

import (
	"errors"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
)

// fileWindows maps a file's bytes window by window, so the binary STL
// reader slices triangles straight out of the page cache instead of
// copying them into a buffer first (about an eighth of the time for a
// 2-million-triangle file read from the cache). Each window is unmapped
// before the next is mapped: the resident set still follows the unique
// vertices, not the file size.
type fileWindows struct {
	fd   int
	size int64
	page int64
	cur  []byte // the mapping in use, nil when none
}

// windowsOf returns a mapper for r when r is a regular file that mapping
// suits, else nil (the reader then copies through ReadAt).
func windowsOf(r io.ReaderAt, size int64) *fileWindows {
	f, ok := r.(*os.File)
	if !ok || size < minMapped {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < size {
		return nil
	}
	return &fileWindows{fd: int(f.Fd()), size: size, page: int64(os.Getpagesize())}
}

// window maps [off, off+n) and returns its bytes, valid until the next call
// or close; false when the range is outside the file or the kernel refuses
// the mapping (nothing is mapped then).
func (w *fileWindows) window(off, n int64) ([]byte, bool) {
	w.close()
	if off < 0 || n < 0 || off+n > w.size {
		return nil, false
	}
	start := off &^ (w.page - 1)
	b, err := syscall.Mmap(w.fd, start, int(off+n-start), syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, false
	}
	w.cur = b
	return b[off-start:], true
}

func (w *fileWindows) close() {
	if w.cur != nil {
		_ = syscall.Munmap(w.cur)
		w.cur = nil
	}
}

// guardFaults makes a memory fault in the calling goroutine (a mapped file
// truncated by someone else while it is read) a panic instead of a crash;
// the returned function restores the setting and, deferred, turns such a
// panic into *err.
func guardFaults(err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if re, ok := r.(runtime.Error); ok && isFault(re) {
				*err = malformed(STL, "the file changed while it was read")
				return
			}
			panic(r)
		}
	}
}

// isFault tells a memory fault from other runtime errors: a fault's
// panic value carries the faulting address.
func isFault(e runtime.Error) bool {
	var a interface{ Addr() uintptr }
	return errors.As(e, &a)
}
