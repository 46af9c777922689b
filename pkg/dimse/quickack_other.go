//go:build !linux

package dimse

import "syscall"

// quickACK is Linux only; elsewhere delayed acknowledgements stay as they are.
func quickACK(syscall.RawConn) {}
