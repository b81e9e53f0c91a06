//go:build linux && cgo

package pthread

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/gate"
)

// condSlice bounds one wait of a Cond's helper thread in glibc: a waiter
// that sees no wake-up for that long returns as from a spurious wake-up
// (POSIX allows them; Wait is always called in a loop), and a helper that a
// lost kick left waiting on a re-initialised condvar is free again.
const condSlice = int64(time.Second)

// SlotPoll is how long a Wait that finds the process's waits inside C at
// their bound (gate.MaxInKernel, over every handle of every facility) and
// no other waiter of its handle inside C waits in Go before it returns as
// from a spurious wake-up (its caller re-checks its condition and waits
// again).
const SlotPoll = 10 * time.Millisecond

// WakeBound is how long Signal and Broadcast wait for glibc. On a condvar
// whose bytes a peer corrupted, or one with a waiter that died inside it
// (glibc before 2.41), pthread_cond_signal can wait forever; after
// WakeBound they return an error wrapping ErrWedged instead, and until that
// call has left glibc every later Signal and Broadcast of the handle fails
// at once the same way (so at most one thread per handle is lost to it).
const WakeBound = time.Second

// ErrWedged is wrapped by the error of a Signal or Broadcast that glibc did
// not finish within WakeBound: the condvar's state is corrupt (or a waiter
// died inside it). Re-initialise it (NewCond) once nobody uses it.
var ErrWedged = errors.New("pthread_cond_signal/broadcast did not return: the condvar's state is corrupt or a waiter died inside it (re-initialise it)")

// Cond is a handle to a process-shared pthread_cond_t placed in a
// shared-memory segment, used with a Mutex. Its methods are safe for
// concurrent use.
//
// One goroutine per handle waits through C at a time; the other local
// waiters release the mutex and park in Go, and every return of the one in
// C (a signal, a broadcast, a timeout) wakes them too. They return as from
// a spurious wake-up, which POSIX allows, so a waiter always re-checks its
// condition in a loop. Thousands of waiting goroutines cost one OS thread,
// plus the handle's helper thread (see Wait). The waits inside C count
// toward the process-wide bound of the waiter kit (gate.MaxInKernel, over
// every handle of every facility): a Wait that finds it reached waits in
// Go and returns as from a spurious wake-up after SlotPoll. A helper
// thread idle for a second exits; the next Wait starts another.
type Cond struct {
	object
	*condC // the C state: also reached by the clean-up, which must not refer to the Cond
	gate   *gate.Gate
	closed chan struct{}

	mu     sync.Mutex
	parked map[chan struct{}]struct{}
}

// condC is a Cond's C state and the goroutines that reach into it: the
// handle, the helper thread, the canceller and the waker. It does not refer
// to the Cond, so that a Cond dropped without Close can be collected and
// its clean-up (life.dropped, then finalize) can free this.
type condC struct {
	cptr unsafe.Pointer // the pthread_cond_t (as object.ptr)
	seg  *shm.Segment
	h    posixipc.PthreadHandle
	ch   posixipc.Helper
	canc *gate.Canceller
	w    waker
}

// NewCond initialises a condvar at off in seg with pthread_cond_init(3)
// (PTHREAD_PROCESS_SHARED, CLOCK_MONOTONIC) and returns a handle to it.
// Initialise each condvar once, while no process uses it; others attach
// with CondAt.
func NewCond(seg *shm.Segment, off int64) (*Cond, error) {
	c, err := newCond("pthread_cond_init", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.PthreadCondInit(c.object.ptr, true, true); err != nil {
		c.Close()
		return nil, c.err("pthread_cond_init", err)
	}
	return c, nil
}

// CondAt attaches to the condvar at off in seg, initialised as
// process-shared by this or another process (C or Go). It fails with an
// error wrapping syscall.EINVAL when the bytes there are not one.
func CondAt(seg *shm.Segment, off int64) (*Cond, error) {
	c, err := newCond("attach", seg, off)
	if err != nil {
		return nil, err
	}
	if w := posixipc.PthreadCondState(c.object.ptr); w&1 == 0 {
		c.Close()
		return nil, c.err("attach", fmt.Errorf("not an initialised process-shared condvar (initialise it with NewCond or pthread_condattr_setpshared): %w", syscall.EINVAL))
	}
	return c, nil
}

func newCond(op string, seg *shm.Segment, off int64) (*Cond, error) {
	c := &Cond{closed: make(chan struct{}), parked: map[chan struct{}]struct{}{}}
	if err := c.place(op, seg, off, SizeofCond, AlignofCond); err != nil {
		return nil, err
	}
	h, err := newHandle(op, c.name)
	if err != nil {
		seg.Unpin()
		return nil, err
	}
	ch, err := posixipc.NewHelper(c.object.ptr, condSlice)
	if err != nil {
		h.Free()
		seg.Unpin()
		return nil, c.err(op, err)
	}
	cs := &condC{cptr: c.object.ptr, seg: seg, h: h, ch: ch}
	c.condC = cs
	c.gate = gate.New()
	cs.canc = gate.NewCanceller(func() { posixipc.HelperKick(ch, h) }, 0)
	cs.w.init()
	c.l.finalize = func() bool { // refers to the C state, not to c (see life)
		cs.canc.Stop()
		// A helper still inside glibc (a wait given up on a condvar that
		// nobody signals) is kicked out with a broadcast and is normally
		// gone at once. One that does not leave, or a broadcast that does
		// not return, is stuck in corrupt state: then the rest of the
		// clean-up waits in the background, and the segment stays pinned
		// while C code may touch its memory (for good if it never leaves).
		if cs.ch.Busy() {
			cs.w.kick(cs)
		}
		if cs.w.stop(func() bool { return cs.ch.Busy() }, 20*time.Millisecond) {
			cs.ch.Free()
			cs.h.Free()
			return true
		}
		go cs.finishLater()
		return false
	}
	watch(c, &c.object)
	return c, nil
}

// finishLater ends the clean-up of a finalised Cond whose helper or waker
// was still in glibc: it unpins the segment only once neither is.
func (cs *condC) finishLater() {
	if cs.w.stop(func() bool { return cs.ch.Busy() }, 5*time.Second) {
		cs.seg.Unpin()
	}
	cs.w.forceStop()
	cs.ch.Free()
	cs.h.Free()
}

// Wait atomically unlocks m and waits for Signal or Broadcast (from any
// process), then locks m again before returning, as pthread_cond_wait(3).
// The calling goroutine must hold m. Wake-ups may be spurious (at the
// latest one a second, see below): call Wait in a loop that checks the
// condition.
//
// When ctx is done Wait returns an error wrapping ctx.Err() (a deadline:
// also syscall.ETIMEDOUT), and when the handle is closed one wrapping
// os.ErrClosed; either way it returns with m held again, as POSIX requires
// (so it may first wait for m). A wake-up the cancelled waiter may have
// consumed is passed on (pthread_cond_signal). When the holder of m died
// meanwhile, Wait returns ErrOwnerDead with m held; after ErrNotRecoverable
// m is not held. Errors wrapping syscall.EPERM (m not held by the caller)
// or syscall.EINVAL (a recursive m held more than once) are returned before
// waiting, with m still held.
//
// How it waits: glibc's pthread_cond_clockwait runs on a helper thread of
// the handle (created in C by a Wait when it has none) with a private
// mutex of its own; the calling thread hands it the wait, releases m once the helper is
// registered on the condvar (so no wake-up is lost), and sleeps on a futex
// word in C memory that only this process can reach. So the deadline, the
// context and Close end a Wait whatever a peer wrote into the condvar (or
// if it re-ran pthread_cond_init on it): a corrupt condvar can wedge only
// the helper thread, never the caller. One helper wait lasts at most a
// second; then Wait returns as from a spurious wake-up.
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
	var poll <-chan time.Time
	if c.gate.TryEnter() {
		if gate.TakeSlot() {
			c.mu.Unlock()
			return c.waitC(ctx, m)
		}
		// The process's waits inside C are at their bound: wait in Go
		// and return as from a spurious wake-up after SlotPoll, unless
		// a waiter in C of this handle returns first.
		c.gate.Leave()
		t := time.NewTimer(SlotPoll)
		defer t.Stop()
		poll = t.C
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
	case <-poll:
		c.unpark(ch)
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
	r := int(syscall.ECANCELED)
	if !c.object.closed() { // (Close sets the bit before it kicks)
		done := ctx.Done()
		c.canc.Arm(done)
		r = posixipc.PthreadCondWait(c.ch, m.ptr, m.h, c.h, gate.Timeout(ctx))
		c.canc.Disarm(done)
	}
	gate.GiveSlot()
	released := r&posixipc.CondReleased != 0
	errno := syscall.Errno(r &^ posixipc.CondReleased)
	c.mu.Lock()
	for ch := range c.parked {
		close(ch)
		delete(c.parked, ch)
	}
	c.gate.Leave()
	c.mu.Unlock()
	if released && (errno == syscall.ECANCELED || errno == syscall.ETIMEDOUT) && c.ch.Busy() {
		// The helper still waits in glibc for a wake-up nobody wants now:
		// wake it (asynchronously: on a corrupt condvar this could block).
		c.w.kick(c.condC)
	}
	var werr error
	switch errno {
	case 0:
	case syscall.ECANCELED:
		if c.object.closed() {
			werr = c.errClosed("pthread_cond_wait")
		} else {
			werr = c.err("pthread_cond_wait", ctx.Err())
		}
	default:
		werr = c.waitErr(ctx, "pthread_cond_wait", errno)
	}
	if released {
		// C unlocked m: drop the lock's thread wiring and reference, then
		// lock it again, whatever happened (POSIX).
		runtime.UnlockOSThread()
		m.release()
		if err := m.Lock(context.WithoutCancel(ctx)); err != nil {
			return err // ErrOwnerDead: held; anything else: not held
		}
	}
	return werr
}

// Signal wakes at least one waiter of any process (pthread_cond_signal).
// The caller need not hold the mutex. It waits at most WakeBound for glibc
// (see ErrWedged).
func (c *Cond) Signal() error { return c.wake("pthread_cond_signal", false) }

// Broadcast wakes every waiter of every process (pthread_cond_broadcast),
// waiting at most WakeBound for glibc (see ErrWedged).
func (c *Cond) Broadcast() error { return c.wake("pthread_cond_broadcast", true) }

func (c *Cond) wake(op string, all bool) error {
	if !c.acquire() {
		return c.errClosed(op)
	}
	defer c.release()
	if posixipc.PthreadCondWaiters(c.object.ptr) == 0 {
		return nil // glibc's own first test: nobody to wake
	}
	if err := c.w.call(c.condC, all); err != nil {
		return c.err(op, err)
	}
	return nil
}

// waker runs a Cond's pthread_cond_signal and _broadcast calls on a
// goroutine of its own, so that the caller can stop waiting after
// WakeBound when glibc does not return (a corrupt condvar).
type waker struct {
	mu    sync.Mutex // one call at a time
	req   chan bool  // true: broadcast
	res   chan error // the result of the call of req
	kicks chan struct{}
	quit  chan struct{}
	timer *time.Timer
	once  sync.Once

	state     sync.Mutex // orders a late result against the caller giving up, and C calls against stop
	abandoned bool       // the caller of the call in C gave up
	inC       bool       // a call is in glibc
	stopped   bool
	wedged    atomic.Bool
}

func (w *waker) init() {
	w.req, w.res = make(chan bool), make(chan error, 1)
	w.kicks, w.quit = make(chan struct{}, 1), make(chan struct{})
}

func (w *waker) start(c *condC) {
	w.once.Do(func() {
		w.timer = time.NewTimer(WakeBound)
		w.timer.Stop()
		go w.loop(c)
	})
}

func (w *waker) loop(c *condC) {
	for {
		var all, kick bool
		select {
		case <-w.quit:
			return
		case all = <-w.req:
		case <-w.kicks:
			kick, all = true, true
		}
		w.state.Lock()
		if w.stopped { // the object's memory may be gone
			w.state.Unlock()
			return
		}
		w.inC = true
		w.state.Unlock()
		if kick {
			w.wedged.Store(true) // Signal fails fast while a kick is stuck
		}
		err := w.do(c, all)
		if kick {
			w.wedged.Store(false)
		}
		w.state.Lock()
		w.inC = false
		switch {
		case kick:
		case w.abandoned:
			w.abandoned = false
			w.wedged.Store(false)
		default:
			w.res <- err
		}
		w.state.Unlock()
	}
}

func (w *waker) do(c *condC, all bool) error {
	if all {
		return posixipc.PthreadCondBroadcast(c.cptr)
	}
	return posixipc.PthreadCondSignal(c.cptr)
}

// call runs one signal or broadcast, waiting at most WakeBound.
func (w *waker) call(c *condC, all bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wedged.Load() {
		return ErrWedged
	}
	w.start(c)
	w.timer.Reset(WakeBound)
	select {
	case w.req <- all:
	case <-w.timer.C:
		return ErrWedged // the waker is stuck in a kick's broadcast
	}
	select {
	case err := <-w.res:
		w.timer.Stop()
		return err
	case <-w.timer.C:
	}
	w.state.Lock()
	defer w.state.Unlock()
	select {
	case err := <-w.res:
		return err
	default:
	}
	w.abandoned = true
	w.wedged.Store(true)
	return ErrWedged
}

// kick asks for a broadcast without waiting for it.
func (w *waker) kick(c *condC) {
	w.start(c)
	select {
	case w.kicks <- struct{}{}:
	default: // one is pending already
	}
}

// stop ends the waker once no call is in glibc and busy reports false, or
// after wait; it reports whether it could (false: C code may still touch
// the condvar's memory).
// It may be called again after it reported false, to wait longer; then
// forceStop ends the waker's goroutine whatever it is doing (one in glibc
// ends when it leaves).
func (w *waker) stop(busy func() bool, wait time.Duration) bool {
	w.once.Do(func() {})
	end := time.Now().Add(wait)
	for {
		w.state.Lock()
		idle := !w.inC && !busy()
		if idle && !w.stopped {
			w.stopped = true
			close(w.quit)
		}
		w.state.Unlock()
		if idle || time.Now().After(end) {
			return idle
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *waker) forceStop() {
	w.state.Lock()
	defer w.state.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
}

// Close releases the handle. Waiters of this handle return an error
// wrapping os.ErrClosed, with their mutex held again (so they may first
// wait for it); Close does not wait for them, so it may be called while
// holding that mutex. It does not destroy the condvar. Close is idempotent
// and safe concurrently with blocked calls; the handle's C state is freed,
// and its segment unpinned, when the last waiter returns (and the helper
// thread has left glibc: a helper stuck in a corrupt condvar keeps the
// segment pinned, so its memory is never unmapped under it).
func (c *Cond) Close() error {
	if !c.markClosed() {
		return nil
	}
	close(c.closed)
	c.gate.Close()
	posixipc.HelperKick(c.ch, c.h) // the one waiting through C, if any
	c.release()
	return nil
}
