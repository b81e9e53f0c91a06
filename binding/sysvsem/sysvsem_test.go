//go:build linux && cgo

package sysvsem_test

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

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/bench"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var helpers = map[string]func(args []string) int{
	// take ID NUM HOLD_MS: takes one unit of NUM with Undo, says "ok",
	// and holds it HOLD_MS (the test kills it before).
	"take": func(args []string) int {
		id, _ := strconv.Atoi(args[0])
		num, _ := strconv.Atoi(args[1])
		hold, _ := strconv.Atoi(args[2])
		s, err := sysvsem.OpenID(id)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := s.Do(context.Background(), sysvsem.Op{Num: num, Delta: -1, Flags: sysvsem.Undo}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("ok")
		time.Sleep(time.Duration(hold) * time.Millisecond)
		return 0
	},
	// half-create KEY: makes a set and sets its values, but dies before
	// marking it initialised.
	"half-create": func(args []string) int {
		key, _ := strconv.Atoi(args[0])
		id, err := posixipc.Semget(key, 1, 0o600|01000|02000) // IPC_CREAT|IPC_EXCL
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := posixipc.SemctlSetall(id, []uint16{1}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(id)
		return 0
	},
}

func TestMain(m *testing.M) {
	bench.ServePeer() // the lab's Go peers of BenchmarkPingPong
	testutil.RunHelper(helpers)
	goleak.VerifyTestMain(m)
}

func private(t testing.TB, values ...int) *sysvsem.Set {
	t.Helper()
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, values)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Remove()
		s.Close()
	})
	return s
}

func values(t testing.TB, s *sysvsem.Set) []int {
	t.Helper()
	v, err := s.Values()
	require.NoError(t, err)
	return v
}

func id(s *sysvsem.Set) string { return strconv.Itoa(s.ID()) }

func TestCreateAndAtomicOps(t *testing.T) {
	testutil.CheckFDs(t)
	s := private(t, 2, 0, 7)
	assert.Equal(t, 3, s.Len())
	assert.Equal(t, []int{2, 0, 7}, values(t, s))
	ctx := context.Background()
	require.NoError(t, s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}, sysvsem.Op{Num: 1, Delta: 1}))
	assert.Equal(t, []int{1, 1, 7}, values(t, s))
	st, err := s.Stat()
	require.NoError(t, err)
	assert.False(t, st.OTime.IsZero(), "the creation handshake set sem_otime")
	assert.Equal(t, 3, st.NSems)
	pid, err := s.Pid(0)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)

	require.NoError(t, s.SetValue(2, 0))
	require.NoError(t, s.Do(ctx, sysvsem.Op{Num: 2, Delta: 0}), "wait-for-zero on 0 returns at once")
	require.NoError(t, s.SetValues([]int{5, 6, 7}))
	v, err := s.Value(1)
	require.NoError(t, err)
	assert.Equal(t, 6, v)
}

// semtimedop is all or nothing: a Do that cannot complete changes nothing,
// whether it times out, is cancelled or would block with NoWait.
func TestAllOrNothing(t *testing.T) {
	s := private(t, 3, 1)
	ops := []sysvsem.Op{{Num: 0, Delta: -1}, {Num: 1, Delta: -2}} // 1 has too few

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := s.Do(ctx, ops...)
	assert.ErrorIs(t, err, sysvsem.ErrDeadline)
	assert.ErrorIs(t, err, syscall.ETIMEDOUT)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var pe *fs.PathError
	assert.ErrorAs(t, err, &pe)
	assert.Equal(t, []int{3, 1}, values(t, s))

	cctx, ccancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Do(cctx, ops...) }()
	time.Sleep(20 * time.Millisecond)
	n, err := s.WaitingCount(1)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the Do waits in the kernel")
	ccancel()
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not reach the waiter")
	}
	assert.Equal(t, []int{3, 1}, values(t, s))

	err = s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: -1}, sysvsem.Op{Num: 1, Delta: -2, Flags: sysvsem.NoWait})
	assert.ErrorIs(t, err, syscall.EAGAIN)
	assert.Equal(t, []int{3, 1}, values(t, s))

	// and it completes once it can
	done := make(chan error, 1)
	go func() { done <- s.Do(context.Background(), ops...) }()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Do(context.Background(), sysvsem.Op{Num: 1, Delta: 1}))
	require.NoError(t, <-done)
	assert.Equal(t, []int{2, 0}, values(t, s))
}

func TestWaitForZero(t *testing.T) {
	s := private(t, 2)
	done := make(chan error, 1)
	go func() { done <- s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: 0}) }()
	time.Sleep(20 * time.Millisecond)
	z, err := s.ZeroWaitingCount(0)
	require.NoError(t, err)
	assert.Equal(t, 1, z)
	require.NoError(t, s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: -2}))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("wait-for-zero did not return at zero")
	}
}

func TestWithCPeer(t *testing.T) {
	s := private(t, 1, 0)
	c := testutil.StartC(t, "sysvpeer", "sem-op", id(s), "0", "0:-1", "1:+1")
	c.Expect(t, "ready")
	c.Expect(t, "ok")
	assert.Equal(t, []int{0, 1}, values(t, s))
	g := testutil.StartC(t, "sysvpeer", "sem-get", id(s), "2")
	g.Expect(t, "0 1")
	// a C process blocked in semop, released by Go
	b := testutil.StartC(t, "sysvpeer", "sem-op", id(s), "0", "0:-1")
	b.Expect(t, "ready")
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: 1}))
	b.Expect(t, "ok")
}

// A unit taken with Undo comes back when its holder is killed with
// SIGKILL, for a C and a Go holder.
func TestUndoUnderKill9(t *testing.T) {
	for _, lang := range []string{"C", "Go"} {
		t.Run(lang, func(t *testing.T) {
			s := private(t, 2)
			var p *testutil.Proc
			if lang == "C" {
				p = testutil.StartC(t, "sysvpeer", "sem-op", id(s), "60000", "0:-1u")
				p.Expect(t, "ready")
			} else {
				p = testutil.StartGo(t, "take", id(s), "0", "60000")
			}
			p.Expect(t, "ok")
			assert.Equal(t, []int{1}, values(t, s))
			p.Kill9(t)
			assert.True(t, testutil.Eventually(5*time.Second, func() bool {
				v, _ := s.Values()
				return len(v) == 1 && v[0] == 2
			}), "the unit taken with Undo came back")
		})
	}
}

func TestOpenWaitsForInitialisation(t *testing.T) {
	key := 0x5b000000 | os.Getpid()&0xffffff
	rid, err := posixipc.Semget(key, 2, 0o600|01000|02000)
	require.NoError(t, err)
	defer posixipc.SemctlRmid(rid)
	opened := make(chan error, 1)
	go func() {
		s, err := sysvsem.Open(key, 0, 0, nil)
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("Open returned before the set was initialised: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, posixipc.SemctlSetall(rid, []uint16{4, 0}))
	require.NoError(t, posixipc.Semop(rid, []posixipc.SemBuf{{Num: 0, Op: 1}, {Num: 0, Op: -1}})) // sets sem_otime
	select {
	case err := <-opened:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Open did not see the initialisation")
	}

	// Open or create of the existing, initialised set opens it.
	s, err := sysvsem.Open(key, os.O_CREATE, 0o600, []int{9})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, rid, s.ID())
	assert.Equal(t, []int{4, 0}, values(t, s), "values apply only to a set the call creates")
	_, err = sysvsem.Create(key, 0o600, []int{1})
	assert.ErrorIs(t, err, fs.ErrExist)
}

func TestDeadCreatorIsDetected(t *testing.T) {
	key := 0x5c000000 | os.Getpid()&0xffffff
	p := testutil.StartGo(t, "half-create", strconv.Itoa(key))
	rid, err := strconv.Atoi(p.Next(t))
	require.NoError(t, err)
	defer posixipc.SemctlRmid(rid)
	require.Equal(t, 0, p.Wait(t))
	start := time.Now()
	_, err = sysvsem.Open(key, os.O_CREATE, 0o600, []int{1})
	require.ErrorIs(t, err, sysvsem.ErrUninitialized)
	assert.ErrorContains(t, err, "died before initialising it")
	assert.Less(t, time.Since(start), time.Second, "detected, not waited for")
}

func TestBadInput(t *testing.T) {
	s := private(t, 1, 1)
	ctx := context.Background()
	for _, ops := range [][]sysvsem.Op{
		nil,
		{{Num: 2, Delta: 1}},
		{{Num: -1, Delta: 1}},
		{{Num: 0, Delta: 40000}},
		{{Num: 0, Delta: -40000}},
		{{Num: 0, Delta: 1, Flags: 0x1}},
	} {
		assert.ErrorIs(t, s.Do(ctx, ops...), syscall.EINVAL, "%v", ops)
	}
	_, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, nil)
	assert.ErrorContains(t, err, "at least one value")
	_, err = sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{-1})
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{sysvsem.ValueMax + 1})
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvsem.Open(sysvsem.Private, 0, 0o600, []int{1})
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = sysvsem.OpenID(-5)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorIs(t, s.SetValue(0, -1), syscall.EINVAL)
	assert.ErrorIs(t, s.SetValue(5, 1), syscall.EINVAL)
	assert.ErrorIs(t, s.SetValues([]int{1}), syscall.EINVAL)
	_, err = s.Value(9)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.ErrorIs(t, s.SetMode(os.ModeDir), syscall.EINVAL)
}

func TestLimitsNamed(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/sem")
	require.NoError(t, err)
	f := strings.Fields(string(b))
	msl, _ := strconv.Atoi(f[0])
	opm, _ := strconv.Atoi(f[2])
	var le *sysvsem.LimitError
	_, err = sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, make([]int, msl+1))
	require.ErrorAs(t, err, &le)
	assert.Contains(t, le.Setting, "SEMMSL")

	s := private(t, 1)
	ops := make([]sysvsem.Op, opm+1)
	for i := range ops {
		ops[i] = sysvsem.Op{Num: 0, Delta: 0}
	}
	err = s.Do(context.Background(), ops...)
	require.ErrorAs(t, err, &le)
	assert.Contains(t, le.Setting, "SEMOPM")
	assert.ErrorIs(t, err, syscall.E2BIG)

	require.NoError(t, s.SetValue(0, sysvsem.ValueMax))
	err = s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: 1})
	assert.ErrorIs(t, err, syscall.ERANGE)
}

func TestRemoveWakesEveryWaiter(t *testing.T) {
	s := private(t, 0)
	c := testutil.StartC(t, "sysvpeer", "sem-op", id(s), "0", "0:-1")
	c.Expect(t, "ready")
	errc := make(chan error, 1)
	go func() { errc <- s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: -1}) }()
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, s.Remove())
	c.Expect(t, "EIDRM")
	select {
	case err := <-errc:
		assert.ErrorIs(t, err, sysvsem.ErrRemoved)
		assert.ErrorIs(t, err, syscall.EIDRM)
	case <-time.After(5 * time.Second):
		t.Fatal("Remove did not wake the Go waiter")
	}
	_, err := s.Values()
	assert.ErrorIs(t, err, sysvsem.ErrRemoved)
}

func TestCloseWakesWaitersAndIsIdempotent(t *testing.T) {
	s, err := sysvsem.Open(sysvsem.Private, os.O_CREATE, 0o600, []int{0, 0})
	require.NoError(t, err)
	defer posixipc.SemctlRmid(s.ID())
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Do(context.Background(), sysvsem.Op{Num: i % 2, Delta: -1})
		}()
	}
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, os.ErrClosed)
	}
	assert.ErrorIs(t, s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: 1}), os.ErrClosed)
}

func TestThousandWaitersFewThreads(t *testing.T) {
	s := private(t, 0, 0, 0, 0)
	testutil.ThreadBound(t, 1000, 30, func(ctx context.Context, i int) error {
		return s.Do(ctx, sysvsem.Op{Num: i % 4, Delta: -1 - i%10})
	})
}

// Units are conserved under a storm of takes and gives cancelled at
// random.
func TestStormConservesUnits(t *testing.T) {
	s := private(t, 3)
	stop := time.Now().Add(time.Second)
	var wg sync.WaitGroup
	var ops atomic.Int64
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%4)*200*time.Microsecond)
				if s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}) == nil {
					ops.Add(1)
					require.NoError(t, s.Do(context.Background(), sysvsem.Op{Num: 0, Delta: 1}))
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d takes", ops.Load())
	assert.Equal(t, []int{3}, values(t, s))
	assert.Greater(t, ops.Load(), int64(100))
}

func TestIpcmkSetUsedFromGo(t *testing.T) {
	out, err := exec.Command("ipcmk", "-S", "2", "-p", "0600").CombinedOutput()
	if err != nil {
		t.Skipf("ipcmk (util-linux) not usable: %v %s", err, out)
	}
	f := strings.Fields(string(out))
	sid, err := strconv.Atoi(f[len(f)-1])
	require.NoError(t, err, "%s", out)
	defer exec.Command("ipcrm", "-s", strconv.Itoa(sid)).Run()
	s, err := sysvsem.OpenID(sid)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 2, s.Len())
	require.NoError(t, s.Do(context.Background(), sysvsem.Op{Num: 1, Delta: 3}))
	out, err = exec.Command("ipcs", "-s", "-i", strconv.Itoa(sid)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "nsems = 2")
	assert.Regexp(t, `(?m)^1\s+3\s`, string(out), "ipcs sees the value Go set")
}

func TestDroppedHandleIsCleanedUp(t *testing.T) {
	s := private(t, 0)
	sid := s.ID()
	before := runtime.NumGoroutine()
	func() {
		h, err := sysvsem.OpenID(sid)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(5 * time.Millisecond); cancel() }()
		require.ErrorIs(t, h.Do(ctx, sysvsem.Op{Num: 0, Delta: -1}), context.Canceled)
	}()
	assert.True(t, testutil.Eventually(5*time.Second, func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= before
	}), "the dropped handle's canceller goroutine is still there")
}
