//go:build linux && cgo

package flock_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/flock"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func lockPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "lockfile")
}

func open(t testing.TB, path string) *flock.File {
	t.Helper()
	f, err := flock.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// try runs lockpeer once (tryflock/tryfcntl) and returns its output line and
// whether it got the lock.
func try(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	c, err := peer.Command("lockpeer", args...)
	require.NoError(t, err)
	out, err := c.Output()
	line := strings.TrimSpace(string(out))
	if err == nil {
		return line, true
	}
	ee, ok := err.(*exec.ExitError)
	require.True(t, ok && ee.ExitCode() == 3, "lockpeer %v: %v %s", args, err, ee)
	return line, false
}

// holder is a C peer holding a lock until release is called.
type holder struct {
	pid     int
	release func()
}

func hold(t testing.TB, args ...string) holder {
	t.Helper()
	c, err := peer.Command("lockpeer", args...)
	require.NoError(t, err)
	in, err := c.StdinPipe()
	require.NoError(t, err)
	out, err := c.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.Start())
	var once sync.Once
	release := func() {
		once.Do(func() {
			in.Close()
			c.Wait()
		})
	}
	t.Cleanup(func() { c.Process.Kill(); release() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "lockpeer %v", args)
	var pid int
	_, err = fmt.Sscanf(line, "locked %d", &pid)
	require.NoError(t, err)
	return holder{pid: pid, release: release}
}

func TestFlockVsC(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	f := open(t, p)
	require.NoError(t, f.Lock(context.Background(), flock.Exclusive))
	_, ok := try(t, "tryflock", p, "ex")
	assert.False(t, ok, "C cannot take an exclusive lock")
	_, ok = try(t, "tryflock", p, "sh")
	assert.False(t, ok, "nor a shared one")
	// flock and fcntl locks are separate tables on local filesystems.
	_, ok = try(t, "tryfcntl", p, "0", "0", "w")
	assert.True(t, ok)

	require.NoError(t, f.Lock(context.Background(), flock.Shared), "conversion")
	_, ok = try(t, "tryflock", p, "sh")
	assert.True(t, ok)
	_, ok = try(t, "tryflock", p, "ex")
	assert.False(t, ok)

	require.NoError(t, f.Unlock())
	_, ok = try(t, "tryflock", p, "ex")
	assert.True(t, ok)
	require.NoError(t, f.Unlock(), "unlocking an unlocked file is fine")
}

func TestFlockWaitsForC(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	h := hold(t, "flock", p, "ex")
	f := open(t, p)
	err := f.TryLock(flock.Shared)
	assert.ErrorIs(t, err, syscall.EWOULDBLOCK)
	assert.ErrorIs(t, err, syscall.EAGAIN)

	done := make(chan error)
	go func() { done <- f.Lock(context.Background(), flock.Exclusive) }()
	select {
	case err := <-done:
		t.Fatalf("Lock returned while C held the lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	require.NoError(t, <-done)
	_, ok := try(t, "tryflock", p, "sh")
	assert.False(t, ok)
}

func TestLockCancel(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	h := hold(t, "flock", p, "ex")
	hr := hold(t, "fcntl", p, "0", "10", "w")
	f := open(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := f.Lock(ctx, flock.Shared)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(30 * time.Millisecond); cancel2() }()
	start := time.Now()
	err = f.LockRange(ctx, flock.Range{Start: 5, Len: 1}, flock.Exclusive)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)

	// Nothing was taken: after the holders go, C locks freely.
	h.release()
	hr.release()
	_, ok := try(t, "tryflock", p, "ex")
	assert.True(t, ok)
	_, ok = try(t, "tryfcntl", p, "0", "10", "w")
	assert.True(t, ok)
}

func TestOFDVsFcntl(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	f := open(t, p)
	ctx := context.Background()
	require.NoError(t, f.LockRange(ctx, flock.Range{Start: 0, Len: 10}, flock.Exclusive))
	line, ok := try(t, "tryfcntl", p, "5", "10", "w")
	assert.False(t, ok)
	assert.Equal(t, "busy -1", line, "F_GETLK reports pid -1 for an OFD lock")
	_, ok = try(t, "tryfcntl", p, "5", "10", "r")
	assert.False(t, ok)
	_, ok = try(t, "tryfcntl", p, "10", "10", "w")
	assert.True(t, ok, "bytes 10.. are free")
	_, ok = try(t, "tryflock", p, "ex")
	assert.True(t, ok, "flock is a separate table")

	require.NoError(t, f.LockRange(ctx, flock.Range{Start: 0, Len: 10}, flock.Shared))
	_, ok = try(t, "tryfcntl", p, "0", "10", "r")
	assert.True(t, ok)
	_, ok = try(t, "tryfcntl", p, "0", "10", "w")
	assert.False(t, ok)

	require.NoError(t, f.UnlockRange(flock.Range{Start: 0, Len: 5}))
	_, ok = try(t, "tryfcntl", p, "0", "5", "w")
	assert.True(t, ok, "unlocked part")
	_, ok = try(t, "tryfcntl", p, "5", "1", "w")
	assert.False(t, ok, "the rest stays locked")
}

func TestOFDWaitsForFcntlAndHolder(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	h := hold(t, "fcntl", p, "0", "100", "w")
	f := open(t, p)

	who, found, err := f.Holder(flock.Range{Start: 10, Len: 10}, flock.Shared)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, flock.Holder{Mode: flock.Exclusive, Range: flock.Range{Start: 0, Len: 100}, PID: h.pid}, who)
	_, found, err = f.Holder(flock.Range{Start: 100, Len: 0}, flock.Exclusive)
	require.NoError(t, err)
	assert.False(t, found)

	err = f.TryLockRange(flock.Range{Start: 50, Len: 1}, flock.Shared)
	assert.ErrorIs(t, err, syscall.EAGAIN)

	done := make(chan error)
	go func() { done <- f.LockRange(context.Background(), flock.Range{Start: 50, Len: 1}, flock.Exclusive) }()
	select {
	case err := <-done:
		t.Fatalf("LockRange returned while C held the lock: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	require.NoError(t, <-done)

	// Another File of the same path (same process) sees it, with pid -1.
	g := open(t, p)
	who, found, err = g.Holder(flock.Whole, flock.Shared)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, flock.Holder{Mode: flock.Exclusive, Range: flock.Range{Start: 50, Len: 1}, PID: -1}, who)
	_, found, err = f.Holder(flock.Whole, flock.Exclusive)
	require.NoError(t, err)
	assert.False(t, found, "a File's own locks never conflict with it")
}

// TestClassicLockTrap shows why the package uses OFD locks: closing any
// descriptor of the file drops a classic fcntl lock, not an OFD lock.
func TestClassicLockTrap(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	raw, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	defer raw.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	require.NoError(t, unix.FcntlFlock(raw.Fd(), unix.F_SETLK, &lk))
	_, ok := try(t, "tryfcntl", p, "0", "0", "w")
	require.False(t, ok)
	_, err = os.ReadFile(p) // opens and closes the same file
	require.NoError(t, err)
	_, ok = try(t, "tryfcntl", p, "0", "0", "w")
	assert.True(t, ok, "the classic lock was silently dropped")

	f := open(t, p)
	require.NoError(t, f.LockRange(context.Background(), flock.Whole, flock.Exclusive))
	_, err = os.ReadFile(p)
	require.NoError(t, err)
	_, ok = try(t, "tryfcntl", p, "0", "0", "w")
	assert.False(t, ok, "the OFD lock survives")
}

func TestTwoFilesInOneProcessConflict(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	a, b := open(t, p), open(t, p)
	require.NoError(t, a.TryLock(flock.Exclusive))
	assert.ErrorIs(t, b.TryLock(flock.Shared), syscall.EWOULDBLOCK)
	require.NoError(t, a.TryLockRange(flock.Range{Start: 0, Len: 1}, flock.Exclusive))
	assert.ErrorIs(t, b.TryLockRange(flock.Range{Start: 0, Len: 1}, flock.Shared), syscall.EAGAIN)
	require.NoError(t, a.Close())
	require.NoError(t, b.TryLock(flock.Exclusive), "Close released a's locks")
	require.NoError(t, b.TryLockRange(flock.Range{Start: 0, Len: 1}, flock.Exclusive))
	require.NoError(t, a.Close(), "Close is idempotent")
}

// TestManyWaitersAndClose: hundreds of goroutines waiting on one File cost
// no threads; Close wakes them all with os.ErrClosed.
func TestManyWaitersAndClose(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	holderFile := open(t, p)
	require.NoError(t, holderFile.TryLock(flock.Exclusive))
	require.NoError(t, holderFile.TryLockRange(flock.Whole, flock.Exclusive))
	f, err := flock.Open(p)
	require.NoError(t, err)
	const n = 300
	before := testutil.Threads()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			if i%2 == 0 {
				errs <- f.Lock(context.Background(), flock.Exclusive)
			} else {
				errs <- f.LockRange(context.Background(), flock.Range{Start: int64(i), Len: 1}, flock.Shared)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	grew := testutil.Threads() - before
	require.NoError(t, f.Close())
	for i := 0; i < n; i++ {
		assert.ErrorIs(t, <-errs, os.ErrClosed)
	}
	assert.Less(t, grew, 20, "%d waiters added %d threads", n, grew)
	assert.ErrorIs(t, f.TryLock(flock.Exclusive), os.ErrClosed)
}

// A cancelled wait (the waiter was in the kernel: its descriptor was swapped
// for the O_PATH sentinel) leaves the File fully usable: the next wait blocks
// again and gets the lock, for flock and for OFD locks.
func TestWaitAgainAfterCancel(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	other := open(t, p)
	f := open(t, p)
	r := flock.Range{Start: 3, Len: 2}
	for i := 0; i < 3; i++ {
		require.NoError(t, other.TryLock(flock.Exclusive))
		require.NoError(t, other.TryLockRange(r, flock.Exclusive))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		assert.ErrorIs(t, f.Lock(ctx, flock.Exclusive), context.DeadlineExceeded)
		assert.ErrorIs(t, f.LockRange(ctx, r, flock.Exclusive), context.DeadlineExceeded)
		cancel()

		done := make(chan error, 2)
		go func() { done <- f.Lock(context.Background(), flock.Exclusive) }()
		go func() { done <- f.LockRange(context.Background(), r, flock.Exclusive) }()
		time.Sleep(20 * time.Millisecond) // let them block
		require.NoError(t, other.Unlock())
		require.NoError(t, other.UnlockRange(r))
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		assert.ErrorIs(t, other.TryLock(flock.Shared), syscall.EWOULDBLOCK, "f holds the flock lock")
		assert.ErrorIs(t, other.TryLockRange(r, flock.Shared), syscall.EAGAIN, "f holds the range")
		require.NoError(t, f.Unlock())
		require.NoError(t, f.UnlockRange(r))
	}
}

// Cancellations racing with grants: each Lock either returns nil and holds
// the lock, or fails with the context's error and holds nothing. A C peer
// takes and releases the lock meanwhile.
func TestCancelRacesWithGrant(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	f := open(t, p)
	probe := open(t, p)
	for i := 0; i < 60; i++ {
		h := hold(t, "flock", p, "ex")
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%6)*time.Millisecond)
		go func() {
			time.Sleep(time.Duration(i%5) * time.Millisecond)
			h.release()
		}()
		err := f.Lock(ctx, flock.Exclusive)
		cancel()
		if err == nil {
			assert.ErrorIs(t, probe.TryLock(flock.Exclusive), syscall.EWOULDBLOCK, "round %d: Lock returned nil without the lock", i)
			require.NoError(t, f.Unlock())
		} else {
			require.ErrorIs(t, err, context.DeadlineExceeded, "round %d", i)
		}
		h.release()
		require.NoError(t, probe.TryLock(flock.Exclusive), "round %d: the lock is left held", i)
		require.NoError(t, probe.Unlock())
	}
}

// Close reaches a waiter blocked in the kernel promptly, and a File with
// waiters holds at most one thread for them.
func TestCloseWakesKernelWaiter(t *testing.T) {
	testutil.CheckFDs(t)
	p := lockPath(t)
	h := hold(t, "fcntl", p, "0", "0", "w")
	f, err := flock.Open(p)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- f.LockRange(context.Background(), flock.Whole, flock.Shared) }()
	time.Sleep(30 * time.Millisecond)
	start := time.Now()
	require.NoError(t, f.Close())
	select {
	case err := <-done:
		assert.ErrorIs(t, err, os.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake the waiter in the kernel")
	}
	assert.Less(t, time.Since(start), time.Second)
	h.release()
}

func TestBadArguments(t *testing.T) {
	f := open(t, lockPath(t))
	assert.ErrorIs(t, f.TryLock(flock.Mode(7)), syscall.EINVAL)
	assert.ErrorIs(t, f.TryLockRange(flock.Range{Start: -1, Len: 1}, flock.Shared), syscall.EINVAL)
	assert.ErrorIs(t, f.TryLockRange(flock.Range{Start: 0, Len: -1}, flock.Shared), syscall.EINVAL)
	assert.ErrorIs(t, f.LockRange(context.Background(), flock.Range{Start: 1 << 62, Len: 1<<62 + 1}, flock.Shared), syscall.EINVAL)
	_, _, err := f.Holder(flock.Whole, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)

	ro, err := flock.OpenFile(f.Name(), os.O_RDONLY, 0)
	require.NoError(t, err)
	defer ro.Close()
	assert.ErrorIs(t, ro.TryLockRange(flock.Whole, flock.Exclusive), syscall.EBADF, "a write lock needs write access")
	assert.NoError(t, ro.TryLock(flock.Exclusive), "flock needs no access mode")
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		in   string
		want flock.Range
		ok   bool
	}{
		{"0:0", flock.Range{0, 0}, true},
		{"10:20", flock.Range{10, 20}, true},
		{"007:1", flock.Range{7, 1}, true},
		{"9223372036854775807:1", flock.Range{1<<63 - 1, 1}, true},
		{"9223372036854775807:2", flock.Range{}, false},
		{"1:9223372036854775807", flock.Range{1, 1<<63 - 1}, true},
		{"9223372036854775808:0", flock.Range{}, false},
		{"", flock.Range{}, false},
		{"5", flock.Range{}, false},
		{":5", flock.Range{}, false},
		{"5:", flock.Range{}, false},
		{"-1:5", flock.Range{}, false},
		{"+1:5", flock.Range{}, false},
		{"1:-5", flock.Range{}, false},
		{"1:2:3", flock.Range{}, false},
		{" 1:2", flock.Range{}, false},
		{"0x10:2", flock.Range{}, false},
	} {
		r, err := flock.ParseRange(c.in)
		if c.ok {
			if assert.NoError(t, err, c.in) {
				assert.Equal(t, c.want, r, c.in)
			}
		} else {
			assert.ErrorIs(t, err, syscall.EINVAL, c.in)
		}
	}
}

// FuzzParseRange: ParseRange never panics; what it accepts formats back to
// an equivalent string and the kernel accepts as a lock range; what it
// rejects wraps EINVAL.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"0:0", "10:20", "9223372036854775807:1", "1:9223372036854775807", "-1:1", "1:", "a:b", "1:2:3", "", "00:00"} {
		f.Add(s)
	}
	path := filepath.Join(f.TempDir(), "fuzzlock")
	lf, err := flock.Open(path)
	require.NoError(f, err)
	f.Cleanup(func() { lf.Close() })
	f.Fuzz(func(t *testing.T, s string) {
		r, err := flock.ParseRange(s)
		if err != nil {
			assert.ErrorIs(t, err, syscall.EINVAL)
			return
		}
		r2, err := flock.ParseRange(r.String())
		require.NoError(t, err)
		require.Equal(t, r, r2)
		_, _, err = lf.Holder(r, flock.Exclusive)
		require.NoError(t, err, "the kernel refused range %v", r)
	})
}

// BenchmarkLockUnlock: one uncontended lock/unlock round trip, Go and C
// (crt/lockpeer.c bench) in the same run. Metrics: C's ns per round trip and
// the ratio Go/C of the times (lower is better; 1 = as fast as C).
func BenchmarkLockUnlock(b *testing.B) {
	for _, kind := range []string{"flock", "ofd"} {
		b.Run(kind, func(b *testing.B) {
			p := lockPath(b)
			f := open(b, p)
			r := flock.Range{Start: 0, Len: 1}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if kind == "flock" {
					if err := f.TryLock(flock.Exclusive); err != nil {
						b.Fatal(err)
					}
					if err := f.Unlock(); err != nil {
						b.Fatal(err)
					}
				} else {
					if err := f.TryLockRange(r, flock.Exclusive); err != nil {
						b.Fatal(err)
					}
					if err := f.UnlockRange(r); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			goNs := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			c, err := peer.Command("lockpeer", "bench", kind, p+".c", strconv.Itoa(max(b.N, 100000)))
			require.NoError(b, err)
			out, err := c.Output()
			require.NoError(b, err)
			cNs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			require.NoError(b, err)
			b.ReportMetric(cNs, "C-ns/op")
			b.ReportMetric(goNs/cNs, "Go/C-time")
		})
	}
}

// BenchmarkLockCtx: the waiting calls, uncontended, with a cancellable
// context (the path a service takes): Lock/Unlock and LockRange/UnlockRange.
// Goal: 0 allocs/op.
func BenchmarkLockCtx(b *testing.B) {
	f := open(b, lockPath(b))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := flock.Range{Start: 0, Len: 1}
	b.Run("flock", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := f.Lock(ctx, flock.Exclusive); err != nil {
				b.Fatal(err)
			}
			if err := f.Unlock(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ofd", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := f.LockRange(ctx, r, flock.Exclusive); err != nil {
				b.Fatal(err)
			}
			if err := f.UnlockRange(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandoffRing: lock handoff round trips with a C process on a ring
// of three flock(2) locks (crt/lockpeer.c pong; see `posixipc bench`): each
// op hands a lock to the C side, whose wait returns, and waits in Lock for
// the lock the C side then releases. Metric: ns/op is one round trip (two
// handoffs between processes); allocs/op of the waiting path.
func BenchmarkHandoffRing(b *testing.B) {
	base := filepath.Join(b.TempDir(), "ring")
	var ring [3]*flock.File
	for i := range ring {
		ring[i] = open(b, fmt.Sprintf("%s.%d", base, i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(b, ring[0].Lock(ctx, flock.Exclusive))
	require.NoError(b, ring[1].Lock(ctx, flock.Exclusive))
	c, err := peer.Command("lockpeer", "pong", "flock", base)
	require.NoError(b, err)
	out, err := c.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, c.Start())
	b.Cleanup(func() { c.Process.Kill(); c.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(b, err)
	require.Equal(b, "ready\n", line)
	b.ReportAllocs()
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		if err := ring[k%3].Unlock(); err != nil {
			b.Fatal(err)
		}
		if err := ring[(k+2)%3].Lock(ctx, flock.Exclusive); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandoff measures how long a waiting Lock takes to notice a
// release: a C process holds the lock, Go waits in LockRange, the C process
// releases after ~1ms. Metric: microseconds from the release request to the
// acquisition (includes the peer's exit).
func BenchmarkHandoff(b *testing.B) {
	p := lockPath(b)
	f := open(b, p)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		h := hold(b, "fcntl", p, "0", "1", "w")
		done := make(chan time.Time)
		go func() {
			if err := f.LockRange(context.Background(), flock.Range{Start: 0, Len: 1}, flock.Exclusive); err != nil {
				b.Error(err)
			}
			done <- time.Now()
		}()
		time.Sleep(time.Millisecond)
		start := time.Now()
		h.release() // returns after the peer exited
		total += (<-done).Sub(start)
		require.NoError(b, f.UnlockRange(flock.Range{Start: 0, Len: 1}))
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "handoff-µs")
}

// 1,000 goroutines waiting on 1,000 Files of one process cost a bounded
// number of OS threads, not one each (reliability #14), and all get the
// lock once it is released.
func TestThreadBoundAcrossFiles(t *testing.T) {
	path := lockPath(t)
	holder := open(t, path)
	require.NoError(t, holder.Lock(context.Background(), flock.Exclusive))
	base := testutil.Threads()
	const n = 1000
	files := make([]*flock.File, n)
	for i := range files {
		files[i] = open(t, path)
	}
	done := make(chan error, n)
	for _, f := range files {
		go func(f *flock.File) {
			err := f.Lock(context.Background(), flock.Exclusive)
			if err == nil {
				err = f.Unlock()
			}
			done <- err
		}(f)
	}
	time.Sleep(300 * time.Millisecond)
	th := testutil.Threads()
	t.Logf("threads: %d before, %d with %d waiting Files", base, th, n)
	assert.LessOrEqual(t, th, base+gate.MaxInKernel+testutil.RuntimeThreads())
	require.NoError(t, holder.Unlock())
	for i := 0; i < n; i++ {
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d waiters got the lock", i, n)
		}
	}
}

// A deadline too far to represent is no deadline (reliability #13).
func TestFarDeadline(t *testing.T) {
	path := lockPath(t)
	holder, waiter := open(t, path), open(t, path)
	require.NoError(t, holder.Lock(context.Background(), flock.Exclusive))
	far, cancel := context.WithDeadline(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel()
	ctx, cancel2 := context.WithCancel(far)
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	assert.ErrorIs(t, waiter.Lock(ctx, flock.Exclusive), context.Canceled)
	require.NoError(t, holder.Unlock())
	require.NoError(t, waiter.Lock(far, flock.Exclusive))
}

// A File dropped without Close is cleaned up: its descriptor and its
// waiter's two close, and so its locks are released.
func TestDroppedFileCleanedUp(t *testing.T) {
	path := lockPath(t)
	holder := open(t, path)
	require.NoError(t, holder.Lock(context.Background(), flock.Exclusive))
	before := testutil.FDs()
	for i := 0; i < 10; i++ {
		f, err := flock.Open(path)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		assert.Error(t, f.Lock(ctx, flock.Exclusive)) // the waiter's descriptors now exist
		cancel()
	}
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return testutil.FDs() <= before })
	assert.True(t, ok, "descriptors: %d before, %d after", before, testutil.FDs())
	require.NoError(t, holder.Unlock())
	// A dropped File that held a lock releases it.
	func() {
		f, err := flock.Open(path)
		require.NoError(t, err)
		require.NoError(t, f.Lock(context.Background(), flock.Exclusive))
	}()
	ok = testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return holder.TryLock(flock.Exclusive) == nil })
	assert.True(t, ok, "the dropped File's lock was released")
}
