//go:build linux && cgo

package pthread_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/peer"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

// The Go constants equal what cc says of glibc's types and of the shared
// layout header.
func TestLayoutMatchesC(t *testing.T) {
	c, err := peer.Command("pthreadpeer", "layout")
	require.NoError(t, err)
	out, err := c.Output()
	require.NoError(t, err)
	got := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		n, err := strconv.Atoi(v)
		require.NoError(t, err, l)
		got[k] = n
	}
	want := map[string]int{
		"sizeof_mutex": pthread.SizeofMutex, "alignof_mutex": pthread.AlignofMutex,
		"sizeof_cond": pthread.SizeofCond, "alignof_cond": pthread.AlignofCond,
		"sizeof_rwlock": pthread.SizeofRWMutex, "alignof_rwlock": pthread.AlignofRWMutex,
		"off_mutex": pthread.LayoutMutex, "off_cond": pthread.LayoutCond, "off_rwlock": pthread.LayoutRWLock,
		"off_counter": pthread.LayoutCounter, "off_turn": pthread.LayoutTurn,
		"off_a": pthread.LayoutA, "off_b": pthread.LayoutB, "size": pthread.LayoutSize,
	}
	assert.Equal(t, want, got)
}

func TestMutexLockUnlock(t *testing.T) {
	testutil.CheckFDs(t)
	s := newSync(t)
	m := s.m
	require.NoError(t, m.Lock(bg))
	st, err := m.State()
	require.NoError(t, err)
	assert.True(t, st.Locked)
	assert.True(t, st.Robust)
	assert.Equal(t, pthread.ErrorCheck, st.Type)
	assert.Equal(t, syscall.Gettid(), st.OwnerTID) // Lock wired us to this thread
	assert.Contains(t, st.String(), "locked by tid")

	// Relocking from the holder: EDEADLK, not a hang.
	assert.ErrorIs(t, m.Lock(bg), syscall.EDEADLK)
	assert.ErrorIs(t, m.TryLock(), syscall.EDEADLK)

	// Another goroutine: TryLock is busy, Unlock is refused.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.ErrorIs(t, m.TryLock(), syscall.EBUSY)
		err := m.Unlock()
		assert.ErrorIs(t, err, syscall.EPERM)
		var pe interface{ Unwrap() error }
		assert.True(t, errors.As(err, &pe))
	}()
	wg.Wait()
	require.NoError(t, m.Unlock())
	assert.ErrorIs(t, m.Unlock(), syscall.EPERM) // not locked any more
	st, _ = m.State()
	assert.False(t, st.Locked)
	assert.Equal(t, "unlocked (errorcheck, robust)", st.String())

	// A second handle to the same mutex sees it locked by the first.
	m2, err := pthread.MutexAt(s.seg, pthread.LayoutMutex)
	require.NoError(t, err)
	defer m2.Close()
	require.NoError(t, m.Lock(bg))
	assert.ErrorIs(t, m2.Unlock(), syscall.EPERM)
	wg.Add(1)
	go func() {
		defer wg.Done()
		assert.ErrorIs(t, m2.TryLock(), syscall.EBUSY)
	}()
	wg.Wait()
	require.NoError(t, m.Unlock())
	require.NoError(t, m2.TryLock())
	require.NoError(t, m2.Unlock())
}

func TestMutexTypes(t *testing.T) {
	seg := newSeg(t, 4096)
	r, err := pthread.NewMutex(seg, 0, &pthread.MutexOptions{Type: pthread.Recursive})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Lock(bg))
	require.NoError(t, r.Lock(bg))
	require.NoError(t, r.TryLock())
	require.NoError(t, r.Unlock())
	require.NoError(t, r.Unlock())
	st, _ := r.State()
	assert.True(t, st.Locked)
	assert.Equal(t, pthread.Recursive, st.Type)
	require.NoError(t, r.Unlock())
	assert.ErrorIs(t, r.Unlock(), syscall.EPERM)

	n, err := pthread.NewMutex(seg, 64, &pthread.MutexOptions{Type: pthread.Normal, Stalled: true})
	require.NoError(t, err)
	defer n.Close()
	require.NoError(t, n.Lock(bg))
	assert.ErrorIs(t, n.Lock(bg), syscall.EDEADLK) // the Go-side check
	done := make(chan error)
	go func() { done <- n.Unlock() }()
	assert.ErrorIs(t, <-done, syscall.EPERM)
	st, _ = n.State()
	assert.True(t, st.Locked)
	assert.False(t, st.Robust)
	assert.Equal(t, pthread.Normal, st.Type)
	require.NoError(t, n.Unlock())
	st, _ = n.State()
	assert.False(t, st.Locked)

	_, err = pthread.NewMutex(seg, 128, &pthread.MutexOptions{Type: 7})
	assert.ErrorIs(t, err, syscall.EINVAL)
}

func TestPlacementErrors(t *testing.T) {
	seg := newSeg(t, 4096)
	for _, off := range []int{-8, 3, 4096 - pthread.SizeofMutex + 8, 4096, 1 << 40} {
		_, err := pthread.NewMutex(seg, int64(off), nil)
		assert.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
		_, err = pthread.MutexAt(seg, int64(off))
		assert.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
		_, err = pthread.NewCond(seg, int64(off))
		assert.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
		_, err = pthread.NewRWMutex(seg, int64(off), nil)
		assert.ErrorIs(t, err, syscall.EINVAL, "offset %d", off)
	}
	_, err := pthread.NewMutex(nil, 0, nil)
	assert.ErrorIs(t, err, syscall.EINVAL)
	// Zeroed memory is not a process-shared object.
	_, err = pthread.MutexAt(seg, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	assert.Contains(t, err.Error(), "not an initialised process-shared mutex")
	_, err = pthread.CondAt(seg, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	_, err = pthread.RWMutexAt(seg, 0)
	assert.ErrorIs(t, err, syscall.EINVAL)
	// The last offset that fits.
	m, err := pthread.NewMutex(seg, 4096-pthread.SizeofMutex, nil)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	// Every failure above unpinned the segment.
	require.NoError(t, seg.Close())
}

// A Go goroutine and a C peer increment one counter under the mutex: the
// total is exact.
func TestMutexGoCCounter(t *testing.T) {
	s := newSync(t)
	const n = 20000
	c := startC(t, s, "count", strconv.Itoa(n))
	counter := s.u64(pthread.LayoutCounter)
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := s.m.Lock(bg); err != nil {
					t.Error(err)
					return
				}
				v := *counter
				*counter = v + 1
				if err := s.m.Unlock(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.WaitOK(t)
	require.Equal(t, uint64(3*n), *counter)
}

// Go and C take turns under the mutex and condvar.
func TestCondPingPongGoC(t *testing.T) {
	s := newSync(t)
	const n = 2000
	c := startC(t, s, "pingpong", strconv.Itoa(n), "1")
	c.Expect(t, "ready")
	turn := s.u64(pthread.LayoutTurn)
	for i := 0; i < n; i++ {
		require.NoError(t, s.m.Lock(bg))
		for *turn%2 != 0 {
			require.NoError(t, s.c.Wait(bg, s.m))
		}
		*turn++
		require.NoError(t, s.c.Signal())
		require.NoError(t, s.m.Unlock())
	}
	nsLine(t, c)
	c.WaitOK(t)
	require.Equal(t, uint64(2*n), *turn)
}

// Owner death: a C peer and a Go helper process are killed holding the
// lock; the next Lock gets it with ErrOwnerDead.
func TestOwnerDead(t *testing.T) {
	for _, kind := range []string{"C", "Go"} {
		t.Run(kind, func(t *testing.T) {
			s := newSync(t)
			var p *proc
			if kind == "C" {
				p = startC(t, s, "hold")
			} else {
				p = startGo(t, s, "hold")
			}
			p.Expect(t, "locked")
			assert.ErrorIs(t, s.m.TryLock(), syscall.EBUSY)
			st, _ := s.m.State()
			assert.Equal(t, p.Cmd.Process.Pid, st.OwnerTID)
			p.Kill9(t)
			st, _ = s.m.State()
			assert.True(t, st.OwnerDied, "%v", st)

			err := s.m.Lock(bg)
			require.ErrorIs(t, err, pthread.ErrOwnerDead)
			require.ErrorIs(t, err, syscall.EOWNERDEAD)
			st, _ = s.m.State()
			assert.True(t, st.Locked && st.Inconsistent, "%v", st)
			require.NoError(t, s.m.MarkConsistent())
			require.NoError(t, s.m.Unlock())
			require.NoError(t, s.m.Lock(bg)) // repaired
			require.NoError(t, s.m.Unlock())

			// A C peer sees it healthy too.
			c := startC(t, s, "count", "10")
			c.WaitOK(t)
			assert.Equal(t, uint64(10), *s.u64(pthread.LayoutCounter))
		})
	}
}

// Unlocking after ErrOwnerDead without MarkConsistent: unrecoverable, for
// Go and for C.
func TestNotRecoverable(t *testing.T) {
	s := newSync(t)
	p := startGo(t, s, "hold")
	p.Expect(t, "locked")
	p.Kill9(t)
	require.ErrorIs(t, s.m.Lock(bg), pthread.ErrOwnerDead)
	require.NoError(t, s.m.Unlock())
	st, _ := s.m.State()
	assert.True(t, st.NotRecoverable, "%v", st)
	assert.Equal(t, "not recoverable (errorcheck, robust)", st.String())
	assert.ErrorIs(t, s.m.Lock(bg), pthread.ErrNotRecoverable)
	assert.ErrorIs(t, s.m.TryLock(), pthread.ErrNotRecoverable)
	c := startC(t, s, "count", "1")
	assert.Error(t, c.Cmd.Wait())
	assert.Contains(t, c.Err.String(), "not recoverable")
	// No lock is held, so the handle closes and the segment unpins.
	require.NoError(t, s.m.Close())
}

// A holder killed mid-cond.Wait does not hold the mutex: the next Lock is
// clean. The condvar keeps a reference for the dead waiter (glibc < 2.41),
// so the survivor re-initialises it before using it again.
func TestKilledMidCondWait(t *testing.T) {
	for _, kind := range []string{"C", "Go"} {
		t.Run(kind, func(t *testing.T) {
			s := newSync(t)
			var p *proc
			if kind == "C" {
				p = startC(t, s, "condwait")
			} else {
				p = startGo(t, s, "condwait")
			}
			p.Expect(t, "waiting")
			// It holds the mutex until its Wait releases it.
			require.True(t, testutil.Eventually(10*time.Second, func() bool {
				if s.m.TryLock() == nil {
					s.m.Unlock()
					return true
				}
				return false
			}))
			p.Kill9(t)
			require.NoError(t, s.m.Lock(bg), "the mutex was free when the waiter died")
			require.NoError(t, s.m.Unlock())

			// Recovery: re-initialise the condvar, then it works again.
			require.NoError(t, s.c.Close())
			c2, err := pthread.NewCond(s.seg, pthread.LayoutCond)
			require.NoError(t, err)
			defer c2.Close()
			w := startC(t, s, "condwait")
			w.Expect(t, "waiting")
			require.NoError(t, s.m.Lock(bg))
			*s.u64(pthread.LayoutTurn) = 99
			require.NoError(t, c2.Broadcast())
			require.NoError(t, s.m.Unlock())
			w.Expect(t, "woken")
			w.WaitOK(t)
		})
	}
}

// The holder dies while a Go waiter, already signalled, waits inside
// pthread_cond_wait to get the mutex back: Wait returns ErrOwnerDead with
// the mutex held.
func TestCondWaitOwnerDead(t *testing.T) {
	s := newSync(t)
	res := make(chan error, 1)
	locked := make(chan struct{})
	release := make(chan struct{})
	go func() {
		if err := s.m.Lock(bg); err != nil {
			res <- err
			return
		}
		close(locked)
		err := s.c.Wait(bg, s.m)
		res <- err
		<-release
		if errors.Is(err, pthread.ErrOwnerDead) {
			s.m.MarkConsistent()
		}
		s.m.Unlock()
	}()
	<-locked
	p := startC(t, s, "hold") // gets the mutex once Wait released it
	p.Expect(t, "locked")
	require.NoError(t, s.c.Broadcast())
	time.Sleep(50 * time.Millisecond) // the waiter now waits for the mutex
	select {
	case err := <-res:
		t.Fatalf("Wait returned while the peer holds the mutex: %v", err)
	default:
	}
	p.Kill9(t)
	err := <-res
	assert.ErrorIs(t, err, pthread.ErrOwnerDead)
	assert.ErrorIs(t, s.m.TryLock(), syscall.EBUSY) // the waiter holds it
	close(release)
	require.True(t, testutil.Eventually(5*time.Second, func() bool {
		if s.m.TryLock() == nil {
			s.m.Unlock()
			return true
		}
		return false
	}))
}

// Lock with a context: deadline and cancellation while a C peer holds the
// mutex, measured.
func TestLockContext(t *testing.T) {
	s := newSync(t)
	p := startC(t, s, "hold")
	p.Expect(t, "locked")

	ctx, cancel := context.WithTimeout(bg, 30*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := s.m.Lock(ctx)
	late := time.Since(t0) - 30*time.Millisecond
	require.ErrorIs(t, err, context.DeadlineExceeded)
	t.Logf("deadline: returned %v after it", late)

	var lat []time.Duration
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithCancel(bg)
		var at time.Time
		go func() {
			// Land anywhere in a wait slice.
			time.Sleep(10*time.Millisecond + time.Duration(i)*370*time.Microsecond)
			at = time.Now()
			cancel()
		}()
		err := s.m.Lock(ctx)
		d := time.Since(at)
		require.ErrorIs(t, err, context.Canceled)
		lat = append(lat, d)
	}
	slices.Sort(lat)
	t.Logf("cancellation of the waiter inside C (10 runs): median %v, worst %v", lat[5], lat[9])

	// Already-done context: no wait at all.
	ctx, cancel = context.WithCancel(bg)
	cancel()
	require.ErrorIs(t, s.m.Lock(ctx), context.Canceled)

	p.Kill9(t)
	require.ErrorIs(t, s.m.Lock(bg), pthread.ErrOwnerDead)
	require.NoError(t, s.m.MarkConsistent())
	require.NoError(t, s.m.Unlock())
}

// Many goroutines blocked on one mutex and one condvar cost a bounded
// number of OS threads, and all get through.
func TestThreadBound(t *testing.T) {
	s := newSync(t)
	require.NoError(t, s.m.Lock(bg)) // the test goroutine holds it
	before := testutil.Threads()
	const n = 300
	var wg sync.WaitGroup
	var got sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		got.Add(1)
		go func() {
			defer wg.Done()
			if err := s.m.Lock(bg); err != nil {
				t.Error(err)
				return
			}
			got.Done()
			s.m.Unlock()
		}()
	}
	time.Sleep(200 * time.Millisecond)
	during := testutil.Threads()
	t.Logf("threads: %d before, %d with %d goroutines blocked in Lock", before, during, n)
	assert.Less(t, during, before+20)
	require.NoError(t, s.m.Unlock())
	got.Wait()
	wg.Wait()

	// Condvar waiters: one in C, the rest parked in Go.
	turn := s.u64(pthread.LayoutTurn)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.m.Lock(bg); err != nil {
				t.Error(err)
				return
			}
			for *turn != 99 {
				if err := s.c.Wait(bg, s.m); err != nil {
					t.Error(err)
					break
				}
			}
			s.m.Unlock()
		}()
	}
	time.Sleep(200 * time.Millisecond)
	during = testutil.Threads()
	t.Logf("threads: %d with %d goroutines blocked in Cond.Wait", during, n)
	assert.Less(t, during, before+20)
	// A C peer wakes them all.
	w := startC(t, s, "wake")
	w.Expect(t, "woke")
	w.WaitOK(t)
	wg.Wait()
}

// Goroutines blocked on many handles (here 200 handles of one mutex) cost
// a bounded number of OS threads over the process, not one per handle (the
// kit's slots, gate.MaxInKernel; the others poll trylock in Go). Those whose
// context is cancelled return promptly wherever they wait, and the rest all
// get the lock once it is free.
func TestThreadBoundAcrossHandles(t *testing.T) {
	s := newSync(t)
	const n = 200
	hs := make([]*pthread.Mutex, n)
	for i := range hs {
		m, err := pthread.MutexAt(s.seg, pthread.LayoutMutex)
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		hs[i] = m
	}
	require.NoError(t, s.m.Lock(bg))
	before := testutil.Threads()
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	errs := make(chan error, n)
	for i, m := range hs {
		c := bg
		if i%2 == 1 {
			c = ctx
		}
		go func() {
			err := m.Lock(c)
			if err == nil {
				err = m.Unlock()
			}
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	during := testutil.Threads()
	t.Logf("threads: %d before, %d with %d handles blocked in Lock", before, during, n)
	assert.LessOrEqual(t, during-before, gate.MaxInKernel+testutil.RuntimeThreads())

	start := time.Now()
	cancel()
	for i := 0; i < n/2; i++ {
		select {
		case err := <-errs:
			assert.ErrorIs(t, err, context.Canceled)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d cancelled Locks returned", i, n/2)
		}
	}
	assert.Less(t, time.Since(start), 2*time.Second, "cancelled Locks return promptly")
	require.NoError(t, s.m.Unlock())
	for i := 0; i < n/2; i++ {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d Locks got the mutex", i, n/2)
		}
	}
}

// Condvar and rwlock waits through many handles (100 handles of one
// condvar, 100 of one rwlock, each with its waiter) are under the same
// process-wide bound: at most gate.MaxInKernel wait inside C, each with
// its helper thread; the others wait in Go. All finish once woken or
// unlocked, and the helper threads exit once idle.
func TestThreadBoundCondRWAcrossHandles(t *testing.T) {
	s := newSync(t)
	const n = 100
	base := testutil.Threads()
	bound := 2*gate.MaxInKernel + testutil.RuntimeThreads()

	// Condvar: each goroutine locks the mutex through its own handle and
	// waits through its own Cond handle until the C peer's broadcast.
	conds := make([]*pthread.Cond, n)
	mus := make([]*pthread.Mutex, n)
	for i := range conds {
		var err error
		conds[i], err = pthread.CondAt(s.seg, pthread.LayoutCond)
		require.NoError(t, err)
		mus[i], err = pthread.MutexAt(s.seg, pthread.LayoutMutex)
		require.NoError(t, err)
		t.Cleanup(func() { conds[i].Close(); mus[i].Close() })
	}
	turn := s.u64(pthread.LayoutTurn)
	errs := make(chan error, n)
	for i := range conds {
		go func() {
			m, c := mus[i], conds[i]
			if err := m.Lock(bg); err != nil {
				errs <- err
				return
			}
			var err error
			for atomic.LoadUint64(turn) != 99 && err == nil {
				err = c.Wait(bg, m)
			}
			if uerr := m.Unlock(); err == nil {
				err = uerr
			}
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	during := testutil.Threads()
	t.Logf("threads: %d before, %d with %d Cond handles waiting", base, during, n)
	assert.LessOrEqual(t, during-base, bound)
	w := startC(t, s, "wake")
	w.Expect(t, "woke")
	w.WaitOK(t)
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d condvar waiters returned", i, n)
		}
	}

	// Rwlock: the test holds the write lock; each goroutine read-locks
	// through its own handle.
	holder, err := pthread.NewRWMutex(s.seg, pthread.LayoutRWLock, nil)
	require.NoError(t, err)
	t.Cleanup(func() { holder.Close() })
	rws := make([]*pthread.RWMutex, n)
	for i := range rws {
		var err error
		rws[i], err = pthread.RWMutexAt(s.seg, pthread.LayoutRWLock)
		require.NoError(t, err)
		t.Cleanup(func() { rws[i].Close() })
	}
	require.NoError(t, holder.Lock(bg))
	before := testutil.Threads()
	for _, rw := range rws {
		go func() {
			err := rw.RLock(bg)
			if err == nil {
				err = rw.RUnlock()
			}
			errs <- err
		}()
	}
	time.Sleep(300 * time.Millisecond)
	during = testutil.Threads()
	t.Logf("threads: %d with %d RWMutex handles waiting (%d before them)", during, n, before)
	assert.LessOrEqual(t, during-before, bound)
	require.NoError(t, holder.Unlock())
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d rwlock waiters returned", i, n)
		}
	}

	// Idle helper threads exit (after a second each): what stays is the
	// Go runtime's threads that waited inside C.
	left := base + gate.MaxInKernel + testutil.RuntimeThreads()
	require.Eventually(t, func() bool { return testutil.Threads() <= left }, 10*time.Second, 50*time.Millisecond,
		"threads: %d, want at most %d once the helpers are idle", testutil.Threads(), left)
}

// The gate of the mutex and condvar waits do not deadlock: waiters wake up
// holding the pthread mutex while other local goroutines wait for it (one
// of them inside C, holding the gate), with a C peer in the mix.
func TestGateCondNoDeadlock(t *testing.T) {
	s := newSync(t)
	const rounds = 300
	turn := s.u64(pthread.LayoutTurn)
	counter := s.u64(pthread.LayoutCounter)
	c := startC(t, s, "count", "5000")
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	// Waiters for even and for odd turns, each flipping the turn, plus plain lockers.
	for g := 0; g < 4; g++ {
		wg.Add(3)
		for parity := uint64(0); parity < 2; parity++ {
			go func() {
				defer wg.Done()
				for i := 0; i < rounds; i++ {
					if err := s.m.Lock(ctx); err != nil {
						t.Error(err)
						return
					}
					for *turn%2 != parity {
						if err := s.c.Wait(ctx, s.m); err != nil {
							t.Error(err)
							s.m.Unlock()
							return
						}
					}
					*turn++
					s.c.Broadcast()
					s.m.Unlock()
				}
			}()
		}
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if err := s.m.Lock(ctx); err != nil {
					t.Error(err)
					return
				}
				*counter++
				s.m.Unlock()
			}
		}()
	}
	wg.Wait()
	c.WaitOK(t)
	assert.Equal(t, uint64(2*4*rounds), *turn)
	assert.Equal(t, uint64(4*rounds+5000), *counter)
}

// Cond.Wait with a context: both a waiter inside C and a parked one return
// with the mutex held again.
func TestCondWaitContext(t *testing.T) {
	s := newSync(t)
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, s.m.Lock(bg))
			ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
			defer cancel()
			var err error
			for err == nil {
				err = s.c.Wait(ctx, s.m)
			}
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NoError(t, s.m.Unlock(), "Wait returns with the mutex held")
		}()
	}
	wg.Wait()

	require.NoError(t, s.m.Lock(bg))
	ctx, cancel := context.WithCancel(bg)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	t0 := time.Now()
	err := s.c.Wait(ctx, s.m)
	for err == nil {
		err = s.c.Wait(ctx, s.m)
	}
	require.ErrorIs(t, err, context.Canceled)
	t.Logf("cancelled Wait returned after %v (cancel at 20ms)", time.Since(t0))
	require.NoError(t, s.m.Unlock())

	// Wait without holding the mutex.
	assert.ErrorIs(t, s.c.Wait(bg, s.m), syscall.EPERM)
}

// Close: idempotent, wakes blocked callers with os.ErrClosed, keeps the
// segment pinned while a lock is held, and Unlock still works after it.
func TestClose(t *testing.T) {
	testutil.CheckFDs(t)
	s := newSync(t)
	m2, err := pthread.MutexAt(s.seg, pthread.LayoutMutex)
	require.NoError(t, err)
	require.NoError(t, s.m.Lock(bg))
	errs := make(chan error, 10)
	for i := 0; i < 5; i++ {
		go func() { errs <- m2.Lock(bg) }()
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, m2.Close())
	require.NoError(t, m2.Close())
	for i := 0; i < 5; i++ {
		assert.ErrorIs(t, <-errs, os.ErrClosed)
	}
	assert.ErrorIs(t, m2.Lock(bg), os.ErrClosed)
	assert.ErrorIs(t, m2.TryLock(), os.ErrClosed)

	// Closing the holder's handle: the segment stays pinned until Unlock.
	require.NoError(t, s.m.Close())
	assert.ErrorIs(t, s.seg.Close(), syscall.EBUSY)
	require.NoError(t, s.c.Close())
	assert.ErrorIs(t, s.seg.Close(), syscall.EBUSY)
	require.NoError(t, s.m.Unlock())
	assert.ErrorIs(t, s.m.Unlock(), syscall.EPERM)

	// Cond.Close with a waiter inside C and parked ones.
	m3, err := pthread.MutexAt(s.seg, pthread.LayoutMutex)
	require.NoError(t, err)
	c3, err := pthread.CondAt(s.seg, pthread.LayoutCond)
	require.NoError(t, err)
	for i := 0; i < 3; i++ {
		go func() {
			if err := m3.Lock(bg); err != nil {
				errs <- err
				return
			}
			err := c3.Wait(bg, m3)
			for err == nil {
				err = c3.Wait(bg, m3)
			}
			m3.Unlock()
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, c3.Close())
	for i := 0; i < 3; i++ {
		assert.ErrorIs(t, <-errs, os.ErrClosed)
	}
	require.NoError(t, m3.Close())
	// newSync's cleanup closes the segment: nothing is pinned any more.
}

// A goroutine that exits holding the lock ends its OS thread: the kernel
// treats it as the owner's death.
func TestGoroutineExitHoldingLock(t *testing.T) {
	s := newSync(t)
	// The dying holder's handle keeps its segment pinned for good (its lock is
	// never unlocked through it), so it gets a mapping of its own.
	seg2, err := shm.Open(s.seg.Name())
	require.NoError(t, err)
	m2, err := pthread.MutexAt(seg2, pthread.LayoutMutex)
	require.NoError(t, err)
	locked := make(chan error)
	tid := make(chan int, 1)
	go func() {
		err := m2.Lock(bg) // returns holding it, thread wired
		tid <- syscall.Gettid()
		locked <- err
	}()
	require.NoError(t, <-locked)
	ok := testutil.Eventually(5*time.Second, func() bool {
		st, _ := s.m.State()
		return st.OwnerDied
	})
	st, _ := s.m.State()
	require.True(t, ok, "the thread did not end: %v; holder tid %d, pid %d", st, <-tid, os.Getpid())
	require.ErrorIs(t, s.m.Lock(bg), pthread.ErrOwnerDead)
	require.NoError(t, s.m.MarkConsistent())
	require.NoError(t, s.m.Unlock())
	m2.Close()
}

func TestCondWaitChecks(t *testing.T) {
	seg := newSeg(t, 4096)
	m, err := pthread.NewMutex(seg, 0, &pthread.MutexOptions{Type: pthread.Recursive})
	require.NoError(t, err)
	defer m.Close()
	c, err := pthread.NewCond(seg, 64)
	require.NoError(t, err)
	defer c.Close()
	assert.ErrorIs(t, c.Wait(bg, m), syscall.EPERM, "not held")
	require.NoError(t, m.Lock(bg))
	require.NoError(t, m.Lock(bg))
	assert.ErrorIs(t, c.Wait(bg, m), syscall.EINVAL, "held twice")
	require.NoError(t, m.Unlock())
	ctx, cancel := context.WithCancel(bg)
	cancel()
	assert.ErrorIs(t, c.Wait(ctx, m), context.Canceled)
	ctx, cancel = context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, c.Wait(ctx, m), context.DeadlineExceeded)
	require.NoError(t, m.Unlock(), "held after the failed waits")
}

// The scenario the gate design must survive, step by step: a condvar waiter
// wakes up and needs the pthread mutex back while another local goroutine
// holds the mutex's gate, blocked inside C on that same mutex.
func TestCondWakeWhileGateHeld(t *testing.T) {
	s := newSync(t)
	turn := s.u64(pthread.LayoutTurn)
	waited := make(chan error, 1)
	inWait := make(chan struct{})
	go func() {
		if err := s.m.Lock(bg); err != nil {
			waited <- err
			return
		}
		close(inWait)
		var err error
		for *turn != 1 && err == nil {
			err = s.c.Wait(bg, s.m)
		}
		s.m.Unlock()
		waited <- err
	}()
	<-inWait
	require.NoError(t, s.m.Lock(bg)) // only once the waiter released it in Wait
	*turn = 1
	require.NoError(t, s.c.Broadcast()) // the waiter wakes and waits for the mutex in C
	locked := make(chan error, 1)
	go func() { // takes the gate and blocks in C on the mutex
		err := s.m.Lock(bg)
		if err == nil {
			err = s.m.Unlock()
		}
		locked <- err
	}()
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, s.m.Unlock())
	for _, ch := range []chan error{waited, locked} {
		select {
		case err := <-ch:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("deadlock between the gate and the condvar wait")
		}
	}
}

// Cond.Close from the goroutine that holds the mutex the waiter needs back:
// no deadlock, the waiter returns ErrClosed once the mutex is free.
func TestCondCloseHoldingMutex(t *testing.T) {
	s := newSync(t)
	res := make(chan error, 1)
	waiting := make(chan struct{})
	go func() {
		if err := s.m.Lock(bg); err != nil {
			res <- err
			return
		}
		close(waiting)
		err := s.c.Wait(bg, s.m)
		for err == nil {
			err = s.c.Wait(bg, s.m)
		}
		s.m.Unlock()
		res <- err
	}()
	<-waiting
	require.NoError(t, s.m.Lock(bg)) // the waiter released it inside Wait
	closed := make(chan error, 1)
	go func() { closed <- s.c.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Cond.Close waits for a waiter that needs the mutex we hold")
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.m.Unlock())
	assert.ErrorIs(t, <-res, os.ErrClosed)
}
