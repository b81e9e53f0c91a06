//go:build linux && cgo

package pthread_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileSeg is a segment for tests whose objects a peer corrupts: a
// helper thread may stay in glibc for good and keep it pinned, so its
// cleanup only unlinks it (the mapping goes with the test process).
func hostileSeg(t *testing.T) *shm.Segment {
	t.Helper()
	name := testutil.Name("pth")
	seg, err := shm.Create(name, 4096, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { seg.Close(); shm.Unlink(name) })
	return seg
}

// hostileSync is hostileSeg with a mutex and a condvar at the offsets of
// struct posixipc_sync, closed at the end of the test.
func hostileSync(t *testing.T) (*shm.Segment, *pthread.Mutex, *pthread.Cond) {
	t.Helper()
	seg := hostileSeg(t)
	m, err := pthread.NewMutex(seg, pthread.LayoutMutex, nil)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	c, err := pthread.NewCond(seg, pthread.LayoutCond)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return seg, m, c
}

// endCtx returns the context of a wait that the test ends by end:
// "deadline" (300 ms), "cancel" (the returned cancel) or "close".
func endCtx(end string) (context.Context, context.CancelFunc) {
	switch end {
	case "deadline":
		return context.WithTimeout(context.Background(), 300*time.Millisecond)
	case "cancel":
		return context.WithCancel(context.Background())
	}
	return context.Background(), func() {}
}

// assertEnd checks that err is the error of a wait ended by end.
func assertEnd(t *testing.T, err error, end string) {
	t.Helper()
	switch end {
	case "deadline":
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case "cancel":
		assert.ErrorIs(t, err, context.Canceled)
	case "close":
		assert.ErrorIs(t, err, os.ErrClosed)
	}
}

// corruptions are what a peer does to an object's bytes while Go uses it.
var corruptions = []struct {
	name string
	do   func(t *testing.T, seg *shm.Segment, off, size int)
}{
	{"reinit", nil}, // pthread_*_init again, set per test
	{"0xff", func(t *testing.T, seg *shm.Segment, off, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = 0xff
		}
		_, err := seg.WriteAt(b, int64(off))
		require.NoError(t, err)
	}},
	{"random", func(t *testing.T, seg *shm.Segment, off, size int) {
		b := make([]byte, size)
		rand.New(rand.NewSource(3)).Read(b)
		_, err := seg.WriteAt(b, int64(off))
		require.NoError(t, err)
	}},
	{"zero", func(t *testing.T, seg *shm.Segment, off, size int) {
		_, err := seg.WriteAt(make([]byte, size), int64(off))
		require.NoError(t, err)
	}},
}

// A Cond.Wait honours its deadline, its cancellation and Close whatever a
// peer does to the condvar while Go waits (issue: reliability #4), and
// returns with the mutex held; Signal and Broadcast then return within
// WakeBound, with ErrWedged when glibc does not.
func TestCondCorruptedWhileWaiting(t *testing.T) {
	for _, cor := range corruptions {
		for _, end := range []string{"deadline", "cancel", "close"} {
			t.Run(cor.name+"/"+end, func(t *testing.T) {
				seg, m, c := hostileSync(t)
				ctx, cancel := endCtx(end)
				defer cancel()
				res := make(chan error, 1)
				go func() {
					if err := m.Lock(context.Background()); err != nil {
						res <- err
						return
					}
					var err error
					for err == nil {
						err = c.Wait(ctx, m)
					}
					if uerr := m.Unlock(); uerr != nil {
						err = errors.Join(err, uerr)
					}
					res <- err
				}()
				time.Sleep(50 * time.Millisecond)
				if cor.do == nil {
					c2, err := pthread.NewCond(seg, pthread.LayoutCond)
					require.NoError(t, err)
					c2.Close()
				} else {
					cor.do(t, seg, pthread.LayoutCond, pthread.SizeofCond)
				}
				t0 := time.Now()
				switch end {
				case "cancel":
					time.Sleep(50 * time.Millisecond)
					t0 = time.Now()
					cancel()
				case "close":
					time.Sleep(50 * time.Millisecond)
					t0 = time.Now()
					require.NoError(t, c.Close())
				}
				select {
				case err := <-res:
					assertEnd(t, err, end)
					t.Logf("returned %v after the %s", time.Since(t0), end)
				case <-time.After(3 * time.Second):
					t.Fatalf("Wait did not return within 3s of its %s on a %s condvar", end, cor.name)
				}
				if end == "close" {
					return
				}
				for _, f := range []func() error{c.Signal, c.Broadcast} {
					t0 := time.Now()
					err := f()
					if err != nil {
						assert.ErrorIs(t, err, pthread.ErrWedged)
					}
					assert.Less(t, time.Since(t0), pthread.WakeBound+time.Second)
				}
			})
		}
	}
}

// MutexAt refuses priority-inheritance and -protection kinds, and a handle
// whose mutex a peer re-initialised as one gets EINVAL from Lock instead of
// a glibc assertion (reliability #7).
func TestMutexUnsupportedKinds(t *testing.T) {
	seg := hostileSeg(t)
	m, err := pthread.NewMutex(seg, 0, nil)
	require.NoError(t, err)
	defer m.Close()
	const kindOff = 16 // __kind of struct __pthread_mutex_s
	k, err := seg.LoadUint32(kindOff)
	require.NoError(t, err)
	for _, bit := range []uint32{32, 64} { // PRIO_INHERIT_NP, PRIO_PROTECT_NP
		require.NoError(t, seg.StoreUint32(kindOff, k|bit))
		_, err = pthread.MutexAt(seg, 0)
		assert.ErrorIs(t, err, syscall.EINVAL)
		assert.ErrorIs(t, m.Lock(context.Background()), syscall.EINVAL)
		assert.ErrorIs(t, m.TryLock(), syscall.EINVAL)
	}
	require.NoError(t, seg.StoreUint32(kindOff, k))
	require.NoError(t, m.Lock(context.Background()))
	require.NoError(t, m.Unlock())
}

// Every pthread wait treats a deadline too far to represent as none
// (reliability #13): it blocks, and its context still cancels it.
func TestPthreadFarDeadline(t *testing.T) {
	seg, m, c := hostileSync(t)
	rw, err := pthread.NewRWMutex(seg, pthread.LayoutRWLock, nil)
	require.NoError(t, err)
	defer rw.Close()
	far, cancel := context.WithDeadline(context.Background(), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	defer cancel()
	cancelSoon := func() context.Context {
		ctx, cancel := context.WithCancel(far)
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		return ctx
	}
	require.NoError(t, m.Lock(far))
	err = c.Wait(cancelSoon(), m)
	for err == nil {
		err = c.Wait(cancelSoon(), m)
	}
	assert.ErrorIs(t, err, context.Canceled)
	res := make(chan error)
	go func() { res <- m.Lock(cancelSoon()) }() // held by the test: waits
	assert.ErrorIs(t, <-res, context.Canceled)
	require.NoError(t, m.Unlock())
	require.NoError(t, rw.Lock(far))
	go func() { res <- rw.RLock(cancelSoon()) }()
	assert.ErrorIs(t, <-res, context.Canceled)
	require.NoError(t, rw.Unlock())
}

// A goroutine waiting in Mutex.Lock when a peer truncates the segment dies
// of SIGBUS inside glibc: this cannot be prevented (the fault is in C) and
// the package doc says so; the test shows it in a helper process
// (reliability #12).
func TestTruncatedUnderLockWait(t *testing.T) {
	seg, m, _ := hostileSync(t)
	// Held by this goroutine for good: after the truncation, touching the
	// mutex would fault here too (the thread ends with the test goroutine).
	require.NoError(t, m.Lock(context.Background()))
	p := startGo(t, &syncSeg{seg: seg}, "lockwait")
	p.Expect(t, "waiting")
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, os.Truncate(shm.Dir+seg.Name(), 0))
	require.Error(t, p.Cmd.Wait())
	out := p.Err.String() // Go's crash report, or AddressSanitizer's under -asan
	assert.True(t, strings.Contains(out, "SIGBUS") || strings.Contains(out, "AddressSanitizer: BUS"),
		"the waiter died of SIGBUS, as documented: %s", out)
}

// RLock and Lock of an RWMutex honour their deadline, cancellation and
// Close whatever a peer does to the rwlock while they wait, take nothing
// when they fail, and never spin in glibc on fields it does not write: an
// rwlock scribbled before the call is refused with EINVAL (reliability #5).
func TestRWMutexCorrupted(t *testing.T) {
	for _, cor := range corruptions {
		for _, writer := range []bool{false, true} {
			for _, end := range []string{"deadline", "cancel", "close"} {
				name := fmt.Sprintf("%s/writer=%v/%s", cor.name, writer, end)
				t.Run(name, func(t *testing.T) {
					seg := hostileSeg(t)
					holder, err := pthread.NewRWMutex(seg, pthread.LayoutRWLock, nil)
					require.NoError(t, err)
					defer holder.Close()
					rw, err := pthread.RWMutexAt(seg, pthread.LayoutRWLock)
					require.NoError(t, err)
					defer rw.Close()
					require.NoError(t, holder.Lock(context.Background())) // the waiter waits
					ctx, cancel := endCtx(end)
					defer cancel()
					res := make(chan error, 1)
					go func() {
						if writer {
							err := rw.Lock(ctx)
							if err == nil {
								rw.Unlock()
							}
							res <- err
						} else {
							err := rw.RLock(ctx)
							if err == nil {
								rw.RUnlock()
							}
							res <- err
						}
					}()
					time.Sleep(50 * time.Millisecond)
					if cor.do == nil {
						rw2, err := pthread.NewRWMutex(seg, pthread.LayoutRWLock, nil)
						require.NoError(t, err)
						rw2.Close()
					} else {
						cor.do(t, seg, pthread.LayoutRWLock, pthread.SizeofRWMutex)
					}
					t0 := time.Now()
					switch end {
					case "cancel":
						cancel()
					case "close":
						require.NoError(t, rw.Close())
					}
					select {
					case err := <-res:
						// A re-initialised rwlock may simply be granted; a
						// corrupt one is refused; otherwise the end applies.
						if err != nil && !errors.Is(err, syscall.EINVAL) {
							assertEnd(t, err, end)
						}
						t.Logf("returned %v after the %s: %v", time.Since(t0), end, err)
					case <-time.After(3 * time.Second):
						t.Fatalf("the wait did not return within 3s of its %s on a %s rwlock", end, cor.name)
					}
				})
			}
		}
	}
	// Scribbled before the call: refused at attach and by every call.
	seg := hostileSeg(t)
	rw, err := pthread.NewRWMutex(seg, pthread.LayoutRWLock, nil)
	require.NoError(t, err)
	defer rw.Close()
	corruptions[1].do(t, seg, pthread.LayoutRWLock, pthread.SizeofRWMutex)
	_, err = pthread.RWMutexAt(seg, pthread.LayoutRWLock)
	assert.ErrorIs(t, err, syscall.EINVAL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	assert.ErrorIs(t, rw.RLock(ctx), syscall.EINVAL)
	assert.ErrorIs(t, rw.Lock(ctx), syscall.EINVAL)
	assert.ErrorIs(t, rw.TryRLock(), syscall.EINVAL)
	assert.ErrorIs(t, rw.TryLock(), syscall.EINVAL)
}

// A wake-up that a waiter's helper consumes just as the waiter gives up
// (its deadline) is passed on: another waiter wakes at once, not at the end
// of its helper's one-second slice.
func TestCondGiveUpPassesWakeUpOn(t *testing.T) {
	seg, m, c := hostileSync(t)
	mB, err := pthread.MutexAt(seg, pthread.LayoutMutex)
	require.NoError(t, err)
	defer mB.Close()
	cB, err := pthread.CondAt(seg, pthread.LayoutCond)
	require.NoError(t, err)
	defer cB.Close()
	mA, err := pthread.MutexAt(seg, pthread.LayoutMutex)
	require.NoError(t, err)
	defer mA.Close()
	cA, err := pthread.CondAt(seg, pthread.LayoutCond)
	require.NoError(t, err)
	defer cA.Close()
	tokens := u64(seg, pthread.LayoutCounter)
	bg := context.Background()
	for round := 0; round < 60; round++ {
		bDone := make(chan time.Time, 1)
		go func() { // B: waits for a token, no deadline
			require.NoError(t, mB.Lock(bg))
			for *tokens == 0 {
				require.NoError(t, cB.Wait(bg, mB))
			}
			*tokens--
			bDone <- time.Now()
			mB.Unlock()
		}()
		aTook := make(chan time.Time, 1)
		aDone := make(chan struct{})
		go func() { // A: the same, but gives up at a deadline near the signal
			defer close(aDone)
			ctx, cancel := context.WithTimeout(bg, time.Duration(5+round%10)*time.Millisecond)
			defer cancel()
			require.NoError(t, mA.Lock(bg))
			for *tokens == 0 {
				if cA.Wait(ctx, mA) != nil {
					break
				}
			}
			if *tokens > 0 {
				*tokens-- // A took it
				aTook <- time.Now()
			}
			mA.Unlock()
		}()
		time.Sleep(time.Duration(3+round%10) * time.Millisecond)
		require.NoError(t, m.Lock(bg))
		*tokens++
		require.NoError(t, c.Signal())
		sent := time.Now()
		require.NoError(t, m.Unlock())
		<-aDone
		select {
		case <-aTook: // B still waits: end its round with a token of its own
			require.NoError(t, m.Lock(bg))
			*tokens++
			require.NoError(t, c.Broadcast())
			require.NoError(t, m.Unlock())
			select {
			case <-bDone:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: B did not take its own token", round)
			}
		default:
			select {
			case at := <-bDone:
				assert.Less(t, at.Sub(sent), 500*time.Millisecond, "round %d: the token waited for a slice: a wake-up was lost", round)
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: nobody took the token", round)
			}
		}
	}
}

// Held tells whether this goroutine holds the mutex through the handle.
func TestMutexHeld(t *testing.T) {
	_, m, _ := hostileSync(t)
	assert.False(t, m.Held())
	require.NoError(t, m.Lock(context.Background()))
	assert.True(t, m.Held())
	other := make(chan bool)
	go func() { other <- m.Held() }()
	assert.False(t, <-other, "another goroutine does not hold it")
	require.NoError(t, m.Unlock())
	assert.False(t, m.Held())
}

// Mutex, RWMutex and Cond handles dropped without Close are cleaned up:
// they no longer pin the segment, and a Cond's helper thread and waker
// goroutine go. A handle that still holds a lock keeps it.
func TestDroppedHandlesCleanedUp(t *testing.T) {
	n := testutil.Name("ptdrop")
	seg, err := shm.Create(n, 4096, 0o600)
	require.NoError(t, err)
	defer shm.Unlink(n)
	m, err := pthread.NewMutex(seg, pthread.LayoutMutex, nil)
	require.NoError(t, err)
	rw, err := pthread.NewRWMutex(seg, pthread.LayoutRWLock, nil)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, rw.Close())
	c, err := pthread.NewCond(seg, pthread.LayoutCond)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	goroutines := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		_, err := pthread.MutexAt(seg, pthread.LayoutMutex)
		require.NoError(t, err)
		_, err = pthread.RWMutexAt(seg, pthread.LayoutRWLock)
		require.NoError(t, err)
		c, err := pthread.CondAt(seg, pthread.LayoutCond)
		require.NoError(t, err)
		require.NoError(t, c.Broadcast()) // starts its waker goroutine
	}
	require.ErrorIs(t, seg.Close(), syscall.EBUSY, "pinned while the handles live")
	ok := testutil.Eventually(5*time.Second, func() bool { runtime.GC(); return seg.Close() == nil })
	assert.True(t, ok, "the dropped handles still pin the segment")
	assert.True(t, testutil.Eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines }),
		"the dropped Conds' waker goroutines are still there")
}
