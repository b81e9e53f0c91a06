//go:build linux && cgo

package gate

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"
)

// Life is the lifetime guard of a handle: it counts the calls in flight and
// carries the handle's closed bit, so that Close can wait until the last
// caller has left C before it frees C state. The zero value is an open
// handle with no call in flight.
type Life struct{ n atomic.Int64 }

const closedBit = 1 << 62

// Acquire registers a call; it returns false (and registers nothing) once
// Close has begun. A true return must be paired with Release.
func (l *Life) Acquire() bool {
	if l.n.Add(1)&closedBit != 0 {
		l.n.Add(-1)
		return false
	}
	return true
}

// Release ends a call registered by Acquire.
func (l *Life) Release() { l.n.Add(-1) }

// AcquireLive registers a call unless no call is in flight and Close has
// begun: for a handle whose Close leaves it usable by the calls that hold
// it (a lock held through a pthread mutex handle may be unlocked after
// Close). A true return must be paired with ReleaseLast.
func (l *Life) AcquireLive() bool {
	for {
		v := l.n.Load()
		if v&^closedBit == 0 && v&closedBit != 0 {
			return false
		}
		if l.n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// ReleaseLast ends n calls and reports whether they were the last ones of
// a closed handle: the caller then frees its C state (for handles that do
// not Drain, but free on the last release).
func (l *Life) ReleaseLast(n int64) bool { return l.n.Add(-n) == closedBit }

// Closed reports whether Close has begun.
func (l *Life) Closed() bool { return l.n.Load()&closedBit != 0 }

// Close sets the closed bit; it reports whether this call set it (false:
// the handle was already closing).
func (l *Life) Close() bool {
	for {
		v := l.n.Load()
		if v&closedBit != 0 {
			return false
		}
		if l.n.CompareAndSwap(v, v|closedBit) {
			return true
		}
	}
}

// Drain calls kick (when not nil), and again with a backoff from 20µs to
// 1ms, until no call is in flight: kick must make the callers inside C
// return (a sticky flag, a signal). Call it after Close.
func (l *Life) Drain(kick func()) {
	for i := 0; l.n.Load() != closedBit; i++ {
		if kick != nil {
			kick()
		}
		time.Sleep(min(time.Duration(20<<min(i, 10))*time.Microsecond, time.Millisecond))
	}
}

// Result maps what a wait returned to the error a blocking call reports
// inside its *fs.PathError, the same way in every package: nil stays nil;
// ECANCELED (the wait was kicked) and os.ErrClosed become os.ErrClosed when
// the handle is closing, else ctx's error (errs.Deadline for a passed
// deadline); ETIMEDOUT and context.DeadlineExceeded become errs.Deadline;
// other errors stay as they are.
func (l *Life) Result(ctx context.Context, err error) error {
	switch err {
	case nil:
		return nil
	case syscall.ECANCELED, os.ErrClosed, context.Canceled:
		if l.Closed() {
			return os.ErrClosed
		}
		if e := errs.Ctx(ctx); e != nil {
			return e
		}
		return err
	case syscall.ETIMEDOUT, context.DeadlineExceeded:
		return errs.Deadline
	}
	return err
}
