//go:build linux && cgo

package mq_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary doubles as a Go peer process (testutil's one convention:
// testutil.RunHelperSwitch, testutil.HelperCommand).
func TestMain(m *testing.M) {
	bench.ServePeer() // the lab's Go peers of BenchmarkRoundTrip
	testutil.RunHelperSwitch(helper)
	goleak.VerifyTestMain(m)
}

func helper(mode string, args []string) int {
	switch mode {
	case "open": // report what opening the queue gives this process
		q, err := mq.Open(args[0], mq.O_RDWR, 0, nil)
		if err != nil {
			fmt.Println(err)
			if errors.Is(err, syscall.EACCES) && errors.Is(err, os.ErrPermission) {
				return 13
			}
			return 1
		}
		q.Close()
		fmt.Println("opened")
		return 0
	case "notify-panic": // a Notify callback that panics ends the program
		q, err := mq.Open(args[0], mq.O_RDWR, 0, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := q.Notify(func() { panic("notify callback panics") }); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		q.Send(context.Background(), []byte("x"), 0)
		time.Sleep(5 * time.Second)
		fmt.Println("survived")
		return 0
	case "dup-emfile": // the waiter's dup fails with EMFILE: the call fails cleanly, the next one works
		time.Sleep(time.Millisecond) // the runtime's poller (timers use it) gets its descriptor first
		var fds []int
		var rl syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		lim := rl
		lim.Cur = 64
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Println("setrlimit:", err)
			return 1
		}
		for { // fill every descriptor, then free exactly one for mq_open
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			fds = append(fds, fd)
		}
		syscall.Close(fds[len(fds)-1])
		fds = fds[:len(fds)-1]
		q, err := mq.Create(args[0], 0o600, &mq.Attr{MaxMsg: 4, MsgSize: 64})
		if err != nil {
			fmt.Println("create:", err)
			return 1
		}
		defer mq.Unlink(args[0])
		defer q.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		buf := make([]byte, 64)
		_, _, err = q.Receive(ctx, buf) // empty: it must wait, and its waiter needs a descriptor
		var pe *fs.PathError
		if !errors.Is(err, syscall.EMFILE) || !errors.As(err, &pe) {
			fmt.Println("receive without a descriptor:", err)
			return 1
		}
		fmt.Println("receive:", err)
		for _, fd := range fds {
			syscall.Close(fd)
		}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		go func() { time.Sleep(20 * time.Millisecond); q.Send(ctx, []byte("after"), 0) }()
		n, _, err := q.Receive(ctx, buf)
		if err != nil || string(buf[:n]) != "after" {
			fmt.Println("retry:", err)
			return 1
		}
		fmt.Println("retry received")
		return 0
	case "create-limited": // lower RLIMIT_MSGQUEUE, then create a queue that needs more
		var rl syscall.Rlimit
		rl.Cur, rl.Max = 1024, 1024
		if err := syscall.Setrlimit(12 /* RLIMIT_MSGQUEUE */, &rl); err != nil {
			fmt.Println("setrlimit:", err)
			return 1
		}
		q, err := mq.Create(args[0], 0o600, &mq.Attr{MaxMsg: 10, MsgSize: 1024})
		if err == nil {
			q.Close()
			mq.Unlink(args[0])
			fmt.Println("created")
			return 0
		}
		fmt.Println(err)
		var le *mq.LimitError
		if errors.As(err, &le) && errors.Is(err, syscall.EMFILE) {
			return 24
		}
		return 1
	}
	fmt.Fprintln(os.Stderr, "unknown helper", mode)
	return 2
}

// helperCmd returns a command that runs this test binary as helper mode.
func helperCmd(t testing.TB, mode string, args ...string) *exec.Cmd {
	t.Helper()
	return testutil.HelperCommand(mode, args...)
}

// unprivilegedHelper returns helperCmd run as uid/gid 65534 (nobody), from a
// copy of the test binary that nobody may execute.
func unprivilegedHelper(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	bin := testutil.ExecutableCopy(t)
	cmd := helperCmd(t, mode, args...)
	cmd.Path = bin
	cmd.Args[0] = bin
	cmd.Dir = filepath.Dir(bin)
	return testutil.Unprivileged(t, cmd)
}

// cPeer returns a command running crt/mqpeer with args.
func cPeer(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd, err := peer.Command("mqpeer", args...)
	require.NoError(t, err)
	return cmd
}

// runPeer runs crt/mqpeer to completion and returns its output.
func runPeer(t testing.TB, args ...string) string {
	t.Helper()
	out, err := cPeer(t, args...).CombinedOutput()
	require.NoError(t, err, "mqpeer %v: %s", args, out)
	return string(out)
}
