package receive

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"unsafe"
)

// netns runs functions on one OS thread that lives in a private network
// namespace holding only a loopback interface. Sockets created there, and
// processes started from there, are unreachable from any other namespace:
// the Orthanc test uses it because Orthanc has no option to bind its ports
// to loopback. It needs CAP_SYS_ADMIN (root in CI); without it, newNetns
// fails and the test falls back to loopback-only configuration.
type netns struct {
	calls chan func()
}

func newNetns() (*netns, error) {
	ns := &netns{calls: make(chan func())}
	ready := make(chan error, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the
		// runtime ends the thread instead of reusing it elsewhere.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		if err := loopbackUp(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range ns.calls {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return ns, nil
}

// do runs f on the namespace's thread and waits for it.
func (n *netns) do(f func()) {
	done := make(chan struct{})
	n.calls <- func() { f(); close(done) }
	<-done
}

func (n *netns) close() { close(n.calls) }

// listen opens a listener inside the namespace.
func (n *netns) listen(network, addr string) (ln net.Listener, err error) {
	n.do(func() { ln, err = net.Listen(network, addr) })
	return ln, err
}

// dial connects from inside the namespace (for HTTP clients).
func (n *netns) dial(ctx context.Context, network, addr string) (c net.Conn, err error) {
	n.do(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	})
	return c, err
}

// loopbackUp sets IFF_UP on "lo" of the calling thread's namespace.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [16]byte
		flags uint16
		_     [22]byte
	}
	copy(ifr.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	ifr.flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
