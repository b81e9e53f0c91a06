//go:build linux && cgo

package gate

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestGateOneAtATime(t *testing.T) {
	g := New()
	var in, max atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, g.Enter(context.Background()))
			n := in.Add(1)
			for {
				m := max.Load()
				if n <= m || max.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(100 * time.Microsecond)
			in.Add(-1)
			g.Leave()
		}()
	}
	wg.Wait()
	assert.Equal(t, int32(1), max.Load())
}

func TestGateCancelAndClose(t *testing.T) {
	g := New()
	require.True(t, g.TryEnter())
	assert.False(t, g.TryEnter())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { errc <- g.Enter(ctx) }()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	go func() { errc <- g.Enter(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	g.Close()
	assert.ErrorIs(t, <-errc, os.ErrClosed)
	g.Leave()
	assert.ErrorIs(t, g.Enter(context.Background()), os.ErrClosed)
	g.Drain()
}

func TestCancellerKicksOnlyWhileArmed(t *testing.T) {
	var kicks atomic.Int32
	c := NewCanceller(func() { kicks.Add(1) }, 0)
	defer c.Stop()

	// the same context armed and disarmed many times: never kicked
	ctx, cancel := context.WithCancel(context.Background())
	for i := 0; i < 100; i++ {
		c.Arm(ctx.Done())
		c.Disarm(ctx.Done())
	}
	cancel() // done after the last disarm: no kick
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, kicks.Load())

	// armed with the (already done) context: kicked
	c.Arm(ctx.Done())
	require.Eventually(t, func() bool { return kicks.Load() == 1 }, time.Second, time.Millisecond)
	c.Disarm(ctx.Done())

	// a new context while the goroutine watches the old one
	ctx2, cancel2 := context.WithCancel(context.Background())
	c.Arm(ctx2.Done())
	cancel2()
	require.Eventually(t, func() bool { return kicks.Load() == 2 }, time.Second, time.Millisecond)
	c.Disarm(ctx2.Done())
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, int32(2), kicks.Load())

	c.Arm(nil) // nothing to watch
	c.Disarm(nil)
}

func TestCancellerRepeats(t *testing.T) {
	var kicks atomic.Int32
	c := NewCanceller(func() { kicks.Add(1) }, time.Millisecond)
	defer c.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	c.Arm(ctx.Done())
	cancel()
	require.Eventually(t, func() bool { return kicks.Load() >= 3 }, time.Second, time.Millisecond)
	c.Disarm(ctx.Done())
	n := kicks.Load()
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, n, kicks.Load(), "no kick after Disarm returns")
}

// TestCancellerRaces arms and disarms in a loop under contexts that are
// cancelled at random moments, some long-lived (shared by many calls, the
// fast path of Arm), some new per call: a kick runs only while a call is
// armed with a context that is done, and every armed call whose context is
// done is kicked before it disarms (it waits for the kick as a wait inside
// C would).
func TestCancellerRaces(t *testing.T) {
	var armed atomic.Bool
	var kicked, bad atomic.Int32
	var cur atomic.Pointer[context.Context]
	c := NewCanceller(func() {
		p := cur.Load()
		if !armed.Load() || p == nil || (*p).Err() == nil {
			bad.Add(1)
		}
		kicked.Add(1)
	}, 0)
	defer c.Stop()
	shared, cancelShared := context.WithCancel(context.Background())
	defer func() { cancelShared() }()
	for i := 0; i < 20000; i++ {
		if shared.Err() != nil || i%500 == 0 {
			cancelShared()
			shared, cancelShared = context.WithCancel(context.Background())
		}
		ctx, cancel := shared, cancelShared
		own, cancelOwn := context.WithCancel(context.Background())
		if i%3 != 0 {
			ctx, cancel = own, cancelOwn
		}
		cur.Store(&ctx)
		before := kicked.Load()
		armed.Store(true)
		c.Arm(ctx.Done())
		if i%7 == 0 {
			go cancel()
		} else if i%7 == 1 {
			cancel()
		}
		if ctx.Err() != nil || i%7 == 0 {
			// a done context: wait for its kick, as a kicked wait would
			deadline := time.Now().Add(5 * time.Second)
			for kicked.Load() == before && ctx.Err() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("call %d: armed with a done context, never kicked", i)
				}
				runtime.Gosched()
			}
		}
		c.Disarm(ctx.Done())
		armed.Store(false)
		cancelOwn()
	}
	assert.Zero(t, bad.Load(), "kicks while disarmed or for a live context")
	assert.Positive(t, kicked.Load())
}

func TestLifeAndResult(t *testing.T) {
	var l Life
	require.True(t, l.Acquire())
	assert.False(t, l.Closed())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Equal(t, context.Canceled, l.Result(ctx, syscall.ECANCELED), "kicked by ctx")
	assert.ErrorIs(t, l.Result(context.Background(), syscall.ETIMEDOUT), syscall.ETIMEDOUT)
	assert.ErrorIs(t, l.Result(context.Background(), context.DeadlineExceeded), context.DeadlineExceeded)
	assert.Equal(t, syscall.EIDRM, l.Result(ctx, syscall.EIDRM))
	assert.NoError(t, l.Result(ctx, nil))
	require.True(t, l.Close())
	require.False(t, l.Close(), "once")
	assert.False(t, l.Acquire(), "closed")
	assert.Equal(t, os.ErrClosed, l.Result(ctx, syscall.ECANCELED), "kicked by Close")
	drained := make(chan struct{})
	var kicks atomic.Int32
	go func() { l.Drain(func() { kicks.Add(1) }); close(drained) }()
	time.Sleep(5 * time.Millisecond)
	select {
	case <-drained:
		t.Fatal("Drain returned with a call in flight")
	default:
	}
	l.Release()
	<-drained
	assert.Positive(t, kicks.Load())
}

func TestLifeLastRelease(t *testing.T) {
	var l Life
	require.True(t, l.Acquire()) // the handle itself
	require.True(t, l.Acquire()) // a lock held through it
	require.True(t, l.Close())
	assert.False(t, l.Acquire(), "no new call after Close")
	assert.True(t, l.AcquireLive(), "but a holder may still unlock")
	assert.False(t, l.ReleaseLast(2), "the handle's reference is still there")
	assert.True(t, l.ReleaseLast(1), "the last one out of a closed handle")
	assert.False(t, l.AcquireLive(), "finalised: nothing more")
}
