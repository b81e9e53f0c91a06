//go:build linux && cgo

package mq

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/name"
	"golang.org/x/sys/unix"
)

// Open flags, as for os.OpenFile. Open always adds O_CLOEXEC.
const (
	O_RDONLY   = unix.O_RDONLY   // receive only
	O_WRONLY   = unix.O_WRONLY   // send only
	O_RDWR     = unix.O_RDWR     // send and receive
	O_CREAT    = unix.O_CREAT    // create the queue if it does not exist
	O_EXCL     = unix.O_EXCL     // with O_CREAT: fail with EEXIST if it exists
	O_NONBLOCK = unix.O_NONBLOCK // Send and Receive fail with EAGAIN instead of waiting
)

// PrioMax is MQ_PRIO_MAX: priorities run from 0 to PrioMax-1.
const PrioMax = 32768

// Attr describes a queue. MaxMsg and MsgSize are fixed when the queue is
// created; CurMsgs and Flags are what Attr reports about the queue now.
type Attr struct {
	MaxMsg  int // the capacity in messages (mq_maxmsg)
	MsgSize int // the largest message in bytes (mq_msgsize)
	CurMsgs int // the messages queued now (mq_curmsgs); ignored by Open
	Flags   int // 0 or O_NONBLOCK for this descriptor (mq_flags); ignored by Open
}

// Queue is an open POSIX message queue descriptor. Its methods are safe for
// concurrent use.
type Queue struct {
	name    string
	mqd     posixipc.Mqd
	msgSize int
	canSend bool
	canRecv bool

	// k is the waiter kit: its Life counts every call that uses mqd and
	// carries the closed bit (Close waits until the count is zero, so it
	// never closes a descriptor another goroutine is inside); its points,
	// one per direction, each hold the C waiter of that direction.
	k        *gate.Kit[mqWaiter]
	idle     *idler       // the kit's wait for calls without a slot in C
	polling  *atomic.Bool // a notification is registered: new waiters start in poll mode
	nonblock atomic.Bool

	notifyMu sync.Mutex
	notify   uintptr // the handle of the SIGEV_THREAD registration, 0 for none

	cleanup runtime.Cleanup // for a Queue dropped without Close
}

// queueRes is what a Queue dropped without Close leaves to release.
type queueRes struct {
	mqd  posixipc.Mqd
	k    *gate.Kit[mqWaiter]
	idle *idler
}

// dropQueue releases a Queue that became unreachable without Close (no
// call can be in flight: a call keeps its Queue reachable; nor can a
// registration, whose callback refers to the Queue).
func dropQueue(r queueRes) {
	r.k.Close()
	r.idle.close()
	posixipc.MqClose(r.mqd)
}

// idler is a Queue's wait for the calls that find none of the process's
// slots in C free (gate.Kit.SetIdle): in the Go runtime's poller, on a
// second open file description of the queue, non-blocking (the queue's
// own description is the C waiters', and blocking), opened through
// /proc/self/fd at the first such wait. Where it cannot be opened (no
// /proc) those calls poll with the kit's backoff instead. It holds no
// reference to the Queue, so a dropped Queue can be cleaned up.
type idler struct {
	mqd posixipc.Mqd
	acc int // the queue's access mode

	mu     sync.Mutex
	f      *os.File // nil until the first idle wait
	rc     syscall.RawConn
	failed bool // the open failed: poll
	closed bool
}

// wait is the kit's idle wait: until the queue has a message to receive
// (keyRecv) or room to send (keySend), ctx's end or wake.
func (d *idler) wait(ctx context.Context, key uint64) error {
	f, rc := d.file()
	if f == nil {
		return os.ErrInvalid // the kit polls
	}
	return gate.PollerWait(ctx, f, rc, key == keySend)
}

// file opens the idle wait's description once.
func (d *idler) file() (*os.File, syscall.RawConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil && !d.failed && !d.closed {
		fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", d.mqd), d.acc|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			d.failed = true
			return nil, nil
		}
		d.f = os.NewFile(uintptr(fd), "mq")
		d.rc, _ = d.f.SyscallConn()
	}
	return d.f, d.rc
}

// wake ends the idle waits (the kit calls it from Close until every call
// has left).
func (d *idler) wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		gate.WakePoller(d.f)
	}
}

// close closes the description, once no call is in the kit.
func (d *idler) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}

// The kit's keys: one point per direction.
const (
	keySend = 1
	keyRecv = 2
)

// mqWaiter is the C waiter of one direction (posixipc.MqWaiter: a private
// duplicate of the queue descriptor, which a kick swaps out from under a
// blocked mq_timed* call), as the kit's gate.CWaiter.
type mqWaiter struct{ posixipc.MqWaiter }

// Reset undoes a cancelling kick that came after its call returned: the
// waiter's descriptor is a duplicate of the queue's again. Without a kick
// it costs no call into C.
func (w mqWaiter) Reset() {
	if w.Kicked() {
		w.Rearm()
	}
}

// waiterMaker returns the kit's maker of a direction's waiter (called with
// the kit's lock held, so pollMode cannot run meanwhile): while a
// notification is registered a new waiter starts in poll mode. It holds
// no reference to the Queue, so a dropped Queue can be cleaned up.
func waiterMaker(mqd posixipc.Mqd, polling *atomic.Bool) func() (mqWaiter, error) {
	return func() (mqWaiter, error) {
		w, err := posixipc.NewMqWaiter(mqd)
		if err != nil {
			return mqWaiter{}, fmt.Errorf("dup of the queue descriptor for a waiter: %w", err)
		}
		if polling.Load() {
			if err := w.PollMode(true); err != nil {
				w.Free()
				return mqWaiter{}, fmt.Errorf("poll mode of a new waiter: %w", err)
			}
		}
		return mqWaiter{w}, nil
	}
}

// Open opens the queue name (mq_open(3)). name is "/" followed by 1 to 251
// bytes and no other '/'; the leading '/' may be left out. flag is O_RDONLY,
// O_WRONLY or O_RDWR, possibly or'ed with O_CREAT, O_EXCL and O_NONBLOCK.
// With O_CREAT, perm sets the new queue's permission bits and attr its
// capacity (nil: the system defaults, /proc/sys/fs/mqueue/msg_default and
// msgsize_default). Errors are *fs.PathError; when a system limit stopped the
// creation, its Err is a *LimitError naming the setting to raise.
func Open(queueName string, flag int, perm os.FileMode, attr *Attr) (*Queue, error) {
	n, err := name.Canonical(queueName)
	if err != nil {
		return nil, pathErr("mq_open", queueName, err)
	}
	if flag&^(O_RDONLY|O_WRONLY|O_RDWR|O_CREAT|O_EXCL|O_NONBLOCK) != 0 || flag&unix.O_ACCMODE == unix.O_ACCMODE {
		return nil, pathErr("mq_open", n, fmt.Errorf("flags %#x: only O_RDONLY, O_WRONLY or O_RDWR with O_CREAT, O_EXCL, O_NONBLOCK: %w", flag, syscall.EINVAL))
	}
	if perm&^os.ModePerm != 0 {
		return nil, pathErr("mq_open", n, fmt.Errorf("mode %v: only permission bits are allowed: %w", perm, syscall.EINVAL))
	}
	var ra *posixipc.MqAttr
	if attr != nil && flag&O_CREAT != 0 {
		if attr.MaxMsg <= 0 || attr.MsgSize <= 0 {
			return nil, pathErr("mq_open", n, fmt.Errorf("maxmsg %d and msgsize %d must both be positive: %w", attr.MaxMsg, attr.MsgSize, syscall.EINVAL))
		}
		ra = &posixipc.MqAttr{MaxMsg: int64(attr.MaxMsg), MsgSize: int64(attr.MsgSize)}
	}
	mqd, created, err := openQueue(n, flag, perm, ra)
	if err != nil {
		if flag&O_CREAT != 0 {
			err = explainCreate(err, attr)
		}
		return nil, pathErr("mq_open", n, err)
	}
	// undo closes what this call opened and removes what it created, so a
	// failure half-way leaves nothing behind (a retry would say EEXIST).
	undo := func() {
		posixipc.MqClose(mqd)
		if created {
			posixipc.MqUnlink(n)
		}
	}
	a, err := posixipc.MqGetattr(mqd)
	if err != nil {
		undo()
		return nil, pathErr("mq_getattr", n, err)
	}
	q := &Queue{name: n, mqd: mqd, msgSize: int(a.MsgSize),
		canSend: flag&unix.O_ACCMODE != O_RDONLY, canRecv: flag&unix.O_ACCMODE != O_WRONLY}
	q.nonblock.Store(flag&O_NONBLOCK != 0)
	q.polling = new(atomic.Bool)
	// Not "timed": a first wait of gate.Unarmed would arm a kernel timer
	// (mq_timed* with a time) where a wait without deadline needs none.
	q.k = gate.NewKit(false, waiterMaker(mqd, q.polling))
	q.idle = &idler{mqd: mqd, acc: flag & unix.O_ACCMODE}
	q.k.SetIdle(q.idle.wait, q.idle.wake)
	q.cleanup = runtime.AddCleanup(q, dropQueue, queueRes{mqd, q.k, q.idle})
	return q, nil
}

// openQueue is mq_open(3) that also tells whether the call created the
// queue: O_CREAT without O_EXCL tries O_EXCL first, then opens.
func openQueue(n string, flag int, perm os.FileMode, ra *posixipc.MqAttr) (posixipc.Mqd, bool, error) {
	if flag&O_CREAT == 0 || flag&O_EXCL != 0 {
		mqd, err := posixipc.MqOpen(n, flag|unix.O_CLOEXEC, uint32(perm), ra)
		return mqd, err == nil && flag&O_CREAT != 0, err
	}
	for i := 0; ; i++ {
		mqd, err := posixipc.MqOpen(n, flag|O_EXCL|unix.O_CLOEXEC, uint32(perm), ra)
		if err != syscall.EEXIST {
			return mqd, err == nil, err
		}
		mqd, err = posixipc.MqOpen(n, flag&^O_CREAT|unix.O_CLOEXEC, 0, nil)
		if err != syscall.ENOENT || i == 100 { // ENOENT: unlinked in between
			return mqd, false, err
		}
	}
}

// Create creates a new queue with O_RDWR|O_CREAT|O_EXCL: it fails with an
// error matching fs.ErrExist when the queue exists.
func Create(queueName string, perm os.FileMode, attr *Attr) (*Queue, error) {
	return Open(queueName, O_RDWR|O_CREAT|O_EXCL, perm, attr)
}

// Unlink removes the queue name (mq_unlink(3)). Descriptors open on it keep
// working; the queue goes away when the last one is closed.
func Unlink(queueName string) error {
	n, err := name.Canonical(queueName)
	if err != nil {
		return pathErr("mq_unlink", queueName, err)
	}
	if err := posixipc.MqUnlink(n); err != nil {
		return pathErr("mq_unlink", n, err)
	}
	return nil
}

// Name returns the queue's name, with its leading '/'.
func (q *Queue) Name() string { return q.name }

// MsgSize returns the largest message of the queue: the smallest buffer
// Receive accepts.
func (q *Queue) MsgSize() int { return q.msgSize }

// enter registers one call on the descriptor. It fails when the queue is
// closed; otherwise the caller must call q.k.Release.
func (q *Queue) enter(op string) error {
	if !q.k.Acquire() {
		return pathErr(op, q.name, os.ErrClosed)
	}
	return nil
}

// Attr returns the queue's attributes and its current depth (mq_getattr(3)).
func (q *Queue) Attr() (Attr, error) {
	if err := q.enter("mq_getattr"); err != nil {
		return Attr{}, err
	}
	defer q.k.Release()
	a, err := posixipc.MqGetattr(q.mqd)
	if err != nil {
		return Attr{}, pathErr("mq_getattr", q.name, err)
	}
	return Attr{MaxMsg: int(a.MaxMsg), MsgSize: int(a.MsgSize), CurMsgs: int(a.CurMsgs), Flags: int(a.Flags)}, nil
}

// SetNonblock sets or clears O_NONBLOCK on the descriptor (mq_setattr(3)).
// While it is set, Send and Receive fail with EAGAIN instead of waiting.
func (q *Queue) SetNonblock(on bool) error {
	if err := q.enter("mq_setattr"); err != nil {
		return err
	}
	defer q.k.Release()
	var f int64
	if on {
		f = O_NONBLOCK
	}
	if _, err := posixipc.MqSetattr(q.mqd, f); err != nil {
		return pathErr("mq_setattr", q.name, err)
	}
	q.nonblock.Store(on)
	return nil
}

// checkSend validates a message before any C call.
func (q *Queue) checkSend(msg []byte, prio uint) error {
	if q.k.Closed() {
		return pathErr("mq_send", q.name, os.ErrClosed)
	}
	if !q.canSend {
		return pathErr("mq_send", q.name, fmt.Errorf("queue opened for receiving only: %w", syscall.EBADF))
	}
	if prio >= PrioMax {
		return pathErr("mq_send", q.name, fmt.Errorf("priority %d: at most %d: %w", prio, PrioMax-1, syscall.EINVAL))
	}
	if len(msg) > q.msgSize {
		return pathErr("mq_send", q.name, fmt.Errorf("%d bytes, the queue's msgsize is %d: %w", len(msg), q.msgSize, syscall.EMSGSIZE))
	}
	return nil
}

func (q *Queue) checkRecv(buf []byte) error {
	if q.k.Closed() {
		return pathErr("mq_receive", q.name, os.ErrClosed)
	}
	if !q.canRecv {
		return pathErr("mq_receive", q.name, fmt.Errorf("queue opened for sending only: %w", syscall.EBADF))
	}
	if len(buf) < q.msgSize {
		return pathErr("mq_receive", q.name, fmt.Errorf("buffer of %d bytes is smaller than the queue's msgsize %d: %w", len(buf), q.msgSize, syscall.EMSGSIZE))
	}
	return nil
}

// Send sends msg with priority prio (0 to PrioMax-1; higher is received
// first), waiting while the queue is full until ctx is done. A deadline of
// ctx bounds the wait on CLOCK_MONOTONIC; when it passes the error matches
// syscall.ETIMEDOUT and context.DeadlineExceeded. When Send fails, the
// message was not sent. It does not allocate.
//
// At most one goroutine per queue and direction waits inside C (blocked in
// mq_timedsend); other senders wait in Go and cost no thread.
func (q *Queue) Send(ctx context.Context, msg []byte, prio uint) error {
	if err := q.checkSend(msg, prio); err != nil {
		return err
	}
	if q.nonblock.Load() {
		return q.TrySend(msg, prio)
	}
	return q.sendErr(q.k.Block(ctx, keySend,
		func() error { return q.sendNow(msg, prio) },
		func(w mqWaiter, rel int64) error { return w.Send(msg, prio, rel) }))
}

// TrySend sends msg without waiting: when the queue is full it fails at once
// with an error matching syscall.EAGAIN.
func (q *Queue) TrySend(msg []byte, prio uint) error {
	if err := q.checkSend(msg, prio); err != nil {
		return err
	}
	return q.sendErr(q.trySend(msg, prio))
}

// trySend is one mq_timedsend that does not wait (EAGAIN when full), on the
// Queue's own descriptor; os.ErrClosed after Close.
func (q *Queue) trySend(msg []byte, prio uint) error {
	if err := q.enter("mq_send"); err != nil {
		return os.ErrClosed
	}
	defer q.k.Release()
	return q.sendNow(msg, prio)
}

// sendNow is trySend for a call the kit has registered.
func (q *Queue) sendNow(msg []byte, prio uint) error {
	err := posixipc.MqTimedsend(q.mqd, msg, prio, 0, 0)
	if err == syscall.ETIMEDOUT {
		err = syscall.EAGAIN
	}
	return err
}

func (q *Queue) sendErr(err error) error {
	if err == nil {
		return nil
	}
	return pathErr("mq_send", q.name, err)
}

// Receive takes the oldest message of the highest priority into buf, waiting
// while the queue is empty until ctx is done, and returns its length and
// priority. buf must hold at least MsgSize bytes (a smaller buffer is an
// error matching syscall.EMSGSIZE, not a truncation). A message is taken from
// the queue only when Receive succeeds: a cancelled or timed-out Receive
// leaves every message in the queue. It does not allocate.
func (q *Queue) Receive(ctx context.Context, buf []byte) (n int, prio uint, err error) {
	if err := q.checkRecv(buf); err != nil {
		return 0, 0, err
	}
	if q.nonblock.Load() {
		return q.TryReceive(buf)
	}
	err = q.k.Block(ctx, keyRecv,
		func() (err error) { n, prio, err = q.receiveNow(buf); return err },
		func(w mqWaiter, rel int64) (err error) { n, prio, err = w.Receive(buf, rel); return err })
	if err != nil {
		return 0, 0, q.recvErr(err)
	}
	return n, prio, nil
}

// TryReceive receives without waiting: when the queue is empty it fails at
// once with an error matching syscall.EAGAIN.
func (q *Queue) TryReceive(buf []byte) (n int, prio uint, err error) {
	if err := q.checkRecv(buf); err != nil {
		return 0, 0, err
	}
	n, prio, err = q.tryReceive(buf)
	return n, prio, q.recvErr(err)
}

// tryReceive is one mq_timedreceive that does not wait (EAGAIN when empty),
// on the Queue's own descriptor; os.ErrClosed after Close.
func (q *Queue) tryReceive(buf []byte) (n int, prio uint, err error) {
	if err := q.enter("mq_receive"); err != nil {
		return 0, 0, os.ErrClosed
	}
	defer q.k.Release()
	return q.receiveNow(buf)
}

// receiveNow is tryReceive for a call the kit has registered.
func (q *Queue) receiveNow(buf []byte) (n int, prio uint, err error) {
	n, prio, err = posixipc.MqTimedreceive(q.mqd, buf, 0, 0)
	if err == syscall.ETIMEDOUT {
		err = syscall.EAGAIN
	}
	return n, prio, err
}

func (q *Queue) recvErr(err error) error {
	if err == nil {
		return nil
	}
	return pathErr("mq_receive", q.name, err)
}

// Close closes the descriptor (mq_close(3)); the queue itself stays until
// Unlink. It is idempotent and safe while other goroutines are blocked in
// Send or Receive: they return an error wrapping os.ErrClosed. Close waits
// for them to leave C before it closes the descriptor. A notification this
// process registered through the descriptor is removed.
func (q *Queue) Close() error {
	if !q.k.Close() { // every call inside C returns (the kicks are sticky); the waiters are freed
		return nil
	}
	q.cleanup.Stop()
	q.idle.close()
	q.dropNotify()
	if err := posixipc.MqClose(q.mqd); err != nil {
		return pathErr("mq_close", q.name, err)
	}
	return nil
}
