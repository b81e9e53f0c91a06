//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// The benchmarks' baselines: bare cgo calls with no handle, no slices and
// no cancellation, to measure the bindings against (not part of the stable
// raw layer, see the package doc).

// Noop calls an empty C function (pi_noop): the floor cost of one cgo call,
// reported next to the benchmarks.
func Noop() { C.pi_noop() }

// PthreadMutexLockPlain is a bare blocking pthread_mutex_lock(3): no slices,
// no cancellation. It is the cgo baseline of the benchmarks.
func PthreadMutexLockPlain(m unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_mutex_lock_plain(pthreadAddr(m)))
}

// PthreadMutexUnlockPlain is a bare pthread_mutex_unlock(3).
func PthreadMutexUnlockPlain(m unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_mutex_unlock_plain(pthreadAddr(m)))
}

// PthreadCondWaitPlain is a bare blocking pthread_cond_wait(3).
func PthreadCondWaitPlain(c, m unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_cond_wait_plain(pthreadAddr(c), pthreadAddr(m)))
}

// PthreadRWLockRdlockPlain is a bare blocking pthread_rwlock_rdlock(3): no
// handle, no slices, no cancellation. It is the cgo baseline of the
// benchmarks.
func PthreadRWLockRdlockPlain(rw unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_rwlock_rdlock_plain(pthreadAddr(rw)))
}

// PthreadRWLockWrlockPlain is a bare blocking pthread_rwlock_wrlock(3). The
// caller must unlock from the same OS thread (glibc tells a write unlock
// from a read unlock by the calling thread's id).
func PthreadRWLockWrlockPlain(rw unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_rwlock_wrlock_plain(pthreadAddr(rw)))
}

// PthreadRWLockUnlockPlain is a bare pthread_rwlock_unlock(3).
func PthreadRWLockUnlockPlain(rw unsafe.Pointer) error {
	return errnoErr(C.pi_pthread_rwlock_unlock_plain(pthreadAddr(rw)))
}
