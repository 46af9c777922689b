//go:build !linux

package mesh

import "io"

// fileWindows is only used on Linux; elsewhere the reader copies through
// ReadAt.
type fileWindows struct{}

func windowsOf(io.ReaderAt, int64) *fileWindows         { return nil }
func (*fileWindows) window(off, n int64) ([]byte, bool) { return nil, false }
func (*fileWindows) close()                             {}
func guardFaults(*error) func()                         { return func() {} }
