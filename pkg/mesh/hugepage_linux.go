//go:build linux

package mesh

import (
	"syscall"
	"unsafe"
)

// hugePage is the usual transparent huge page size (x86-64, and arm64
// with 4 KiB pages); where it is larger the advice still applies.
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the whole 2 MiB pages inside a large
// array, before its first use, with transparent huge pages (where the
// system leaves that to madvise, as Debian and most distributions do). The
// per-vertex arrays and the weld table of a large mesh are tens of
// megabytes written once at random: with 4 KiB pages that is one page
// fault per 4 KiB (about 10,000 for a 2-million-triangle file) and a TLB
// miss on most welds. The advice only changes how the memory is backed;
// nothing is read or written through the address, and an error (an old
// kernel, huge pages disabled) changes nothing.
func adviseHuge[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < 2*hugePage {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	start := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + n) &^ (hugePage - 1)
	if end > start {
		syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_HUGEPAGE)
	}
}
