//go:build linux && cgo

package pthread_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/posixipc/posixipc/internal/bench"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The main goroutine keeps the main thread for itself: Go wedges the main
// thread, rather than ending it, when a goroutine exits wired to it, and
// TestGoroutineExitHoldingLock needs the thread to end.
func init() { runtime.LockOSThread() }

// The test binary doubles as a Go peer process (testutil's one convention:
// testutil.RunHelperSwitch, testutil.HelperCommand).
func TestMain(m *testing.M) {
	bench.ServePeer() // the lab's Go peers of BenchmarkCondPingPong and BenchmarkRWLock
	testutil.RunHelperSwitch(helper)
	// A waker goroutine that a test left in a corrupt condvar's glibc call
	// stays there by design (the hostile tests): it is not a leak of the
	// test's making.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/posixipc/posixipc/binding/pthread.(*waker).loop"),
		goleak.IgnoreAnyFunction("github.com/posixipc/posixipc/binding/pthread.(*condC).finishLater"))
}

// helper runs one Go peer: args are SEG OFF [N] [SIDE], OFF the offset of a
// struct posixipc_sync (crt/posixipc_layout.h).
func helper(mode string, args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 1 }
	seg, err := shm.Open(args[0])
	if err != nil {
		return fail(err)
	}
	base, _ := strconv.Atoi(args[1])
	n := 0
	if len(args) > 2 {
		n, _ = strconv.Atoi(args[2])
	}
	m, err := pthread.MutexAt(seg, int64(base+pthread.LayoutMutex))
	if err != nil {
		return fail(err)
	}
	c, err := pthread.CondAt(seg, int64(base+pthread.LayoutCond))
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	lock := func() {
		if err := m.Lock(ctx); err != nil {
			if !isOwnerDead(err) {
				os.Exit(fail(err))
			}
			fmt.Println("owner died")
			if err := m.MarkConsistent(); err != nil {
				os.Exit(fail(err))
			}
		}
	}
	turn := u64(seg, base+pthread.LayoutTurn)
	counter := u64(seg, base+pthread.LayoutCounter)
	switch mode {
	case "hold":
		lock()
		fmt.Println("locked")
		select {}
	case "lockwait": // wait for the lock the test holds (TestTruncatedUnderLockWait)
		fmt.Println("waiting")
		lock()
		fmt.Println("locked")
	case "condwait":
		lock()
		fmt.Println("waiting")
		for atomic.LoadUint64(turn) != 99 {
			if err := c.Wait(ctx, m); err != nil {
				return fail(err)
			}
		}
		m.Unlock()
		fmt.Println("woken")
	case "count":
		for i := 0; i < n; i++ {
			lock()
			*counter++
			m.Unlock()
		}
		fmt.Println("done")
	default:
		return fail(fmt.Errorf("unknown helper %q", mode))
	}
	return 0
}

func isOwnerDead(err error) bool { return err != nil && errorsIs(err, pthread.ErrOwnerDead) }

// u64 returns the uint64 at off in seg.
func u64(seg *shm.Segment, off int) *uint64 {
	return (*uint64)(unsafe.Pointer(&seg.Bytes()[off]))
}

// newSeg creates a segment of size bytes, closed and unlinked at cleanup.
func newSeg(t testing.TB, size int) *shm.Segment {
	t.Helper()
	name := testutil.Name("pt")
	seg, err := shm.Create(name, size, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := seg.Close(); err != nil {
			t.Errorf("closing the segment: %v", err)
		}
		shm.Unlink(name)
	})
	return seg
}

// sync is one struct posixipc_sync at offset 0 of a fresh segment, with Go
// handles to its mutex and condvar, initialised by Go.
type syncSeg struct {
	seg *shm.Segment
	m   *pthread.Mutex
	c   *pthread.Cond
}

func newSync(t testing.TB) *syncSeg {
	t.Helper()
	s := &syncSeg{seg: newSeg(t, 4096)}
	var err error
	s.m, err = pthread.NewMutex(s.seg, pthread.LayoutMutex, nil)
	require.NoError(t, err)
	t.Cleanup(func() { s.m.Close() })
	s.c, err = pthread.NewCond(s.seg, pthread.LayoutCond)
	require.NoError(t, err)
	t.Cleanup(func() { s.c.Close() })
	return s
}

func (s *syncSeg) u64(off int) *uint64 { return u64(s.seg, off) }

// proc is a running peer process (C or Go): testutil's Proc.
type proc = testutil.Proc

func startProc(t testing.TB, cmd *exec.Cmd) *proc { return testutil.Start(t, cmd) }

// startC runs crt/pthreadpeer CMD SEG 0 ARGS...
func startC(t testing.TB, s *syncSeg, cmd string, args ...string) *proc {
	t.Helper()
	c, err := peer.Command("pthreadpeer", append([]string{cmd, s.seg.Name(), "0"}, args...)...)
	require.NoError(t, err)
	return startProc(t, c)
}

// startGo runs this test binary as the Go helper MODE on s.
func startGo(t testing.TB, s *syncSeg, mode string, args ...string) *proc {
	t.Helper()
	return testutil.StartGo(t, mode, append([]string{s.seg.Name(), "0"}, args...)...)
}

// nsLine reads p's "ns T" line.
func nsLine(t testing.TB, p *proc) int64 {
	t.Helper()
	for l := range p.Lines {
		if v, ok := strings.CutPrefix(l, "ns "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no ns line; stderr: %s", p.Err)
	return 0
}
