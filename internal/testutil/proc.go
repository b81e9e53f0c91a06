//go:build linux && cgo

package testutil

// The one helper-process convention and process kit of the module's tests:
// the test binary doubles as a Go peer (as os/exec's tests do), selected by
// POSIXIPC_HELPER and given its arguments in POSIXIPC_HELPER_ARGS (one per
// line); C peers come from internal/peer. Both run as a Proc.

import (
	"bufio"
	"io"
	"os"
	"os/exec"
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

// RunHelper runs the helper named by POSIXIPC_HELPER, when it is set, and
// exits with its status; otherwise it returns and TestMain runs the tests:
//
//	func TestMain(m *testing.M) {
//		testutil.RunHelper(helpers)
//		goleak.VerifyTestMain(m)
//	}
func RunHelper(helpers map[string]func(args []string) int) {
	name := os.Getenv(helperEnv)
	if name == "" {
		return
	}
	h, ok := helpers[name]
	if !ok {
		os.Stderr.WriteString("no helper " + name + "\n")
		os.Exit(2)
	}
	var args []string
	if a := os.Getenv(argsEnv); a != "" {
		args = strings.Split(a, "\n")
	}
	os.Exit(h(args))
}

// HelperCommand returns the command that runs this test binary as the Go
// helper name with args.
func HelperCommand(name string, args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), helperEnv+"="+name, argsEnv+"="+strings.Join(args, "\n"))
	return c
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
	select {
	case l, ok := <-p.Lines:
		require.True(t, ok, "peer ended; stderr: %s", p.Err)
		return l
	case <-time.After(30 * time.Second):
		t.Fatalf("peer silent for 30 s; stderr: %s", p.Err)
	}
	return ""
}

// Expect reads p's next line and checks that it is want.
func (p *Proc) Expect(t testing.TB, want string) {
	t.Helper()
	require.Equal(t, want, p.Next(t), "stderr: %s", p.Err)
}

// Kill9 kills p with SIGKILL and reaps it.
func (p *Proc) Kill9(t testing.TB) {
	t.Helper()
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGKILL))
	p.Cmd.Wait()
}

// Wait waits for p to exit and returns its exit code.
func (p *Proc) Wait(t testing.TB) int {
	t.Helper()
	for range p.Lines { // drain, so the reader ends
	}
	p.Cmd.Wait()
	return p.Cmd.ProcessState.ExitCode()
}
