//go:build linux && cgo

package posixipc

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"unsafe"
)

// Sizes of sem_t and the largest semaphore value (SEM_VALUE_MAX).
const (
	SemSize     = int(C.PI_SEM_SIZE)      // sizeof(sem_t)
	SemAlign    = int(C.PI_SEM_ALIGN)     // _Alignof(sem_t)
	SemValueMax = int(C.PI_SEM_VALUE_MAX) // SEM_VALUE_MAX
)

// Sem is a sem_t* in C memory: one returned by sem_open, or one placed in a
// mapping of shared memory (SemAt). The zero Sem is invalid.
type Sem struct{ p *C.sem_t }

// Valid reports whether s points at a semaphore.
func (s Sem) Valid() bool { return s.p != nil }

// Addr returns the address of the sem_t, for identity and diagnostics.
func (s Sem) Addr() uintptr { return uintptr(unsafe.Pointer(s.p)) }

// SemAt returns the semaphore at p. p must point into memory that is not
// managed by Go (a shared mapping), aligned to SemAlign, with SemSize bytes.
func SemAt(p unsafe.Pointer) Sem { return Sem{(*C.sem_t)(p)} }

// SemOpen wraps sem_open(3). value is used only when the call creates the
// semaphore.
func SemOpen(name string, oflag int, mode uint32, value uint32) (Sem, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var s *C.sem_t
	if e := C.pi_sem_open(cname, C.int(oflag), C.uint(mode), C.uint(value), &s); e != 0 {
		return Sem{}, errnoErr(e)
	}
	return Sem{s}, nil
}

// SemClose wraps sem_close(3).
func SemClose(s Sem) error { return errnoErr(C.pi_sem_close(s.p)) }

// SemUnlink wraps sem_unlink(3).
func SemUnlink(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return errnoErr(C.pi_sem_unlink(cname))
}

// SemInit wraps sem_init(3).
func SemInit(s Sem, pshared bool, value uint32) error {
	var ps C.int
	if pshared {
		ps = 1
	}
	return errnoErr(C.pi_sem_init(s.p, ps, C.uint(value)))
}

// SemDestroy wraps sem_destroy(3).
func SemDestroy(s Sem) error { return errnoErr(C.pi_sem_destroy(s.p)) }

// SemSane reports EINVAL when the sem_t holds fields glibc cannot use (see
// pi_sem_sane in shim.c): glibc would abort the process on them.
func SemSane(s Sem) error { return errnoErr(C.pi_sem_sane(s.p)) }

// SemPost wraps sem_post(3), after SemSane.
func SemPost(s Sem) error { return errnoErr(C.pi_sem_post(s.p)) }

// SemWait wraps sem_wait(3): it blocks the calling OS thread in C. Under Go's
// SA_RESTART signal handlers it is restarted, not interrupted, by signals.
func SemWait(s Sem) error { return errnoErr(C.pi_sem_wait(s.p)) }

// SemTryWait wraps sem_trywait(3), after SemSane.
func SemTryWait(s Sem) error { return errnoErr(C.pi_sem_trywait(s.p)) }

// SemClockWait wraps sem_clockwait(3) with an absolute deadline on clock
// (e.g. unix.CLOCK_MONOTONIC), in nanoseconds.
func SemClockWait(s Sem, clock int, absNs int64) error {
	return errnoErr(C.pi_sem_clockwait(s.p, C.int(clock), C.int64_t(absNs/1e9), C.int64_t(absNs%1e9)))
}

// SemGetValue wraps sem_getvalue(3).
func SemGetValue(s Sem) (int, error) {
	var v C.int
	if e := C.pi_sem_getvalue(s.p, &v); e != 0 {
		return 0, errnoErr(e)
	}
	return int(v), nil
}

// SemWaitCancel (pi_sem_wait_cancel) waits on s until it takes a unit
// (nil), relNs nanoseconds pass on CLOCK_MONOTONIC (ETIMEDOUT; relNs < 0:
// no deadline) or w is kicked (ECANCELED): glibc's algorithm on the
// sem_t's words with futex_waitv on the value and w's kick word, or, where
// futex_waitv is missing, sem_clockwait (timed, so that the kick's signal
// interrupts it). EINTR is retried inside C. A wait that returns an error
// took no unit.
func SemWaitCancel(s Sem, w Waiter, relNs int64) error {
	return errnoErr(C.pi_sem_wait_cancel(s.p, w.w, C.int64_t(relNs)))
}

// SemWatchBegin (pi_sem_watch_begin) counts the caller in as a waiter of
// glibc's semaphore algorithm, so that sem_post wakes the value word, and
// returns that word (in the semaphore's mapping), whether it is a shared
// futex, and the value after counting in: the kit's idle wait then
// watches the word (FutexWatch) while the value is 0. ENOSYS where the
// algorithm is not the one SemWaitCancel knows (the caller polls), EINVAL
// for a semaphore glibc cannot use. Every successful SemWatchBegin is
// followed by one SemWatchEnd.
func SemWatchBegin(s Sem) (word *uint32, shared bool, value uint32, err error) {
	var w *C.uint32_t
	var sh C.int
	var v C.uint32_t
	if err := errnoErr(C.pi_sem_watch_begin(s.p, &w, &sh, &v)); err != nil {
		return nil, false, 0, err
	}
	return (*uint32)(unsafe.Pointer(w)), sh != 0, uint32(v), nil
}

// SemWatchEnd (pi_sem_watch_end) counts the caller of SemWatchBegin out,
// passing on a sem_post's wake-up it may have taken.
func SemWatchEnd(s Sem) { C.pi_sem_watch_end(s.p) }
