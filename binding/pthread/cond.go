package pthread

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/gate"
)

// kickPeriod is how often a cancelled or closed condvar wait is kicked
// again: a kick (flag + broadcast) can land just before the waiter sleeps.
const kickPeriod = 2 * time.Millisecond

// Cond is a handle to a process-shared pthread_cond_t placed in a
// shared-memory segment, used with a Mutex. Its methods are safe for
// concurrent use.
//
// One goroutine per handle waits inside pthread_cond_wait; the other local
// waiters release the mutex and park in Go, and every wake-up of the one in
// C (a signal, a broadcast, a timeout) wakes them too. They return as from a
// spurious wake-up, which POSIX allows, so a waiter always re-checks its
// condition in a loop. Thousands of waiting goroutines cost one OS thread.
type Cond struct {
	object
	h      posixipc.PthreadHandle
	gate   *gate.Gate
	canc   *gate.Canceller
	closed chan struct{}

	mu        sync.Mutex
	parked    map[chan struct{}]struct{}
	kstop     chan struct{} // Close's kicker runs until closed (under mu)
	kwg       sync.WaitGroup
	kstopOnce sync.Once
}

// NewCond initialises a condvar at off in seg with pthread_cond_init(3)
// (PTHREAD_PROCESS_SHARED, CLOCK_MONOTONIC) and returns a handle to it.
// Initialise each condvar once, while no process uses it; others attach
// with CondAt.
func NewCond(seg *shm.Segment, off int) (*Cond, error) {
	c, err := newCond("pthread_cond_init", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.PthreadCondInit(c.ptr, true, true); err != nil {
		c.Close()
		return nil, c.err("pthread_cond_init", err)
	}
	return c, nil
}

// CondAt attaches to the condvar at off in seg, initialised as
// process-shared by this or another process (C or Go). It fails with an
// error wrapping syscall.EINVAL when the bytes there are not one.
func CondAt(seg *shm.Segment, off int) (*Cond, error) {
	c, err := newCond("attach", seg, off)
	if err != nil {
		return nil, err
	}
	if w := posixipc.PthreadCondState(c.ptr); w&1 == 0 {
		c.Close()
		return nil, c.err("attach", fmt.Errorf("not an initialised process-shared condvar (initialise it with NewCond or pthread_condattr_setpshared): %w", syscall.EINVAL))
	}
	return c, nil
}

func newCond(op string, seg *shm.Segment, off int) (*Cond, error) {
	c := &Cond{closed: make(chan struct{}), parked: map[chan struct{}]struct{}{}}
	if err := c.place(op, seg, off, SizeofCond, AlignofCond); err != nil {
		return nil, err
	}
	h, err := newHandle(op, c.name)
	if err != nil {
		seg.Unpin()
		return nil, err
	}
	c.h = h
	c.gate = gate.New()
	ptr := c.ptr
	c.canc = gate.NewCanceller(func() { posixipc.PthreadCondKick(ptr, h) }, kickPeriod)
	c.finalize = func() {
		c.canc.Stop()
		c.h.Free()
	}
	return c, nil
}

// Wait atomically unlocks m and waits for Signal or Broadcast (from any
// process), then locks m again before returning, as pthread_cond_wait(3)
// (pthread_cond_clockwait(3) on CLOCK_MONOTONIC when ctx has a deadline).
// The calling goroutine must hold m. Wake-ups may be spurious: call Wait in
// a loop that checks the condition.
//
// When ctx is done Wait returns an error wrapping ctx.Err(), and when the
// handle is closed one wrapping os.ErrClosed; either way it returns with m
// held again, as POSIX requires (so it may first wait for m). A signal the
// cancelled waiter may have consumed is passed on (pthread_cond_signal).
// When the holder of m died meanwhile, Wait returns ErrOwnerDead with m held;
// after ErrNotRecoverable m is not held. Errors wrapping syscall.EPERM (m not
// held by the caller) or syscall.EINVAL (a recursive m held more than once)
// are returned before waiting, with m still held.
func (c *Cond) Wait(ctx context.Context, m *Mutex) error {
	if !c.acquire() {
		return c.errClosed("pthread_cond_wait")
	}
	defer c.release()
	if err := m.h.WaitCheck(); err != nil {
		return c.err("pthread_cond_wait", err)
	}
	if err := ctx.Err(); err != nil {
		return c.err("pthread_cond_wait", err)
	}
	c.mu.Lock()
	if c.gate.TryEnter() {
		c.mu.Unlock()
		return c.waitC(ctx, m)
	}
	// Another local goroutine waits in C: park in Go. Registering under m
	// (which we hold) orders us before the one in C returns (it must get m
	// back first), so its wake-up reaches us.
	ch := make(chan struct{})
	c.parked[ch] = struct{}{}
	c.mu.Unlock()
	if err := m.Unlock(); err != nil {
		c.unpark(ch)
		return err
	}
	var werr error
	select {
	case <-ch:
	case <-ctx.Done():
		werr = c.err("pthread_cond_wait", ctx.Err())
		c.unpark(ch)
	case <-c.closed:
		werr = c.errClosed("pthread_cond_wait")
		c.unpark(ch)
	}
	// Lock m again whatever happened (POSIX); only m's own failure stops it.
	if err := m.Lock(context.WithoutCancel(ctx)); err != nil {
		return err // ErrOwnerDead: held; anything else: not held
	}
	return werr
}

func (c *Cond) unpark(ch chan struct{}) {
	c.mu.Lock()
	delete(c.parked, ch)
	c.mu.Unlock()
}

// waitC is the wait of the one goroutine in C; the caller holds the gate.
func (c *Cond) waitC(ctx context.Context, m *Mutex) error {
	c.h.SetCancel(false)
	var err error
	if c.object.closed() {
		err = syscall.ECANCELED
	} else {
		done := ctx.Done()
		c.canc.Arm(done)
		err = posixipc.PthreadCondWait(c.ptr, m.ptr, m.h, c.h, timeout(ctx))
		c.canc.Disarm(done)
	}
	c.mu.Lock()
	for ch := range c.parked {
		close(ch)
		delete(c.parked, ch)
	}
	c.gate.Leave()
	kstop := c.kstop
	c.mu.Unlock()
	if kstop != nil { // Close is kicking us: stop it before returning
		c.kstopOnce.Do(func() { close(kstop) })
		c.kwg.Wait()
	}
	switch err {
	case nil:
		return nil
	case syscall.EOWNERDEAD:
		return c.err("pthread_cond_wait", ErrOwnerDead)
	case syscall.ENOTRECOVERABLE: // m is no longer held
		runtime.UnlockOSThread()
		m.release()
		return c.err("pthread_cond_wait", ErrNotRecoverable)
	}
	return c.waitErr(ctx, "pthread_cond_wait", err)
}

// Signal wakes at least one waiter of any process (pthread_cond_signal).
// The caller need not hold the mutex.
func (c *Cond) Signal() error {
	if !c.acquire() {
		return c.errClosed("pthread_cond_signal")
	}
	defer c.release()
	if err := posixipc.PthreadCondSignal(c.ptr); err != nil {
		return c.err("pthread_cond_signal", err)
	}
	return nil
}

// Broadcast wakes every waiter of every process (pthread_cond_broadcast).
func (c *Cond) Broadcast() error {
	if !c.acquire() {
		return c.errClosed("pthread_cond_broadcast")
	}
	defer c.release()
	if err := posixipc.PthreadCondBroadcast(c.ptr); err != nil {
		return c.err("pthread_cond_broadcast", err)
	}
	return nil
}

// Close releases the handle. Waiters of this handle return an error
// wrapping os.ErrClosed, with their mutex held again (so they may first
// wait for it); Close does not wait for them, so it may be called while
// holding that mutex. It does not destroy the condvar. Close is idempotent
// and safe concurrently with blocked calls; the handle's C state is freed,
// and its segment unpinned, when the last waiter returns.
func (c *Cond) Close() error {
	if !c.markClosed() {
		return nil
	}
	close(c.closed)
	c.gate.Close()
	c.mu.Lock()
	if !c.gate.TryEnter() {
		// One waits inside C: kick it until it leaves (a kick can land just
		// before it sleeps). It stops the kicker on its way out (waitC),
		// after the kicker dropped its reference.
		c.kstop = make(chan struct{})
		c.kwg.Add(1)
		c.refs.Add(1) // the kicker's reference; the handle's is still held
		ptr, h := c.ptr, c.h
		go func() {
			var wg sync.WaitGroup
			wg.Add(1)
			kicker(func() { posixipc.PthreadCondKick(ptr, h) }, kickPeriod, c.kstop, &wg)
			c.release()
			c.kwg.Done()
		}()
	} else {
		c.gate.Leave()
	}
	c.mu.Unlock()
	c.release()
	return nil
}
