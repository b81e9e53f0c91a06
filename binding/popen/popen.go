// Package popen runs a shell command with glibc's real popen(3) and
// pclose(3), and gives Go a pipe to its standard input or output.
//
// Model:
//
//   - Open calls popen(3) through the C shim: glibc starts /bin/sh -c command
//     (with posix_spawn) and keeps the FILE * and the child's pid. The Pipe
//     owns that FILE * until Close.
//   - Go never reads or writes through stdio. Open duplicates the stream's
//     file descriptor (fcntl F_DUPFD_CLOEXEC), makes the duplicate
//     non-blocking and wraps it in an *os.File, so Read and Write go through
//     the Go runtime poller: no cgo call per read or write, no OS thread held
//     while waiting for the child, and deadlines (SetDeadline) work. The pipe
//     is one open file description, so O_NONBLOCK only affects our end (the
//     stdio FILE never reads or writes).
//   - Close closes the duplicate first, then calls pclose(3), which closes the
//     original descriptor (so it is closed exactly once, by its owner) and
//     waits for the shell in waitpid(2). For a "w" pipe the child sees EOF only
//     once both are closed, which is why the order matters.
//   - Close returns nil when the shell exited with status 0, and an
//     *ExitError (exit code or signal, like *exec.ExitError) otherwise.
//
// Threads: pclose is a blocking C call. Close holds one OS thread in
// waitpid until the child exits; a child that never exits makes Close block
// forever (a "r" child that keeps writing gets SIGPIPE once our end is
// closed, so that case ends). Reads and writes never hold a thread.
//
// Children and descriptors: every descriptor Go opens is close-on-exec, and
// glibc's popen closes the other popen streams in the child, so the child
// sees only its stdin/stdout/stderr (plus whatever non-close-on-exec
// descriptors the process already had, e.g. from C code). Mode "e" makes
// popen's own descriptor close-on-exec too (glibc's O_CLOEXEC flag): without
// it that descriptor is inherited by every process the program starts later
// (os/exec, other popens excepted) until Close; a "w" pipe's child would then
// not see EOF until those processes exit. Use "re" or "we" unless a later
// child must inherit the stream.
//
// Waiting: pclose uses waitpid on the shell's pid. Go's os/exec waits for
// its own children by pid and the Go runtime never reaps children on
// SIGCHLD, so os/exec and popen do not steal each other's exit statuses. A
// program that calls wait(2) for any child (syscall.Wait4(-1, ...)) would, and
// Close would then fail with ECHILD.
//
// Not supported: the child's pid (glibc does not expose it) and killing the
// child through the Pipe.
package popen

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"golang.org/x/sys/unix"
)

// Pipe is a running popen(3) command: an io.Reader (mode "r") or an
// io.Writer (mode "w"), and an io.Closer.
type Pipe struct {
	command string
	mode    string
	f       *os.File // our non-blocking duplicate of the stream's descriptor
	fp      posixipc.PopenFile

	closeOnce sync.Once
	closeErr  error
}

// ExitError is the error Close returns when the command did not exit with
// status 0. It carries the exit code or the signal that ended the shell.
type ExitError struct {
	Command string
	Status  syscall.WaitStatus // as pclose(3) returned it
}

// Error describes the status in the words of os/exec ("exit status 3",
// "signal: killed").
func (e *ExitError) Error() string {
	if e.Status.Signaled() {
		return fmt.Sprintf("popen %q: signal: %v", e.Command, e.Status.Signal())
	}
	return fmt.Sprintf("popen %q: exit status %d", e.Command, e.Status.ExitStatus())
}

// Exited reports whether the command exited (rather than being killed).
func (e *ExitError) Exited() bool { return e.Status.Exited() }

// ExitCode returns the exit code, or -1 when a signal ended the command.
func (e *ExitError) ExitCode() int {
	if !e.Status.Exited() {
		return -1
	}
	return e.Status.ExitStatus()
}

// Signaled reports whether a signal ended the command.
func (e *ExitError) Signaled() bool { return e.Status.Signaled() }

// Signal returns the signal that ended the command, or -1 if none did.
func (e *ExitError) Signal() syscall.Signal {
	if !e.Status.Signaled() {
		return -1
	}
	return e.Status.Signal()
}

// Open runs command with /bin/sh -c through popen(3). mode is "r" (read the
// command's standard output), "w" (write its standard input), optionally
// followed by "e" (popen's descriptor is close-on-exec; recommended, see the
// package doc). The command's other streams are the process's own.
//
// A command that cannot be run still starts the shell: Close then reports
// the shell's status (127 for a command not found).
func Open(command, mode string) (*Pipe, error) {
	switch mode {
	case "r", "re", "w", "we":
	default:
		return nil, &os.PathError{Op: "popen", Path: command,
			Err: fmt.Errorf("mode %q: want r, w, re or we: %w", mode, syscall.EINVAL)}
	}
	if strings.IndexByte(command, 0) >= 0 {
		return nil, &os.PathError{Op: "popen", Path: command,
			Err: fmt.Errorf("command contains NUL: %w", syscall.EINVAL)}
	}
	fp, fd, err := posixipc.Popen(command, mode)
	if err != nil {
		return nil, &os.PathError{Op: "popen", Path: command, Err: err}
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		if err = unix.SetNonblock(dup, true); err != nil {
			unix.Close(dup)
		}
	}
	if err != nil {
		posixipc.Pclose(fp)
		return nil, &os.PathError{Op: "fcntl", Path: command, Err: err}
	}
	return &Pipe{command: command, mode: mode, f: os.NewFile(uintptr(dup), "popen:"+command), fp: fp}, nil
}

// Read reads the command's standard output (mode "r"). It waits in the Go
// runtime poller, not in C, and honours the read deadline.
func (p *Pipe) Read(b []byte) (int, error) { return p.f.Read(b) }

// Write writes to the command's standard input (mode "w"). It waits in the
// Go runtime poller and honours the write deadline. A write of at most
// PIPE_BUF (4096) bytes is atomic.
func (p *Pipe) Write(b []byte) (int, error) { return p.f.Write(b) }

// SetDeadline sets the read and write deadlines (see os.File.SetDeadline).
func (p *Pipe) SetDeadline(t time.Time) error { return p.f.SetDeadline(t) }

// SetReadDeadline sets the deadline of Read.
func (p *Pipe) SetReadDeadline(t time.Time) error { return p.f.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write.
func (p *Pipe) SetWriteDeadline(t time.Time) error { return p.f.SetWriteDeadline(t) }

// Command returns the command given to Open.
func (p *Pipe) Command() string { return p.command }

// Close closes our end of the pipe, then calls pclose(3), which waits for
// the shell to exit (blocking one OS thread in waitpid). It returns nil for
// exit status 0, an *ExitError for any other status, and an error wrapping
// the errno if pclose failed (ECHILD: someone else reaped the child). Reads
// and writes blocked in other goroutines return an error wrapping
// os.ErrClosed. Close is idempotent: later calls return the same result.
func (p *Pipe) Close() error {
	p.closeOnce.Do(func() {
		p.f.Close()
		st, err := posixipc.Pclose(p.fp)
		p.fp = 0
		switch {
		case err != nil:
			p.closeErr = os.NewSyscallError("pclose", err)
		case st != 0:
			p.closeErr = &ExitError{Command: p.command, Status: syscall.WaitStatus(st)}
		}
	})
	return p.closeErr
}
