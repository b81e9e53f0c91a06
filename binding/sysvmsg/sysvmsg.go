//go:build linux && cgo

// Package sysvmsg gives Go programs the System V message queues that C
// programs use (msgget, msgsnd, msgrcv, msgctl through the module's C
// shim), byte for byte: a message is C's struct { long mtype; char mtext[]; }.
//
// # Model
//
// A *Queue is a handle on a queue that belongs to the system: Close
// releases the handle (its C waiter state), Remove removes the queue
// (IPC_RMID) for every process. A queue is found by a key (an explicit
// number, shm.Ftok of a path and a project id, or Private for a new unnamed
// one) or by its id (OpenID), as ipcs prints it.
//
// Waiting. Send and Receive first try without waiting (IPC_NOWAIT). When
// they must block, the call goes through the module's waiter kit
// (internal/gate): receivers that wait for the same thing (the same
// selector and Except flag) share one gate, so at most one of them waits
// inside C and the others park in Go at no thread cost; receivers with
// different selectors wait side by side, so a message for one is never
// stuck behind a receiver waiting for another. At most gate.MaxInKernel
// waiters of the process are inside C at once (the rest poll every 1 to
// 25 ms), so 1,000 blocked receivers cost a bounded number of threads.
// The goroutine inside C is reached by cancellation through flags in C
// memory and a SIGURG sent to its thread: msgsnd and msgrcv are never
// restarted after a signal handler, so the interrupted call returns EINTR
// having sent or taken nothing, and the loop in C sees the flag.
//
// Exactness. A Send that returns nil queued the message; one that returns
// an error queued nothing. A Receive that returns a message took it; one
// that returns an error took nothing.
//
// Deadlines come from the context; msgrcv has no timeout, so a deadline is
// kept by the context's own timer (on the monotonic clock), which cancels
// the wait like any cancellation and is reported as a deadline error
// (matching context.DeadlineExceeded and syscall.ETIMEDOUT).
//
// Close is idempotent and safe while other goroutines wait: they return an
// error wrapping os.ErrClosed, and the C state is freed only after the last
// call in flight has left C. A handle dropped without Close is cleaned up.
//
// Errors are *fs.PathError wrapping syscall.Errno (or the context's
// error); a queue removed while the handle is open gives errors matching
// ErrRemoved, syscall.EIDRM and syscall.EINVAL; system limits come as a
// *LimitError naming the setting to raise (kernel.msgmax, msgmnb, msgmni).
//
// # Trust
//
// The kernel holds the queue: a peer can only send messages it is allowed
// to (mode bits), and a message's bytes are copied, never shared, so no
// peer can corrupt this process's memory. What a peer can do is fill the
// queue (Send then blocks or fails with EAGAIN), take messages meant for
// another receiver, or remove the queue; a receiver should check what it
// reads.
package sysvmsg

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/sysv"
)

// Private is the key of a new, unnamed queue (IPC_PRIVATE): Open with it
// always creates (it needs os.O_CREATE); peers reach it by its id.
const Private = sysv.Private

// Receive flags.
const (
	// Except takes the first message whose type is not the selector
	// (MSG_EXCEPT; the selector must be > 0).
	Except = posixipc.MSG_EXCEPT
	// NoError truncates a message longer than the buffer (MSG_NOERROR)
	// instead of failing with E2BIG and leaving it queued.
	NoError = posixipc.MSG_NOERROR
)

// ErrRemoved is wrapped by the errors of calls on a queue that was removed
// (Remove, ipcrm, a peer's IPC_RMID) while the handle was open. errors.Is
// matches it against syscall.EIDRM and syscall.EINVAL too.
var ErrRemoved = errs.Removed

// ErrDeadline is wrapped by the error of a call whose context deadline
// passed while it waited (the same value in every package).
var ErrDeadline = errs.Deadline

// LimitError reports a system limit that stopped a call, and the setting
// to raise.
type LimitError = errs.LimitError

const procKernel = "/proc/sys/kernel/"

// sendKey is the waiter key of senders (receivers' keys come from their
// selector and flags, which never give this value).
const sendKey = ^uint64(0)

// Queue is a handle on a System V message queue. It is safe for
// concurrent use.
type Queue struct {
	id   int
	name string // "msqid ID"
	k    *gate.Waiters

	errClosed error
	cleanup   runtime.Cleanup
}

// Open opens the queue of key (msgget). flag is 0 (the queue must exist)
// or os.O_CREATE, optionally with os.O_EXCL (it must not exist); the access
// mode bits (os.O_RDWR, ...) are accepted and ignored. perm (permission
// bits, e.g. 0o600) is used only when the call creates the queue. Key
// Private always creates a new queue.
func Open(key int, flag int, perm os.FileMode) (*Queue, error) {
	f, err := sysv.Flags(key, flag, perm)
	if err != nil {
		return nil, &fs.PathError{Op: "msgget", Path: sysv.KeyName(key), Err: err}
	}
	id, err := posixipc.Msgget(key, f)
	if err != nil {
		if err == syscall.ENOSPC {
			err = &LimitError{Errno: syscall.ENOSPC, Setting: procKernel + "msgmni",
				Detail: fmt.Sprintf("the system already holds msgmni = %d queues", errs.ReadProcInt(procKernel+"msgmni"))}
		}
		return nil, &fs.PathError{Op: "msgget", Path: sysv.KeyName(key), Err: err}
	}
	return newQueue(id), nil
}

// Create creates a new queue of key with perm: Open(key,
// os.O_CREATE|os.O_EXCL, perm).
func Create(key int, perm os.FileMode) (*Queue, error) {
	return Open(key, os.O_CREATE|os.O_EXCL, perm)
}

// OpenID returns a handle on the queue whose id is id (as ipcs and ID
// print it), after checking that it exists (msgctl IPC_STAT; an error
// matching fs.ErrNotExist when no queue has that id).
func OpenID(id int) (*Queue, error) {
	nm := sysv.IDName("msqid", id)
	if id < 0 {
		return nil, &fs.PathError{Op: "msgctl", Path: nm, Err: fmt.Errorf("id %d is negative: %w", id, syscall.EINVAL)}
	}
	if _, err := posixipc.MsgctlStat(id); err != nil {
		return nil, &fs.PathError{Op: "msgctl", Path: nm, Err: sysv.NoID("message queue", err)}
	}
	return newQueue(id), nil
}

func newQueue(id int) *Queue {
	q := &Queue{id: id, name: sysv.IDName("msqid", id), k: gate.NewWaiters(false)}
	q.errClosed = &fs.PathError{Op: "msg", Path: q.name, Err: os.ErrClosed}
	q.cleanup = runtime.AddCleanup(q, func(k *gate.Waiters) { k.Close() }, q.k)
	return q
}

// ID returns the queue's id (msqid).
func (q *Queue) ID() int { return q.id }

// Name returns "msqid ID", the name errors use.
func (q *Queue) Name() string { return q.name }

// checkType validates a message type for Send.
func checkType(typ int64) error {
	if typ <= 0 {
		return fmt.Errorf("message type %d: must be > 0: %w", typ, syscall.EINVAL)
	}
	return nil
}

// Send queues a message of type typ (> 0) with text data (msgsnd),
// blocking while the queue is full until there is room, ctx is done or the
// handle is closed. A Send that returns an error queued nothing.
func (q *Queue) Send(ctx context.Context, typ int64, data []byte) error {
	if err := checkType(typ); err != nil {
		return &fs.PathError{Op: "msgsnd", Path: q.name, Err: err}
	}
	err := q.k.Do(ctx, sendKey,
		func() error { return wouldBlock(posixipc.Msgsnd(q.id, typ, data, posixipc.IPC_NOWAIT)) },
		func(w posixipc.Waiter, _ int64) error { return posixipc.MsgsndWait(w, q.id, typ, data, 0) })
	return q.sendErr(err, len(data))
}

// TrySend queues a message if there is room at once, and otherwise fails
// with an error wrapping syscall.EAGAIN.
func (q *Queue) TrySend(typ int64, data []byte) error {
	if err := checkType(typ); err != nil {
		return &fs.PathError{Op: "msgsnd", Path: q.name, Err: err}
	}
	if !q.k.Acquire() {
		return q.errClosed
	}
	err := posixipc.Msgsnd(q.id, typ, data, posixipc.IPC_NOWAIT)
	q.k.Release()
	return q.sendErr(err, len(data))
}

func (q *Queue) sendErr(err error, n int) error {
	switch err {
	case nil:
		return nil
	case os.ErrClosed:
		return q.errClosed
	case syscall.EINVAL:
		if m := errs.ReadProcInt(procKernel + "msgmax"); m >= 0 && int64(n) > m {
			err = &LimitError{Errno: syscall.EINVAL, Setting: procKernel + "msgmax",
				Detail: fmt.Sprintf("a %d-byte message is above the system's msgmax = %d", n, m)}
		}
	}
	return &fs.PathError{Op: "msgsnd", Path: q.name, Err: q.gone(err)}
}

// wouldBlock turns the errno of a call that would have to wait into
// gate.WouldBlock.
func wouldBlock(err error) error {
	if err == syscall.EAGAIN || err == syscall.ENOMSG {
		return gate.WouldBlock
	}
	return err
}

// receiveKey is the waiter key of receivers with sel and flags: equal for
// receivers that wait for the same messages.
func receiveKey(sel int64, flags int) uint64 {
	k := uint64(sel) << 1
	if flags&Except != 0 {
		k |= 1
	}
	if k == sendKey {
		k--
	}
	return k
}

func checkReceive(sel int64, flags int) error {
	if flags&^(Except|NoError) != 0 {
		return fmt.Errorf("flags %#x: only Except and NoError are supported: %w", flags, syscall.EINVAL)
	}
	if flags&Except != 0 && sel <= 0 {
		return fmt.Errorf("the Except flag needs a selector > 0, not %d: %w", sel, syscall.EINVAL)
	}
	return nil
}

// Receive takes a message into buf (msgrcv) and returns its length and
// type, blocking until a matching message is there, ctx is done or the
// handle is closed. sel selects as msgrcv's msgtyp does: 0 the first
// message, > 0 the first of type sel (with Except: the first not of type
// sel), < 0 the first of the lowest type ≤ -sel. A message longer than buf
// fails with an error wrapping syscall.E2BIG and stays queued, unless
// flags has NoError (it is then truncated to len(buf)). A Receive that
// returns an error took nothing.
func (q *Queue) Receive(ctx context.Context, buf []byte, sel int64, flags int) (n int, typ int64, err error) {
	if err := checkReceive(sel, flags); err != nil {
		return 0, 0, &fs.PathError{Op: "msgrcv", Path: q.name, Err: err}
	}
	err = q.k.Block(ctx, receiveKey(sel, flags),
		func() (e error) {
			n, typ, e = posixipc.Msgrcv(q.id, buf, sel, flags|posixipc.IPC_NOWAIT)
			return wouldBlock(e)
		},
		func(w posixipc.Waiter, _ int64) (e error) {
			n, typ, e = posixipc.MsgrcvWait(w, q.id, buf, sel, flags)
			return e
		})
	if err != nil {
		return 0, 0, q.receiveErr(err, len(buf))
	}
	return n, typ, nil
}

// TryReceive takes a matching message if one is there at once, and
// otherwise fails with an error wrapping syscall.ENOMSG (and matching
// syscall.EAGAIN, as every Try call of the module does).
func (q *Queue) TryReceive(buf []byte, sel int64, flags int) (int, int64, error) {
	if err := checkReceive(sel, flags); err != nil {
		return 0, 0, &fs.PathError{Op: "msgrcv", Path: q.name, Err: err}
	}
	if !q.k.Acquire() {
		return 0, 0, q.errClosed
	}
	n, typ, err := posixipc.Msgrcv(q.id, buf, sel, flags|posixipc.IPC_NOWAIT)
	q.k.Release()
	if err != nil {
		if err == syscall.ENOMSG {
			err = errNoMsg
		}
		return 0, 0, q.receiveErr(err, len(buf))
	}
	return n, typ, nil
}

// errNoMsg is TryReceive's "nothing there": ENOMSG, as msgrcv says, that
// also matches EAGAIN.
var errNoMsg error = noMsg{}

type noMsg struct{}

func (noMsg) Error() string        { return syscall.ENOMSG.Error() }
func (noMsg) Is(target error) bool { return target == syscall.ENOMSG || target == syscall.EAGAIN }
func (noMsg) Unwrap() error        { return syscall.ENOMSG }
func (noMsg) Temporary() bool      { return true }

func (q *Queue) receiveErr(err error, n int) error {
	switch err {
	case os.ErrClosed:
		return q.errClosed
	case syscall.E2BIG:
		err = fmt.Errorf("the message is longer than the %d-byte buffer (it stays queued; NoError truncates): %w", n, err)
	}
	return &fs.PathError{Op: "msgrcv", Path: q.name, Err: q.gone(err)}
}

// gone maps the errors of a removed queue to ErrRemoved.
func (q *Queue) gone(err error) error {
	return sysv.Gone(err, func() error { _, e := posixipc.MsgctlStat(q.id); return e })
}

// Info is the state of a queue (msgctl IPC_STAT).
type Info struct {
	Key          int         // the key it was made with (Private: 0)
	ID           int         // msqid
	Mode         os.FileMode // permission bits
	UID, GID     int         // owner
	CUID, CGID   int         // creator
	QNum         int         // messages queued
	QBytes       int         // the most bytes of text the queue holds
	CBytes       int         // bytes of text queued
	LSPid, LRPid int         // the process of the last msgsnd, of the last msgrcv
	STime, RTime time.Time   // of the last msgsnd, msgrcv (zero: never)
	CTime        time.Time   // of the last change (creation, IPC_SET)
}

// Stat returns the queue's state (msgctl IPC_STAT).
func (q *Queue) Stat() (Info, error) {
	if !q.k.Acquire() {
		return Info{}, q.errClosed
	}
	st, err := posixipc.MsgctlStat(q.id)
	q.k.Release()
	if err != nil {
		return Info{}, &fs.PathError{Op: "msgctl", Path: q.name, Err: q.gone(err)}
	}
	return Info{
		Key: int(int32(st.Key)), ID: q.id, Mode: sysv.Perm(st.Mode),
		UID: int(st.UID), GID: int(st.GID), CUID: int(st.CUID), CGID: int(st.CGID),
		QNum: int(st.QNum), QBytes: int(st.QBytes), CBytes: int(st.CBytes),
		LSPid: int(st.LSPid), LRPid: int(st.LRPid),
		STime: sysv.Time(st.STime), RTime: sysv.Time(st.RTime), CTime: sysv.Time(st.CTime),
	}, nil
}

// set changes the queue's attributes (msgctl IPC_SET), keeping the others.
func (q *Queue) set(mode int64, qbytes int64) error {
	if !q.k.Acquire() {
		return q.errClosed
	}
	defer q.k.Release()
	st, err := posixipc.MsgctlStat(q.id)
	if err == nil {
		if mode < 0 {
			mode = st.Mode
		}
		if qbytes < 0 {
			qbytes = st.QBytes
		}
		err = posixipc.MsgctlSet(q.id, st.UID, st.GID, mode, qbytes)
		if err == syscall.EPERM && qbytes > st.QBytes {
			if m := errs.ReadProcInt(procKernel + "msgmnb"); m >= 0 && qbytes > m {
				err = &LimitError{Errno: syscall.EPERM, Setting: procKernel + "msgmnb",
					Detail: fmt.Sprintf("%d bytes is above msgmnb = %d, which only a process with CAP_SYS_RESOURCE may exceed", qbytes, m)}
			}
		}
	}
	if err != nil {
		return &fs.PathError{Op: "msgctl", Path: q.name, Err: q.gone(err)}
	}
	return nil
}

// SetQBytes sets the most bytes of text the queue holds (msgctl IPC_SET of
// msg_qbytes). Above kernel.msgmnb it needs CAP_SYS_RESOURCE (a
// *LimitError otherwise).
func (q *Queue) SetQBytes(n int) error {
	if n <= 0 {
		return &fs.PathError{Op: "msgctl", Path: q.name, Err: fmt.Errorf("qbytes %d: must be > 0: %w", n, syscall.EINVAL)}
	}
	return q.set(-1, int64(n))
}

// SetMode sets the queue's permission bits (msgctl IPC_SET).
func (q *Queue) SetMode(perm os.FileMode) error {
	if perm&^os.ModePerm != 0 {
		return &fs.PathError{Op: "msgctl", Path: q.name, Err: fmt.Errorf("mode %v: only permission bits are allowed: %w", perm, syscall.EINVAL)}
	}
	return q.set(int64(perm), -1)
}

// Remove removes the queue (msgctl IPC_RMID): its messages are gone, every
// call blocked on it in any process fails (here with an error matching
// ErrRemoved and syscall.EIDRM). The handle stays open (Close it).
func (q *Queue) Remove() error {
	if !q.k.Acquire() {
		return q.errClosed
	}
	err := posixipc.MsgctlRmid(q.id)
	q.k.Release()
	if err != nil {
		return &fs.PathError{Op: "msgctl", Path: q.name, Err: q.gone(err)}
	}
	return nil
}

// Close releases the handle: goroutines blocked in Send or Receive return
// an error wrapping os.ErrClosed, and the C state goes once every call in
// flight has left C. It is idempotent. The queue itself stays (Remove).
func (q *Queue) Close() error {
	if q.k.Close() {
		q.cleanup.Stop()
	}
	return nil
}
