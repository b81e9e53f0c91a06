//go:build linux && cgo

package sig_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/binding/sig"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

var helpers = map[string]func(args []string) int{
	// mq-send QUEUE: one message to QUEUE, from another process.
	"mq-send": func(args []string) int {
		q, err := mq.Open(args[0], mq.O_WRONLY, 0, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer q.Close()
		if err := q.Send(context.Background(), []byte("hi"), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	},
}

func TestMain(m *testing.M) {
	testutil.RunHelper(helpers)
	goleak.VerifyTestMain(m)
}

func rt(n int) syscall.Signal { return sig.RTMin() + syscall.Signal(n) }

func TestParseAndName(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"USR1": unix.SIGUSR1, "SIGUSR2": unix.SIGUSR2, "term": unix.SIGTERM, "10": 10,
		"RTMIN": sig.RTMin(), "SIGRTMIN+5": rt(5), "rtmax": sig.RTMax(), "RTMAX-2": sig.RTMax() - 2,
	} {
		got, err := sig.Parse(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "-3", "99", "NOPE", "RTMIN-1", "RTMAX+1", "RTMIN+x", "RTMIN+40"} {
		_, err := sig.Parse(bad)
		assert.ErrorIs(t, err, syscall.EINVAL, bad)
	}
	assert.Equal(t, 34, int(sig.RTMin()), "glibc keeps 32 and 33")
	assert.Equal(t, "SIGRTMIN+5", sig.Name(rt(5)))
	assert.Equal(t, "SIGRTMIN", sig.Name(sig.RTMin()))
	assert.Equal(t, "SIGUSR1", sig.Name(unix.SIGUSR1))
	for _, s := range []syscall.Signal{unix.SIGUSR1, rt(0), rt(7), sig.RTMax()} {
		back, err := sig.Parse(sig.Name(s))
		require.NoError(t, err)
		assert.Equal(t, s, back)
	}
}

func TestTakeRefusesTheRuntimesSignals(t *testing.T) {
	for _, s := range []syscall.Signal{unix.SIGURG, unix.SIGPROF, unix.SIGSEGV, unix.SIGBUS, unix.SIGPIPE, unix.SIGCHLD, unix.SIGKILL, 32, 33, 0, 99} {
		_, err := sig.Take(s)
		assert.ErrorIs(t, err, syscall.EINVAL, "%d", s)
	}
	r, err := sig.Take(rt(3))
	require.NoError(t, err)
	_, err = sig.Take(rt(3))
	assert.ErrorIs(t, err, syscall.EBUSY)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	r, err = sig.Take(rt(3)) // given back: takeable again
	require.NoError(t, err)
	r.Close()
}

// The value and the sender reach a C SA_SIGINFO handler, and a C sender's
// reach Go, by sigqueue and by pidfd.
func TestValuesBothWays(t *testing.T) {
	s := rt(4)
	r0, err := sig.Take(s) // makes the signal's pipe, kept for good
	require.NoError(t, err)
	r0.Close()
	testutil.CheckFDs(t) // no descriptor leaks beyond it
	c := testutil.StartC(t, "sigpeer", "recv", strconv.Itoa(int(s)), "2")
	f := strings.Fields(c.Next(t))
	require.Equal(t, "ready", f[0])
	pid, _ := strconv.Atoi(f[1])
	require.NoError(t, sig.Queue(pid, s, 4242))
	pidfd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(pidfd)
	require.NoError(t, sig.QueuePidfd(pidfd, s, -7))
	me := fmt.Sprintf("%d %d %d %d", s, sig.CodeQueue, os.Getpid(), os.Getuid())
	c.Expect(t, me+" 4242")
	c.Expect(t, me+" -7")

	r, err := sig.Take(s)
	require.NoError(t, err)
	defer r.Close()
	snd := testutil.StartC(t, "sigpeer", "send", strconv.Itoa(os.Getpid()), strconv.Itoa(int(s)), "100", "3")
	snd.Expect(t, "sent 3")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := map[int]bool{}
	for i := 0; i < 3; i++ { // a burst: in any order (see the package doc)
		in, err := r.Receive(ctx)
		require.NoError(t, err)
		got[in.Value] = true
		in.Value = 0
		assert.Equal(t, sig.Info{Signo: s, Code: sig.CodeQueue, Pid: snd.Cmd.Process.Pid, UID: os.Getuid()}, in)
	}
	assert.Equal(t, map[int]bool{100: true, 101: true, 102: true}, got)
	assert.Zero(t, r.Lost())
}

// 10,000 realtime signals from a C sender in one burst, while CPU-bound
// goroutines are preempted (SIGURG) all along: every one arrives exactly
// once (a burst may swap neighbours: counted, see the package doc).
func TestStormNoneLost(t *testing.T) {
	s := rt(6)
	r, err := sig.Take(s)
	require.NoError(t, err)
	defer r.Close()
	stop := make(chan struct{})
	var spin sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		spin.Add(1)
		go func() {
			defer spin.Done()
			for x := 0; ; x++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = x * x
			}
		}()
	}
	defer func() { close(stop); spin.Wait() }()
	const n = 10000
	snd := testutil.StartC(t, "sigpeer", "send", strconv.Itoa(os.Getpid()), strconv.Itoa(int(s)), "0", strconv.Itoa(n))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seen := make([]bool, n)
	swapped, prev := 0, -1
	for i := 0; i < n; i++ {
		in, err := r.Receive(ctx)
		require.NoError(t, err, "after %d", i)
		require.True(t, in.Value >= 0 && in.Value < n && !seen[in.Value], "value %d once", in.Value)
		seen[in.Value] = true
		if in.Value < prev {
			swapped++
		}
		prev = in.Value
	}
	snd.Expect(t, "sent 10000")
	assert.Zero(t, r.Lost())
	t.Logf("%d signals, none lost, %d came after a later one", n, swapped)
}

// Signals one at a time come in order: a Go-C ping-pong of 2,000 values.
func TestOneAtATimeInOrder(t *testing.T) {
	s := rt(7)
	r, err := sig.Take(s)
	require.NoError(t, err)
	defer r.Close()
	c := testutil.StartC(t, "sigpeer", "pong", strconv.Itoa(int(s)))
	f := strings.Fields(c.Next(t))
	pid, _ := strconv.Atoi(f[1])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for v := 0; v < 4000; v += 2 {
		require.NoError(t, sig.Queue(pid, s, v))
		in, err := r.Receive(ctx)
		require.NoError(t, err)
		require.Equal(t, v+1, in.Value)
		require.Equal(t, pid, in.Pid)
	}
}

func TestReceiveCancelDeadlineClose(t *testing.T) {
	r, err := sig.Take(rt(8))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := r.Receive(ctx); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	_, err = r.Receive(dctx)
	assert.ErrorIs(t, err, sig.ErrDeadline)
	assert.ErrorIs(t, err, syscall.ETIMEDOUT)

	// nothing lost by the cancellations
	require.NoError(t, sig.Queue(os.Getpid(), rt(8), 5))
	in, err := r.Receive(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 5, in.Value)

	go func() { _, err := r.Receive(context.Background()); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, r.Close())
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Receive")
	}
}

func TestNotifyChannel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sig.Notify(ctx, rt(9), 4)
	require.NoError(t, err)
	for v := 1; v <= 3; v++ {
		require.NoError(t, sig.Queue(os.Getpid(), rt(9), v)) // one at a time: in order
		select {
		case in := <-ch:
			assert.Equal(t, v, in.Value)
		case <-time.After(5 * time.Second):
			t.Fatal("no signal on the channel")
		}
	}
	cancel()
	for range ch { // closed once ctx is done
	}
	r, err := sig.Take(rt(9)) // and the signal was given back
	require.NoError(t, err)
	r.Close()
}

// mq's notification by signal says who sent the message.
func TestMqNotificationSaysWhoSent(t *testing.T) {
	n := testutil.Name("signotify")
	q, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 4, MsgSize: 64})
	require.NoError(t, err)
	defer mq.Unlink(n)
	defer q.Close()
	r, err := sig.Take(rt(10))
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, q.NotifySignalValue(rt(10), 77))
	cmd := testutil.HelperCommand("mq-send", n)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := r.Receive(ctx)
	require.NoError(t, err)
	assert.Equal(t, sig.CodeMesgq, in.Code)
	assert.Equal(t, cmd.Process.Pid, in.Pid, "the sender of the message")
	assert.Equal(t, os.Getuid(), in.UID)
	assert.Equal(t, 77, in.Value)
}

func TestQueueBadInput(t *testing.T) {
	assert.ErrorIs(t, sig.Queue(os.Getpid(), 0, 1), syscall.EINVAL)
	assert.ErrorIs(t, sig.Queue(os.Getpid(), 99, 1), syscall.EINVAL)
	assert.ErrorIs(t, sig.Queue(os.Getpid(), rt(1), 1<<40), syscall.EINVAL)
	assert.ErrorIs(t, sig.Queue(1<<22, rt(1), 1), syscall.ESRCH)
}

func TestDroppedReceiverGivesTheSignalBack(t *testing.T) {
	func() {
		_, err := sig.Take(rt(11))
		require.NoError(t, err)
	}()
	var ok atomic.Bool
	require.True(t, testutil.Eventually(5*time.Second, func() bool {
		runtime.GC()
		r, err := sig.Take(rt(11))
		if err == nil {
			ok.Store(true)
			r.Close()
		}
		return ok.Load()
	}))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"USR1", "SIGRTMIN+3", "RTMAX-0", "34", "rtmin+", "SIG", "+5", "RTMIN+99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := sig.Parse(s)
		if err != nil {
			require.ErrorIs(t, err, syscall.EINVAL)
			return
		}
		require.True(t, n > 0 && n <= sig.RTMax(), "%q: %d", s, n)
		back, err := sig.Parse(sig.Name(n))
		require.NoError(t, err, "%q -> %s", s, sig.Name(n))
		require.Equal(t, n, back)
	})
}
