//go:build linux && cgo

// Package stream reads and writes a byte-stream descriptor (a FIFO's, a
// pseudoterminal master's) through the module's waiter kit
// (internal/gate), as every blocking call of the module waits: binding/fifo
// and binding/pty are built on it.
//
// The descriptor stays non-blocking (O_NONBLOCK belongs to the open file
// description, which dups and C peers share) and is not in the Go
// runtime's poller, whose epoll wake-up and goroutine hand-off cost more
// than a round trip. Read and Write make a non-blocking try; when it would
// block, one goroutine per Stream and direction waits inside C and the
// others park in Go, holding no OS thread (the waits in C count toward
// the process-wide bound, gate.MaxInKernel). The wait in C is, for a
// Stream whose descriptor can be opened again (a FIFO: through
// /proc/self/fd, as a new open file description with O_NONBLOCK cleared
// on it alone), one blocking read(2) or write(2) on that description,
// which a kick ends by swapping an O_PATH sentinel over it and signalling
// the thread (posixipc.ReadWait, WriteWait); otherwise (a pseudoterminal
// master, which cannot be opened again; no /proc) a ppoll(2) of the
// descriptor and an eventfd, then the call (posixipc.FifoWaitIO). After a
// wait the next call goes straight to the wait. A call that finds no free
// slot in C (the process has gate.MaxInKernel) waits in the Go runtime's
// poller instead, on the descriptor's os.File, without a thread and
// without polling (gate.Kit.SetIdle), and tries again when the descriptor
// is ready. A direction's deadline (SetDeadline) is its waits' context; a change, or Close, kicks the
// waiter and wakes the parked callers, which go on under the new one.
// ReadContext waits under a context instead.
//
// Close kicks the waiters, waits until every call has left C and frees
// the waiters; the descriptor stays the caller's to close. Concurrent
// Writes are not interleaved with each other.
package stream

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
	"golang.org/x/sys/unix"
)

// Stream is a byte-stream descriptor read and written through the
// waiter kit. Its methods are safe for concurrent use.
type Stream struct {
	fd int
	f  *os.File        // fd's os.File, in the runtime poller: the calls that find no free slot wait there
	rc syscall.RawConn // f's
	// k is the Stream's waiter kit: one point per direction (keyRead,
	// keyWrite), each with its C waiter (see waiter) made by its first
	// wait. It is untimed: the blocking mode's read(2) or write(2) has no
	// timeout, so the canceller watches every wait's deadline.
	k      *gate.Kit[*waiter]
	rd, wr direction
	// wgate admits one Write at a time, so that concurrent Writes are not
	// interleaved (a Write may take several calls of the kit).
	wgate *gate.Gate
}

// New makes the Stream of fd, a non-blocking descriptor opened with access
// mode acc (os.O_RDONLY, O_WRONLY, O_RDWR), and f, the *os.File of fd
// (os.NewFile of the non-blocking descriptor: in the runtime poller);
// reopenable says whether it may be opened again through /proc/self/fd for
// the blocking mode (a FIFO: yes; a pseudoterminal master: no, that would
// make a new terminal). The Stream owns neither; f's deadlines are the
// Stream's to set from now on.
func New(f *os.File, fd, acc int, reopenable bool) *Stream {
	s := &Stream{fd: fd, f: f, wgate: gate.New(),
		k: gate.NewKit(false, func() (*waiter, error) { return newWaiter(fd, acc, reopenable) })}
	s.rc, _ = f.SyscallConn() // (nil for a closed f: the idle wait then polls)
	s.k.SetIdle(s.idle, s.wakeIdle)
	s.rd.dl.Store(newDeadline(time.Time{}))
	s.wr.dl.Store(newDeadline(time.Time{}))
	return s
}

// idle is the kit's wait of a call that found no free slot in C: in the
// runtime poller, on f, until the descriptor is readable (or writable):
// gate.PollerWait.
func (s *Stream) idle(ctx context.Context, key uint64) error {
	return gate.PollerWait(ctx, s.f, s.rc, key == keyWrite)
}

// IdleWaits reports how many times a call of the process has waited in
// the poller for want of a slot (gate.IdleWaits; for tests).
func IdleWaits() int64 { return gate.IdleWaits() }

// wakeIdle ends the idle waits (Close).
func (s *Stream) wakeIdle() { gate.WakePoller(s.f) }

// Closed reports whether Close has begun.
func (s *Stream) Closed() bool { return s.k.Closed() }

// Close kicks the waiters, waits until every call has left and frees the
// waiters (their descriptors and C state). Calls then fail with
// os.ErrClosed. Idempotent; fd stays open.
func (s *Stream) Close() {
	s.wgate.Close()
	s.k.Close()
	s.rd.dl.Load().stop()
	s.wr.dl.Load().stop()
}

// SetDeadline sets the read and write deadlines: a call whose deadline has
// passed fails with errs.Deadline after one try (what is there already is
// still read or written). A zero t means none. A change takes effect in
// calls already waiting. After Close it fails with os.ErrClosed.
func (s *Stream) SetDeadline(t time.Time) error { return s.setDeadline(t, &s.rd, &s.wr) }

// SetReadDeadline sets the deadline of Read.
func (s *Stream) SetReadDeadline(t time.Time) error { return s.setDeadline(t, &s.rd) }

// SetWriteDeadline sets the deadline of Write.
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.setDeadline(t, &s.wr) }

func (s *Stream) setDeadline(t time.Time, ds ...*direction) error {
	if s.k.Closed() {
		return os.ErrClosed
	}
	for _, d := range ds {
		d.dl.Swap(newDeadline(t)).replaced()
	}
	return nil
}

// maxRW caps one read(2) or write(2) (as package os does).
const maxRW = 1 << 30

// Read reads into b under the read deadline (one read(2) once there is
// data). A read(2) that returns 0 (a FIFO without writers) is io.EOF.
// Errors are bare: os.ErrClosed, errs.Deadline, the call's errno. It does
// not allocate.
func (s *Stream) Read(b []byte) (int, error) { return s.read(context.Background(), true, b) }

// ReadContext is Read under ctx instead of the read deadline: when ctx is
// done first it returns the context's error (errs.Deadline for a passed
// deadline); nothing is lost (bytes not read stay for the next read).
func (s *Stream) ReadContext(ctx context.Context, b []byte) (int, error) {
	return s.read(ctx, false, b)
}

// read reads under the read deadline (byDeadline) or under ctx.
func (s *Stream) read(ctx context.Context, byDeadline bool, b []byte) (int, error) {
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	for {
		var n int
		var err error
		if !byDeadline {
			n, err = s.call(ctx, &s.rd, keyRead, b)
		} else {
			c := s.rd.dl.Load()
			if n, err = s.call(c, &s.rd, keyRead, b); s.again(err, &s.rd, c) {
				continue
			}
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(b) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// call makes one read(2) (key keyRead) or write(2) (keyWrite) of buf on
// direction d through the kit under c (its deadline, or a caller's
// context): a non-blocking try on the descriptor, the wait in C on the
// direction's waiter; straight to the wait after a wait that slept, else
// the try first. It returns the byte count (a write the wait stopped
// part-way: what it wrote).
func (s *Stream) call(c context.Context, d *direction, key uint64, buf []byte) (int, error) {
	write := key == keyWrite
	var n int
	try := func() error {
		if len(buf) == 0 {
			n = 0
			return nil
		}
		var err error
		if write {
			n, err = unix.Write(s.fd, buf)
		} else {
			n, err = unix.Read(s.fd, buf)
		}
		if n < 0 {
			n = 0
		}
		if err == unix.EINTR {
			return gate.WouldBlock // the kit's wait makes the call again
		}
		return err
	}
	wait := func(w *waiter, rel int64) error {
		var straight bool
		var err error
		if n, straight, err = w.io(s.fd, write, buf, rel); err == nil {
			d.pollFirst.Store(straight)
		}
		return err
	}
	var err error
	if d.pollFirst.Load() {
		err = s.k.Block(c, key, try, wait)
	} else {
		err = s.k.Do(c, key, try, wait)
	}
	return n, err
}

// again reports whether a call of d that failed with err under deadline c
// must go on under d's new deadline (c was replaced while it waited).
func (s *Stream) again(err error, d *direction, c *deadline) bool {
	return err == errChanged || (err == errs.Deadline && d.dl.Load() != c)
}

// Write writes b under the write deadline, all of it unless an error (the
// deadline, Close, EPIPE) stops it; it returns what it wrote. Errors are
// bare, as Read's; a write(2) that wrote nothing is io.ErrUnexpectedEOF.
// Concurrent Writes are not interleaved. It does not allocate.
func (s *Stream) Write(b []byte) (int, error) {
	for {
		c := s.wr.dl.Load()
		err := s.wgate.Enter(c)
		if err == nil {
			break
		}
		if err != errChanged {
			return 0, s.k.Result(c, err)
		}
	}
	defer s.wgate.Leave()
	nn := 0
	for {
		c := s.wr.dl.Load()
		n, err := s.call(c, &s.wr, keyWrite, b[nn:min(len(b), nn+maxRW)])
		nn += n
		switch {
		case err == nil:
			if nn == len(b) {
				return nn, nil
			}
			if n == 0 {
				return nn, io.ErrUnexpectedEOF
			}
			continue
		case s.again(err, &s.wr, c):
			continue
		}
		return nn, err
	}
}

// errChanged is the Err of a replaced deadline: a call that was waiting
// under it takes the new one and goes on.
var errChanged = errors.New("stream: the deadline changed")

// A deadline is one setting of a direction's deadline, seen by the waiter
// kit as the context of Read or Write: Deadline is the time set (its
// monotonic reading, so a C wait's CLOCK_MONOTONIC timeout), Done closes
// when it passes (Err: context.DeadlineExceeded) or when SetDeadline
// replaces it (Err: errChanged). One is made per SetDeadline; Read and
// Write use the current one and allocate nothing.
type deadline struct {
	at    time.Time // zero: none
	done  chan struct{}
	once  sync.Once
	err   error // set before done closes
	timer *time.Timer
}

func newDeadline(at time.Time) *deadline {
	d := &deadline{at: at, done: make(chan struct{})}
	if !at.IsZero() {
		if left := time.Until(at); left <= 0 {
			d.end(context.DeadlineExceeded)
		} else {
			d.timer = time.AfterFunc(left, func() { d.end(context.DeadlineExceeded) })
		}
	}
	return d
}

func (d *deadline) end(err error) {
	d.once.Do(func() {
		d.err = err
		close(d.done)
	})
}

// replaced ends d for its successor.
func (d *deadline) replaced() {
	d.stop()
	d.end(errChanged)
}

// stop stops d's timer (Close: nobody waits under d any more).
func (d *deadline) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

func (d *deadline) Deadline() (time.Time, bool) { return d.at, !d.at.IsZero() }
func (d *deadline) Done() <-chan struct{}       { return d.done }
func (d *deadline) Value(any) any               { return nil }
func (d *deadline) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

// A direction is one way through the FIFO: its current deadline, and
// whether its next call should go straight to the wait in C.
type direction struct {
	dl atomic.Pointer[deadline]
	// pollFirst: the last wait in C says the next call goes straight to C
	// (waiter.io: a round trip's reply is seldom there already, so the
	// non-blocking try would be a wasted system call).
	pollFirst atomic.Bool
}

// The kit's keys of the two directions.
const (
	keyRead  = 1
	keyWrite = 2
)

// A waiter is the C waiter of a direction. In the blocking mode (block,
// for a FIFO) its signal-kicked waiter pw has its own open file
// description of the FIFO as its descriptor, opened again through /proc/self/fd with
// O_NONBLOCK cleared on it alone (the Stream's own description, which dups
// share, stays non-blocking), and the wait is one read(2) or write(2) on it
// (posixipc.ReadWait, WriteWait); a kick swaps the waiter's O_PATH sentinel
// over it and signals the waiting thread, and the next Reset opens the
// FIFO again. Without it (no /proc, no reader to
// open a write end beside; not reopenable), the wait polls the descriptor and the
// eventfd (posixipc.FifoWaitIO), which a kick makes readable.
type waiter struct {
	evfd    int
	kicked  atomic.Bool // a cancelling kick may be pending
	closing atomic.Bool

	block atomic.Bool
	mu    sync.Mutex // orders Kick and Reset on the blocking mode
	fifo  int        // the Stream's descriptor, to open again
	acc   int        // its access mode
	pw    posixipc.Waiter
}

// pollOnly makes new waiters poll (the tests of that mode set it).
var pollOnly atomic.Bool

func newWaiter(fd, acc int, reopenable bool) (*waiter, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	w := &waiter{evfd: efd, fifo: fd, acc: acc}
	if pollOnly.Load() || !reopenable {
		return w, nil
	}
	if bfd, err := reopen(fd, acc); err == nil {
		if pw, err := posixipc.NewWaiter(); err != nil {
			unix.Close(bfd)
		} else if err := pw.SetFD(bfd); err != nil { // (bfd is closed)
			pw.Free()
		} else {
			w.pw = pw
			w.block.Store(true)
		}
	}
	return w, nil
}

// reopen opens the FIFO of fd again as a new, blocking open file
// description with access mode acc (O_NONBLOCK only for the open: a write
// end opens only while a reader has the FIFO open, and never waits).
func reopen(fd, acc int) (int, error) {
	nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), acc|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstat(nfd, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		unix.Close(nfd)
		return -1, syscall.EINVAL
	}
	fl, err := unix.FcntlInt(uintptr(nfd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(nfd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		unix.Close(nfd)
		return -1, err
	}
	return nfd, nil
}

// Kick makes the wait in C, or the next one, return ECANCELED.
func (w *waiter) Kick(closing bool) {
	if closing {
		w.closing.Store(true)
	}
	w.kicked.Store(true)
	one := [8]byte{1}
	unix.Write(w.evfd, one[:])
	w.mu.Lock()
	if w.block.Load() {
		w.pw.Kick(closing)
	}
	w.mu.Unlock()
}

// Reset undoes a cancelling kick that no wait took (a closing one stays):
// it drains the eventfd and, in the blocking mode, opens the FIFO again
// under the sentinel (failing that, the waiter polls from now on).
func (w *waiter) Reset() {
	if !w.kicked.Load() || w.closing.Load() {
		return
	}
	w.kicked.Store(false)
	var v [8]byte
	unix.Read(w.evfd, v[:])
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.block.Load() || !w.pw.Kicked() {
		return
	}
	nfd, err := reopen(w.fifo, w.acc)
	if err == nil {
		err = w.pw.Rearm(nfd)
		unix.Close(nfd)
	}
	if err != nil {
		w.block.Store(false)
	}
}

// io is the wait of a direction inside C: in the blocking mode one read(2)
// or write(2) of buf on the waiter's own description, else the poll of fd
// and the eventfd, then the call. straight reports whether the next call
// should go straight to the wait: after a blocking wait always, after a
// poll that slept unless a read filled buf (more may be there: try first).
func (w *waiter) io(fd int, write bool, buf []byte, rel int64) (n int, straight bool, err error) {
	if w.block.Load() {
		if write {
			n, err = posixipc.WriteWait(w.pw, buf)
		} else {
			n, err = posixipc.ReadWait(w.pw, buf)
		}
		return n, true, err
	}
	n, slept, err := posixipc.FifoWaitIO(fd, w.evfd, write, buf, rel)
	return n, slept && (write || n < len(buf)), err
}

// Free closes the waiter's descriptors and frees its C waiter.
func (w *waiter) Free() {
	unix.Close(w.evfd)
	if w.pw.Valid() {
		w.pw.Free() // (and its descriptors)
	}
}

// SetPollOnly makes the waiters made from now on poll (v true) instead of
// blocking in read(2) or write(2) on their own open file description (the
// tests of that mode); the returned function restores the default.
func SetPollOnly(v bool) (restore func()) {
	old := pollOnly.Swap(v)
	return func() { pollOnly.Store(old) }
}

// WaitModes reports the mode of each waiter s has made: "block" or "poll"
// (for tests).
func (s *Stream) WaitModes() []string {
	var m []string
	s.k.Each(func(w *waiter) {
		if w.block.Load() {
			m = append(m, "block")
		} else {
			m = append(m, "poll")
		}
	})
	return m
}
