//go:build linux && cgo

package flock

// The waiter: one goroutine per File blocks in the kernel, at most MaxKernelWaiters per process.

import (
	"context"
	"os"
	"runtime"

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

// wait calls try until it does not fail with EWOULDBLOCK, the File's one
// waiter at a time blocking in the kernel with block on its duplicate
// descriptor in between (see the package doc), or polling while the
// process already has MaxKernelWaiters Files blocked in the kernel.
func (f *File) wait(ctx context.Context, try func() error, block func(fd int) error) error {
	if err := try(); err != unix.EWOULDBLOCK {
		return err
	}
	if !f.gate.TryEnter() { // (after Close, arm fails with os.ErrClosed)
		if err := f.gate.Enter(ctx); err != nil {
			return err
		}
		// The lock may have been freed while we queued at the gate.
		if err := try(); err != unix.EWOULDBLOCK {
			f.gate.Leave()
			return err
		}
	}
	defer f.gate.Leave()
	if !gate.TakeSlot() {
		// gate.WouldBlock is unix.EWOULDBLOCK (EAGAIN): try's own result.
		if err := gate.WaitSlot(ctx, f.closing, try); err != gate.WouldBlock {
			return err
		}
	}
	defer gate.GiveSlot()
	return f.block(ctx, block)
}

// block runs one blocking call on the waiter's descriptor, cancellable by
// ctx and Close.
func (f *File) block(ctx context.Context, block func(fd int) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	wfd, err := f.arm(ctx)
	if err != nil {
		return err
	}
	done := ctx.Done()
	f.canc.Arm(done) // the kit's one canceller: it kicks only this armed wait
	err = block(wfd)
	f.canc.Disarm(done)
	kicked := f.w.disarm()
	select {
	case <-f.closing:
		if kicked || err == nil {
			return os.ErrClosed // Close releases a lock granted just now anyway
		}
	default:
	}
	if kicked && err == unix.EBADF {
		return ctx.Err() // only a done ctx kicks (Close was handled above)
	}
	return err
}

// arm makes the calling thread the File's waiter: it makes sure the
// duplicate descriptor is the File's, and checks ctx and Close under the
// waiter's lock, so a cancellation either comes before (and arm fails) or
// finds the waiter.
func (f *File) arm(ctx context.Context) (wfd int, err error) {
	f.fdmu.RLock()
	defer f.fdmu.RUnlock()
	if f.closed {
		return -1, os.ErrClosed
	}
	w := f.w
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-f.closing:
		return -1, os.ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if w.wfd < 0 {
		sfd, err := unix.Open("/", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, os.NewSyscallError("open O_PATH", err)
		}
		fd, err := unix.FcntlInt(uintptr(f.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			unix.Close(sfd)
			return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
		}
		w.wfd, w.sentinel = fd, sfd
	} else if w.kicked {
		if err := unix.Dup3(f.fd, w.wfd, unix.O_CLOEXEC); err != nil {
			return -1, os.NewSyscallError("dup3", err)
		}
	}
	w.kicked = false
	w.tid = unix.Gettid()
	return w.wfd, nil
}

// disarm ends the wait; it reports whether a cancellation hit it.
func (w *waiterFDs) disarm() (kicked bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tid = 0
	return w.kicked
}

// kick cancels the waiter's blocking call, if one is in the kernel: the
// sentinel replaces its descriptor, so the call restarted after SIGURG
// fails with EBADF. The Canceller calls it only while a wait is armed;
// Close calls it directly.
func (w *waiterFDs) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tid == 0 || w.kicked {
		return
	}
	if unix.Dup3(w.sentinel, w.wfd, unix.O_CLOEXEC) != nil {
		return
	}
	w.kicked = true
	unix.Tgkill(unix.Getpid(), w.tid, unix.SIGURG)
}
