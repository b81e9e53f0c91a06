//go:build linux && cgo

package pthread

import (
	"context"
	"fmt"
	"os"
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
	rch, wch     posixipc.Helper         // the helper threads of the two directions
	rk, wk       *gate.Kit[helperWaiter] // the waiter kits of the two directions
	tryR, tryW   func() error            // the tries and waits as values made once
	waitR, waitW func(helperWaiter, int64) error
	readers      atomic.Int64 // read locks held through this handle
	errBusy      error
}

// helperWaiter is the kit's C waiter of one direction of an RWMutex: the
// direction's cancel flag, and the wake-up of the caller sleeping on its
// helper (pi_helper_kick).
type helperWaiter struct {
	ch posixipc.Helper
	h  posixipc.PthreadHandle
}

func (w helperWaiter) Reset()    { w.h.SetCancel(false) }
func (w helperWaiter) Kick(bool) { posixipc.HelperKick(w.ch, w.h) }
func (w helperWaiter) Free()     {} // the helper and handle are the RWMutex's: freed by its finalize

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
	// Untimed kits: the helper's wait takes the whole timeout at once (a
	// first short wait given up would leave the helper in glibc for a slice).
	rw.rk = gate.NewKit(false, func() (helperWaiter, error) { return helperWaiter{rch, hr}, nil })
	rw.wk = gate.NewKit(false, func() (helperWaiter, error) { return helperWaiter{wch, hw}, nil })
	rw.tryR, rw.tryW = rw.tryRLock, rw.tryLock
	rw.waitR, rw.waitW = rw.waitRLock, rw.waitLock
	rw.errBusy = rw.err("pthread_rwlock_trylock", syscall.EBUSY)
	rk, wk := rw.rk, rw.wk
	rw.l.finalize = func() bool { // refers to the C state, not to rw (see life)
		rk.Close() // no-ops after Close; for a dropped handle, stop the cancellers
		wk.Close()
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
// pthread_rwlock_clockrdlock on CLOCK_MONOTONIC through the direction's
// helper thread), waiting until it can, ctx is done or the handle is
// closed. It waits through the waiter kit: one goroutine per handle and
// direction waits inside C, and those waits count toward the process-wide
// bound (gate.MaxInKernel); a call that finds no free slot retries
// pthread_rwlock_tryrdlock with a backoff of 1 to 25 ms.
func (rw *RWMutex) RLock(ctx context.Context) error {
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_rdlock")
	}
	if err := rw.rk.TryBlock(ctx, 0, rw.tryR, rw.waitR); err != nil {
		rw.release()
		return rw.lockErr("pthread_rwlock_rdlock", err)
	}
	rw.readers.Add(1)
	return nil
}

// tryRLock is RLock's try: EBUSY is the kit's WouldBlock.
func (rw *RWMutex) tryRLock() error {
	err := posixipc.PthreadRWLockTryrdlock(rw.ptr)
	if err == syscall.EBUSY {
		return gate.WouldBlock
	}
	return err
}

// waitRLock is RLock's wait inside C, through the read helper.
func (rw *RWMutex) waitRLock(w helperWaiter, rel int64) error {
	return posixipc.PthreadRWLockVia(w.ch, w.h, false, rel)
}

// lockErr is the error of a lock call that failed with err (the kit's
// mapping: os.ErrClosed, ErrDeadline, the context's error, or glibc's).
func (rw *RWMutex) lockErr(op string, err error) error {
	if err == os.ErrClosed {
		return rw.errClosed(op)
	}
	return rw.err(op, err)
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
// pthread_rwlock_clockwrlock on CLOCK_MONOTONIC through the direction's
// helper thread), waiting until it can, ctx is done or the handle is
// closed; it waits through the waiter kit as RLock does. On success the
// goroutine is wired to its OS thread until Unlock.
func (rw *RWMutex) Lock(ctx context.Context) error {
	if !rw.acquire() {
		return rw.errClosed("pthread_rwlock_wrlock")
	}
	if err := rw.wk.TryBlock(ctx, 0, rw.tryW, rw.waitW); err != nil {
		rw.release()
		return rw.lockErr("pthread_rwlock_wrlock", err)
	}
	return nil
}

// tryLock is Lock's try: pthread_rwlock_trywrlock on the calling
// goroutine's thread, which stays wired to it when the lock is taken;
// EBUSY is the kit's WouldBlock.
func (rw *RWMutex) tryLock() error {
	runtime.LockOSThread()
	err := posixipc.PthreadRWLockTrywrlock(rw.ptr, rw.hw)
	if err == nil {
		return nil
	}
	runtime.UnlockOSThread()
	if err == syscall.EBUSY {
		return gate.WouldBlock
	}
	return err
}

// waitLock is Lock's wait inside C, through the write helper, which hands
// the lock to the calling thread (wired to it until Unlock).
func (rw *RWMutex) waitLock(w helperWaiter, rel int64) error {
	runtime.LockOSThread()
	err := posixipc.PthreadRWLockVia(w.ch, w.h, true, rel)
	if err != nil {
		runtime.UnlockOSThread()
	}
	return err
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

// Close releases the handle: waiters return an error wrapping os.ErrClosed
// (the one inside C within a wait slice), later calls fail the same way.
// Locks still held through the handle keep the segment pinned until they
// are released, which still works. It does not destroy the rwlock. Close is
// idempotent and safe concurrently with blocked calls.
func (rw *RWMutex) Close() error {
	if !rw.markClosed() {
		return nil
	}
	rw.rk.Close()
	rw.wk.Close()
	rw.release()
	return nil
}
