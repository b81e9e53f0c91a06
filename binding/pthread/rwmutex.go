//go:build linux && cgo

package pthread

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/gate"
)

// errCorruptRW is the error of an unlock of an rwlock whose fields a peer
// corrupted: glibc is not called, and the handle no longer counts the lock
// as held (so Close can finish).
var errCorruptRW = fmt.Errorf("the rwlock's fields are corrupt (a peer wrote over it): released by this handle without glibc: %w", syscall.EINVAL)

// rwSlice bounds one wait of an RWMutex's helper thread in glibc: it
// re-checks the rwlock's fields (a peer may have scribbled over them) and
// whether its caller gave up that often.
const rwSlice = int64(20 * time.Millisecond)

// RWMutexOptions are the attributes NewRWMutex gives a reader/writer lock.
// The zero value (or nil) is glibc's default: process-shared, readers
// preferred.
type RWMutexOptions struct {
	// PreferWriter makes waiting writers block new readers
	// (PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), so writers cannot
	// starve; a thread must then not take a read lock it already holds.
	PreferWriter bool
}

// RWMutex is a handle to a process-shared pthread_rwlock_t placed in a
// shared-memory segment. glibc's rwlocks are not robust: a process that dies
// holding one leaves it held forever.
//
// A write lock belongs to the goroutine that took it (wired to its OS thread
// from Lock to Unlock, like Mutex). Read locks are not tied to a thread: any
// goroutine of the process may RUnlock a read lock taken through the handle.
type RWMutex struct {
	object
	hr, hw       posixipc.PthreadHandle
	rch, wch     posixipc.Helper // the helper threads of the two directions
	rgate, wgate *gate.Gate
	rcanc, wcanc *gate.Canceller
	readers      atomic.Int64 // read locks held through this handle
	errBusy      error
}

// NewRWMutex initialises a reader/writer lock at off in seg with
// pthread_rwlock_init(3) (PTHREAD_PROCESS_SHARED, plus opts). Initialise it
// once, while no process uses it; others attach with RWMutexAt.
func NewRWMutex(seg *shm.Segment, off int64, opts *RWMutexOptions) (*RWMutex, error) {
	if opts == nil {
		opts = &RWMutexOptions{}
	}
	rw, err := newRWMutex("pthread_rwlock_init", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.PthreadRWLockInit(rw.ptr, true, opts.PreferWriter); err != nil {
		rw.Close()
		return nil, rw.err("pthread_rwlock_init", err)
	}
	return rw, nil
}

// RWMutexAt attaches to the process-shared rwlock at off in seg. It fails
// with an error wrapping syscall.EINVAL when the bytes there are not one.
func RWMutexAt(seg *shm.Segment, off int64) (*RWMutex, error) {
	rw, err := newRWMutex("attach", seg, off)
	if err != nil {
		return nil, err
	}
	if !posixipc.PthreadRWLockSane(rw.ptr) { // (sane implies __shared == 1)
		rw.Close()
		return nil, rw.err("attach", fmt.Errorf("not an initialised process-shared rwlock (initialise it with NewRWMutex or pthread_rwlockattr_setpshared): %w", syscall.EINVAL))
	}
	return rw, nil
}

func newRWMutex(op string, seg *shm.Segment, off int64) (*RWMutex, error) {
	rw := &RWMutex{}
	if err := rw.place(op, seg, off, SizeofRWMutex, AlignofRWMutex); err != nil {
		return nil, err
	}
	hr, err := newHandle(op, rw.name)
	if err != nil {
		seg.Unpin()
		return nil, err
	}
	hw, err := newHandle(op, rw.name)
	if err != nil {
		hr.Free()
		seg.Unpin()
		return nil, err
	}
	rch, err := posixipc.NewHelper(rw.ptr, rwSlice)
	if err != nil {
		hr.Free()
		hw.Free()
		seg.Unpin()
		return nil, rw.err(op, err)
	}
	wch, err := posixipc.NewHelper(rw.ptr, rwSlice)
	if err != nil {
		rch.Free()
		hr.Free()
		hw.Free()
		seg.Unpin()
		return nil, rw.err(op, err)
	}
	rw.hr, rw.hw, rw.rch, rw.wch = hr, hw, rch, wch
	rw.rgate, rw.wgate = gate.New(), gate.New()
	rw.rcanc = gate.NewCanceller(func() { posixipc.HelperKick(rch, hr) }, 0)
	rw.wcanc = gate.NewCanceller(func() { posixipc.HelperKick(wch, hw) }, 0)
	rw.errBusy = rw.err("pthread_rwlock_trylock", syscall.EBUSY)
	rcanc, wcanc := rw.rcanc, rw.wcanc
	rw.l.finalize = func() bool { // refers to the C state, not to rw (see life)
		rcanc.Stop()
		wcanc.Stop()
		free := func() {
			rch.Free()
			wch.Free()
			hr.Free()
			hw.Free()
		}
		busy := func() bool { return rch.Busy() || wch.Busy() }
		// A helper that a caller gave up on leaves glibc within rwSlice;
		// one that does not is stuck in a corrupt rwlock: the segment
		// stays pinned while it may touch the memory.
		if waitIdle(busy, 2*time.Duration(rwSlice)) {
			free()
			return true
		}
		go func() {
			if waitIdle(busy, 5*time.Second) {
				seg.Unpin()
			}
			free()
		}()
		return false
	}
	watch(rw, &rw.object)
	return rw, nil
}

// RLock takes a read lock (pthread_rwlock_tryrdlock, then
// pthread_rwlock_clockrdlock on CLOCK_MONOTONIC), waiting until it can, ctx
// is done or the handle is closed. One goroutine per handle waits inside C.
func (rw *RWMutex) RLock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return rw.err("pthread_rwlock_rdlock", err)
	}
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_rdlock")
	}
	err := posixipc.PthreadRWLockTryrdlock(rw.ptr)
	if err == syscall.EBUSY {
		err = rw.slow(ctx, rw.rgate, rw.rcanc, rw.hr, false)
		if err != nil {
			return err
		}
	} else if err != nil {
		rw.release()
		return rw.err("pthread_rwlock_rdlock", err)
	}
	rw.readers.Add(1)
	return nil
}

// TryRLock takes a read lock if it can at once (pthread_rwlock_tryrdlock);
// otherwise it returns an error wrapping syscall.EBUSY.
func (rw *RWMutex) TryRLock() error {
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_tryrdlock")
	}
	if err := posixipc.PthreadRWLockTryrdlock(rw.ptr); err != nil {
		rw.release()
		if err == syscall.EBUSY {
			return rw.errBusy
		}
		return rw.err("pthread_rwlock_tryrdlock", err)
	}
	rw.readers.Add(1)
	return nil
}

// RUnlock releases a read lock taken through this handle. Without one it
// returns an error wrapping syscall.EPERM and changes nothing.
func (rw *RWMutex) RUnlock() error {
	for {
		n := rw.readers.Load()
		if n <= 0 {
			return rw.err("pthread_rwlock_unlock", syscall.EPERM)
		}
		if rw.readers.CompareAndSwap(n, n-1) {
			break
		}
	}
	if err := posixipc.PthreadRWLockUnlock(rw.ptr, rw.hr, false); err != nil {
		if err == syscall.EINVAL { // corrupt: glibc is not called; the handle lets go
			rw.release()
			return rw.err("pthread_rwlock_unlock", errCorruptRW)
		}
		rw.readers.Add(1)
		return rw.err("pthread_rwlock_unlock", err)
	}
	rw.release()
	return nil
}

// Lock takes the write lock (pthread_rwlock_trywrlock, then
// pthread_rwlock_clockwrlock on CLOCK_MONOTONIC), waiting until it can, ctx
// is done or the handle is closed. On success the goroutine is wired to its
// OS thread until Unlock.
func (rw *RWMutex) Lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return rw.err("pthread_rwlock_wrlock", err)
	}
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_wrlock")
	}
	runtime.LockOSThread()
	err := posixipc.PthreadRWLockTrywrlock(rw.ptr, rw.hw)
	if err == nil {
		return nil
	}
	runtime.UnlockOSThread()
	if err != syscall.EBUSY {
		rw.release()
		return rw.err("pthread_rwlock_wrlock", err)
	}
	return rw.slow(ctx, rw.wgate, rw.wcanc, rw.hw, true)
}

// TryLock takes the write lock if it can at once (pthread_rwlock_trywrlock);
// otherwise it returns an error wrapping syscall.EBUSY.
func (rw *RWMutex) TryLock() error {
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_trywrlock")
	}
	runtime.LockOSThread()
	err := posixipc.PthreadRWLockTrywrlock(rw.ptr, rw.hw)
	if err == nil {
		return nil
	}
	runtime.UnlockOSThread()
	rw.release()
	if err == syscall.EBUSY {
		return rw.errBusy
	}
	return rw.err("pthread_rwlock_trywrlock", err)
}

// Unlock releases the write lock. Only the goroutine that took it may: from
// any other, it returns an error wrapping syscall.EPERM and changes nothing.
func (rw *RWMutex) Unlock() error {
	if !rw.acquireLive() {
		return rw.err("pthread_rwlock_unlock", syscall.EPERM)
	}
	if err := posixipc.PthreadRWLockUnlock(rw.ptr, rw.hw, true); err != nil {
		if err == syscall.EINVAL && rw.hw.Owned() {
			// corrupt: glibc is not called; the handle lets go of its lock
			posixipc.PthreadDisown(rw.hw)
			runtime.UnlockOSThread()
			rw.release2()
			return rw.err("pthread_rwlock_unlock", errCorruptRW)
		}
		rw.release()
		return rw.err("pthread_rwlock_unlock", err)
	}
	runtime.UnlockOSThread()
	rw.release2() // the lock's reference and this call's
	return nil
}

// slow waits inside C for a read or write lock through gate g; the caller
// holds a reference, which it keeps on success.
func (rw *RWMutex) slow(ctx context.Context, g *gate.Gate, canc *gate.Canceller, h posixipc.PthreadHandle, writer bool) error {
	op := "pthread_rwlock_clockrdlock"
	if writer {
		op = "pthread_rwlock_clockwrlock"
	}
	if err := g.Enter(ctx); err != nil {
		rw.release()
		if ctx.Err() == nil {
			return rw.errClosed(op)
		}
		return rw.err(op, err)
	}
	h.SetCancel(false)
	if rw.closed() {
		g.Leave()
		rw.release()
		return rw.errClosed(op)
	}
	done := ctx.Done()
	if writer {
		runtime.LockOSThread()
	}
	ch := rw.rch
	if writer {
		ch = rw.wch
	}
	canc.Arm(done)
	err := posixipc.PthreadRWLockVia(ch, h, writer, gate.Timeout(ctx))
	canc.Disarm(done)
	g.Leave()
	if err == nil {
		return nil
	}
	if writer {
		runtime.UnlockOSThread()
	}
	rw.release()
	return rw.waitErr(ctx, op, err)
}

// Close releases the handle: waiters return an error wrapping os.ErrClosed
// (the one inside C within a wait slice), later calls fail the same way.
// Locks still held through the handle keep the segment pinned until they
// are released, which still works. It does not destroy the rwlock. Close is
// idempotent and safe concurrently with blocked calls.
func (rw *RWMutex) Close() error {
	if !rw.markClosed() {
		return nil
	}
	rw.rgate.Close()
	rw.wgate.Close()
	posixipc.HelperKick(rw.rch, rw.hr)
	posixipc.HelperKick(rw.wch, rw.hw)
	rw.rgate.Drain()
	rw.wgate.Drain()
	rw.release()
	return nil
}
