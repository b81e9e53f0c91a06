//go:build linux && cgo

package pthread

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
)

// Errors of a robust mutex. Both are syscall.Errno values, so errors.Is(err,
// ErrOwnerDead) and errors.Is(err, syscall.EOWNERDEAD) say the same.
var (
	// ErrOwnerDead: the previous holder died holding the mutex. The lock IS
	// held by the caller: repair the protected data, call MarkConsistent,
	// then Unlock. Unlocking without MarkConsistent makes the mutex
	// unrecoverable.
	ErrOwnerDead error = syscall.EOWNERDEAD
	// ErrNotRecoverable: a holder unlocked after ErrOwnerDead without
	// MarkConsistent; the mutex can never be locked again (re-initialise it
	// with NewMutex when nobody uses it).
	ErrNotRecoverable error = syscall.ENOTRECOVERABLE
)

// object is the part common to Mutex, Cond and RWMutex: the place in the
// segment and the reference count that keeps the segment pinned and the C
// state allocated while any goroutine may still use them.
//
// Its life (a gate.Life, the kit's counter with a closed bit) counts the
// handle itself (until Close), every call in flight and every lock held
// through the handle (Lock to Unlock). The object is finalised (C state
// freed, segment unpinned) when Close has happened and the count falls to
// zero.
type object struct {
	seg     *shm.Segment
	off     int64
	ptr     unsafe.Pointer
	name    string // "SEG@OFF" (shm.PlaceName), the Path of errors
	l       *life  // the reference count, apart from the handle (see life)
	cleanup runtime.Cleanup
}

// life is the reference count of a handle and what ends it, in an object
// of its own so that the clean-up of a handle dropped without Close can
// reach it without keeping the handle alive. finalize must not refer to
// the handle either.
type life struct {
	gate.Life // users (the handle itself until Close, and calls) and the closed bit
	seg       *shm.Segment
	// finalize frees the C state; it reports whether the segment may be
	// unpinned (false while C code may still touch the object's bytes).
	finalize func() bool
}

func (l *life) release() { l.releaseN(1) }

func (l *life) releaseN(n int64) {
	if l.ReleaseLast(n) && l.finalize() {
		l.seg.Unpin()
	}
}

func (l *life) markClosed() bool { return l.Life.Close() }

// dropped is the clean-up of a handle dropped without Close: it closes it
// (a lock still held through it keeps it alive, as after Close).
func (l *life) dropped() {
	if l.markClosed() {
		l.release()
	}
}

// watch registers the clean-up of handle h, whose object is o.
func watch[T any](h *T, o *object) { o.cleanup = runtime.AddCleanup(h, (*life).dropped, o.l) }

// place checks that an object of size and align fits at off in seg, pins
// the segment and prefaults it (shm.Segment.Place), and fills o.
func (o *object) place(op string, seg *shm.Segment, off int64, size, align int) error {
	nm, p, err := seg.Place(op, off, size, align)
	o.name = nm
	if err != nil {
		return err
	}
	o.seg, o.off = seg, off
	o.ptr = p
	o.l = &life{seg: seg}
	o.l.Acquire() // the handle itself, until Close
	return nil
}

// acquire adds a user unless the object is closed.
func (o *object) acquire() bool { return o.l.Acquire() }

// acquireLive adds a user unless the object is finalised: it lets a holder
// unlock after Close.
func (o *object) acquireLive() bool { return o.l.AcquireLive() }

// release drops a user and finalises a closed object that nobody uses.
func (o *object) release() { o.l.release() }

// release2 drops two users at once (a lock's and the unlocking call's).
func (o *object) release2() { o.l.releaseN(2) }

// markClosed sets the closed bit; it reports false if it was set already.
func (o *object) markClosed() bool {
	if !o.l.markClosed() {
		return false
	}
	o.cleanup.Stop()
	return true
}

func (o *object) closed() bool { return o.l.Closed() }

// Offset returns the object's offset in its segment.
func (o *object) Offset() int64 { return o.off }

func (o *object) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: o.name, Err: errs.Of(err)}
}

func (o *object) errClosed(op string) error {
	return &fs.PathError{Op: op, Path: o.name, Err: os.ErrClosed}
}

// waitErr maps the result of a wait (the kit's one mapping, Life.Result):
// ECANCELED to os.ErrClosed when Close kicked it, else to the context's
// error; ETIMEDOUT to the deadline error.
func (o *object) waitErr(ctx context.Context, op string, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno
	}
	e := o.l.Result(ctx, err)
	if e == os.ErrClosed {
		return o.errClosed(op)
	}
	return o.err(op, e)
}

// newHandle allocates the C state of a handle.
func newHandle(op, name string) (posixipc.PthreadHandle, error) {
	h, err := posixipc.NewPthreadHandle()
	if err != nil {
		return h, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return h, nil
}

// waitIdle polls busy every millisecond for up to d and reports whether it
// turned false.
func waitIdle(busy func() bool, d time.Duration) bool {
	end := time.Now().Add(d)
	for busy() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}
