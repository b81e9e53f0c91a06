//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import "unsafe"

// RingWait sleeps on the futex word *word of a shared segment while it
// holds val (pi_ring_wait: futex_waitv on the word, shared, and w's kick
// word, timed only by relNs on CLOCK_MONOTONIC; without futex_waitv a
// timed FUTEX_WAIT_BITSET): nil when woken or when the word no longer
// holds val (look again), ETIMEDOUT after relNs nanoseconds (< 0: no
// deadline), ECANCELED when w is kicked, EFAULT when the word is no longer
// mapped. word must point into a mapping, never into Go memory.
func RingWait(w Waiter, word *uint32, val uint32, relNs int64) error {
	return errnoErr(C.pi_ring_wait(w.w, (*C.uint32_t)(unsafe.Pointer(word)), C.uint32_t(val), C.int64_t(relNs)))
}
