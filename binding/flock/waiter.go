//go:build linux && cgo

package flock

// The waiter: the File's C waiter for the module's waiter kit. One
// goroutine per File blocks in the kernel (flock, F_OFD_SETLKW) on the
// waiter's duplicate descriptor; a kick swaps an O_PATH sentinel in and
// signals the thread.

import (
	"os"
	"runtime"
	"sync"
	"syscall"

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

// waiterFDs is the File's C waiter (a gate.CWaiter): wfd, its duplicate of
// the File's descriptor fd, on which the blocking call waits, and sentinel,
// an O_PATH descriptor on which flock and fcntl locking calls fail with
// EBADF. A kick puts the sentinel in wfd's place (dup3) and sends the
// waiting thread SIGURG; the sentinel is opened with wfd, so a kick needs
// no new descriptor. The kit makes one at a File's first wait; its two
// descriptors are opened by its first wait in the kernel (the waiters
// that poll for a slot open none: 1,000 waiting Files cost no 2,000
// descriptors and no storm of system calls).
type waiterFDs struct {
	fd, wfd, sentinel int

	mu      sync.Mutex
	tid     int  // the waiter's OS thread while it is in the blocking call, else 0
	kicked  bool // wfd is the sentinel
	closing bool // a closing kick: it stays
}

// newWaiter makes the waiter of the File whose descriptor is fd.
func newWaiter(fd int) (*waiterFDs, error) {
	return &waiterFDs{fd: fd, wfd: -1, sentinel: -1}, nil
}

// open opens the waiter's descriptors (under w.mu): the sentinel in wfd's
// place if a kick came first.
func (w *waiterFDs) open() error {
	sfd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("open O_PATH", err)
	}
	src := w.fd
	if w.kicked {
		src = sfd
	}
	wfd, err := unix.FcntlInt(uintptr(src), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(sfd)
		return os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	w.wfd, w.sentinel = wfd, sfd
	return nil
}

// Kick cancels the blocking call in the kernel, or the next one: the
// sentinel replaces wfd, so the call restarted after SIGURG (Go's handlers
// use SA_RESTART), or one not yet made, fails with EBADF.
func (w *waiterFDs) Kick(closing bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if closing {
		w.closing = true
	}
	if !w.kicked {
		if w.wfd >= 0 && unix.Dup3(w.sentinel, w.wfd, unix.O_CLOEXEC) != nil {
			return
		}
		w.kicked = true // (no descriptors yet: open puts the sentinel in)
	}
	if w.tid != 0 {
		unix.Tgkill(unix.Getpid(), w.tid, unix.SIGURG)
	}
}

// Reset puts the File's descriptor back in wfd after a cancelling kick.
func (w *waiterFDs) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kicked && !w.closing && (w.wfd < 0 || unix.Dup3(w.fd, w.wfd, unix.O_CLOEXEC) == nil) {
		w.kicked = false
	}
}

// Free closes the waiter's descriptors (the File's locks stay: they
// belong to its open file description).
func (w *waiterFDs) Free() {
	if w.wfd >= 0 {
		unix.Close(w.wfd)
		unix.Close(w.sentinel)
	}
}

// waitIn is the kit's wait in the kernel: block on w's descriptor, on an
// OS thread locked for the call (the one a kick signals). A kicked call
// returns ECANCELED (the kit maps it to the context's error or
// os.ErrClosed); a lock granted as Close runs is released by it, so that
// call returns os.ErrClosed; one granted just as the context is done is
// held (nil).
func (f *File) waitIn(w *waiterFDs, block func(fd int) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w.mu.Lock()
	if w.wfd < 0 {
		if err := w.open(); err != nil {
			w.mu.Unlock()
			return err
		}
	}
	w.tid = unix.Gettid()
	w.mu.Unlock()
	err := block(w.wfd)
	w.mu.Lock()
	w.tid = 0
	kicked := w.kicked
	w.mu.Unlock()
	switch {
	case f.k.Closed() && (kicked || err == nil):
		return os.ErrClosed
	case kicked && err == unix.EBADF:
		return syscall.ECANCELED
	}
	return err
}
