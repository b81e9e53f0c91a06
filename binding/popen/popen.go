//go:build linux && cgo

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
//   - Close closes the duplicate first, then the pipe end of the original
//     descriptor (/dev/null takes its number, see Threads), then calls
//     pclose(3), which closes that descriptor number (so it is closed exactly
//     once, by its owner) and reaps the shell with waitpid(2). For a "w" pipe
//     the child sees EOF only once both ends are closed, which is why the
//     order matters.
//   - Close returns nil when the shell exited with status 0, and an
//     *ExitError (exit code or signal, like *exec.ExitError) otherwise.
//
// Threads: pclose is a blocking C call (waitpid). Close closes both ends
// first (its duplicate, then the FILE's descriptor by putting /dev/null in
// its place, so the child sees EOF or EPIPE as pclose would make it), waits
// for the child's exit in the Go runtime poller, on a pidfd (pidfd_open(2)
// at Open, readable once the child has exited; waitid(2) with WNOWAIT looks
// without reaping), and calls pclose only then, when its waitpid returns
// at once:
// a Close waiting for its child holds no OS thread, however many there
// are. Without a pidfd (the pid was not found, or the kernel has no
// pidfd_open) Close holds one OS thread in pclose until the child exits. A
// child that never exits (a "r" child that ignores SIGPIPE and keeps
// writing, a "w" child that does not read to EOF) would make Close block
// forever: CloseContext gives a way out, it kills the child (SIGKILL) when
// its context ends and reports the signal. Reads and writes never hold a
// thread.
//
// The child's pid: glibc does not expose it, so Open finds it in /proc (the
// child of this process whose standard input or output is the pipe) while
// the child certainly exists and cannot be reaped by anyone but pclose;
// Pid reports it, 0 when the child had already exited.
//
// A Pipe dropped without Close is cleaned up when the garbage collector
// finds it (runtime.AddCleanup): its descriptors are closed and pclose
// reaps the child in the background (killing it after a second if it has
// not exited), so no descriptor and no zombie stays behind.
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
// Not supported: sending the child signals other than CloseContext's kill.
package popen

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
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
	fd      int      // the FILE's descriptor (pclose closes it)
	pid     int      // the child (found in /proc), 0 if unknown
	pidf    *os.File // a pidfd of the child (in the poller), nil if none

	closeOnce sync.Once
	closeErr  error
	cleanup   runtime.Cleanup
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
	p := &Pipe{command: command, mode: mode, f: os.NewFile(uintptr(dup), "popen:"+command), fp: fp, fd: fd}
	p.pid = childOf(fd, mode[0] == 'r')
	if p.pid > 0 {
		// the child is unreaped until pclose: the pid names it
		if pfd, err := unix.PidfdOpen(p.pid, unix.PIDFD_NONBLOCK); err == nil {
			unix.CloseOnExec(pfd)
			p.pidf = os.NewFile(uintptr(pfd), "pidfd:"+command)
		}
	}
	p.cleanup = runtime.AddCleanup(p, dropped, droppedPipe{p.f, p.pidf, fp, p.pid})
	return p, nil
}

// droppedPipe is what the cleanup of a Pipe dropped without Close needs.
type droppedPipe struct {
	f, pidf *os.File
	fp      posixipc.PopenFile
	pid     int
}

// dropped closes a dropped Pipe: our descriptor now, pclose in the
// background (it waits for the child; a child still running after a
// second is killed, so the cleanup always ends).
func dropped(d droppedPipe) {
	d.f.Close()
	done := make(chan struct{})
	go func() {
		posixipc.Pclose(d.fp)
		if d.pidf != nil {
			d.pidf.Close()
		}
		close(done)
	}()
	go func() {
		select {
		case <-done:
		case <-time.After(time.Second):
			if d.pid > 0 {
				unix.Kill(d.pid, unix.SIGKILL)
			}
		}
	}()
}

// childOf finds the child process of popen whose standard output (r) or
// input (w) is the pipe of fd: one of this process's children, found in
// /proc/self/task/*/children, with /proc/PID/fd/1 (or 0) naming the same
// pipe. It returns 0 when none is found (the child has exited).
func childOf(fd int, reader bool) int {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	want := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	which := "/fd/0"
	if reader {
		which = "/fd/1"
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if l, err := os.Readlink("/proc/" + f + which); err == nil && l == want {
				pid, _ := strconv.Atoi(f)
				return pid
			}
		}
	}
	return 0
}

// detach closes the pipe end that popen's FILE holds without freeing its
// descriptor number, which pclose closes: /dev/null takes its place
// (dup3), so the child sees EOF or EPIPE now, as pclose's fclose would
// have made it, and pclose later closes /dev/null. The FILE has nothing
// buffered: Go never reads or writes through stdio.
func detach(fd int) bool {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(null)
	return unix.Dup3(null, fd, unix.O_CLOEXEC) == nil
}

// waitExit waits in the Go runtime poller, holding no thread, until the
// child has exited (it does not reap it: pclose does), calling kill once
// if ctx ends first. It returns false when it cannot wait so (no pidfd).
func (p *Pipe) waitExit(ctx context.Context, kill func()) bool {
	if p.pidf == nil {
		return false
	}
	rc, err := p.pidf.SyscallConn()
	if err != nil {
		return false
	}
	stop := context.AfterFunc(ctx, kill)
	defer stop()
	err = rc.Read(func(fd uintptr) bool {
		var info unix.Siginfo
		if unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) != nil {
			return true // reaped by another (ECHILD): pclose reports it
		}
		return info.Signo != 0 // 0: not exited yet; wait for the pidfd to be readable
	})
	return err == nil
}

// Pid returns the child's process id (the shell, or the command it exec'd
// into), or 0 when Open could not find it (it had exited already).
func (p *Pipe) Pid() int { return p.pid }

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
func (p *Pipe) Close() error { return p.CloseContext(context.Background()) }

// CloseContext is Close with a way out: when ctx is done before the child
// has exited, it kills the child with SIGKILL (known by Pid) and returns
// the *ExitError of that (Signal() == syscall.SIGKILL). Without a known
// pid it keeps waiting. Later calls return the first call's result.
func (p *Pipe) CloseContext(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.cleanup.Stop()
		p.f.Close()
		type result struct {
			st  int
			err error
		}
		// still our unreaped child until pclose: the pid is its
		kill := func() {
			if p.pid > 0 {
				unix.Kill(p.pid, unix.SIGKILL)
			}
		}
		var r result
		if p.pidf != nil && detach(p.fd) && p.waitExit(ctx, kill) {
			r.st, r.err = posixipc.Pclose(p.fp) // the child has exited: no wait
		} else {
			res := make(chan result, 1)
			fp := p.fp
			go func() {
				st, err := posixipc.Pclose(fp) // waits in waitpid, on a thread
				res <- result{st, err}
			}()
			select {
			case r = <-res:
			case <-ctx.Done():
				kill()
				r = <-res
			}
		}
		if p.pidf != nil {
			p.pidf.Close()
		}
		p.fp = 0
		switch {
		case r.err != nil:
			p.closeErr = os.NewSyscallError("pclose", r.err)
		case r.st != 0:
			p.closeErr = &ExitError{Command: p.command, Status: syscall.WaitStatus(r.st)}
		}
	})
	return p.closeErr
}
