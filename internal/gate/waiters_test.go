//go:build linux && cgo

package gate

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeWait is a C-less stand-in for a signal-kicked wait: it returns when
// its channel is closed (the result is there), or ECANCELED when the
// Waiter's kick flag was set (checked every 100 µs, as a kicked C loop
// would see it), or ETIMEDOUT after rel.
type fakeWait struct {
	ready  chan struct{}
	inside atomic.Int32
	most   atomic.Int32
}

func (f *fakeWait) wait(w posixipc.Waiter, rel int64) error {
	n := f.inside.Add(1)
	defer f.inside.Add(-1)
	for m := f.most.Load(); n > m && !f.most.CompareAndSwap(m, n); m = f.most.Load() {
	}
	var tmo <-chan time.Time
	if rel >= 0 {
		tmo = time.After(time.Duration(rel))
	}
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case <-f.ready:
			return nil
		case <-tmo:
			return syscall.ETIMEDOUT
		case <-tick.C:
			if kicked(w) {
				return syscall.ECANCELED
			}
		}
	}
}

func (f *fakeWait) try() error {
	select {
	case <-f.ready:
		return nil
	default:
		return WouldBlock
	}
}

// kicked reads the Waiter's flags as the C loop does.
func kicked(w posixipc.Waiter) bool { return w.Kicked() }

// Calls with equal keys share one point (at most one inside the wait),
// calls with other keys wait beside them; cancellation, deadlines and
// Close reach every one, inside or parked.
func TestWaitersKeysCancelClose(t *testing.T) {
	k := NewWaiters(false)
	f := &fakeWait{ready: make(chan struct{})}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- k.Do(ctx, 7, f.try, f.wait) }()
	}
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, int32(1), f.most.Load(), "one key: one waiter inside")
	g := &fakeWait{ready: make(chan struct{})}
	gerrs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() { gerrs <- k.Do(ctx, uint64(100+i), g.try, g.wait) }()
	}
	time.Sleep(30 * time.Millisecond)
	assert.Equal(t, int32(3), g.most.Load(), "three keys: three waiters side by side")
	close(g.ready)
	for i := 0; i < 3; i++ {
		assert.NoError(t, <-gerrs, "each sees its result, not held up by key 7's waiters")
	}
	cancel()
	wg.Wait()
	close(errs)
	canceled := 0
	for err := range errs {
		if errors.Is(err, context.Canceled) {
			canceled++
		} else {
			t.Errorf("unexpected %v", err)
		}
	}
	assert.Equal(t, 20, canceled)

	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	assert.ErrorIs(t, k.Do(dctx, 7, f.try, f.wait), context.DeadlineExceeded)

	done := make(chan error, 2)
	go func() { done <- k.Do(context.Background(), 7, f.try, f.wait) }()
	go func() { done <- k.Do(context.Background(), 7, f.try, f.wait) }()
	time.Sleep(20 * time.Millisecond)
	require.True(t, k.Close())
	require.False(t, k.Close())
	for i := 0; i < 2; i++ {
		assert.ErrorIs(t, <-done, os.ErrClosed)
	}
	assert.ErrorIs(t, k.Do(context.Background(), 7, f.try, f.wait), os.ErrClosed)
}

// Past MaxInKernel waiters inside, the others poll their try and still
// see their result and their cancellation.
func TestWaitersPollPastTheBound(t *testing.T) {
	k := NewWaiters(false)
	defer k.Close()
	f := &fakeWait{ready: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2*MaxInKernel)
	for i := 0; i < 2*MaxInKernel; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- k.Do(ctx, uint64(i), f.try, f.wait) }()
	}
	time.Sleep(50 * time.Millisecond)
	assert.LessOrEqual(t, f.most.Load(), int32(MaxInKernel), "the process-wide bound")
	close(f.ready) // the pollers' try sees it too
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

// TestPointsRebindUnderLoad: calls with keys that come and go share points
// that the kit rebinds while other calls take them without its lock; at no
// time do two calls of one key wait in C at once (one point a key), and no
// call waits in C on a point bound to another key.
func TestPointsRebindUnderLoad(t *testing.T) {
	k := NewWaiters(false)
	defer k.Close()
	const keys = 6
	var inside [keys]atomic.Int32
	var bad atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 24; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				key := uint64((g + i*7) % keys)
				err := k.Block(context.Background(), key, func() error { return WouldBlock }, func(posixipc.Waiter, int64) error {
					if inside[key].Add(1) != 1 {
						bad.Add(1)
					}
					runtime.Gosched()
					inside[key].Add(-1)
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	assert.Zero(t, bad.Load(), "two calls of one key were inside C at once")
	k.mu.Lock()
	n := len(k.pts)
	k.mu.Unlock()
	assert.LessOrEqual(t, n, 24, "points are reused, not made per call")
}

// Call goes straight to the wait for blockRun calls after one whose try
// found it would block, then tries first again; a try that succeeds keeps
// it trying first.
func TestCallSkipsTheTryAfterAWait(t *testing.T) {
	k := NewWaiters(false)
	defer k.Close()
	var tries, waits int
	busy := true
	try := func() error {
		tries++
		if busy {
			return WouldBlock
		}
		return nil
	}
	wait := func(posixipc.Waiter, int64) error { waits++; return nil }
	require.NoError(t, k.Call(context.Background(), 1, try, wait))
	assert.Equal(t, 1, tries, "the first call tries first")
	assert.Equal(t, 1, waits)
	for i := 0; i < blockRun; i++ {
		require.NoError(t, k.Call(context.Background(), 1, try, wait))
	}
	assert.Equal(t, 1, tries, "the next blockRun calls go straight to the wait")
	assert.Equal(t, 1+blockRun, waits)
	busy = false
	require.NoError(t, k.Call(context.Background(), 1, try, wait))
	assert.Equal(t, 2, tries, "then one tries first")
	assert.Equal(t, 1+blockRun, waits, "and its try succeeded: no wait")
	for i := 0; i < 3; i++ {
		require.NoError(t, k.Call(context.Background(), 1, try, wait))
	}
	assert.Equal(t, 5, tries, "calls that succeed at once keep trying first")
	assert.Equal(t, 1+blockRun, waits)
	// Another key's point is not the hot one's: it tries first.
	busy = true
	require.NoError(t, k.Call(context.Background(), 2, try, wait))
	assert.Equal(t, 6, tries)
}

// A wait that the deadline ends (a timeout in C, or the canceller's kick
// at the deadline) is followed by one last try: what came meanwhile, or
// was there all along for a thread descheduled past its deadline, is taken.
func TestDeadlineEndedWaitTriesOnceMore(t *testing.T) {
	for _, timed := range []bool{true, false} {
		k := NewWaiters(timed)
		var there atomic.Bool
		try := func() error {
			if there.Load() {
				return nil
			}
			return WouldBlock
		}
		wait := func(w posixipc.Waiter, rel int64) error {
			there.Store(true) // it came, but the wait does not see it
			for !kicked(w) && rel != 0 {
				if rel > 0 {
					time.Sleep(time.Duration(rel))
					return syscall.ETIMEDOUT
				}
				time.Sleep(100 * time.Microsecond)
			}
			return syscall.ECANCELED
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		assert.NoError(t, k.Do(ctx, 1, try, wait), "timed %v", timed)
		cancel()
		// Without a result, the deadline error as before.
		there.Store(false)
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		err := k.Do(ctx, 1, try, func(w posixipc.Waiter, rel int64) error {
			for !kicked(w) {
				if rel >= 0 {
					time.Sleep(time.Duration(rel))
					return syscall.ETIMEDOUT
				}
				time.Sleep(100 * time.Microsecond)
			}
			return syscall.ECANCELED
		})
		assert.ErrorIs(t, err, context.DeadlineExceeded, "timed %v", timed)
		cancel()
		k.Close()
	}
}
