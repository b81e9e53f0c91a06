//go:build linux && cgo

package pthread_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

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

// The test binary doubles as a Go peer process: with POSIXIPC_PTHREAD_HELPER
// set it runs that helper instead of the tests (as os/exec's tests do).
func TestMain(m *testing.M) {
	if mode := os.Getenv("POSIXIPC_PTHREAD_HELPER"); mode != "" {
		os.Exit(helper(mode, strings.Fields(os.Getenv("POSIXIPC_PTHREAD_ARGS"))))
	}
	// A waker goroutine that a test left in a corrupt condvar's glibc call
	// stays there by design (the hostile tests): it is not a leak of the
	// test's making.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/posixipc/posixipc/binding/pthread.(*waker).loop"),
		goleak.IgnoreAnyFunction("github.com/posixipc/posixipc/binding/pthread.(*Cond).finishLater"))
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
	case "pingpong":
		side, _ := strconv.ParseUint(args[3], 10, 64)
		fmt.Println("ready")
		t0 := time.Now()
		for i := 0; i < n; i++ {
			lock()
			for *turn%2 != side {
				if err := c.Wait(ctx, m); err != nil {
					return fail(err)
				}
			}
			*turn++
			c.Signal()
			m.Unlock()
		}
		fmt.Println("ns", time.Since(t0).Nanoseconds())
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

// proc is a running peer process (C or Go) with its stdout by line.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *strings.Builder
}

func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &proc{cmd: cmd, lines: make(chan string, 100), errb: &strings.Builder{}}
	cmd.Stderr = p.errb
	require.NoError(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(p.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return p
}

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
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "POSIXIPC_PTHREAD_HELPER="+mode,
		"POSIXIPC_PTHREAD_ARGS="+strings.Join(append([]string{s.seg.Name(), "0"}, args...), " "))
	return startProc(t, c)
}

// expect waits for the next line of p's output and checks it.
func (p *proc) expect(t testing.TB, want string) {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		require.True(t, ok, "peer ended before %q; stderr: %s", want, p.errb)
		require.Equal(t, want, l, "stderr: %s", p.errb)
	case <-time.After(20 * time.Second):
		t.Fatalf("peer did not say %q; stderr: %s", want, p.errb)
	}
}

// nsLine reads an "ns T" line.
func (p *proc) ns(t testing.TB) int64 {
	t.Helper()
	for l := range p.lines {
		if v, ok := strings.CutPrefix(l, "ns "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no ns line; stderr: %s", p.errb)
	return 0
}

func (p *proc) wait(t testing.TB) {
	t.Helper()
	require.NoError(t, p.cmd.Wait(), "stderr: %s", p.errb)
}

// kill9 kills p with SIGKILL and reaps it.
func (p *proc) kill9(t testing.TB) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.cmd.Wait()
}
