//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// The pthread shims take addresses as uintptr_t: the objects live in shared
// memory (never Go memory), so passing integers skips cgo's pointer checks
// on the hot path.

// Sizes and alignments of glibc's pthread_mutex_t, pthread_cond_t and
// pthread_rwlock_t on this platform, as the C compiler sees them.
const (
	SizeofPthreadMutex   = C.PI_SIZEOF_PTHREAD_MUTEX
	AlignofPthreadMutex  = C.PI_ALIGNOF_PTHREAD_MUTEX
	SizeofPthreadCond    = C.PI_SIZEOF_PTHREAD_COND
	AlignofPthreadCond   = C.PI_ALIGNOF_PTHREAD_COND
	SizeofPthreadRWLock  = C.PI_SIZEOF_PTHREAD_RWLOCK
	AlignofPthreadRWLock = C.PI_ALIGNOF_PTHREAD_RWLOCK

	// PthreadSliceNanos is the length of one wait slice of the blocking
	// lock calls: the longest a cancellation waits to be noticed in C.
	PthreadSliceNanos = C.PI_PTHREAD_SLICE_NS
)

// Mutex types (pthread_mutexattr_settype).
const (
	PthreadMutexNormal     = C.PTHREAD_MUTEX_NORMAL
	PthreadMutexErrorCheck = C.PTHREAD_MUTEX_ERRORCHECK
	PthreadMutexRecursive  = C.PTHREAD_MUTEX_RECURSIVE
)

// Bits of glibc's pthread internals read by the state calls.
const (
	PthreadKindRobust         = 16         // PTHREAD_MUTEX_ROBUST_NORMAL_NP in __kind
	PthreadKindPshared        = 128        // PTHREAD_MUTEX_PSHARED_BIT in __kind
	PthreadKindPI             = 32         // PTHREAD_MUTEX_PRIO_INHERIT_NP in __kind
	PthreadKindPP             = 64         // PTHREAD_MUTEX_PRIO_PROTECT_NP in __kind
	PthreadKindElision        = 256 | 512  // PTHREAD_MUTEX_ELISION_NP, _NO_ELISION_NP in __kind
	PthreadKindTypeMask       = 3          // the type in __kind
	FutexOwnerDied            = 0x40000000 // FUTEX_OWNER_DIED in __lock
	FutexWaiters              = -0x80000000
	FutexTIDMask              = 0x3fffffff
	PthreadMutexInconsistent  = 0x7fffffff // __owner after EOWNERDEAD, before consistent
	PthreadMutexNotRecovering = 0x7ffffffe // __owner of an unrecoverable mutex
)

// PthreadHandle is the C state of one Go handle of a pthread object: the
// cancel flag its canceller sets and the thread holding the lock through it.
// It lives in malloc'd C memory; the zero value is no handle.
type PthreadHandle struct{ p C.uintptr_t }

// NewPthreadHandle allocates a handle (calloc). Free it with Free.
func NewPthreadHandle() (PthreadHandle, error) {
	p := C.pi_pthread_handle_new()
	if p == nil {
		return PthreadHandle{}, syscall.ENOMEM
	}
	return PthreadHandle{C.uintptr_t(uintptr(p))}, nil
}

// Free releases the handle. No call may use it afterwards.
func (h PthreadHandle) Free() { C.pi_pthread_handle_free(h.p) }

// SetCancel sets (v=true) or clears the cancel flag that the blocking calls
// check between wait slices. It is safe from any thread.
func (h PthreadHandle) SetCancel(v bool) {
	var i C.int
	if v {
		i = 1
	}
	C.pi_pthread_cancel_set(h.p, i)
}

// Owned reports whether the calling OS thread holds the lock through h.
func (h PthreadHandle) Owned() bool { return C.pi_pthread_owned(h.p) != 0 }

// WaitCheck returns nil when the calling OS thread holds the mutex through h
// exactly once, EPERM when it does not hold it, and EINVAL when it holds a
// recursive mutex more than once (a condvar wait would not release it).
func (h PthreadHandle) WaitCheck() error { return errnoErr(C.pi_pthread_wait_check(h.p)) }

// PthreadMutexInit wraps pthread_mutex_init(3) with a pthread_mutexattr_t of
// the given type (PthreadMutex*), robustness and process-sharing.
func PthreadMutexInit(m unsafe.Pointer, typ int, robust, pshared bool) error {
	return errnoErr(C.pi_pthread_mutex_init(pthreadAddr(m), C.int(typ), pthreadBool(robust), pthreadBool(pshared)))
}

// PthreadMutexDestroy wraps pthread_mutex_destroy(3).
func PthreadMutexDestroy(m unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_mutex_destroy(pthreadAddr(m)))
}

// PthreadMutexState reads glibc's __lock (futex word), __owner and __kind
// fields of the mutex at m without locking it.
func PthreadMutexState(m unsafe.Pointer) (lock, owner, kind int32) {
	var l, o, k C.int
	C.pi_pthread_mutex_state(pthreadAddr(m), &l, &o, &k)
	return int32(l), int32(o), int32(k)
}

// PthreadMutexTrylock wraps pthread_mutex_trylock(3); on success (and on
// EOWNERDEAD, where the lock is taken too) h records the calling thread.
func PthreadMutexTrylock(m unsafe.Pointer, h PthreadHandle) error {
	return errnoErr(C.pi_pthread_mutex_trylock(pthreadAddr(m), h.p))
}

// PthreadMutexLock waits for the mutex with pthread_mutex_clocklock(3) on
// CLOCK_MONOTONIC, in slices of PthreadSliceNanos. It returns ECANCELED once
// h's cancel flag is set and ETIMEDOUT once timeout (nanoseconds, negative
// for none) has passed.
func PthreadMutexLock(m unsafe.Pointer, h PthreadHandle, timeout int64) error {
	return errnoErr(C.pi_pthread_mutex_lock(pthreadAddr(m), h.p, C.int64_t(timeout)))
}

// PthreadMutexUnlock wraps pthread_mutex_unlock(3). It returns EPERM, without
// calling it, unless the calling thread holds the mutex through h.
func PthreadMutexUnlock(m unsafe.Pointer, h PthreadHandle) error {
	return errnoErr(C.pi_pthread_mutex_unlock(pthreadAddr(m), h.p))
}

// PthreadMutexConsistent wraps pthread_mutex_consistent(3); EPERM unless the
// calling thread holds the mutex through h.
func PthreadMutexConsistent(m unsafe.Pointer, h PthreadHandle) error {
	return errnoErr(C.pi_pthread_mutex_consistent(pthreadAddr(m), h.p))
}

// PthreadCondInit wraps pthread_cond_init(3) with a pthread_condattr_t of
// the given process-sharing and clock (CLOCK_MONOTONIC or CLOCK_REALTIME).
func PthreadCondInit(c unsafe.Pointer, pshared, monotonic bool) error {
	return errnoErr(C.pi_pthread_cond_init(pthreadAddr(c), pthreadBool(pshared), pthreadBool(monotonic)))
}

// PthreadCondDestroy wraps pthread_cond_destroy(3).
func PthreadCondDestroy(c unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_cond_destroy(pthreadAddr(c)))
}

// PthreadCondState reads glibc's __wrefs field of the condvar at c (bit 0:
// process-shared, bit 1: CLOCK_MONOTONIC, the rest: waiter references).
func PthreadCondState(c unsafe.Pointer) uint32 {
	var w C.uint
	C.pi_pthread_cond_state(pthreadAddr(c), &w)
	return uint32(w)
}

// Helper is the C helper of one Cond or RWMutex handle (see shim.h): a
// thread, started on the first wait, that waits in pthread_cond_clockwait(3)
// or pthread_rwlock_clock*lock(3) on the caller's behalf, so the caller
// sleeps only on words in C memory. The zero value is no helper.
type Helper struct{ p *C.struct_pi_helper }

// NewHelper allocates the helper of the condvar or rwlock at c;
// sliceNanos bounds one wait of the helper in glibc.
func NewHelper(c unsafe.Pointer, sliceNanos int64) (Helper, error) {
	h, err := C.pi_helper_new(pthreadAddr(c), C.int64_t(sliceNanos))
	if h == nil {
		if e, ok := err.(syscall.Errno); ok && e != 0 {
			return Helper{}, e
		}
		return Helper{}, syscall.ENOMEM
	}
	return Helper{h}, nil
}

// Busy reports whether the helper thread is inside glibc on the condvar.
func (h Helper) Busy() bool { return C.pi_helper_busy(h.p) != 0 }

// Free ends the helper: its thread exits (and frees the C memory) once it
// has left glibc.
func (h Helper) Free() { C.pi_helper_free(h.p) }

// CondReleased is or'ed into the result of PthreadCondWait when it returns
// with the mutex unlocked.
const CondReleased = C.PI_COND_RELEASED

// PthreadCondWait waits on the helper's condvar with pthread_cond_clockwait(3)
// run by the helper thread, the calling thread holding m through hm once
// (pi_pthread_cond_wait in shim.h). It returns the errno (0 for a wake-up,
// ETIMEDOUT, ECANCELED after HelperKick) or'ed with CondReleased when
// m was unlocked; the caller locks m again then.
func PthreadCondWait(h Helper, m unsafe.Pointer, hm, hc PthreadHandle, timeout int64) int {
	return int(C.pi_pthread_cond_wait(h.p, pthreadAddr(m), hm.p, hc.p, C.int64_t(timeout)))
}

// PthreadCondSignal wraps pthread_cond_signal(3).
func PthreadCondSignal(c unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_cond_signal(pthreadAddr(c)))
}

// PthreadCondBroadcast wraps pthread_cond_broadcast(3).
func PthreadCondBroadcast(c unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_cond_broadcast(pthreadAddr(c)))
}

// PthreadCondWaiters reads glibc's count of waiter references of the
// condvar (__wrefs >> 3): signal and broadcast do nothing when it is 0.
func PthreadCondWaiters(c unsafe.Pointer) uint32 {
	return uint32(C.pi_pthread_cond_waiters(pthreadAddr(c)))
}

// PthreadRWLockInit wraps pthread_rwlock_init(3) with a pthread_rwlockattr_t
// of the given process-sharing and kind (writer- or reader-preferring).
func PthreadRWLockInit(rw unsafe.Pointer, pshared, preferWriter bool) error {
	return errnoErr(C.pi_pthread_rwlock_init(pthreadAddr(rw), pthreadBool(pshared), pthreadBool(preferWriter)))
}

// PthreadRWLockDestroy wraps pthread_rwlock_destroy(3).
func PthreadRWLockDestroy(rw unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_rwlock_destroy(pthreadAddr(rw)))
}

// PthreadRWLockShared reads glibc's __shared field of the rwlock at rw.
func PthreadRWLockShared(rw unsafe.Pointer) bool {
	var s C.int
	C.pi_pthread_rwlock_state(pthreadAddr(rw), &s)
	return s != 0
}

// PthreadRWLockTryrdlock wraps pthread_rwlock_tryrdlock(3).
func PthreadRWLockTryrdlock(rw unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_rwlock_tryrdlock(pthreadAddr(rw)))
}

// PthreadRWLockTrywrlock wraps pthread_rwlock_trywrlock(3); on success h
// records the calling thread.
func PthreadRWLockTrywrlock(rw unsafe.Pointer, h PthreadHandle) error {
	return errnoErr(C.pi_pthread_rwlock_trywrlock(pthreadAddr(rw), h.p))
}

// PthreadDisown forgets that the calling thread holds a lock through h
// (once), without unlocking anything.
func PthreadDisown(h PthreadHandle) { C.pi_pthread_disown(h.p) }

// PthreadRWLockSane reports whether the rwlock's fields are ones glibc
// writes for a process-shared rwlock (pi_pthread_rwlock_sane).
func PthreadRWLockSane(rw unsafe.Pointer) bool { return C.pi_pthread_rwlock_sane(pthreadAddr(rw)) != 0 }

// PthreadRWLockVia takes a read or write lock of the helper's rwlock
// through the helper thread (pi_pthread_rwlock_lock_via): the calling
// thread sleeps on words in C memory until the lock is taken (a write lock
// then belongs to the calling thread, recorded in h), timeout nanoseconds
// passed (ETIMEDOUT; negative: none) or HelperKick(ch, h) (ECANCELED). A
// failed call took nothing. EINVAL: the rwlock's fields are corrupt.
func PthreadRWLockVia(ch Helper, h PthreadHandle, writer bool, timeout int64) error {
	return errnoErr(C.pi_pthread_rwlock_lock_via(ch.p, h.p, pthreadBool(writer), C.int64_t(timeout)))
}

// HelperKick sets h's cancel flag and wakes the caller sleeping in
// PthreadCondWait or PthreadRWLockVia with h; it never touches the object.
func HelperKick(ch Helper, h PthreadHandle) { C.pi_helper_kick(ch.p, h.p) }

// PthreadRWLockUnlock wraps pthread_rwlock_unlock(3). For a write lock
// (writer true) it returns EPERM, without calling it, unless the calling
// thread holds the lock through h.
func PthreadRWLockUnlock(rw unsafe.Pointer, h PthreadHandle, writer bool) error {
	return errnoErr(C.pi_pthread_rwlock_unlock(pthreadAddr(rw), h.p, pthreadBool(writer)))
}

// addr passes a pointer into shared (or C) memory to C as an integer:
// never a Go pointer, so the cgo pointer checks have nothing to check.
func pthreadAddr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

func pthreadBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
