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
// After Open, the File's descriptor is non-blocking and read and written
// through the Go runtime poller (like a net.Conn): reads and writes wait
// without an OS thread, deadlines work (SetDeadline), and Close unblocks them
// (they return an error wrapping os.ErrClosed). Read returns io.EOF once every
// writer has closed; Write fails with EPIPE once every reader has (Go ignores
// SIGPIPE on descriptors other than stdout and stderr).
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
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"
	"golang.org/x/sys/unix"
)

// PipeBuf is PIPE_BUF on Linux: writes of at most this many bytes are atomic.
const PipeBuf = 4096

// Backoff bounds of Open's wait for the other side.
const (
	minBackoff = 50 * time.Microsecond
	maxBackoff = 10 * time.Millisecond
)

// Make creates a FIFO at path with permissions perm (before the umask), with
// mkfifo(3). It fails with an error wrapping fs.ErrExist if path exists.
func Make(path string, perm os.FileMode) error {
	if perm&^os.ModePerm != 0 {
		return &fs.PathError{Op: "mkfifo", Path: path, Err: fmt.Errorf("mode %v: only permission bits: %w", perm, syscall.EINVAL)}
	}
	if err := unix.Mkfifo(path, uint32(perm)); err != nil {
		return &fs.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return nil
}

// File is an open FIFO.
type File struct {
	f    *os.File
	path string

	closeOnce sync.Once
	closeErr  error

	// pending holds a byte the reader's open probe read, returned first.
	hasPending atomic.Bool
	mu         sync.Mutex
	pending    []byte
}

// Open opens the FIFO at path. flag is os.O_RDONLY, os.O_WRONLY or
// os.O_RDWR, optionally with syscall.O_NONBLOCK (do not wait for the other side).
// A reader waits until a writer has the FIFO open and a writer until a reader
// has, as open(2) does, but in Go (see the package doc); ctx cancels the wait,
// and the error then wraps ctx.Err(). path must be a FIFO (EINVAL otherwise,
// so Open never consumes a byte of a regular file).
func Open(ctx context.Context, path string, flag int) (*File, error) {
	nonblock := flag&syscall.O_NONBLOCK != 0
	acc := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	if flag&^(os.O_RDONLY|os.O_WRONLY|os.O_RDWR|syscall.O_NONBLOCK) != 0 || acc == os.O_WRONLY|os.O_RDWR {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("flag %#x: want O_RDONLY, O_WRONLY or O_RDWR, optionally with O_NONBLOCK: %w", flag, syscall.EINVAL)}
	}
	if err := errs.Ctx(ctx); err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("not a FIFO: %w", syscall.EINVAL)}
	}
	var (
		fd      int
		pending []byte
		err     error
	)
	switch acc {
	case os.O_RDWR:
		fd, err = openFIFO(path, unix.O_RDWR)
	case os.O_RDONLY:
		fd, pending, err = openReader(ctx, path, nonblock)
	default:
		fd, err = openWriter(ctx, path, nonblock)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := &File{f: os.NewFile(uintptr(fd), path), path: path, pending: pending}
	f.hasPending.Store(len(pending) > 0)
	return f, nil
}

// openFIFO opens path non-blocking and close-on-exec and checks that what it
// opened is a FIFO (path may have been replaced since Open's stat).
func openFIFO(path string, mode int) (int, error) {
	fd, err := unix.Open(path, mode|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, mode|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return -1, fmt.Errorf("not a FIFO: %w", syscall.EINVAL)
	}
	return fd, nil
}

// backoff sleeps for *d (then doubles it up to maxBackoff), or returns
// ctx.Err() when ctx is done first.
func backoff(ctx context.Context, t **time.Timer, d *time.Duration) error {
	if *t == nil {
		*t = time.NewTimer(*d)
	} else {
		(*t).Reset(*d)
	}
	if *d *= 2; *d > maxBackoff {
		*d = maxBackoff
	}
	select {
	case <-(*t).C:
		return nil
	case <-ctx.Done():
		(*t).Stop()
		return errs.Ctx(ctx)
	}
}

func openReader(ctx context.Context, path string, nonblock bool) (int, []byte, error) {
	fd, err := openFIFO(path, unix.O_RDONLY)
	if err != nil || nonblock {
		return fd, nil, err
	}
	var t *time.Timer
	d := minBackoff
	for {
		// Data, or a hangup (a writer came and went since our open), mean a
		// writer has been here: Read returns the data, then EOF.
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(p, 0); err == nil && n > 0 && p[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			return fd, nil, nil
		}
		var b [1]byte
		n, err := unix.Read(fd, b[:])
		switch {
		case err == unix.EAGAIN:
			return fd, nil, nil // a writer is connected, no data yet
		case err == nil && n == 1:
			return fd, b[:], nil // data arrived just now: keep the byte
		case err != nil && err != unix.EINTR:
			unix.Close(fd)
			return -1, nil, err
		}
		// n == 0: no writer yet.
		if err := backoff(ctx, &t, &d); err != nil {
			unix.Close(fd)
			return -1, nil, err
		}
	}
}

func openWriter(ctx context.Context, path string, nonblock bool) (int, error) {
	var t *time.Timer
	d := minBackoff
	for {
		fd, err := openFIFO(path, unix.O_WRONLY)
		if err != unix.ENXIO || nonblock {
			return fd, err
		}
		if err := backoff(ctx, &t, &d); err != nil {
			return -1, err
		}
	}
}

// Read reads from the FIFO, waiting in the runtime poller for data. It
// returns io.EOF once no writer has the FIFO open and it is empty.
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
	return f.f.Read(b)
}

// Write writes to the FIFO, waiting in the runtime poller for room. A write
// of at most PipeBuf bytes is atomic. It fails with an error wrapping
// syscall.EPIPE once no reader has the FIFO open.
func (f *File) Write(b []byte) (int, error) { return f.f.Write(b) }

// SetDeadline sets the read and write deadlines; an expired deadline makes
// Read and Write fail with an error wrapping os.ErrDeadlineExceeded.
func (f *File) SetDeadline(t time.Time) error { return f.f.SetDeadline(t) }

// SetReadDeadline sets the deadline of Read.
func (f *File) SetReadDeadline(t time.Time) error { return f.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write.
func (f *File) SetWriteDeadline(t time.Time) error { return f.f.SetWriteDeadline(t) }

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

// SyscallConn gives access to the descriptor through the runtime poller
// (see os.File.SyscallConn).
func (f *File) SyscallConn() (syscall.RawConn, error) { return f.f.SyscallConn() }

// Close closes the FIFO. Reads and writes blocked in other goroutines return
// an error wrapping os.ErrClosed. Close is idempotent: later calls return
// the first call's result.
func (f *File) Close() error {
	f.closeOnce.Do(func() { f.closeErr = f.f.Close() })
	return f.closeErr
}
