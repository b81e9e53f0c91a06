//go:build linux && cgo

package mq_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newQueue creates a fresh queue that is closed and unlinked when the test ends.
func newQueue(t testing.TB, maxMsg, msgSize int) (*mq.Queue, string) {
	t.Helper()
	name := testutil.Name("mq")
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: maxMsg, MsgSize: msgSize})
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, q.Close())
		mq.Unlink(name)
	})
	return q, name
}

func TestGoToC(t *testing.T) {
	testutil.CheckFDs(t)
	q, name := newQueue(t, 10, 128)
	ctx := context.Background()
	require.NoError(t, q.Send(ctx, []byte("low"), 1))
	require.NoError(t, q.Send(ctx, []byte("high"), 7))
	require.NoError(t, q.Send(ctx, []byte("mid"), 3))
	require.NoError(t, q.Send(ctx, []byte("mid2"), 3))
	out := runPeer(t, "recv", name, "4", "2000")
	// highest priority first, FIFO within a priority
	assert.Equal(t, "7 4 high\n3 3 mid\n3 4 mid2\n1 3 low\n", out)
}

func TestCToGo(t *testing.T) {
	testutil.CheckFDs(t)
	q, name := newQueue(t, 10, 128)
	runPeer(t, "send", name, "2", "two")
	runPeer(t, "send", name, "9", "nine")
	runPeer(t, "send", name, "0", "zero")
	buf := make([]byte, q.MsgSize())
	var got []string
	for i := 0; i < 3; i++ {
		n, p, err := q.Receive(context.Background(), buf)
		require.NoError(t, err)
		got = append(got, fmt.Sprintf("%d:%s", p, buf[:n]))
	}
	assert.Equal(t, []string{"9:nine", "2:two", "0:zero"}, got)
	a, err := q.Attr()
	require.NoError(t, err)
	assert.Equal(t, mq.Attr{MaxMsg: 10, MsgSize: 128, CurMsgs: 0, Flags: 0}, a)
}

func TestBlockedReceiveWokenByC(t *testing.T) {
	q, name := newQueue(t, 10, 64)
	done := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		n, _, err := q.Receive(context.Background(), buf)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- string(buf[:n])
	}()
	time.Sleep(20 * time.Millisecond)
	runPeer(t, "send", name, "0", "wake")
	select {
	case s := <-done:
		assert.Equal(t, "wake", s)
	case <-time.After(5 * time.Second):
		t.Fatal("receive not woken by the C peer's send")
	}
}

func TestBlockedSendOnFullQueue(t *testing.T) {
	q, name := newQueue(t, 2, 16)
	ctx := context.Background()
	require.NoError(t, q.Send(ctx, []byte("a"), 0))
	require.NoError(t, q.Send(ctx, []byte("b"), 0))
	err := q.TrySend([]byte("c"), 0)
	require.Error(t, err)
	assert.True(t, errors.Is(err, syscall.EAGAIN), "%v", err)
	sent := make(chan error, 1)
	go func() { sent <- q.Send(ctx, []byte("c"), 0) }()
	time.Sleep(20 * time.Millisecond)
	out := runPeer(t, "recv", name, "3", "2000")
	require.NoError(t, <-sent)
	assert.Equal(t, "0 1 a\n0 1 b\n0 1 c\n", out)
}

func TestErrors(t *testing.T) {
	q, name := newQueue(t, 2, 16)
	ctx := context.Background()

	_, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 2, MsgSize: 16})
	assert.ErrorIs(t, err, fs.ErrExist)
	assert.ErrorIs(t, err, syscall.EEXIST)
	assert.Contains(t, err.Error(), "file exists")
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "mq_open", pe.Op)
	assert.Equal(t, name, pe.Path)

	_, err = mq.Open(testutil.Name("absent"), mq.O_RDONLY, 0, nil)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.ErrorIs(t, mq.Unlink(testutil.Name("absent")), fs.ErrNotExist)

	err = q.Send(ctx, make([]byte, 17), 0)
	assert.ErrorIs(t, err, syscall.EMSGSIZE)
	_, _, err = q.Receive(ctx, make([]byte, 15))
	assert.ErrorIs(t, err, syscall.EMSGSIZE)
	assert.Contains(t, err.Error(), "smaller than the queue's msgsize 16")
	assert.ErrorIs(t, q.Send(ctx, nil, mq.PrioMax), syscall.EINVAL)

	_, _, err = q.TryReceive(make([]byte, 16))
	assert.ErrorIs(t, err, syscall.EAGAIN)

	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = q.Receive(tctx, make([]byte, 16))
	assert.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond)

	ro, err := mq.Open(name, mq.O_RDONLY, 0, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, ro.Send(ctx, []byte("x"), 0), syscall.EBADF)
	require.NoError(t, ro.Close())
	assert.ErrorIs(t, ro.Send(ctx, []byte("x"), 0), os.ErrClosed)
}

func TestBadInput(t *testing.T) {
	for _, n := range []string{"", "/", "/a/b", "a/b", "/" + strings.Repeat("x", 252), "/.", "/..", "/a\x00b"} {
		_, err := mq.Open(n, mq.O_RDWR|mq.O_CREAT, 0o600, nil)
		require.Error(t, err, "name %q", n)
		assert.True(t, errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENAMETOOLONG), "name %q: %v", n, err)
	}
	n := testutil.Name("bad")
	for _, a := range []*mq.Attr{{MaxMsg: 0, MsgSize: 8}, {MaxMsg: 1, MsgSize: -1}} {
		_, err := mq.Create(n, 0o600, a)
		assert.ErrorIs(t, err, syscall.EINVAL)
	}
	_, err := mq.Open(n, mq.O_RDWR|mq.O_CREAT|0x40000000, 0o600, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = mq.Open(n, mq.O_RDWR|mq.O_CREAT, os.ModeSetuid|0o600, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = mq.Open(n, mq.O_RDONLY, 0, nil)
	assert.ErrorIs(t, err, fs.ErrNotExist, "nothing was created by the failed calls")
}

func TestLimitErrors(t *testing.T) {
	n := testutil.Name("limit")
	_, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 11, MsgSize: 16})
	require.Error(t, err)
	var le *mq.LimitError
	require.ErrorAs(t, err, &le)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.Equal(t, "/proc/sys/fs/mqueue/msg_max", le.Setting)
	assert.Contains(t, err.Error(), "raise /proc/sys/fs/mqueue/msg_max")

	_, err = mq.Create(n, 0o600, &mq.Attr{MaxMsg: 1, MsgSize: 1 << 20})
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "/proc/sys/fs/mqueue/msgsize_max", le.Setting)

	// RLIMIT_MSGQUEUE, in a process of its own so ours keeps its limit.
	out, err := helperCmd(t, "create-limited", n).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 24, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "RLIMIT_MSGQUEUE")
}

func TestPermissionDenied(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the other side as uid 65534")
	}
	_, name := newQueue(t, 2, 16) // mode 0600, owned by root
	out, err := unprivilegedHelper(t, "open", name).CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 13, ee.ExitCode(), "%s", out)
	assert.Contains(t, string(out), "permission denied")
}

func TestNonblockMode(t *testing.T) {
	q, _ := newQueue(t, 1, 16)
	require.NoError(t, q.SetNonblock(true))
	a, err := q.Attr()
	require.NoError(t, err)
	assert.Equal(t, mq.O_NONBLOCK, a.Flags)
	_, _, err = q.Receive(context.Background(), make([]byte, 16))
	assert.ErrorIs(t, err, syscall.EAGAIN)
	require.NoError(t, q.Send(context.Background(), []byte("x"), 0))
	assert.ErrorIs(t, q.Send(context.Background(), []byte("y"), 0), syscall.EAGAIN)
	require.NoError(t, q.SetNonblock(false))
	a, _ = q.Attr()
	assert.Equal(t, 0, a.Flags)
	assert.Equal(t, 1, a.CurMsgs)
}

func TestCancelAndCloseWakeBlocked(t *testing.T) {
	testutil.CheckFDs(t)
	name := testutil.Name("close")
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 1, MsgSize: 16})
	require.NoError(t, err)
	defer mq.Unlink(name)

	// cancel: prompt
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := q.Receive(ctx, make([]byte, 16)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), time.Second)
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not wake Receive")
	}

	// the queue still works after a cancellation
	require.NoError(t, q.Send(context.Background(), []byte("x"), 0))
	n, _, err := q.Receive(context.Background(), make([]byte, 16))
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// close: wakes blocked receivers (in C and parked) and a blocked sender
	require.NoError(t, q.Send(context.Background(), []byte("full"), 0))
	const waiters = 5
	errs := make(chan error, waiters+1)
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for {
				if _, _, err := q.Receive(context.Background(), buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if err := q.Send(context.Background(), []byte("more"), 0); err != nil {
				errs <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close(), "Close is idempotent")
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, os.ErrClosed)
	}
}

// A cancelled Receive never loses a message: every message the C peer sends
// is received exactly once although most receives are cancelled.
func TestCancelledReceiveLosesNothing(t *testing.T) {
	q, name := newQueue(t, 10, 32)
	const total = 300
	sender := cPeer(t, "send", name, "0", "m", fmt.Sprint(total))
	require.NoError(t, sender.Start())
	var got atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, 32)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(50+(i*g)%200)*time.Microsecond)
				if i%3 == 0 {
					cancel() // cancelled before or while waiting
				}
				_, _, err := q.Receive(ctx, buf)
				cancel()
				if err == nil {
					got.Add(1)
				} else if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		}(g)
	}
	require.NoError(t, sender.Wait())
	ok := testutil.Eventually(10*time.Second, func() bool { return got.Load() >= total })
	close(stop)
	wg.Wait()
	require.True(t, ok, "received %d of %d", got.Load(), total)
	a, err := q.Attr()
	require.NoError(t, err)
	assert.Equal(t, int64(total), got.Load())
	assert.Equal(t, 0, a.CurMsgs)
}

// 1,000 goroutines blocked in Receive cost a handful of OS threads; 1,000
// messages from a C peer release them all, each message received once.
func TestThreadBound(t *testing.T) {
	q, name := newQueue(t, 10, 32)
	before := testutil.Threads()
	const n = 1000
	var wg sync.WaitGroup
	var got atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32)
			if _, _, err := q.Receive(context.Background(), buf); err == nil {
				got.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	during := testutil.Threads()
	t.Logf("threads: %d before, %d with %d goroutines blocked in Receive", before, during, n)
	assert.LessOrEqual(t, during-before, 8, "blocked receivers must not each hold a thread")
	runPeer(t, "send", name, "0", "go", fmt.Sprint(n))
	wg.Wait()
	assert.Equal(t, int64(n), got.Load())
}

func TestAllocs(t *testing.T) {
	q, _ := newQueue(t, 10, 64)
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	tctx, tcancel := context.WithTimeout(bg, time.Hour)
	defer tcancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"background", bg}, {"cancellable", ctx}, {"deadline", tctx}} {
		allocs := testing.AllocsPerRun(200, func() {
			if err := q.Send(c.ctx, msg, 1); err != nil {
				panic(err)
			}
			if _, _, err := q.Receive(c.ctx, buf); err != nil {
				panic(err)
			}
		})
		assert.Zero(t, allocs, "Send+Receive with a %s context", c.name)
	}
	allocs := testing.AllocsPerRun(200, func() {
		q.TrySend(msg, 0)
		q.TryReceive(buf)
	})
	assert.Zero(t, allocs, "TrySend+TryReceive")
}

func TestNotifyCallback(t *testing.T) {
	q, name := newQueue(t, 10, 32)
	ch, err := q.NotifyChan()
	require.NoError(t, err)

	// another process cannot register while we hold it
	out, err := cPeer(t, "notify-wait", name, "10").CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "Device or resource busy")

	runPeer(t, "send", name, "0", "first")
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification on empty -> non-empty")
	}
	// one-shot: the second message brings nothing, and the registration is free
	ch2, err := q.NotifyChan()
	require.NoError(t, err, "re-registering after it fired")
	runPeer(t, "send", name, "0", "second") // queue not empty: no notification
	select {
	case <-ch2:
		t.Fatal("notified on a non-empty queue")
	case <-time.After(100 * time.Millisecond):
	}
	buf := make([]byte, 32)
	for i := 0; i < 2; i++ {
		_, _, err := q.Receive(context.Background(), buf)
		require.NoError(t, err)
	}
	runPeer(t, "send", name, "0", "third") // empty -> non-empty again
	select {
	case <-ch2:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after the queue emptied")
	}
	ch3, err := q.NotifyChan()
	require.NoError(t, err)
	require.NoError(t, q.StopNotify())
	_, _, err = q.Receive(context.Background(), buf)
	require.NoError(t, err)
	runPeer(t, "send", name, "0", "fourth")
	select {
	case <-ch3:
		t.Fatal("notified after StopNotify")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNotifyBusyAndSignal(t *testing.T) {
	q, name := newQueue(t, 10, 32)
	holder := cPeer(t, "notify-hold", name)
	stdin, err := holder.StdinPipe()
	require.NoError(t, err)
	stdout, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "registered\n", line)
	err = q.Notify(func() {})
	assert.ErrorIs(t, err, syscall.EBUSY)
	assert.ErrorIs(t, q.NotifySignal(syscall.SIGUSR2), syscall.EBUSY)
	stdin.Close()
	require.NoError(t, holder.Wait())

	// the holder exited: its registration is gone
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	require.NoError(t, q.NotifySignal(syscall.SIGUSR2))
	runPeer(t, "send", name, "0", "sig")
	select {
	case s := <-sigs:
		assert.Equal(t, syscall.SIGUSR2, s)
	case <-time.After(5 * time.Second):
		t.Fatal("no signal")
	}
}

// Go registers, C is told: the C peer waits for the notification of a
// message Go sends.
func TestNotifyToC(t *testing.T) {
	q, name := newQueue(t, 10, 32)
	waiter := cPeer(t, "notify-wait", name, "5000")
	stdout, err := waiter.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, waiter.Start())
	r := bufio.NewReader(stdout)
	line, _ := r.ReadString('\n')
	require.Equal(t, "registered\n", line)
	require.NoError(t, q.Send(context.Background(), []byte("hi"), 0))
	line, _ = r.ReadString('\n')
	assert.Equal(t, "notified\n", line)
	require.NoError(t, waiter.Wait())
}
