//go:build linux && cgo

package fifo

// Opening: the rendezvous of a reader and a writer, waited for in Go.

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/stream"
	"golang.org/x/sys/unix"
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
	of := os.NewFile(uintptr(fd), path)
	f := &File{path: path, pending: pending, f: of, s: stream.New(of, fd, acc, true)}
	// A File dropped without Close: os.File's cleanup closes the FIFO; this
	// one frees the waiters (their descriptors and C waiters).
	f.cleanup = runtime.AddCleanup(f, func(s *stream.Stream) { s.Close() }, f.s)
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

// probes bounds how many waiting opens of the process are in their
// system calls (open, poll, read: none of them waits, but each takes a few
// microseconds) at one time. Without it, hundreds of opens polling at once
// make the runtime start a thread for each one caught in a system call when
// sysmon looks (an -asan build saw 80 for 300 opens); with it the threads a
// process's waiting opens can hold are bounded by maxProbes, however many
// there are. A probe that hangs in open(2) (a FIFO on a hung network file
// system) holds its token; the opens behind it still honour their contexts.
var probes = make(chan struct{}, maxProbes)

const maxProbes = 2

// probe runs one step of a waiting open under a probes token; it returns
// ctx's error if ctx is done before a token is free.
func probe(ctx context.Context, step func()) error {
	select {
	case probes <- struct{}{}:
	case <-ctx.Done():
		return errs.Ctx(ctx)
	}
	step()
	<-probes
	return nil
}

func openReader(ctx context.Context, path string, nonblock bool) (int, []byte, error) {
	if nonblock {
		fd, err := openFIFO(path, unix.O_RDONLY)
		return fd, nil, err
	}
	fd := -1
	var err error
	if perr := probe(ctx, func() { fd, err = openFIFO(path, unix.O_RDONLY) }); perr != nil {
		return -1, nil, perr
	} else if err != nil {
		return -1, nil, err
	}
	var t *time.Timer
	d := minBackoff
	for {
		var (
			done    bool
			pending []byte
			lerr    error
		)
		err := probe(ctx, func() { done, pending, lerr = lookForWriter(fd) })
		switch {
		case err == nil && lerr != nil:
			err = lerr
		case err == nil && done:
			return fd, pending, nil
		case err == nil:
			err = backoff(ctx, &t, &d) // no writer yet
		}
		if err != nil {
			unix.Close(fd)
			return -1, nil, err
		}
	}
}

// lookForWriter tells whether a writer has been at the reader fd (opened
// non-blocking): done with no bytes when one is connected or has come and
// gone, done with the one byte it read when data arrived just now.
func lookForWriter(fd int) (done bool, pending []byte, err error) {
	// Data, or a hangup (a writer came and went since our open), mean a
	// writer has been here: Read returns the data, then EOF.
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(p, 0); err == nil && n > 0 && p[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
		return true, nil, nil
	}
	var b [1]byte
	n, err := unix.Read(fd, b[:])
	switch {
	case err == unix.EAGAIN:
		return true, nil, nil // a writer is connected, no data yet
	case err == nil && n == 1:
		return true, b[:], nil // data arrived just now: keep the byte
	case err != nil && err != unix.EINTR:
		return false, nil, err
	}
	return false, nil, nil // n == 0 (no writer yet) or EINTR
}

func openWriter(ctx context.Context, path string, nonblock bool) (int, error) {
	if nonblock {
		return openFIFO(path, unix.O_WRONLY)
	}
	var t *time.Timer
	d := minBackoff
	for {
		fd := -1
		var err error
		if perr := probe(ctx, func() { fd, err = openFIFO(path, unix.O_WRONLY) }); perr != nil {
			return -1, perr
		}
		if err != unix.ENXIO {
			return fd, err
		}
		if err := backoff(ctx, &t, &d); err != nil {
			return -1, err
		}
	}
}
