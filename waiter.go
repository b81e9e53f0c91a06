//go:build linux && cgo

package posixipc

/*
#include "shim.h"
*/
import "C"

import (
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Waiter is the C-memory state (struct pi_waiter) through which another
// goroutine reaches a goroutine waiting inside C in a call that a signal
// interrupts: SemWaitCancel, MsgsndWait, MsgrcvWait, SemopWait. It holds a
// cancel flag, a sticky closed flag and the waiting thread's id. It lives in
// C memory (pi_waiter_new) and must be freed with Free once nobody is
// inside.
type Waiter struct{ w *C.struct_pi_waiter }

// NewWaiter allocates a Waiter (pi_waiter_new: calloc); ENOMEM when C has no
// memory.
func NewWaiter() (Waiter, error) {
	p := C.pi_waiter_new()
	if p == nil {
		return Waiter{}, syscall.ENOMEM
	}
	return Waiter{p}, nil
}

// Valid reports whether w was allocated.
func (w Waiter) Valid() bool { return w.w != nil }

// Free releases w (pi_waiter_free). Nobody may be inside a wait on it.
func (w Waiter) Free() { C.pi_waiter_free(w.w) }

// Reset clears the cancel flag before a new wait (the closed flag stays).
// No kick may be in flight for an earlier wait.
func (w Waiter) Reset() { atomic.StoreInt32((*int32)(unsafe.Pointer(&w.w.cancel)), 0) }

// Kicked reports whether w's cancel or closed flag is set, as the waits
// in C check them.
func (w Waiter) Kicked() bool {
	return atomic.LoadInt32((*int32)(unsafe.Pointer(&w.w.cancel))) != 0 ||
		atomic.LoadInt32((*int32)(unsafe.Pointer(&w.w.closed))) != 0
}

// Kick sets the cancel flag (closing: the sticky closed flag) and signals
// the thread waiting inside C on w, if any, with SIGURG (pi_waiter_kick).
func (w Waiter) Kick(closing bool) {
	var c C.int
	if closing {
		c = 1
	}
	C.pi_waiter_kick(w.w, c)
}
