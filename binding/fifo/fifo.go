//go:build linux && cgo

// Package fifo makes and opens named pipes (FIFOs, mkfifo(3)) that C programs
// share, with POSIX's open synchronisation made cancellable.
//
// Model:
//
//   - POSIX: open(O_RDONLY) of a FIFO blocks until a writer opens it, and
//     open(O_WRONLY) until a reader does. A blocking open(2) would hold an OS
//     thread per waiting goroutine and could not be cancelled. Open never
//     blocks in the kernel instead:
//   - A reader opens with O_RDONLY|O_NONBLOCK, which succeeds at once (and so
//     already lets a blocked C writer's open return). It then waits, in Go,
//     until a writer is there: a poll(2) with zero timeout (data or a hangup
//     means a writer came) and a one-byte read probe (EAGAIN: a writer is
//     connected; 0: none; a byte: kept and returned by the first Read).
//   - A writer retries open(O_WRONLY|O_NONBLOCK), which fails with ENXIO
//     while no reader has the FIFO open (a C reader blocked in its own open
//     counts as one, so the two opens meet as POSIX says).
//   - Between attempts the goroutine sleeps on a timer with exponential
//     backoff (50µs doubling up to 10ms): no OS thread is held, so thousands of
//     waiting opens cost no threads, and a partner is seen at most ~10ms after
//     it arrives. A done context makes Open close what it opened and return at
//     once: no goroutine, descriptor or timer outlives a cancelled Open.
//   - O_RDWR opens at once and never waits (Linux semantics; POSIX leaves it
//     undefined). O_NONBLOCK in flag means "do not wait": a reader returns at
//     once, a writer fails with ENXIO when there is no reader.
//
// After Open, the File's descriptor stays non-blocking (O_NONBLOCK belongs
// to the open file description, shared with any dup) and Read and Write use
// it directly, not through the runtime poller, whose epoll wake-up and
// goroutine hand-off cost more than the round trip itself. Per File and
// direction, one goroutine at a time (internal/gate) tries the call and, on
// EAGAIN, waits inside C in ppoll(2) on the descriptor and an eventfd, then
// reads or writes; other callers park in Go and hold no OS thread, so
// thousands of blocked Reads cost one thread. After a wait that slept, the
// next call polls first, skipping a try that would find nothing. Deadlines
// (SetDeadline) become the C wait's CLOCK_MONOTONIC timeout; changing one,
// or Close, kicks the waiter through the eventfd, and parked callers are
// woken to recompute theirs. Close unblocks Read and Write (they return an
// error wrapping os.ErrClosed) and waits until they have left the
// descriptor. Read returns io.EOF once every writer has closed; Write fails
// with EPIPE once every reader has (Go ignores SIGPIPE on descriptors other
// than stdout and stderr, also in cgo calls on Go threads). Concurrent Writes
// on one File are not interleaved with each other.
//
// Atomicity: a write of at most PipeBuf (PIPE_BUF, 4096 bytes on Linux) bytes
// is atomic: its bytes are never interleaved with another writer's, whether
// the writer is Go or C. Write of a larger buffer may be split and
// interleaved. Send records of at most PipeBuf bytes, one Write each, to
// share a FIFO among several writers.
//
// A cancelled reader's Open has had the FIFO open for a while: a C writer that
// opened it in that time sees EPIPE (or SIGPIPE) on its next write, as if the
// reader had opened and closed it.
package fifo

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/gate"
	"golang.org/x/sys/unix"
)

// ErrDeadline is wrapped by the error of a call whose deadline passed while
// it waited: the same value in every package of the module; errors.Is
// matches it against context.DeadlineExceeded, syscall.ETIMEDOUT and
// os.ErrDeadlineExceeded.
var ErrDeadline = errs.Deadline

// PipeBuf is PIPE_BUF on Linux: writes of at most this many bytes are atomic.
const PipeBuf = 4096

// Backoff bounds of Open's wait for the other side.
const (
	minBackoff = 50 * time.Microsecond
	maxBackoff = 10 * time.Millisecond
)

// File is an open FIFO. Its methods are safe for concurrent use.
type File struct {
	f    *os.File
	fd   int // f's descriptor (never f.Fd(), which would make it blocking)
	path string

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
	// kickMu orders deadline kicks before Close closes the eventfds.
	kickMu sync.Mutex

	rd, wr    direction
	evCleanup runtime.Cleanup

	// pending holds a byte the reader's open probe read, returned first.
	hasPending atomic.Bool
	mu         sync.Mutex
	pending    []byte
}

// direction is one way through the FIFO (Read or Write). Its gate admits one
// goroutine at a time: it tries the non-blocking call in Go and, on EAGAIN,
// waits inside C (posixipc.FifoWaitIO: ppoll on the descriptor and evfd).
// The others park in Go in gate.Enter and hold no thread.
type direction struct {
	gate *gate.Gate
	evfd int // an eventfd: written to kick the waiter out of C

	// deadline is the direction's deadline in nanoseconds since base on the
	// monotonic clock; 0 for none.
	deadline atomic.Int64
	// pollFirst: the last wait slept in C, so the next call goes straight to
	// C (a round trip's reply is seldom there already: the non-blocking try
	// would be a wasted system call). Only the gate holder uses it.
	pollFirst bool
	// inC is 1 while the holder computes its timeout and waits in C: a
	// deadline change then kicks it.
	inC atomic.Int32
	// parked counts goroutines waiting for the gate; changed is cancelled
	// when the deadline changes while some do, so they recompute theirs.
	parked  atomic.Int32
	mu      sync.Mutex
	changed context.Context
	cancel  context.CancelFunc
}

// maxRW caps one read(2) or write(2) (as package os does).
const maxRW = 1 << 30

func newDirection() (direction, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return direction{evfd: -1}, os.NewSyscallError("eventfd", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return direction{gate: gate.New(), evfd: fd, changed: ctx, cancel: cancel}, nil
}

// kick makes the goroutine waiting in C, if any, return ECANCELED; a kick
// with none there ends the next wait early (it recomputes and waits again).
func (d *direction) kick() {
	one := [8]byte{1}
	unix.Write(d.evfd, one[:])
}

// Read reads from the FIFO. It returns io.EOF once no writer has the FIFO
// open and it is empty. When there is no data, one goroutine per File waits
// inside C (ppoll(2), then read(2)); other readers wait in Go for their turn
// and hold no OS thread. It does not allocate.
func (f *File) Read(b []byte) (int, error) {
	if f.hasPending.Load() && len(b) > 0 {
		f.mu.Lock()
		if len(f.pending) > 0 {
			b[0] = f.pending[0]
			f.pending = nil
			f.hasPending.Store(false)
			f.mu.Unlock()
			return 1, nil
		}
		f.mu.Unlock()
	}
	d := &f.rd
	if err := f.enter(d, "read"); err != nil {
		return 0, err
	}
	defer d.gate.Leave()
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	for {
		var n int
		var err error = unix.EAGAIN
		if !d.pollFirst {
			n, err = unix.Read(f.fd, b)
		}
		if err == unix.EAGAIN {
			n, err = f.wait(d, false, b)
		}
		switch err {
		case nil:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case unix.EAGAIN, unix.EINTR, errRetry:
			continue
		case errExpired:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: errs.Deadline}
		case errClosed:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: os.ErrClosed}
		}
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
	}
}

// Write writes b to the FIFO, all of it unless an error (a deadline, Close,
// EPIPE) stops it. A write of at most PipeBuf bytes is atomic. It fails with
// an error wrapping syscall.EPIPE once no reader has the FIFO open. While the
// pipe is full, one goroutine per File waits inside C (ppoll(2), then
// write(2)); other writers wait in Go for their turn and hold no OS thread.
// Concurrent Writes on one File are not interleaved. It does not allocate.
func (f *File) Write(b []byte) (int, error) {
	d := &f.wr
	if err := f.enter(d, "write"); err != nil {
		return 0, err
	}
	defer d.gate.Leave()
	var nn int
	for {
		if nn > 0 && f.closed.Load() {
			return nn, &fs.PathError{Op: "write", Path: f.path, Err: os.ErrClosed}
		}
		end := len(b)
		if end-nn > maxRW {
			end = nn + maxRW
		}
		var n int
		var err error = unix.EAGAIN
		if !d.pollFirst {
			n, err = unix.Write(f.fd, b[nn:end])
		}
		if err == unix.EAGAIN {
			n, err = f.wait(d, true, b[nn:end])
		}
		if n > 0 {
			nn += n
		}
		if nn == len(b) && err == nil {
			return nn, nil
		}
		switch err {
		case nil:
			if n == 0 {
				return nn, &fs.PathError{Op: "write", Path: f.path, Err: io.ErrUnexpectedEOF}
			}
			continue
		case unix.EAGAIN, unix.EINTR, errRetry:
			continue
		case errExpired:
			return nn, &fs.PathError{Op: "write", Path: f.path, Err: errs.Deadline}
		case errClosed:
			return nn, &fs.PathError{Op: "write", Path: f.path, Err: os.ErrClosed}
		}
		return nn, &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
}

// Sentinels of wait and enter, turned into *fs.PathError by Read and Write.
var (
	errRetry   = errors.New("retry")
	errExpired = errors.New("deadline")
	errClosed  = errors.New("closed")
)

// enter takes d's gate for op: at once when it is free, else parked in Go
// until it is free, d's deadline passes or f is closed. After a nil return
// the caller must call d.gate.Leave.
func (f *File) enter(d *direction, op string) error {
	if !d.gate.TryEnter() {
		if err := f.enterSlow(d); err != nil {
			return f.opErr(op, err)
		}
	}
	err := errClosed
	if !f.closed.Load() {
		if dl := d.deadline.Load(); dl == 0 || dl > now() {
			return nil
		}
		err = errExpired
	}
	d.gate.Leave()
	return f.opErr(op, err)
}

func (f *File) opErr(op string, err error) error {
	if err == errExpired {
		return &fs.PathError{Op: op, Path: f.path, Err: errs.Deadline}
	}
	return &fs.PathError{Op: op, Path: f.path, Err: os.ErrClosed}
}

// enterSlow parks in gate.Enter; a deadline change wakes it to recompute.
func (f *File) enterSlow(d *direction) error {
	d.parked.Add(1)
	defer d.parked.Add(-1)
	for {
		d.mu.Lock()
		ctx := d.changed
		d.mu.Unlock()
		var cancel context.CancelFunc
		if dl := d.deadline.Load(); dl != 0 {
			left := dl - now()
			if left <= 0 {
				return errExpired
			}
			ctx, cancel = context.WithTimeout(ctx, time.Duration(left))
		}
		err := d.gate.Enter(ctx)
		if cancel != nil {
			cancel()
		}
		if err == nil {
			return nil
		}
		if errors.Is(err, os.ErrClosed) {
			return errClosed
		}
	}
}

// wait is the gate holder's wait in C for fd to become readable or writable
// and its one read or write of b. It sets d.pollFirst. A kick or timeout returns errRetry (the
// caller tries again, which recomputes the deadline), errExpired or errClosed.
func (f *File) wait(d *direction, write bool, b []byte) (int, error) {
	d.inC.Store(1) // before the deadline load: a SetDeadline sees it or we see its deadline
	defer d.inC.Store(0)
	timeout := int64(-1)
	if dl := d.deadline.Load(); dl != 0 {
		if timeout = gate.Saturate(time.Duration(dl - now())); timeout == 0 {
			return 0, errExpired
		}
	}
	if f.closed.Load() {
		return 0, errClosed
	}
	n, slept, err := posixipc.FifoWaitIO(f.fd, d.evfd, write, b, timeout)
	if err == nil {
		// a read that filled b leaves more data: try first next time
		d.pollFirst = slept && (write || n < len(b))
	}
	switch err {
	case syscall.ECANCELED:
		if f.closed.Load() {
			return 0, errClosed
		}
		return 0, errRetry
	case syscall.ETIMEDOUT:
		return 0, errRetry
	}
	return n, err
}

// SetPipeSize sets the capacity of the pipe (both ends share it) to at least
// n bytes with fcntl F_SETPIPE_SZ and returns the capacity the kernel chose.
// Unprivileged processes are limited by /proc/sys/fs/pipe-max-size (EPERM
// above it). A larger pipe means fewer wake-ups per byte for a fast stream.
func (f *File) SetPipeSize(n int) (int, error) {
	rc, err := f.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var size int
	var serr error
	if err := rc.Control(func(fd uintptr) { size, serr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, n) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, &fs.PathError{Op: "fcntl F_SETPIPE_SZ", Path: f.path, Err: serr}
	}
	return size, nil
}

// Name returns the path given to Open.
func (f *File) Name() string { return f.path }

// SyscallConn gives access to the descriptor (see os.File.SyscallConn). Its
// own Read and Write methods wait in the runtime poller (File.Read and
// File.Write wait in C, see the package doc); do not clear O_NONBLOCK, which
// both rely on.
func (f *File) SyscallConn() (syscall.RawConn, error) { return f.f.SyscallConn() }

// Close closes the FIFO. Reads and writes blocked in other goroutines return
// an error wrapping os.ErrClosed; Close waits until they have left the
// descriptor before it closes it. Close is idempotent: later calls return
// the first call's result.
func (f *File) Close() error {
	f.closeOnce.Do(func() {
		f.kickMu.Lock()
		f.closed.Store(true)
		f.kickMu.Unlock()
		for _, d := range []*direction{&f.rd, &f.wr} {
			d.gate.Close()
			d.kick()
		}
		for _, d := range []*direction{&f.rd, &f.wr} {
			d.gate.Drain()
			d.cancel()
		}
		f.closeErr = f.f.Close()
		f.evCleanup.Stop()
		unix.Close(f.rd.evfd)
		unix.Close(f.wr.evfd)
	})
	return f.closeErr
}
