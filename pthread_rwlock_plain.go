//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import "unsafe"

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
