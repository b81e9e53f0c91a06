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
// through the module's waiter kit (internal/gate), as every blocking call
// of the module does: a non-blocking try; on EAGAIN one goroutine per File
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
	"strconv"
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

	// k is the File's waiter kit: one point per direction (keyRead,
	// keyWrite), each with its C waiter (see waiter) made by its first
	// wait.
	k      *gate.Kit[*waiter]
	rd, wr direction
	// wgate admits one Write at a time, so that concurrent Writes are not
	// interleaved (a Write may take several calls of the kit).
	wgate *gate.Gate

	closeOnce sync.Once
	closeErr  error
	cleanup   runtime.Cleanup

	// pending holds a byte the reader's open probe read, returned first.
	hasPending atomic.Bool
	mu         sync.Mutex
	pending    []byte
}

// The kit's keys of the two directions.
const (
	keyRead  = 1
	keyWrite = 2
)

// A waiter is the C waiter of a direction. In the blocking mode (block)
// its signal-kicked waiter pw has its own open file description of the
// FIFO as its descriptor, opened again through /proc/self/fd with
// O_NONBLOCK cleared on it alone (the File's own description, which dups
// share, stays non-blocking), and the wait is one read(2) or write(2) on it
// (posixipc.ReadWait, WriteWait); a kick swaps the waiter's O_PATH sentinel
// over it and signals the waiting thread, and the next Reset opens the
// FIFO again. Without it (no /proc, no reader to
// open a write end beside), the wait polls the File's descriptor and the
// eventfd (posixipc.FifoWaitIO), which a kick makes readable.
type waiter struct {
	evfd    int
	kicked  atomic.Bool // a cancelling kick may be pending
	closing atomic.Bool

	block atomic.Bool
	mu    sync.Mutex // orders Kick and Reset on the blocking mode
	fifo  int        // the File's descriptor, to open again
	acc   int        // its access mode
	pw    posixipc.Waiter
}

// pollOnly makes new waiters poll (the tests of that mode set it).
var pollOnly atomic.Bool

func newWaiter(fd, acc int) (*waiter, error) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	w := &waiter{evfd: efd, fifo: fd, acc: acc}
	if pollOnly.Load() {
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

// maxRW caps one read(2) or write(2) (as package os does).
const maxRW = 1 << 30

// Read reads from the FIFO. It returns io.EOF once no writer has the FIFO
// open and it is empty. It goes through the module's waiter kit: a try
// (read(2), non-blocking); when there is no data, one goroutine per File
// waits inside C (a blocking read(2), see the package doc) and other
// readers park in Go, holding no OS thread; the read deadline is the
// wait's context. It does not allocate.
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
	if len(b) > maxRW {
		b = b[:maxRW]
	}
	var n int
	try := func() error {
		if len(b) == 0 {
			n = 0
			return nil
		}
		var err error
		if n, err = unix.Read(f.fd, b); err == unix.EINTR {
			return gate.WouldBlock // the kit's wait reads again
		}
		return err
	}
	wait := func(w *waiter, rel int64) error {
		var straight bool
		var err error
		if n, straight, err = w.io(f.fd, false, b, rel); err == nil {
			f.rd.pollFirst.Store(straight)
		}
		return err
	}
	for {
		c := f.rd.dl.Load()
		err := f.do(c, &f.rd, keyRead, try, wait)
		switch {
		case err == nil:
			if n == 0 && len(b) > 0 {
				return 0, io.EOF
			}
			return n, nil
		case f.again(err, &f.rd, c):
			continue
		}
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
	}
}

// do runs one call of direction d through the kit under deadline c:
// straight to the wait in C after a wait that slept, else try first.
func (f *File) do(c *deadline, d *direction, key uint64, try func() error, wait func(*waiter, int64) error) error {
	if d.pollFirst.Load() {
		return f.k.Block(c, key, try, wait)
	}
	return f.k.Do(c, key, try, wait)
}

// again reports whether a call of d that failed with err under deadline c
// must go on under d's new deadline (c was replaced while it waited).
func (f *File) again(err error, d *direction, c *deadline) bool {
	return err == errChanged || (err == errs.Deadline && d.dl.Load() != c)
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
	for {
		c := f.wr.dl.Load()
		err := f.wgate.Enter(c)
		if err == nil {
			break
		}
		if err != errChanged {
			return 0, &fs.PathError{Op: "write", Path: f.path, Err: f.k.Result(c, err)}
		}
	}
	defer f.wgate.Leave()
	nn := 0
	for {
		chunk := b[nn:min(len(b), nn+maxRW)]
		var n int
		try := func() error {
			if len(chunk) == 0 {
				return nil
			}
			var err error
			if n, err = unix.Write(f.fd, chunk); n < 0 {
				n = 0
			}
			if err == unix.EINTR {
				return gate.WouldBlock
			}
			return err
		}
		wait := func(w *waiter, rel int64) error {
			var straight bool
			var err error
			if n, straight, err = w.io(f.fd, true, chunk, rel); err == nil {
				f.wr.pollFirst.Store(straight)
			}
			return err
		}
		c := f.wr.dl.Load()
		err := f.do(c, &f.wr, keyWrite, try, wait)
		nn += n
		switch {
		case err == nil:
			if nn == len(b) {
				return nn, nil
			}
			if n == 0 {
				return nn, &fs.PathError{Op: "write", Path: f.path, Err: io.ErrUnexpectedEOF}
			}
			continue
		case f.again(err, &f.wr, c):
			continue
		}
		return nn, &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
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
		f.wgate.Close()
		f.k.Close() // kicks the waiters, waits for every call to leave, frees them
		f.rd.dl.Load().stop()
		f.wr.dl.Load().stop()
		f.closeErr = f.f.Close()
	})
	return f.closeErr
}
