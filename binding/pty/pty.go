//go:build linux && cgo

// Package pty gives Go programs pseudoterminals (posix_openpt, grantpt,
// unlockpt, ptsname_r through the module's C shim; termios and window size
// through golang.org/x/sys/unix), so that C programs that behave
// differently on a terminal (line buffering, colour, prompts) can be run
// and driven from Go.
//
// # Model
//
// A *PTY is the master end of a pseudoterminal, which this process owns;
// the slave end (Name, OpenSlave) is what a program sees as its terminal.
// Start runs a program with the slave as its controlling terminal (a new
// session) and its standard streams. Reads and writes of the master go
// through the module's waiter kit, as every blocking call of the module
// waits (internal/stream, which binding/fifo shares): a non-blocking try;
// when there is nothing to read (or the terminal's input is full), one
// goroutine per PTY and direction waits inside C, in ppoll(2) of the master
// and an eventfd, then the call (a master cannot be opened again, so the
// FIFO's blocking mode is not used), and the others park in Go, holding no
// OS thread (the waits in C count toward the process-wide bound,
// gate.MaxInKernel; a read or write that finds no free slot waits in the
// Go runtime's poller, as an os.File's would). The poller is not the first
// choice: its wake-up hands the goroutine from one thread to another,
// which made a round trip through the terminal twice the blocking
// baseline's. Reads and writes take
// deadlines (SetReadDeadline) and, with ReadContext, a context. Close is
// idempotent, wakes blocked readers and writers with an error wrapping
// os.ErrClosed and waits until they have left; a PTY dropped without Close
// is cleaned up (its descriptor by the os.File cleanup, its waiters by
// its own).
//
// End of output: when every process has closed the slave (the child
// exited), Linux makes a master read fail with EIO once the output is
// drained; Read reports that as io.EOF, so io.Copy(dst, pty) ends cleanly
// with every byte the child wrote before it exited.
//
// Terminal modes: MakeRaw and Restore put a terminal (this process's own,
// or the slave) in raw mode and back; NoEcho turns echo off for
// password-like input. They work on any terminal descriptor.
//
// # Trust
//
// The program on the slave writes what it likes to the master: bytes are
// copied, never interpreted here (escape sequences reach whoever prints
// them). Only the owner of the slave's device (this user) and root can open
// it; Start hands it to the child only.
//
// Not supported: BSD-style /dev/ptyXX devices, and packet mode.
package pty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/stream"
	"golang.org/x/sys/unix"
)

// ErrDeadline is wrapped by the error of a call whose deadline passed while
// it waited: the same value in every package of the module; errors.Is
// matches it against context.DeadlineExceeded, syscall.ETIMEDOUT and
// os.ErrDeadlineExceeded.
var ErrDeadline = errs.Deadline

// PTY is the master end of a pseudoterminal. Read, Write and the size
// calls are safe for concurrent use.
type PTY struct {
	f     *os.File
	slave string
	s     *stream.Stream // Read, Write and their deadlines, through the waiter kit

	closeOnce sync.Once
	closeErr  error
	cleanup   runtime.Cleanup
}

// Size is a terminal's window size (struct winsize).
type Size struct {
	Rows, Cols uint16
	X, Y       uint16 // in pixels; usually 0
}

// Open makes a new pseudoterminal (posix_openpt with O_RDWR|O_NOCTTY,
// grantpt, unlockpt, ptsname_r) and returns its master. The slave's path is
// Name.
func Open() (*PTY, error) {
	fd, err := posixipc.PosixOpenpt(unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("posix_openpt", err)
	}
	fail := func(op string, err error) (*PTY, error) {
		unix.Close(fd)
		return nil, os.NewSyscallError(op, err)
	}
	if err := posixipc.Grantpt(fd); err != nil {
		return fail("grantpt", err)
	}
	if err := posixipc.Unlockpt(fd); err != nil {
		return fail("unlockpt", err)
	}
	name, err := posixipc.PtsnameR(fd)
	if err != nil {
		return fail("ptsname_r", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fail("fcntl O_NONBLOCK", err)
	}
	f := os.NewFile(uintptr(fd), "/dev/ptmx")
	p := &PTY{f: f, slave: name, s: stream.New(f, fd, os.O_RDWR, false)}
	p.cleanup = runtime.AddCleanup(p, func(s *stream.Stream) { s.Close() }, p.s)
	return p, nil
}

// Name returns the slave's path, e.g. "/dev/pts/3".
func (p *PTY) Name() string { return p.slave }

// OpenSlave opens the slave end (O_RDWR|O_NOCTTY) for this process: its
// reads and writes go through the runtime poller, with deadlines. (Its Fd
// method switches it to blocking mode, as for every os.File: use its
// SyscallConn for the descriptor.)
func (p *PTY) OpenSlave() (*os.File, error) {
	fd, err := unix.Open(p.slave, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p.slave, Err: err}
	}
	return os.NewFile(uintptr(fd), p.slave), nil
}

// Control runs f with the master's descriptor, which stays open while f
// runs (as syscall.RawConn.Control; unlike os.File.Fd it leaves the master
// in non-blocking mode, which Read and Write rely on: do not clear it).
func (p *PTY) Control(f func(fd int)) error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { f(int(fd)) })
}

// ctl runs one call on the master's descriptor.
func (p *PTY) ctl(f func(fd int) error) error {
	var err error
	if cerr := p.Control(func(fd int) { err = f(fd) }); cerr != nil {
		return &fs.PathError{Op: "ioctl", Path: p.slave, Err: os.ErrClosed}
	}
	return err
}

// Read reads what the program on the slave wrote, waiting (under the read
// deadline) while there is nothing. Once every process has closed the
// slave and the output is drained it returns io.EOF. It does not allocate.
func (p *PTY) Read(b []byte) (int, error) {
	n, err := p.s.Read(b)
	return n, p.ioErr("read", err)
}

// ioErr maps an error of Read or Write: the master's EIO (the slave is
// closed, nothing is left) is io.EOF, the others are wrapped in a
// *fs.PathError naming the slave.
func (p *PTY) ioErr(op string, err error) error {
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.Is(err, syscall.EIO):
		return io.EOF
	}
	return &fs.PathError{Op: op, Path: p.slave, Err: err}
}

// ReadContext is Read under ctx instead of the read deadline: when ctx is
// done first it returns an error wrapping ctx.Err() (a passed deadline also
// matches syscall.ETIMEDOUT, as in every package); nothing is lost: bytes
// not read stay for the next Read. It does not allocate.
func (p *PTY) ReadContext(ctx context.Context, b []byte) (int, error) {
	n, err := p.s.ReadContext(ctx, b)
	return n, p.ioErr("read", err)
}

// Write writes b to the program's input, all of it unless an error (the
// write deadline, Close) stops it, waiting while the terminal's input
// queue is full. Concurrent Writes are not interleaved. It does not
// allocate.
func (p *PTY) Write(b []byte) (int, error) {
	n, err := p.s.Write(b)
	if err != nil {
		err = &fs.PathError{Op: "write", Path: p.slave, Err: err}
	}
	return n, err
}

// SetDeadline sets the read and write deadlines: an expired one makes Read
// and Write fail with an error wrapping ErrDeadline (which matches
// os.ErrDeadlineExceeded), after one try. A zero t means none; a change
// takes effect in calls already waiting.
func (p *PTY) SetDeadline(t time.Time) error { return p.deadlineErr(p.s.SetDeadline(t)) }

// SetReadDeadline sets the deadline of Read.
func (p *PTY) SetReadDeadline(t time.Time) error { return p.deadlineErr(p.s.SetReadDeadline(t)) }

// SetWriteDeadline sets the deadline of Write.
func (p *PTY) SetWriteDeadline(t time.Time) error { return p.deadlineErr(p.s.SetWriteDeadline(t)) }

func (p *PTY) deadlineErr(err error) error {
	if err != nil {
		return &fs.PathError{Op: "set deadline", Path: p.slave, Err: err}
	}
	return nil
}

// Close closes the master: blocked Reads and Writes return an error
// wrapping os.ErrClosed, and Close waits until they have left; the program
// on the slave gets a hangup (SIGHUP to its session, EIO on its reads). It
// is idempotent: later calls return the first call's result.
func (p *PTY) Close() error {
	p.closeOnce.Do(func() {
		p.cleanup.Stop()
		p.s.Close()
		if err := p.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			p.closeErr = err
		}
	})
	return p.closeErr
}

// GetSize returns the window size (ioctl TIOCGWINSZ).
func (p *PTY) GetSize() (Size, error) {
	var s Size
	err := p.ctl(func(fd int) (e error) { s, e = GetSize(fd); return })
	return s, err
}

// SetSize sets the window size (ioctl TIOCSWINSZ); the program on the slave
// gets SIGWINCH.
func (p *PTY) SetSize(s Size) error { return p.ctl(func(fd int) error { return SetSize(fd, s) }) }

// GetSize returns the window size of terminal fd (ioctl TIOCGWINSZ).
func GetSize(fd int) (Size, error) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return Size{}, os.NewSyscallError("ioctl TIOCGWINSZ", err)
	}
	return Size{Rows: ws.Row, Cols: ws.Col, X: ws.Xpixel, Y: ws.Ypixel}, nil
}

// SetSize sets the window size of terminal fd (ioctl TIOCSWINSZ).
func SetSize(fd int, s Size) error {
	ws := &unix.Winsize{Row: s.Rows, Col: s.Cols, Xpixel: s.X, Ypixel: s.Y}
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
		return os.NewSyscallError("ioctl TIOCSWINSZ", err)
	}
	return nil
}

// Start runs cmd on a new pseudoterminal: the slave becomes its standard
// input, output and error (those cmd leaves nil) and its controlling
// terminal, in a new session (setsid, TIOCSCTTY). With size non-nil the
// terminal has that size before the program starts. It returns the master;
// the caller waits for cmd (cmd.Wait) and closes the master.
func Start(cmd *exec.Cmd, size *Size) (*PTY, error) {
	p, err := Open()
	if err != nil {
		return nil, err
	}
	if size != nil {
		if err := p.SetSize(*size); err != nil {
			p.Close()
			return nil, err
		}
	}
	// A blocking descriptor: the child's standard streams must block.
	tty, err := os.OpenFile(p.slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		p.Close()
		return nil, err
	}
	defer tty.Close() // the child has its copy; the parent's would hide the child's exit (no EOF)
	if cmd.Stdin == nil {
		cmd.Stdin = tty
	}
	if cmd.Stdout == nil {
		cmd.Stdout = tty
	}
	if cmd.Stderr == nil {
		cmd.Stderr = tty
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = ctty(cmd, tty)
	if err := cmd.Start(); err != nil {
		p.Close()
		return nil, fmt.Errorf("pty: starting %s: %w", cmd.Path, err)
	}
	return p, nil
}

// ctty returns the child's descriptor of tty: 0, 1 or 2 where cmd gives it
// the slave, otherwise the first of ExtraFiles that is it (it appends it
// when none is).
func ctty(cmd *exec.Cmd, tty *os.File) int {
	for i, f := range []any{cmd.Stdin, cmd.Stdout, cmd.Stderr} {
		if f == tty {
			return i
		}
	}
	for i, f := range cmd.ExtraFiles {
		if f == tty {
			return 3 + i
		}
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, tty)
	return 2 + len(cmd.ExtraFiles)
}

// State is a terminal's saved modes (termios), for Restore.
type State struct{ t unix.Termios }

// MakeRaw puts terminal fd in raw mode (as cfmakeraw does: no echo, no line
// editing, no signals from keys, 8-bit bytes, reads of 1 byte) and returns
// the modes before, for Restore.
func MakeRaw(fd int) (*State, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, os.NewSyscallError("ioctl TCGETS", err)
	}
	old := &State{*t}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, os.NewSyscallError("ioctl TCSETS", err)
	}
	return old, nil
}

// NoEcho turns echo off on terminal fd (for a password) and returns the
// modes before, for Restore.
func NoEcho(fd int) (*State, error) {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, os.NewSyscallError("ioctl TCGETS", err)
	}
	old := &State{*t}
	t.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, os.NewSyscallError("ioctl TCSETS", err)
	}
	return old, nil
}

// Restore sets terminal fd's modes back to s.
func Restore(fd int, s *State) error {
	if s == nil {
		return os.NewSyscallError("ioctl TCSETS", syscall.EINVAL)
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &s.t); err != nil {
		return os.NewSyscallError("ioctl TCSETS", err)
	}
	return nil
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// FollowSize copies the window size of terminal from to p now and at every
// SIGWINCH this process gets, until ctx is done.
func (p *PTY) FollowSize(ctx context.Context, from int) error {
	s, err := GetSize(from)
	if err != nil {
		return err
	}
	if err := p.SetSize(s); err != nil {
		return err
	}
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		defer signalStop(ch)
		for {
			select {
			case <-ch:
				if s, err := GetSize(from); err == nil {
					p.SetSize(s)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}
