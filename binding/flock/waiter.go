//go:build linux && cgo

package flock

// The waiter: the File's C waiter for the module's waiter kit. One
// goroutine per File blocks in the kernel (flock, F_OFD_SETLKW) on the
// waiter's duplicate descriptor, inside C; a kick swaps an O_PATH sentinel
// in and signals the thread.

import (
	"os"
	"syscall"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/gate"
	"golang.org/x/sys/unix"
)

// MaxKernelWaiters bounds the waiters of this process that block in the
// kernel at once, Files and the other facilities' waiters together (it is
// internal/gate's MaxInKernel): each of those holds an OS thread. The
// waiters of other Files poll, with a backoff from 1 to 25 ms, until a slot
// is free or their lock is; so 1,000 goroutines waiting on 1,000 Files cost
// at most this many threads, not 1,000.
const MaxKernelWaiters = gate.MaxInKernel

// fdWaiter is the File's C waiter (a gate.CWaiter): the module's
// signal-kicked waiter (posixipc.Waiter), whose descriptor is a duplicate
// of the File's; the blocking call (posixipc.FlockWait, OFDLockWait) is
// made on it, and a kick swaps an O_PATH sentinel over it, on which the
// call the kernel restarts after the kick's SIGURG fails. The kit makes one
// at a File's first wait; its descriptor is made by its first wait in the
// kernel (the waiters that poll for a slot make none: 1,000 waiting Files
// cost no 2,000 descriptors and no storm of system calls).
type fdWaiter struct {
	posixipc.Waiter
	fd int // the File's descriptor
}

// newWaiter makes the waiter of the File whose descriptor is fd.
func newWaiter(fd int) (*fdWaiter, error) {
	w, err := posixipc.NewWaiter()
	if err != nil {
		return nil, err
	}
	return &fdWaiter{Waiter: w, fd: fd}, nil
}

// Reset undoes a cancelling kick: the waiter's descriptor is a duplicate
// of the File's again. Without a kick it costs no call into C.
func (w *fdWaiter) Reset() {
	if w.Kicked() {
		w.Rearm(w.fd)
	}
}

// waitIn is the kit's wait in the kernel: the blocking call on w's
// descriptor (made by the first wait). A kicked call returns ECANCELED
// (the kit maps it to the context's error or os.ErrClosed); a lock granted
// as Close runs is released by it, so that call returns os.ErrClosed; one
// granted just as the context is done is held (nil).
func (f *File) waitIn(w *fdWaiter, call func(posixipc.Waiter) error) error {
	if !w.HasFD() {
		fd, err := unix.FcntlInt(uintptr(w.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
		}
		if err := w.SetFD(fd); err != nil {
			return os.NewSyscallError("open O_PATH", err)
		}
	}
	err := call(w.Waiter)
	if f.k.Closed() && (err == nil || err == syscall.ECANCELED) {
		return os.ErrClosed
	}
	return err
}
