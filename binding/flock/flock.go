//go:build linux && cgo

// Package flock takes advisory file locks that C programs honour: whole-file
// locks with flock(2) and byte-range record locks with Linux open file
// description (OFD) locks, fcntl F_OFD_SETLK / F_OFD_SETLKW / F_OFD_GETLK.
//
// # Why not classic fcntl locks
//
// Classic POSIX record locks (F_SETLK, F_SETLKW) belong to the process and the
// file (the inode), not to a descriptor. That is a trap in Go:
//
//   - Any close(2) of any descriptor of the file in the process drops every
//     lock the process holds on it. os.ReadFile(path), a logger or a library
//     that opens and closes the same file for a moment silently releases your
//     lock, with no error anywhere.
//   - They do not exclude within the process: two goroutines (or two *os.File
//     of the same file) "both hold" the exclusive lock, since the owner is
//     the process.
//
// OFD locks (Linux 3.15+) belong to the open file description: they are
// released only when the last descriptor of that description is closed (here:
// File.Close), two Files of the same path conflict even inside one process,
// and they live in the same lock table as classic locks, so they conflict with
// the F_SETLK/F_SETLKW locks of C programs, both ways. flock(2) locks also
// belong to the open file description; on local Linux filesystems they are a
// separate table and do not conflict with fcntl locks (on NFS the kernel
// emulates flock with whole-file fcntl locks, and then they do).
//
// # Model
//
// A File owns one descriptor, opened by Open/OpenFile, and the locks on it.
// Locks belong to the File, not to a goroutine: locking a File again converts
// its lock (flock's conversion is not atomic: it may release before it
// re-takes), and any goroutine may Unlock. To exclude goroutines from each
// other, give each its own File. Close releases every lock of the File.
//
// # Waiting
//
// Lock and LockRange go through the module's waiter kit (internal/gate),
// as every blocking call of the module does. They first try the
// non-blocking call (flock LOCK_NB, F_OFD_SETLK). While it fails with
// EWOULDBLOCK, one goroutine per File waits in the kernel, in the blocking
// call (flock, F_OFD_SETLKW) on its own duplicate of the File's
// descriptor, made inside C on the module's signal-kicked waiter
// (posixipc.Waiter, the one mq, FIFOs and semaphores use); the others park in Go
// on the kit's gate until it is their turn, their context is done or the
// File is closed. So a File with waiters holds
// one OS thread, whatever the number of waiting goroutines, and a process
// at most MaxKernelWaiters of them, whatever the number of Files: the
// waiters of further Files poll the non-blocking call (1 to 25 ms apart)
// until a slot frees or the lock does. Within the bound, the kernel
// queues and wakes the waiter as it does a C program's: a released lock is
// handed over in microseconds, and a C process that re-locks in a loop
// cannot starve it.
//
// Cancellation (the context, or Close) reaches the waiter in the kernel like
// this: the waiter's duplicate descriptor is atomically replaced (dup3) by
// the waiter's O_PATH sentinel, then its thread gets SIGURG. The Go runtime
// installs its handlers with SA_RESTART, so the kernel restarts the
// interrupted call, which now fails at once with EBADF on the O_PATH
// descriptor (and a call not yet made sees the cancel flag the kick set
// first). Closing the duplicate does not release the File's
// locks: they belong to the open file description, which the File still has
// open. SIGURG is the signal the Go runtime itself sends for preemption; a
// program that ignores it (signal.Ignore(syscall.SIGURG)) cannot cancel a
// waiting Lock. A Lock whose lock is granted just as its context is done
// returns nil: the lock is held.
//
// # Who holds it
//
// Holder (F_OFD_GETLK) reports the first lock that conflicts with a range:
// for a classic fcntl lock its owner's pid, for an OFD lock pid -1 (the kernel
// does not record an owner process for an OFD lock, which may be shared by
// several processes). The File's own locks never conflict with it, and
// flock(2) locks are not visible to it.
//
// Locks are advisory: they bind only programs that take them.
package flock

import (
	"context"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
	"golang.org/x/sys/unix"
)

// ErrDeadline is wrapped by the error of a call whose deadline passed while
// it waited: the same value in every package of the module; errors.Is
// matches it against context.DeadlineExceeded, syscall.ETIMEDOUT and
// os.ErrDeadlineExceeded.
var ErrDeadline = errs.Deadline

const (
	// Shared is a read lock (LOCK_SH, F_RDLCK): many holders at once.
	Shared Mode = iota + 1
	// Exclusive is a write lock (LOCK_EX, F_WRLCK): one holder.
	Exclusive
)

// File is an open file and the locks taken through it.
type File struct {
	f    *os.File
	path string

	// fd is f's descriptor. Every call on it holds fdmu's read lock, and
	// Close takes the write lock before closing it, so a call never reaches
	// a closed (or reused) descriptor number.
	fdmu   sync.RWMutex
	fd     int
	closed bool // under fdmu

	// k is the File's waiter kit: Lock and LockRange wait through it, one
	// goroutine per File in the kernel on the kit's waiter (fdWaiter).
	k *gate.Kit[*fdWaiter]

	closeOnce sync.Once
	closeErr  error
	cleanup   runtime.Cleanup
}

// Open opens (creating it with mode 0666 before the umask if needed) the
// file at path for reading and writing, for locking.
func Open(path string) (*File, error) {
	return OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
}

// OpenFile opens path with flag and perm as os.OpenFile does (always
// close-on-exec). A Shared range lock needs read access and an Exclusive one
// write access (EBADF otherwise); flock locks need neither.
func OpenFile(path string, flag int, perm os.FileMode) (*File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	lf := &File{f: f, path: path}
	rc.Control(func(fd uintptr) { lf.fd = int(fd) })
	fd := lf.fd
	lf.k = gate.NewKit(false, func() (*fdWaiter, error) { return newWaiter(fd) })
	// A File dropped without Close: *os.File closes the descriptor (and so
	// releases the locks) by itself; the kit's Close here closes the
	// waiter's two and ends its canceller's goroutine.
	lf.cleanup = runtime.AddCleanup(lf, func(k *gate.Kit[*fdWaiter]) { k.Close() }, lf.k)
	return lf, nil
}

// File returns the underlying *os.File, for reading and writing. Do not
// close it: use File.Close.
func (f *File) File() *os.File { return f.f }

// Name returns the path given to Open.
func (f *File) Name() string { return f.path }

func (f *File) flock(how int) error {
	f.fdmu.RLock()
	defer f.fdmu.RUnlock()
	if f.closed {
		return os.ErrClosed
	}
	for {
		if err := unix.Flock(f.fd, how); err != unix.EINTR {
			return err
		}
	}
}

// ofd calls fcntl(cmd, lk) on the File's descriptor.
func (f *File) ofd(cmd int, lk *unix.Flock_t) error {
	f.fdmu.RLock()
	defer f.fdmu.RUnlock()
	if f.closed {
		return os.ErrClosed
	}
	return ofdCall(f.fd, cmd, lk)
}

func ofdCall(fd, cmd int, lk *unix.Flock_t) error {
	for {
		err := unix.FcntlFlock(uintptr(fd), cmd, lk)
		switch err {
		case unix.EINTR:
			continue
		case unix.EACCES:
			return unix.EAGAIN // POSIX allows either for a conflict
		}
		return err
	}
}

func (f *File) pathErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: f.path, Err: errs.Of(err)}
}

// Lock takes a whole-file lock with flock(2), waiting (one thread per File
// at most, see the package doc) while another open file description holds a
// conflicting one. When ctx is done first it returns an error wrapping
// ctx.Err(), and after Close one wrapping os.ErrClosed.
func (f *File) Lock(ctx context.Context, m Mode) error {
	how, err := flockHow(m)
	if err != nil {
		return f.pathErr("flock", err)
	}
	return f.pathErr("flock", f.k.Call(ctx, 0,
		func() error { return f.flock(how | unix.LOCK_NB) },
		func(w *fdWaiter, _ int64) error {
			return f.waitIn(w, func(w posixipc.Waiter) error { return posixipc.FlockWait(w, how) })
		}))
}

// TryLock takes a whole-file lock with flock(2) LOCK_NB, or fails at once
// with an error wrapping syscall.EWOULDBLOCK (== syscall.EAGAIN).
func (f *File) TryLock(m Mode) error {
	how, err := flockHow(m)
	if err != nil {
		return f.pathErr("flock", err)
	}
	return f.pathErr("flock", f.flock(how|unix.LOCK_NB))
}

// Unlock releases the whole-file lock (flock LOCK_UN). Unlocking a File that
// holds none is not an error.
func (f *File) Unlock() error { return f.pathErr("flock", f.flock(unix.LOCK_UN)) }

// LockRange takes an OFD record lock on r (fcntl F_OFD_SETLK), waiting (one
// thread per File at most, see the package doc) while a conflicting lock is
// held, by a C program's classic fcntl lock or by another open file
// description's OFD lock. When ctx is done first it returns an error wrapping ctx.Err(), and
// after Close one wrapping os.ErrClosed.
func (f *File) LockRange(ctx context.Context, r Range, m Mode) error {
	typ, err := lockType(m)
	if err == nil {
		err = r.Check()
	}
	if err != nil {
		return f.pathErr("fcntl F_OFD_SETLK", err)
	}
	return f.pathErr("fcntl F_OFD_SETLK", f.k.Call(ctx, 0,
		func() error {
			lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: r.Start, Len: r.Len}
			return f.ofd(unix.F_OFD_SETLK, &lk)
		},
		func(w *fdWaiter, _ int64) error {
			return f.waitIn(w, func(w posixipc.Waiter) error {
				return posixipc.OFDLockWait(w, int(typ), r.Start, r.Len)
			})
		}))
}

// TryLockRange takes an OFD record lock on r (fcntl F_OFD_SETLK), or fails
// at once with an error wrapping syscall.EAGAIN.
func (f *File) TryLockRange(r Range, m Mode) error {
	typ, err := lockType(m)
	if err == nil {
		err = r.Check()
	}
	if err == nil {
		lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: r.Start, Len: r.Len}
		err = f.ofd(unix.F_OFD_SETLK, &lk)
	}
	return f.pathErr("fcntl F_OFD_SETLK", err)
}

// UnlockRange releases the File's OFD record locks on r (F_UNLCK); parts of
// locks outside r stay locked.
func (f *File) UnlockRange(r Range) error {
	err := r.Check()
	if err == nil {
		lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: r.Start, Len: r.Len}
		err = f.ofd(unix.F_OFD_SETLK, &lk)
	}
	return f.pathErr("fcntl F_OFD_SETLK", err)
}

// Holder reports the first lock that would keep the File from locking r in
// mode m (fcntl F_OFD_GETLK), and false when there is none. See the package
// doc for what PID means.
func (f *File) Holder(r Range, m Mode) (Holder, bool, error) {
	typ, err := lockType(m)
	if err == nil {
		err = r.Check()
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: r.Start, Len: r.Len}
	if err == nil {
		err = f.ofd(unix.F_OFD_GETLK, &lk)
	}
	if err != nil {
		return Holder{}, false, f.pathErr("fcntl F_OFD_GETLK", err)
	}
	if lk.Type == unix.F_UNLCK {
		return Holder{}, false, nil
	}
	h := Holder{Mode: Shared, Range: Range{lk.Start, lk.Len}, PID: int(lk.Pid)}
	if lk.Type == unix.F_WRLCK {
		h.Mode = Exclusive
	}
	return h, true, nil
}

// Close releases every lock of the File and closes it. Goroutines waiting in
// Lock or LockRange return an error wrapping os.ErrClosed. Close is
// idempotent: later calls return the first call's result.
func (f *File) Close() error {
	f.closeOnce.Do(func() {
		f.cleanup.Stop()
		f.k.Close() // kicks the waiter until every call has left, frees it
		f.fdmu.Lock()
		f.closed = true
		f.closeErr = f.f.Close()
		f.fdmu.Unlock()
	})
	return f.closeErr
}
