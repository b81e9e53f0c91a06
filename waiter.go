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
// goroutine reaches a goroutine waiting inside C: SemWaitCancel,
// MsgsndWait, MsgrcvWait, SemopWait, RingWait, and, on the waiter's own
// descriptor (SetFD), FlockWait, OFDLockWait, ReadWait and WriteWait. It
// holds a cancel flag, a sticky closed flag, the waiting thread's id, a kick
// counter that futex waits watch, and the descriptor a kick swaps an O_PATH
// sentinel over. It lives in C memory (pi_waiter_new) and must be freed with
// Free once nobody is inside. MqWaiter is this waiter plus mq's poll mode.
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
// No kick may be in flight for an earlier wait. A waiter with a descriptor
// is reset with Rearm instead.
func (w Waiter) Reset() { atomic.StoreInt32((*int32)(unsafe.Pointer(&w.w.cancel)), 0) }

// SetFD gives w the descriptor its descriptor waits block on
// (pi_waiter_set_fd): w owns fd from then on, also when SetFD fails (it is
// closed then), and Free closes it. Call it before the first such wait,
// while nobody is inside.
func (w Waiter) SetFD(fd int) error { return errnoErr(C.pi_waiter_set_fd(w.w, C.int(fd))) }

// HasFD reports whether SetFD gave w its descriptor (its fd field, read
// without a call into C).
func (w Waiter) HasFD() bool { return atomic.LoadInt32((*int32)(unsafe.Pointer(&w.w.fd))) >= 0 }

// Rearm undoes a cancelling kick before a new wait (pi_waiter_rearm): it
// clears the cancel flag and, if the kick swapped the sentinel over the
// waiter's descriptor, puts a duplicate of src there (dup3). After a closing
// kick it does nothing. On an error the flag stays set.
func (w Waiter) Rearm(src int) error { return errnoErr(C.pi_waiter_rearm(w.w, C.int(src))) }

// FlockWait is flock(2) of how (LOCK_SH or LOCK_EX, no LOCK_NB) on w's
// descriptor (pi_fd_wait PI_FD_FLOCK), waiting until it is granted or w is
// kicked (ECANCELED). It does not allocate.
func FlockWait(w Waiter, how int) error {
	_, err := fdCount(C.pi_fd_wait(w.w, C.PI_FD_FLOCK, C.int(how), 0, 0, nil, 0))
	return err
}

// OFDLockWait is fcntl(2) F_OFD_SETLKW of a lock of typ (F_RDLCK, F_WRLCK)
// on [start, start+length) (length 0: to the end of the file, as in struct
// flock) on w's descriptor (pi_fd_wait PI_FD_OFD), waiting until it is
// granted or w is kicked (ECANCELED). It does not allocate.
func OFDLockWait(w Waiter, typ int, start, length int64) error {
	_, err := fdCount(C.pi_fd_wait(w.w, C.PI_FD_OFD, C.int(typ), C.int64_t(start), C.int64_t(length), nil, 0))
	return err
}

// ReadWait is one read(2) into buf on w's descriptor, a blocking one
// (pi_fd_wait PI_FD_READ); ECANCELED once w is kicked. It does not
// allocate.
func ReadWait(w Waiter, buf []byte) (int, error) {
	return fdCount(C.pi_fd_wait(w.w, C.PI_FD_READ, 0, 0, 0, bufPtr(buf), C.size_t(len(buf))))
}

// WriteWait is one write(2) of buf on w's descriptor, a blocking one
// (pi_fd_wait PI_FD_WRITE): a write interrupted part-way returns what it
// wrote; ECANCELED once w is kicked before any byte. It does not allocate.
func WriteWait(w Waiter, buf []byte) (int, error) {
	return fdCount(C.pi_fd_wait(w.w, C.PI_FD_WRITE, 0, 0, 0, bufPtr(buf), C.size_t(len(buf))))
}

// fdCount unpacks pi_fd_wait's result: a byte count, or -errno.
func fdCount(r C.int64_t) (int, error) {
	if r < 0 {
		return 0, errnoErr(C.int(-r))
	}
	return int(r), nil
}

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

// WatchMax is the most words one FutexWatch watches (futex_waitv's 128,
// less the kick word).
const WatchMax = int(C.PI_WATCH_MAX)

// FutexWatch (pi_futex_watch) sleeps in futex_waitv, without a timeout,
// on the words at addrs while each holds vals[i] (shared[i] != 0: a shared
// futex) and on w's kick word: the index of the word that woke it,
// len(addrs) when w was kicked (Kick; its cancel flag is cleared) or the
// sleep was interrupted, or an error (EAGAIN: a word did not hold its
// value; EFAULT: a word is not mapped; ENOSYS: no futex_waitv). The
// addresses are of words in mappings, never of Go memory; it never reads
// them itself. At most WatchMax words.
func FutexWatch(addrs []uint64, vals, shared []uint32, w Waiter) (int, error) {
	n := len(addrs)
	if len(vals) < n || len(shared) < n || n > WatchMax {
		return 0, syscall.EINVAL
	}
	var pa *C.uint64_t
	var pv, ps *C.uint32_t
	if n > 0 {
		pa, pv, ps = (*C.uint64_t)(&addrs[0]), (*C.uint32_t)(&vals[0]), (*C.uint32_t)(&shared[0])
	}
	r := int(C.pi_futex_watch(pa, pv, ps, C.int(n), w.w))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return r, nil
}
