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
