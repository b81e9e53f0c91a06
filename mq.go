//go:build linux && cgo

package posixipc

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// Mqd is a POSIX message queue descriptor (mqd_t). On Linux it is a file
// descriptor, so it can be polled.
type Mqd int

// MqAttr mirrors struct mq_attr.
type MqAttr struct {
	Flags   int64 // mq_flags: 0 or O_NONBLOCK
	MaxMsg  int64 // mq_maxmsg: the capacity in messages
	MsgSize int64 // mq_msgsize: the largest message in bytes
	CurMsgs int64 // mq_curmsgs: the messages queued now
}

// bufPtr returns a C pointer to b's first byte, or nil for an empty slice.
// The memory is Go memory: C uses it only for the duration of the call.
func bufPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}

// MqOpen wraps mq_open(3). attr may be nil (the system defaults); only its
// MaxMsg and MsgSize are used, and only with O_CREAT.
func MqOpen(name string, oflag int, mode uint32, attr *MqAttr) (Mqd, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var has C.int
	var maxmsg, msgsize C.long
	if attr != nil {
		has, maxmsg, msgsize = 1, C.long(attr.MaxMsg), C.long(attr.MsgSize)
	}
	var q C.int
	if e := C.pi_mq_open(cname, C.int(oflag), C.uint(mode), has, maxmsg, msgsize, &q); e != 0 {
		return -1, errnoErr(e)
	}
	return Mqd(q), nil
}

// MqClose wraps mq_close(3).
func MqClose(mqd Mqd) error { return errnoErr(C.pi_mq_close(C.int(mqd))) }

// MqUnlink wraps mq_unlink(3).
func MqUnlink(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return errnoErr(C.pi_mq_unlink(cname))
}

// MqGetattr wraps mq_getattr(3).
func MqGetattr(mqd Mqd) (MqAttr, error) {
	var f, m, s, c C.long
	if e := C.pi_mq_getattr(C.int(mqd), &f, &m, &s, &c); e != 0 {
		return MqAttr{}, errnoErr(e)
	}
	return MqAttr{Flags: int64(f), MaxMsg: int64(m), MsgSize: int64(s), CurMsgs: int64(c)}, nil
}

// MqSetattr wraps mq_setattr(3): it sets mq_flags (only O_NONBLOCK can change)
// and returns the flags that were in force before.
func MqSetattr(mqd Mqd, flags int64) (oldFlags int64, err error) {
	var o C.long
	if e := C.pi_mq_setattr(C.int(mqd), C.long(flags), &o); e != 0 {
		return 0, errnoErr(e)
	}
	return int64(o), nil
}

// MqSend wraps mq_send(3). It blocks in C when the queue is full and
// O_NONBLOCK is not set.
func MqSend(mqd Mqd, msg []byte, prio uint) error {
	return errnoErr(C.pi_mq_send(C.int(mqd), bufPtr(msg), C.size_t(len(msg)), C.uint(prio)))
}

// MqReceive wraps mq_receive(3). It blocks in C when the queue is empty and
// O_NONBLOCK is not set. buf must hold at least mq_msgsize bytes.
func MqReceive(mqd Mqd, buf []byte) (n int, prio uint, err error) {
	return unpackReceive(C.pi_mq_receive(C.int(mqd), bufPtr(buf), C.size_t(len(buf))))
}

// unpackReceive splits a receive shim's result: priority<<32 | length, or
// -errno.
func unpackReceive(r C.int64_t) (n int, prio uint, err error) {
	if r < 0 {
		return 0, 0, errnoErr(C.int(-r))
	}
	return int(r & 0xffffffff), uint(r >> 32), nil
}

// MqTimedsend wraps mq_timedsend(3); the timeout is an absolute
// CLOCK_REALTIME time, as POSIX defines it.
func MqTimedsend(mqd Mqd, msg []byte, prio uint, absSec, absNsec int64) error {
	return errnoErr(C.pi_mq_timedsend(C.int(mqd), bufPtr(msg), C.size_t(len(msg)), C.uint(prio),
		C.int64_t(absSec), C.int64_t(absNsec)))
}

// MqTimedreceive wraps mq_timedreceive(3); the timeout is an absolute
// CLOCK_REALTIME time.
func MqTimedreceive(mqd Mqd, buf []byte, absSec, absNsec int64) (n int, prio uint, err error) {
	return unpackReceive(C.pi_mq_timedreceive(C.int(mqd), bufPtr(buf), C.size_t(len(buf)),
		C.int64_t(absSec), C.int64_t(absNsec)))
}

// MqWaiter is the C state of the one goroutine of a queue direction that
// waits inside C (struct pi_mq_waiter, see shim.c): the signal-kicked
// waiter (Waiter's struct) whose descriptor is a private duplicate of the
// queue's, which Kick swaps out from under a blocked
// mq_timedsend/mq_timedreceive, plus the poll mode. It lives in C memory;
// the zero value is not usable.
type MqWaiter struct{ w *C.struct_pi_mq_waiter }

// NewMqWaiter allocates a waiter for mqd (it duplicates the descriptor).
// Free it with Free once no call is inside it.
func NewMqWaiter(mqd Mqd) (MqWaiter, error) {
	w, err := C.pi_mq_waiter_new(C.int(mqd))
	if w == nil {
		if e, ok := err.(syscall.Errno); ok {
			return MqWaiter{}, errnoErr(C.int(e))
		}
		return MqWaiter{}, syscall.ENOMEM
	}
	return MqWaiter{w}, nil
}

// Free closes the waiter's descriptors and frees its C memory.
func (w MqWaiter) Free() { C.pi_mq_waiter_free(w.w) }

// Send sends msg with mq_timedsend(3) on the waiter's descriptor, blocking
// while the queue is full for at most timeout nanoseconds on
// CLOCK_MONOTONIC (negative: no limit; then ETIMEDOUT). It returns
// ECANCELED once Kick has been called; nothing is sent then.
func (w MqWaiter) Send(msg []byte, prio uint, timeout int64) error {
	return errnoErr(C.pi_mq_send_wait(w.w, C.int64_t(timeout), bufPtr(msg), C.size_t(len(msg)), C.uint(prio)))
}

// Receive receives with mq_timedreceive(3) on the waiter's descriptor,
// blocking while the queue is empty, with the timeout and cancellation of
// Send. A message taken from the queue is always returned.
func (w MqWaiter) Receive(buf []byte, timeout int64) (n int, prio uint, err error) {
	return unpackReceive(C.pi_mq_receive_wait(w.w, C.int64_t(timeout), bufPtr(buf), C.size_t(len(buf))))
}

// Kick makes a blocked (or the next) Send or Receive of the waiter return
// ECANCELED: it swaps the waiter's descriptor for one that is not a queue and
// sends SIGURG to the waiting thread. closing marks it for good; otherwise
// Rearm undoes it.
func (w MqWaiter) Kick(closing bool) { C.pi_mq_kick(w.w, cbool(closing)) }

// Kicked reports whether a Kick reached w since the last Rearm (its cancel
// or closed flag is set): reading the flags costs no call into C.
func (w MqWaiter) Kicked() bool { return Waiter{&w.w.w}.Kicked() }

// Rearm undoes a cancelling Kick once the call it stopped has returned
// (pi_mq_rearm): the waiter's descriptor is a duplicate of the queue's
// again. Without a pending cancel it does nothing.
func (w MqWaiter) Rearm() error { return errnoErr(C.pi_mq_rearm(w.w)) }

// PollMode switches the waiter between blocking in mq_timed* (false) and
// waiting in ppoll(2) on its descriptor and an eventfd (true), where a kick
// closes no descriptor of the queue. Switch it on before mq_notify: on
// Linux a close of any descriptor of the queue by the registered process
// removes the registration. Switching on moves a blocked waiter to ppoll
// first (ETIMEDOUT if it did not move within a second).
func (w MqWaiter) PollMode(on bool) error { return errnoErr(C.pi_mq_poll_mode(w.w, cbool(on))) }

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// MqNotifyThread wraps mq_notify(3) with SIGEV_THREAD: glibc calls back on a
// thread of its own, which runs the function registered under handle with
// RegisterNotify. handle is an integer, not a pointer.
func MqNotifyThread(mqd Mqd, handle uintptr) error {
	return errnoErr(C.pi_mq_notify_thread(C.int(mqd), C.uintptr_t(handle)))
}

// MqNotifySignal wraps mq_notify(3) with SIGEV_SIGNAL: the kernel sends signo
// with value as its si_value.
func MqNotifySignal(mqd Mqd, signo int, value int) error {
	return errnoErr(C.pi_mq_notify_signal(C.int(mqd), C.int(signo), C.intptr_t(value)))
}

// MqNotifyNone wraps mq_notify(3) with a NULL notification: it removes this
// process's registration.
func MqNotifyNone(mqd Mqd) error { return errnoErr(C.pi_mq_notify_none(C.int(mqd))) }
