//go:build linux && cgo

package sem_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a Go peer process (testutil's one
	// convention: testutil.RunHelperSwitch, testutil.HelperEnv).
	bench.ServePeer() // the lab's Go peers of BenchmarkPingPong
	testutil.RunHelperSwitch(func(name string, args []string) int { return runHelper(append([]string{name}, args...)) })
	goleak.VerifyTestMain(m)
}

// runHelper is the Go peer process:
//
//	open NAME   opens the named semaphore; prints "ok" or the errno name
func runHelper(args []string) int {
	switch args[0] {
	case "open":
		s, err := sem.Open(args[1], 0, 0, 0)
		if err != nil {
			var e syscall.Errno
			if errors.As(err, &e) {
				fmt.Println(errnoName(e))
			} else {
				fmt.Println(err)
			}
			return 1
		}
		s.Close()
		fmt.Println("ok")
		return 0

	}
	return 2
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.EACCES:
		return "EACCES"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EEXIST:
		return "EEXIST"
	}
	return fmt.Sprintf("errno %d", int(e))
}

// newNamed creates a fresh named semaphore with value v, removed at cleanup.
func newNamed(t testing.TB, v int) (*sem.Sem, string) {
	t.Helper()
	n := testutil.Name("sem")
	s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, v)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Close()
		sem.Unlink(n)
	})
	return s, n
}

// newSegment creates a fresh shared-memory segment, removed at cleanup
// (after the semaphores in it are closed: cleanups run last-in first-out).
func newSegment(t testing.TB, size int) (*shm.Segment, string) {
	t.Helper()
	n := testutil.Name("semseg")
	seg, err := shm.Create(n, size, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, seg.Close())
		shm.Unlink(n)
	})
	return seg, n
}

// runPeer runs the C peer sempeer with args and returns its trimmed stdout.
func runPeer(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd, err := peer.Command("sempeer", args...)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		t.Logf("sempeer %v: %v: %s", args, err, errb.String())
	}
	return strings.TrimSpace(out.String()), err
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestNamedPostedByCWaitedByGo(t *testing.T) {
	testutil.CheckFDs(t)
	s, n := newNamed(t, 0)
	ctx := ctxTimeout(t, 10*time.Second)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 5; i++ {
			if err := s.Wait(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	out, err := runPeer(t, "post", n, "5", "1000")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.NoError(t, <-done)
	err = s.TryWait()
	require.ErrorIs(t, err, syscall.EAGAIN)
	v, err := s.Value()
	require.NoError(t, err)
	require.Equal(t, 0, v)
}

func TestNamedPostedByGoWaitedByC(t *testing.T) {
	s, n := newNamed(t, 0)
	for i := 0; i < 3; i++ {
		require.NoError(t, s.Post())
	}
	out, err := runPeer(t, "wait", n, "3", "5000")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	v, err := s.Value()
	require.NoError(t, err)
	require.Equal(t, 0, v)
	// And the C peer sees what Go posts while it waits.
	cmd, err := peer.Command("sempeer", "wait", n, "1", "5000")
	require.NoError(t, err)
	var out2 bytes.Buffer
	cmd.Stdout = &out2
	require.NoError(t, cmd.Start())
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Post())
	require.NoError(t, cmd.Wait())
	require.Equal(t, "ok\n", out2.String())
	// Values set in C are seen by Go and the reverse.
	require.NoError(t, s.Post())
	out, err = runPeer(t, "value", n)
	require.NoError(t, err)
	require.Equal(t, "1", out)
}

func TestUnnamedInitialisedByC(t *testing.T) {
	seg, sn := newSegment(t, 4096)
	out, err := runPeer(t, "init", sn, "64", "2")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	s, err := sem.At(seg, 64)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	v, err := s.Value()
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.NoError(t, s.TryWait())
	require.NoError(t, s.Wait(ctxTimeout(t, time.Second)))
	require.ErrorIs(t, s.TryWait(), syscall.EAGAIN)

	// The segment cannot be unmapped under the semaphore.
	err = seg.Close()
	require.ErrorIs(t, err, syscall.EBUSY)

	// C posts while Go waits.
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctxTimeout(t, 10*time.Second)) }()
	out, err = runPeer(t, "upost", sn, "64", "1")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.NoError(t, <-done)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	require.ErrorIs(t, s.Post(), os.ErrClosed)
}

func TestUnnamedInitialisedByGoUsedByC(t *testing.T) {
	seg, sn := newSegment(t, 4096)
	s, err := sem.Init(seg, 128, 0)
	require.NoError(t, err)
	cmd, err := peer.Command("sempeer", "uwait", sn, "128", "2")
	require.NoError(t, err)
	var out bytes.Buffer
	cmd.Stdout = &out
	require.NoError(t, cmd.Start())
	require.NoError(t, s.Post())
	require.NoError(t, s.Post())
	require.NoError(t, cmd.Wait())
	require.Equal(t, "ok\n", out.String())
	require.NoError(t, s.Destroy())
	require.ErrorIs(t, s.Destroy(), os.ErrClosed)
	require.NoError(t, seg.Pin(), "destroy unpinned the segment")
	seg.Unpin()
}

func TestErrors(t *testing.T) {
	s, n := newNamed(t, 0)
	_ = s

	_, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
	require.ErrorIs(t, err, syscall.EEXIST)
	require.ErrorIs(t, err, fs.ErrExist)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, n, pe.Path)

	_, err = sem.Open(testutil.Name("none"), 0, 0, 0)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, sem.Unlink(testutil.Name("none")), fs.ErrNotExist)

	for _, bad := range []string{"", "/", "a/b", "/a/b", "//", "x\x00y", ".", "/.."} {
		_, err = sem.Open(bad, os.O_CREATE, 0o600, 0)
		require.ErrorIs(t, err, syscall.EINVAL, "name %q", bad)
	}
	_, err = sem.Open("/"+strings.Repeat("n", 252), os.O_CREATE, 0o600, 0)
	require.ErrorIs(t, err, syscall.ENAMETOOLONG)

	for _, v := range []int{-1, sem.ValueMax + 1} {
		_, err = sem.Open(testutil.Name("v"), os.O_CREATE|os.O_EXCL, 0o600, v)
		require.ErrorIs(t, err, syscall.EINVAL, "value %d", v)
	}
	s2, err := sem.Open(n, os.O_RDWR, 0, 0) // an access mode, as os.OpenFile users write, means nothing
	require.NoError(t, err)
	require.NoError(t, s2.Close())
	_, err = sem.Open(n, os.O_APPEND, 0, 0)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = sem.Open(n, os.O_EXCL, 0, 0)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = sem.Open(n, os.O_CREATE, os.ModeSetuid|0o600, 0)
	require.ErrorIs(t, err, syscall.EINVAL)
	require.ErrorIs(t, s.Destroy(), syscall.EINVAL, "named semaphores are unlinked, not destroyed")

	seg, _ := newSegment(t, 4096)
	for _, off := range []int{-8, 4, 7, 4096 - sem.Size + 8, 4096, 1 << 40} {
		_, err = sem.At(seg, int64(off))
		require.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
		_, err = sem.Init(seg, int64(off), 0)
		require.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
	}
	_, err = sem.Init(seg, 0, -1)
	require.ErrorIs(t, err, syscall.EINVAL)
	_, err = sem.At(nil, 0)
	require.ErrorIs(t, err, syscall.EINVAL)
	require.NoError(t, seg.Pin(), "failed placements left no pin")
	seg.Unpin()

	// EOVERFLOW on post at SEM_VALUE_MAX.
	u, err := sem.Init(seg, int64(4096-sem.Size), sem.ValueMax)
	require.NoError(t, err)
	err = u.Post()
	require.ErrorIs(t, err, syscall.EOVERFLOW)
	require.Contains(t, err.Error(), "SEM_VALUE_MAX")
	v, err := u.Value()
	require.NoError(t, err)
	require.Equal(t, sem.ValueMax, v)
	require.NoError(t, u.Destroy())
}

func TestEACCES(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the other side as uid 65534")
	}
	_, n := newNamed(t, 0)
	// A C peer without permission.
	cmd, err := peer.Command("sempeer", "open", n)
	require.NoError(t, err)
	out, err := testutil.Unprivileged(t, cmd).Output()
	require.Equal(t, "EACCES", strings.TrimSpace(string(out)), "%v", err)
	// A Go process without permission.
	cmd = exec.Command(testutil.ExecutableCopy(t))
	cmd.Env = testutil.HelperEnv("open", n)
	out, _ = testutil.Unprivileged(t, cmd).Output()
	require.Equal(t, "EACCES", strings.TrimSpace(string(out)))
	// Readable by all: both open it.
	require.NoError(t, os.Chmod("/dev/shm/sem."+n[1:], 0o666))
	cmd, _ = peer.Command("sempeer", "open", n)
	out, _ = testutil.Unprivileged(t, cmd).Output()
	require.Equal(t, "ok", strings.TrimSpace(string(out)))
}

func TestWaitDeadline(t *testing.T) {
	s, _ := newNamed(t, 0)
	start := time.Now()
	err := s.Wait(ctxTimeout(t, 50*time.Millisecond))
	el := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	require.GreaterOrEqual(t, el, 50*time.Millisecond)
	require.Less(t, el, 5*time.Second)

	// A context already done takes nothing.
	require.NoError(t, s.Post())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Wait(ctx), context.Canceled)
	v, _ := s.Value()
	require.Equal(t, 1, v)
}

func TestCancelReachesWaiterInC(t *testing.T) {
	s, _ := newNamed(t, 0)
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Wait(ctx) }()
		time.Sleep(10 * time.Millisecond) // let it block in sem_clockwait
		start := time.Now()
		cancel()
		err := <-done
		lat := time.Since(start)
		require.ErrorIs(t, err, context.Canceled)
		t.Logf("cancellation latency %v", lat) // measured by BenchmarkCancelLatency
		require.Less(t, lat, time.Second)
	}
	v, _ := s.Value()
	require.Equal(t, 0, v)
}

// TestSignalsDoNotBreakWait floods the process with SIGURG (what the
// cancellation uses) while a wait with a deadline is in C: EINTR is retried,
// the wait ends at its deadline, and a later post is taken.
func TestSignalsDoNotBreakWait(t *testing.T) {
	s, _ := newNamed(t, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			syscall.Kill(os.Getpid(), syscall.SIGURG)
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	start := time.Now()
	err := s.Wait(ctxTimeout(t, 100*time.Millisecond))
	require.ErrorIs(t, err, syscall.ETIMEDOUT)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	time.AfterFunc(30*time.Millisecond, func() { s.Post() })
	require.NoError(t, s.Wait(ctxTimeout(t, 10*time.Second)))
}

func TestCloseWhileWaiting(t *testing.T) {
	testutil.CheckFDs(t)
	n := testutil.Name("close")
	s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
	require.NoError(t, err)
	defer sem.Unlink(n)
	const waiters = 20
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		ctx := context.Background()
		if i%2 == 1 {
			ctx = ctxTimeout(t, time.Minute)
		}
		go func() { errs <- s.Wait(ctx) }()
	}
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, s.Close())
	for i := 0; i < waiters; i++ {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, os.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("a waiter did not return after Close")
		}
	}
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Wait(context.Background()), os.ErrClosed)
	require.ErrorIs(t, s.TryWait(), os.ErrClosed)
	_, err = s.Value()
	require.ErrorIs(t, err, os.ErrClosed)
}

// TestCancellationExact: goroutines on two handles wait with contexts that
// are cancelled or time out at random while a C peer posts; every unit posted
// is either taken by exactly one successful Wait or still in the semaphore.
func TestCancellationExact(t *testing.T) {
	s1, n := newNamed(t, 0)
	s2, err := sem.Open(n, 0, 0, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s2.Close() })
	const posts = 3000
	var taken, cancelled atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 12; g++ {
		s := s1
		if g%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-stop:
					return
				default:
				}
				var ctx context.Context
				var cancel context.CancelFunc
				d := time.Duration(r.Intn(2000)) * time.Microsecond // both sides of the unarmed phase
				if r.Intn(2) == 0 {
					ctx, cancel = context.WithTimeout(context.Background(), d)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(d, cancel)
				}
				err := s.Wait(ctx)
				cancel()
				switch {
				case err == nil:
					taken.Add(1)
				case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
					cancelled.Add(1)
				default:
					t.Errorf("Wait: %v", err)
					return
				}
			}
		}(int64(g))
	}
	out, err := runPeer(t, "post", n, fmt.Sprint(posts), "20")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	left, err := s1.Value()
	require.NoError(t, err)
	t.Logf("posted %d: taken %d, left %d, cancelled waits %d", posts, taken.Load(), left, cancelled.Load())
	require.Equal(t, int64(posts), taken.Load()+int64(left), "units lost or doubled")
	require.Greater(t, cancelled.Load(), int64(0))
}

// TestThreadBound: 1,000 goroutines blocked on one semaphore cost a bounded
// number of OS threads, and 1,000 posts from a C peer release them all.
func TestThreadBound(t *testing.T) {
	s, n := newNamed(t, 0)
	const waiters = 1000
	before := testutil.Threads()
	var started, ok atomic.Int64
	errs := make(chan error, waiters)
	ctx := ctxTimeout(t, time.Minute) // cancellable: the canceller is in use too
	var wg sync.WaitGroup
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Add(1)
			if err := s.Wait(ctx); err != nil {
				errs <- err
				return
			}
			ok.Add(1)
		}()
	}
	require.True(t, testutil.Eventually(5*time.Second, func() bool { return started.Load() == waiters }))
	time.Sleep(100 * time.Millisecond)
	during := testutil.Threads()
	t.Logf("threads: %d before, %d with %d goroutines blocked", before, during, waiters)
	require.LessOrEqual(t, during-before, 30)

	out, err := runPeer(t, "post", n, fmt.Sprint(waiters))
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d waiters released", ok.Load(), waiters)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Equal(t, int64(waiters), ok.Load())
	v, err := s.Value()
	require.NoError(t, err)
	require.Equal(t, 0, v, "no unit left over: none doubled")
}

func TestZeroAllocs(t *testing.T) {
	s, _ := newNamed(t, 0)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		s.Post()
		s.TryWait()
		s.TryWait() // EAGAIN
		s.Post()
		s.Wait(ctx)
	})
	require.Zero(t, allocs)
}

// TestZeroAllocsBlocking: a Wait that blocks in C (a round trip with a C
// peer), with a cancellable context, allocates nothing either.
func TestZeroAllocsBlocking(t *testing.T) {
	a, na := newNamed(t, 0)
	b, nb := newNamed(t, 0)
	cmd, err := peer.Command("sempeer", "pong", na, nb)
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make([]byte, 6)
	_, err = io.ReadFull(out, line)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var failed atomic.Bool
	allocs := testing.AllocsPerRun(200, func() {
		if a.Post() != nil || b.Wait(ctx) != nil {
			failed.Store(true)
		}
	})
	require.False(t, failed.Load())
	require.Zero(t, allocs)
}

// TestCancelRacingPostWithCWaiter: a Go waiter is cancelled just as a unit
// is posted, while a C waiter sleeps on the same semaphore. Whichever way
// each race goes, no unit is lost or doubled and no wake-up is lost: the
// unit goes to the Go waiter (its Wait succeeds) or to the C waiter, which
// must take it promptly (a wake-up the cancelled wait took is passed on).
func TestCancelRacingPostWithCWaiter(t *testing.T) {
	s, n := newNamed(t, 0)
	const rounds = 200
	c, err := peer.Command("sempeer", "wait", n, fmt.Sprint(rounds), "5000")
	require.NoError(t, err)
	var out bytes.Buffer
	c.Stdout = &out
	require.NoError(t, c.Start())
	goTook := 0
	for i := 0; i < rounds; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Wait(ctx) }()
		time.Sleep(time.Duration(100+i%7*50) * time.Microsecond)
		go cancel()
		require.NoError(t, s.Post())
		if err := <-done; err == nil {
			goTook++
			require.NoError(t, s.Post()) // the C waiter's unit
		} else {
			require.ErrorIs(t, err, context.Canceled)
		}
		cancel()
		// The C waiter takes its unit promptly, whatever the race did.
		ok := testutil.Eventually(2*time.Second, func() bool {
			v, err := s.Value()
			return err == nil && v == 0
		})
		require.True(t, ok, "round %d: the unit stays posted while the C waiter sleeps", i)
	}
	require.NoError(t, c.Wait())
	assert.Equal(t, "ok", strings.TrimSpace(out.String()))
	t.Logf("%d rounds: the Go waiter took %d units, the C waiter %d", rounds, goTook, rounds)
}
