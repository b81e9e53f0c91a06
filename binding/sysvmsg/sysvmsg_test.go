//go:build linux && cgo

package sysvmsg_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/sysvmsg"
	"github.com/posixipc/posixipc/internal/bench"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var helpers = map[string]func(args []string) int{
	// send ID TYPE TEXT: one Send from a Go process.
	"send": func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		typ, _ := strconv.ParseInt(args[1], 10, 64)
		q, err := sysvmsg.OpenID(id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer q.Close()
		if err := q.Send(context.Background(), typ, []byte(args[2])); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ok")
		return 0
	},
}

func TestMain(m *testing.M) {
	bench.ServePeer() // the lab's Go peers of BenchmarkPingPong
	testutil.RunHelper(helpers)
	goleak.VerifyTestMain(m)
}

// private makes a new private queue, removed and closed at cleanup.
func private(t testing.TB) *sysvmsg.Queue {
	t.Helper()
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		q.Remove()
		q.Close()
	})
	return q
}

func id(q *sysvmsg.Queue) string { return strconv.Itoa(q.ID()) }

func TestByteCompatibleWithC(t *testing.T) {
	testutil.CheckFDs(t)
	q := private(t)
	c := testutil.StartC(t, "sysvpeer", "msg-send", id(q), "7", "from C")
	c.Expect(t, "ok")
	buf := make([]byte, 64)
	n, typ, err := q.Receive(context.Background(), buf, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(7), typ)
	assert.Equal(t, "from C", string(buf[:n]))

	r := testutil.StartC(t, "sysvpeer", "msg-recv", id(q), "9")
	r.Expect(t, "ready")
	require.NoError(t, q.Send(context.Background(), 9, []byte("from Go")))
	r.Expect(t, "9 from Go")

	g := testutil.StartGo(t, "send", id(q), "11", "from a Go peer")
	g.Expect(t, "ok")
	n, typ, err = q.Receive(context.Background(), buf, 11, 0)
	require.NoError(t, err)
	assert.Equal(t, "from a Go peer", string(buf[:n]))
	assert.Equal(t, int64(11), typ)

	// empty text
	require.NoError(t, q.Send(context.Background(), 1, nil))
	n, typ, err = q.TryReceive(buf, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	assert.Equal(t, int64(1), typ)
}

func TestSelectorsAsInC(t *testing.T) {
	q := private(t)
	ctx := context.Background()
	for _, typ := range []int64{3, 1, 2, 5} {
		require.NoError(t, q.Send(ctx, typ, []byte(strconv.FormatInt(typ, 10))))
	}
	buf := make([]byte, 8)
	recv := func(sel int64, flags int) int64 {
		t.Helper()
		_, typ, err := q.Receive(ctx, buf, sel, flags)
		require.NoError(t, err)
		return typ
	}
	assert.Equal(t, int64(2), recv(2, 0), "> 0: the first of that type")
	assert.Equal(t, int64(1), recv(-2, 0), "< 0: the lowest type <= |sel|")
	assert.Equal(t, int64(5), recv(3, sysvmsg.Except), "Except: the first not of that type")
	assert.Equal(t, int64(3), recv(0, 0), "0: the first")
	_, _, err := q.TryReceive(buf, 0, 0)
	assert.ErrorIs(t, err, syscall.ENOMSG)
	assert.ErrorIs(t, err, syscall.EAGAIN)
}

func TestBadInput(t *testing.T) {
	q := private(t)
	ctx := context.Background()
	for _, typ := range []int64{0, -1} {
		err := q.Send(ctx, typ, []byte("x"))
		assert.ErrorIs(t, err, syscall.EINVAL)
		assert.ErrorContains(t, err, "must be > 0")
		assert.ErrorIs(t, q.TrySend(typ, nil), syscall.EINVAL)
	}
	_, _, err := q.Receive(ctx, make([]byte, 4), 0, sysvmsg.Except)
	assert.ErrorContains(t, err, "the Except flag needs a selector > 0")
	_, _, err = q.Receive(ctx, make([]byte, 4), 1, 1<<20)
	assert.ErrorIs(t, err, syscall.EINVAL)

	_, err = sysvmsg.Open(sysvmsg.Private, 0, 0o600)
	assert.ErrorContains(t, err, "pass os.O_CREATE")
	_, err = sysvmsg.Open(0x5a5a0001, os.O_APPEND, 0o600)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvmsg.Open(0x5a5a0001, os.O_EXCL, 0o600)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvmsg.Open(0x5a5a0001, os.O_CREATE, os.ModeSetuid|0o600)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvmsg.OpenID(-1)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorIs(t, q.SetQBytes(0), syscall.EINVAL)
	assert.ErrorIs(t, q.SetMode(os.ModeDir|0o600), syscall.EINVAL)
}

func TestOpenByKey(t *testing.T) {
	key := 0x5a000000 | os.Getpid()&0xffffff
	_, err := sysvmsg.Open(key, 0, 0)
	require.ErrorIs(t, err, fs.ErrNotExist)
	q, err := sysvmsg.Create(key, 0o640)
	require.NoError(t, err)
	defer q.Close()
	defer q.Remove()
	_, err = sysvmsg.Create(key, 0o640)
	assert.ErrorIs(t, err, fs.ErrExist)
	q2, err := sysvmsg.Open(key, os.O_CREATE|os.O_RDWR, 0o600) // exists: opened
	require.NoError(t, err)
	defer q2.Close()
	assert.Equal(t, q.ID(), q2.ID())
	st, err := q.Stat()
	require.NoError(t, err)
	assert.Equal(t, key, st.Key)
	assert.Equal(t, os.FileMode(0o640), st.Mode)
	assert.Equal(t, os.Getuid(), st.UID)
}

func TestStatAndSet(t *testing.T) {
	q := private(t)
	require.NoError(t, q.Send(context.Background(), 4, []byte("12345")))
	st, err := q.Stat()
	require.NoError(t, err)
	assert.Equal(t, 1, st.QNum)
	assert.Equal(t, 5, st.CBytes)
	assert.Equal(t, os.Getpid(), st.LSPid)
	assert.Equal(t, 0, st.LRPid)
	assert.False(t, st.STime.IsZero())
	assert.True(t, st.RTime.IsZero())
	assert.Equal(t, sysvmsg.Private, st.Key)

	require.NoError(t, q.SetQBytes(100))
	require.NoError(t, q.SetMode(0o604))
	st, err = q.Stat()
	require.NoError(t, err)
	assert.Equal(t, 100, st.QBytes)
	assert.Equal(t, os.FileMode(0o604), st.Mode)

	out, err := exec.Command("ipcs", "-q", "-i", id(q)).CombinedOutput()
	if err == nil { // util-linux's ipcs sees what Go made
		assert.Contains(t, string(out), "qbytes=100")
		assert.Contains(t, string(out), "qnum=1")
	} else {
		t.Logf("ipcs not usable here: %v %s", err, out)
	}
}

func TestIpcmkQueueUsedFromGo(t *testing.T) {
	out, err := exec.Command("ipcmk", "-Q", "-p", "0600").CombinedOutput()
	if err != nil {
		t.Skipf("ipcmk (util-linux) not usable: %v %s", err, out)
	}
	f := strings.Fields(string(out))
	qid, err := strconv.Atoi(f[len(f)-1])
	require.NoError(t, err, "%s", out)
	q, err := sysvmsg.OpenID(qid)
	require.NoError(t, err)
	defer q.Close()
	require.NoError(t, q.Send(context.Background(), 2, []byte("x")))
	require.NoError(t, exec.Command("ipcrm", "-q", strconv.Itoa(qid)).Run())
	_, _, err = q.TryReceive(make([]byte, 4), 0, 0)
	assert.ErrorIs(t, err, sysvmsg.ErrRemoved)
}

func TestTooLongAndNoError(t *testing.T) {
	q := private(t)
	ctx := context.Background()
	require.NoError(t, q.Send(ctx, 1, []byte("0123456789")))
	buf := make([]byte, 4)
	_, _, err := q.Receive(ctx, buf, 0, 0)
	require.ErrorIs(t, err, syscall.E2BIG)
	assert.ErrorContains(t, err, "stays queued")
	st, _ := q.Stat()
	assert.Equal(t, 1, st.QNum, "an E2BIG leaves the message queued")
	n, _, err := q.Receive(ctx, buf, 0, sysvmsg.NoError)
	require.NoError(t, err)
	assert.Equal(t, "0123", string(buf[:n]))
	st, _ = q.Stat()
	assert.Equal(t, 0, st.QNum)
}

func TestMsgmaxIsALimitError(t *testing.T) {
	q := private(t)
	b, err := os.ReadFile("/proc/sys/kernel/msgmax")
	require.NoError(t, err)
	max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	err = q.TrySend(1, make([]byte, max+1))
	var le *sysvmsg.LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "/proc/sys/kernel/msgmax", le.Setting)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

func TestCancelAndDeadlineTakeNothing(t *testing.T) {
	testutil.CheckFDs(t)
	q := private(t)
	buf := make([]byte, 16)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, _, err := q.Receive(ctx, buf, 0, 0); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
		var pe *fs.PathError
		assert.ErrorAs(t, err, &pe)
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not reach the receiver")
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer dcancel()
	start := time.Now()
	_, _, err := q.Receive(dctx, buf, 0, 0)
	assert.ErrorIs(t, err, sysvmsg.ErrDeadline)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.True(t, os.IsTimeout(err))
	assert.Less(t, time.Since(start), 2*time.Second)

	// Nothing was lost: a message sent now is there for the next call.
	require.NoError(t, q.Send(context.Background(), 3, []byte("kept")))
	n, _, err := q.TryReceive(buf, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, "kept", string(buf[:n]))

	// A far deadline is no deadline, not an error.
	far, fcancel := context.WithDeadline(context.Background(), time.Now().Add(200*365*24*time.Hour))
	defer fcancel()
	require.NoError(t, q.Send(far, 3, []byte("far")))
	_, _, err = q.Receive(far, buf, 0, 0)
	require.NoError(t, err)
}

func TestSendBlocksWhileFull(t *testing.T) {
	q := private(t)
	require.NoError(t, q.SetQBytes(8))
	ctx := context.Background()
	require.NoError(t, q.Send(ctx, 1, []byte("12345678")))
	assert.ErrorIs(t, q.TrySend(1, []byte("x")), syscall.EAGAIN)

	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, q.Send(cctx, 1, []byte("y")), sysvmsg.ErrDeadline)

	sent := make(chan error, 1)
	go func() { sent <- q.Send(ctx, 2, []byte("late")) }()
	time.Sleep(20 * time.Millisecond)
	buf := make([]byte, 8)
	_, _, err := q.Receive(ctx, buf, 1, 0)
	require.NoError(t, err)
	require.NoError(t, <-sent)
	n, typ, err := q.Receive(ctx, buf, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(2), typ)
	assert.Equal(t, "late", string(buf[:n]))
	st, _ := q.Stat()
	assert.Equal(t, 0, st.QNum, "the timed-out Send queued nothing")
}

// Receivers waiting for different types do not wait behind one another.
func TestSelectorsWaitSideBySide(t *testing.T) {
	q := private(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int64, 4)
	for _, sel := range []int64{1, 2, 3} {
		go func() {
			_, typ, err := q.Receive(ctx, make([]byte, 8), sel, 0)
			if err == nil {
				got <- typ
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	for _, typ := range []int64{3, 2, 1} {
		require.NoError(t, q.Send(context.Background(), typ, []byte("x")))
		select {
		case g := <-got:
			assert.Equal(t, typ, g)
		case <-time.After(5 * time.Second):
			t.Fatalf("the receiver of type %d did not get its message", typ)
		}
	}
}

func TestRemoveWakesEveryWaiter(t *testing.T) {
	q := private(t)
	c := testutil.StartC(t, "sysvpeer", "msg-recv", id(q), "0")
	c.Expect(t, "ready")
	errc := make(chan error, 1)
	go func() { _, _, err := q.Receive(context.Background(), make([]byte, 8), 0, 0); errc <- err }()
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, q.Remove())
	c.Expect(t, "EIDRM")
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, sysvmsg.ErrRemoved)
		assert.ErrorIs(t, err, syscall.EIDRM)
	case <-time.After(5 * time.Second):
		t.Fatal("Remove did not wake the Go receiver")
	}
	assert.ErrorIs(t, q.TrySend(1, nil), sysvmsg.ErrRemoved)
	_, err := q.Stat()
	assert.ErrorIs(t, err, sysvmsg.ErrRemoved)
}

func TestCloseWakesWaitersAndIsIdempotent(t *testing.T) {
	q, err := sysvmsg.Open(sysvmsg.Private, os.O_CREATE, 0o600)
	require.NoError(t, err)
	qid := q.ID()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := q.Receive(context.Background(), make([]byte, 8), int64(i%3), 0)
			errs <- err
		}()
	}
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, os.ErrClosed)
	}
	assert.ErrorIs(t, q.Send(context.Background(), 1, nil), os.ErrClosed)
	_, err = q.Stat()
	assert.ErrorIs(t, err, os.ErrClosed)
	q2, err := sysvmsg.OpenID(qid)
	require.NoError(t, err)
	require.NoError(t, q2.Remove())
	q2.Close()
}

// 1,000 blocked receivers, on 50 selectors, cost a bounded number of OS
// threads, and every one of them is reached by cancellation.
func TestThousandReceiversFewThreads(t *testing.T) {
	q := private(t)
	testutil.ThreadBound(t, 1000, 30, func(ctx context.Context, i int) error {
		_, _, err := q.Receive(ctx, make([]byte, 8), int64(1+i%50), 0)
		return err
	})
}

// A storm of senders and receivers, cancelled at random: every message sent
// is received or still queued, none twice.
func TestStormNothingLost(t *testing.T) {
	q := private(t)
	var sent, received atomic.Int64
	stop := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%7)*100*time.Microsecond)
				if q.Send(ctx, int64(1+i%3), []byte("m")) == nil {
					sent.Add(1)
				}
				cancel()
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 4)
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*100*time.Microsecond)
				if _, _, err := q.Receive(ctx, buf, int64(i%4), 0); err == nil {
					received.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	st, err := q.Stat()
	require.NoError(t, err)
	t.Logf("sent %d, received %d, left %d", sent.Load(), received.Load(), st.QNum)
	assert.Equal(t, sent.Load(), received.Load()+int64(st.QNum))
	assert.Greater(t, received.Load(), int64(100))
}

func TestDroppedHandleIsCleanedUp(t *testing.T) {
	q := private(t)
	qid := q.ID()
	before := runtime.NumGoroutine()
	func() {
		h, err := sysvmsg.OpenID(qid)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		_, _, err = h.Receive(ctx, make([]byte, 4), 0, 0) // arms its canceller: a goroutine
		require.ErrorIs(t, err, sysvmsg.ErrDeadline)
	}()
	assert.True(t, testutil.Eventually(5*time.Second, func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= before
	}), "the dropped handle's canceller goroutine is still there")
}

func TestQBytesAboveMsgmnbIsALimitError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root has CAP_SYS_RESOURCE, so kernel.msgmnb does not bound it (make test as a user runs this)")
	}
	q := private(t)
	b, err := os.ReadFile("/proc/sys/kernel/msgmnb")
	require.NoError(t, err)
	mnb, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	err = q.SetQBytes(mnb + 1)
	var le *sysvmsg.LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, "/proc/sys/kernel/msgmnb", le.Setting)
	assert.ErrorIs(t, err, syscall.EPERM)
}
