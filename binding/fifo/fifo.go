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
//     it arrives. The attempts themselves (open, poll, read: none waits) are
//     made by at most two waiting opens of the process at a time, so many
//     opens polling at once do not make the runtime start a thread for each
//     one it finds in a system call. A done context makes Open close what it opened and return at
//     once: no goroutine, descriptor or timer outlives a cancelled Open.
//   - O_RDWR opens at once and never waits (Linux semantics; POSIX leaves it
//     undefined). O_NONBLOCK in flag means "do not wait": a reader returns at
//     once, a writer fails with ENXIO when there is no reader.
//
// After Open, the File's descriptor stays non-blocking (O_NONBLOCK belongs
// to the open file description, shared with any dup) and Read and Write use
// it directly, not through the runtime poller, whose epoll wake-up and
// goroutine hand-off cost more than the round trip itself. Read and Write go
// through the module's waiter kit (internal/gate, by internal/stream, which
// binding/pty shares), as every blocking call of the module does: a non-blocking try; on EAGAIN one goroutine per File
// and direction waits inside C, and the others park in Go and hold no OS
// thread, so thousands of blocked Reads cost one thread (and count toward
// the process-wide bound of waits in C). The wait inside C is one blocking
// read(2) or write(2) on the waiter's own open file description of the
// FIFO (opened again through /proc/self/fd by its first wait, O_NONBLOCK
// cleared on it alone; posixipc.ReadWait, WriteWait), as a plain blocking call
// makes it; so the process holds one more reader or writer end of the FIFO
// per waiting direction until Close, which no peer can tell from the
// File's own. A kick (the deadline passing or changing, Close) swaps an
// O_PATH sentinel over that descriptor and signals the thread, and the
// next wait opens the FIFO again. Where the FIFO cannot be opened again
// (no /proc; a write end while no reader has the FIFO open) the waiter
// polls the File's descriptor and an eventfd instead (posixipc.FifoWaitIO:
// ppoll(2), then read(2) or write(2)). After a wait, the next call goes
// straight to the wait, skipping a try that would find nothing. The context
// of a wait is its direction's deadline (SetDeadline); changing it, or
// Close, kicks the waiter and wakes the parked callers, which go on under
// the new one. Close unblocks Read and Write
// (they return an error wrapping os.ErrClosed) and waits until they have
// left the descriptor. Read returns io.EOF once every writer has closed;
// Write fails with EPIPE once every reader has (Go ignores SIGPIPE on
// descriptors other than stdout and stderr, also in cgo calls on Go
// threads). Concurrent Writes on one File are not interleaved with each
// other.
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
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"

	"github.com/posixipc/posixipc/internal/stream"
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
	path string

	// s reads and writes f's descriptor through the waiter kit (a waiter per
	// direction, made by its first wait).
	s *stream.Stream

	closeOnce sync.Once
	closeErr  error
	cleanup   runtime.Cleanup

	// pending holds a byte the reader's open probe read, returned first.
	hasPending atomic.Bool
	mu         sync.Mutex
	pending    []byte
}

// Read reads from the FIFO. It returns io.EOF once no writer has the FIFO
// open and it is empty. It goes through the module's waiter kit
// (internal/stream): a try (read(2), non-blocking); when there is no data,
// one goroutine per File waits inside C (a blocking read(2), see the
// package doc) and other readers park in Go, holding no OS thread; the
// read deadline is the wait's context. It does not allocate.
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
	n, err := f.s.Read(b)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: f.path, Err: err}
	}
	return n, err
}

// Write writes b to the FIFO, all of it unless an error (a deadline, Close,
// EPIPE) stops it. A write of at most PipeBuf bytes is atomic. It fails with
// an error wrapping syscall.EPIPE once no reader has the FIFO open. It goes
// through the waiter kit as Read does (while the pipe is full, one
// goroutine per File waits inside C in a blocking write(2) of what is left,
// see the package doc); other writers wait in Go for their turn and hold no
// OS thread.
// Concurrent Writes on one File are not interleaved. It does not allocate.
func (f *File) Write(b []byte) (int, error) {
	n, err := f.s.Write(b)
	if err != nil {
		err = &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
	return n, err
}

// SetDeadline sets the read and write deadlines; an expired deadline makes
// Read and Write fail with an error wrapping ErrDeadline (which matches
// os.ErrDeadlineExceeded, context.DeadlineExceeded and syscall.ETIMEDOUT),
// after one try (what is there already is still read or written, as with
// every blocking call of the module). A zero t means no deadline. A change
// takes effect in calls already waiting.
func (f *File) SetDeadline(t time.Time) error {
	return f.deadlineErr("SetDeadline", f.s.SetDeadline(t))
}

// SetReadDeadline sets the deadline of Read.
func (f *File) SetReadDeadline(t time.Time) error {
	return f.deadlineErr("SetReadDeadline", f.s.SetReadDeadline(t))
}

// SetWriteDeadline sets the deadline of Write.
func (f *File) SetWriteDeadline(t time.Time) error {
	return f.deadlineErr("SetWriteDeadline", f.s.SetWriteDeadline(t))
}

func (f *File) deadlineErr(op string, err error) error {
	if err != nil {
		return &fs.PathError{Op: op, Path: f.path, Err: err}
	}
	return nil
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
		f.cleanup.Stop()
		f.s.Close() // kicks the waiters, waits for every call to leave, frees them
		f.closeErr = f.f.Close()
	})
	return f.closeErr
}
