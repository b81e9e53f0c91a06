//go:build linux && cgo

package gate

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PollerWait is the idle wait of a kit whose calls wait on a pollable
// descriptor (SetIdle): it waits in the Go runtime's poller, on f (an
// *os.File of a non-blocking descriptor, in the poller; rc its
// SyscallConn), until the descriptor is readable, or writable when write
// is set, looking with poll(2) after the poller's wait is armed, so no
// readiness is lost between the kit's try and the wait. ctx's deadline
// becomes f's deadline of the direction, and ctx's end (or WakePoller)
// sets it in the past. The kit lets one call per key in at a time, so the
// direction's deadline of f is that call's. It returns nil when the
// descriptor may be ready: the kit then tries the call again.
func PollerWait(ctx context.Context, f *os.File, rc syscall.RawConn, write bool) error {
	if rc == nil {
		return os.ErrInvalid // the kit then polls
	}
	idleWaits.Add(1)
	set, wait, ev := f.SetReadDeadline, rc.Read, int16(unix.POLLIN)
	if write {
		set, wait, ev = f.SetWriteDeadline, rc.Write, unix.POLLOUT
	}
	if dl, has := ctx.Deadline(); has {
		set(dl)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { set(time.Unix(1, 0)); close(fired) })
	err := wait(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: ev}}
		n, err := unix.Poll(pfd, 0)
		return err != nil || n > 0 // (an error: let the try report it)
	})
	if !stop() {
		<-fired // its deadline is set: clear it only after
	}
	set(time.Time{})
	return err
}

// WakePoller ends the PollerWaits on f (the kit's idle wake, for Close).
func WakePoller(f *os.File) { f.SetDeadline(time.Unix(1, 0)) }

// idleWaits counts the PollerWaits and FutexWaits of the process
// (IdleWaits).
var idleWaits atomic.Int64

// IdleWaits reports how many times a call of the process has waited in
// the runtime poller or the futex watch for want of a slot (for tests).
func IdleWaits() int64 { return idleWaits.Load() }
