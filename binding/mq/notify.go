//go:build linux && cgo

package mq

import (
	"fmt"
	"syscall"

	"github.com/posixipc/posixipc"
)

// Notify asks for one notification when a message arrives on the empty queue
// (mq_notify(3) with SIGEV_THREAD): fn then runs once, on a thread that glibc
// creates for it, so it should be short (send on a channel, say).
//
// POSIX semantics apply exactly:
//   - Only one process at a time may be registered on a queue; while another
//     holds the registration, Notify fails with an error matching
//     syscall.EBUSY.
//   - The notification fires only on the transition from empty to non-empty,
//     and not when another process is blocked in mq_receive on the queue.
//   - It is one-shot: after it fires the registration is gone; call Notify
//     again to be told of the next message. Registering again replaces a
//     registration of this process only after StopNotify.
//
// C keeps no Go pointer: the callback is found through a runtime/cgo.Handle,
// an integer.
func (q *Queue) Notify(fn func()) error {
	if fn == nil {
		return pathErr("mq_notify", q.name, fmt.Errorf("nil callback: %w", syscall.EINVAL))
	}
	if err := q.enter("mq_notify"); err != nil {
		return err
	}
	defer q.k.Release()
	q.notifyMu.Lock()
	defer q.notifyMu.Unlock()
	if err := q.pollMode(); err != nil {
		return err
	}
	var h uintptr
	h = posixipc.RegisterNotify(func() {
		q.notifyMu.Lock()
		mine := q.notify == h
		if mine {
			// fired: the registration is gone (Close, which frees the
			// waiters, takes notifyMu first)
			q.notify = 0
			posixipc.UnregisterNotify(h)
			q.polling.Store(false)
			q.k.Each(func(w mqWaiter) { w.PollMode(false) }) // none after Close
		}
		q.notifyMu.Unlock()
		if mine {
			fn() // a panic here ends the program, as in any goroutine
		}
	})
	if err := posixipc.MqNotifyThread(q.mqd, h); err != nil {
		posixipc.UnregisterNotify(h)
		return pathErr("mq_notify", q.name, err)
	}
	if q.notify != 0 {
		posixipc.UnregisterNotify(q.notify)
	}
	q.notify = h
	return nil
}

// NotifyChan is Notify with a channel: the returned channel (buffered, one
// element) receives a value when a message arrives on the empty queue. It
// fires at most once.
func (q *Queue) NotifyChan() (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	if err := q.Notify(func() { ch <- struct{}{} }); err != nil {
		return nil, err
	}
	return ch, nil
}

// NotifySignal asks for one notification by signal (mq_notify(3) with
// SIGEV_SIGNAL): the kernel sends sig to this process when a message arrives
// on the empty queue. Receive it with os/signal.Notify, set up before. The
// rules of Notify apply (one process, one shot, empty to non-empty only).
func (q *Queue) NotifySignal(sig syscall.Signal) error { return q.NotifySignalValue(sig, 0) }

// NotifySignalValue is NotifySignal with value in the signal's
// si_value.sival_int. The signal's siginfo also says who sent the message
// that fired it (si_code SI_MESGQ, si_pid, si_uid): binding/sig's Receiver
// reports all of it (sig.Take, then Receive: Info{Code: sig.CodeMesgq,
// Pid, UID, Value}).
func (q *Queue) NotifySignalValue(sig syscall.Signal, value int) error {
	if sig <= 0 || sig > 64 {
		return pathErr("mq_notify", q.name, fmt.Errorf("signal %d: %w", int(sig), syscall.EINVAL))
	}
	if int64(value) != int64(int32(value)) {
		return pathErr("mq_notify", q.name, fmt.Errorf("value %d: sival_int holds 32 bits: %w", value, syscall.EINVAL))
	}
	if err := q.enter("mq_notify"); err != nil {
		return err
	}
	defer q.k.Release()
	q.notifyMu.Lock()
	defer q.notifyMu.Unlock()
	if err := q.pollMode(); err != nil {
		return err
	}
	if err := posixipc.MqNotifySignal(q.mqd, int(sig), value); err != nil {
		return pathErr("mq_notify", q.name, err)
	}
	if q.notify != 0 {
		posixipc.UnregisterNotify(q.notify)
		q.notify = 0
	}
	return nil
}

// StopNotify removes this process's registration (mq_notify(3) with a NULL
// notification). When this process holds no registration it does nothing
// and succeeds, as mq_notify(NULL) does on Linux.
func (q *Queue) StopNotify() error {
	if err := q.enter("mq_notify"); err != nil {
		return err
	}
	defer q.k.Release()
	q.notifyMu.Lock()
	defer q.notifyMu.Unlock()
	if err := posixipc.MqNotifyNone(q.mqd); err != nil {
		return pathErr("mq_notify", q.name, err)
	}
	if q.notify != 0 {
		posixipc.UnregisterNotify(q.notify)
		q.notify = 0
	}
	// No registration of this process is left: the waiters may block in
	// mq_timed* again.
	q.polling.Store(false)
	q.k.Each(func(w mqWaiter) { w.PollMode(false) })
	return nil
}

// pollMode moves both directions' waiters to ppoll before a registration
// (see posixipc.MqWaiter.PollMode): from then on nothing this Queue does
// closes a descriptor of the queue, so only StopNotify, a fired
// notification or Close ends the registration, as POSIX says.
func (q *Queue) pollMode() error {
	q.polling.Store(true) // the waiters made from now on (see newWaiter)
	var err error
	q.k.Each(func(w mqWaiter) {
		if e := w.PollMode(true); e != nil && err == nil {
			err = pathErr("mq_notify", q.name, e)
		}
	})
	return err
}

// dropNotify forgets a callback registration; Close calls it (closing the
// descriptor removes the registration in the kernel).
func (q *Queue) dropNotify() {
	q.notifyMu.Lock()
	defer q.notifyMu.Unlock()
	if q.notify != 0 {
		posixipc.MqNotifyNone(q.mqd)
		posixipc.UnregisterNotify(q.notify)
		q.notify = 0
	}
}
