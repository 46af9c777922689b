package dimse

import "syscall"

// quickACK turns delayed acknowledgements off for what arrives next. Many
// senders (dcmtk's storescu among them) leave Nagle's algorithm on and
// write a PDU in more than one piece: the last piece then waits for the
// acknowledgement of the previous one, which the kernel delays by up to
// 40 ms, and every instance pays that wait. Linux resets the flag by
// itself, so it is set again after each read.
func quickACK(rc syscall.RawConn) {
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
