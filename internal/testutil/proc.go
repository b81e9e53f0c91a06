//go:build linux && cgo

package testutil

// The one helper-process convention and process kit of the module's tests:
// the test binary doubles as a Go peer (as os/exec's tests do), selected by
// POSIXIPC_HELPER and given its arguments in POSIXIPC_HELPER_ARGS (one per
// line); C peers come from internal/peer. Both run as a Proc.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/peer"
	"github.com/stretchr/testify/require"
)

const (
	helperEnv = "POSIXIPC_HELPER"
	argsEnv   = "POSIXIPC_HELPER_ARGS"
)

// RunHelperSwitch is RunHelper for a package whose helpers are one
// function that switches on the name.
func RunHelperSwitch(helper func(name string, args []string) int) {
	name := os.Getenv(helperEnv)
	if name == "" {
		return
	}
	var args []string
	if a := os.Getenv(argsEnv); a != "" {
		args = strings.Split(a, "\n")
	}
	os.Exit(helper(name, args))
}

// RunHelper runs the helper named by POSIXIPC_HELPER, when it is set, and
// exits with its status; otherwise it returns and TestMain runs the tests:
//
//	func TestMain(m *testing.M) {
//		testutil.RunHelper(helpers)
//		goleak.VerifyTestMain(m)
//	}
func RunHelper(helpers map[string]func(args []string) int) {
	RunHelperSwitch(func(name string, args []string) int {
		h, ok := helpers[name]
		if !ok {
			os.Stderr.WriteString("no helper " + name + "\n")
			return 2
		}
		return h(args)
	})
}

// HelperCommand returns the command that runs this test binary as the Go
// helper name with args.
func HelperCommand(name string, args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = HelperEnv(name, args...)
	return c
}

// HelperEnv is the environment that makes the test binary, however it is
// started (a copy, under unshare), run as the Go helper name with args.
func HelperEnv(name string, args ...string) []string {
	return append(os.Environ(), helperEnv+"="+name, argsEnv+"="+strings.Join(args, "\n"))
}

// Proc is a running peer process (C or Go) whose stdout is read by line.
type Proc struct {
	Cmd   *exec.Cmd
	Stdin io.WriteCloser
	Lines chan string
	Err   *strings.Builder // its stderr
}

// Start runs cmd as a Proc; t's cleanup kills it if it still runs.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	p := &Proc{Cmd: cmd, Stdin: in, Lines: make(chan string, 1024), Err: &strings.Builder{}}
	cmd.Stderr = p.Err
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.Lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(p.Lines)
	}()
	t.Cleanup(func() {
		in.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		<-done
	})
	return p
}

// StartC runs the C peer crt/NAME.c with args.
func StartC(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	c, err := peer.Command(name, args...)
	require.NoError(t, err)
	return Start(t, c)
}

// StartGo runs this test binary as the Go helper name with args.
func StartGo(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return Start(t, HelperCommand(name, args...))
}

// Next returns p's next line, failing t after 30 s of silence or at its end.
func (p *Proc) Next(t testing.TB) string {
	t.Helper()
	return p.NextWithin(t, 30*time.Second)
}

// NextWithin returns p's next line, failing t after d of silence or at its
// end.
func (p *Proc) NextWithin(t testing.TB, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-p.Lines:
		require.True(t, ok, "peer ended early; stderr: %s", p.Err)
		return l
	case <-time.After(d):
		t.Fatalf("peer said nothing for %v; stderr: %s", d, p.Err)
	}
	return ""
}

// Expect reads p's next line and checks that it is want.
func (p *Proc) Expect(t testing.TB, want string) {
	t.Helper()
	require.Equal(t, want, p.Next(t), "stderr: %s", p.Err)
}

// Kill9 kills p with SIGKILL and reaps it: when it returns, p is gone and
// the kernel has run its exit (robust list, descriptors, mappings, undo
// records), and it died of the SIGKILL, not before.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGKILL))
	err := p.Cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	ws := ee.Sys().(syscall.WaitStatus)
	require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "exit: %v; stderr: %s", err, p.Err)
}

// Wait waits for p to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB) int {
	t.Helper()
	for range p.Lines { // drain, so the reader ends
	}
	p.Cmd.Wait()
	return p.Cmd.ProcessState.ExitCode()
}

// WaitOK waits for p to exit with status 0.
func (p *Proc) WaitOK(t testing.TB) {
	t.Helper()
	require.NoError(t, p.Cmd.Wait(), "stderr: %s", p.Err)
}

// WaitInSyscall waits until p sleeps in one of the system calls nrs (as
// /proc/PID/task/*/syscall shows): the synchronisation that places a kill
// inside a blocking call without sleeping.
func (p *Proc) WaitInSyscall(t testing.TB, nrs ...int) {
	t.Helper()
	require.True(t, Eventually(30*time.Second, func() bool { return InSyscall(p.Cmd.Process.Pid, nrs...) }),
		"peer never blocked in syscalls %v; stderr: %s", nrs, p.Err)
}

// InSyscall reports whether a thread of process pid sleeps in one of the
// system calls nrs.
func InSyscall(pid int, nrs ...int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		nr, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		for _, want := range nrs {
			if nr == want {
				return true
			}
		}
	}
	return false
}
