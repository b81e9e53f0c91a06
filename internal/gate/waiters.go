//go:build linux && cgo

package gate

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/errs"
)

// MaxInKernel bounds the goroutines of this process that wait inside C
// through a Kit (Do, Block) at once: each of those holds an
// OS thread. The others wait where their kit has an idle wait (SetIdle):
// in the Go runtime's poller (PollerWait: the byte streams and mq) or in
// the process's futex watch (FutexWait: semaphores, rings); else they poll their
// non-blocking call with a backoff from 1 to 25 ms, until a slot is free
// or their call succeeds; so 1,000 blocked goroutines on
// 1,000 handles cost at most this many threads, not 1,000.
const MaxInKernel = 16

// inKernel counts the slots taken.
var inKernel atomic.Int32

// TakeSlot takes one of the process's MaxInKernel slots if one is free; a
// true return must be paired with GiveSlot. The kit takes them itself; a
// wait that cannot go through Do or Block (pthread.Cond, whose waiters
// beyond the one in C release a mutex while they wait) takes one before it
// waits inside C and, finding none, waits in Go instead.
func TakeSlot() bool {
	if inKernel.Add(1) > MaxInKernel {
		inKernel.Add(-1)
		return false
	}
	return true
}

// GiveSlot gives back a slot taken by TakeSlot.
func GiveSlot() { inKernel.Add(-1) }

// waitSlot's backoff.
const (
	pollMin = time.Millisecond
	pollMax = 25 * time.Millisecond
)

// KickRepeat is how often a cancellation is re-signalled until the waiter
// inside C has left (a signal can land just before the thread sleeps).
const KickRepeat = time.Millisecond

// Unarmed is how long a timed wait with a deadline stays in C before it
// arms the canceller: a result that comes sooner (a ping-pong) costs no
// wake-up of the canceller's goroutine, and a cancellation is seen at most
// this late plus the kick. A wait without a deadline arms at once and
// waits without a timeout: a kernel timer per wait costs more than the
// arming (on a VM, a timer armed and cancelled per wait made a FIFO round
// trip 3× slower), and a long-lived context's Done needs no new watch.
const Unarmed = int64(500 * time.Microsecond)

// CWaiter is the C state of one goroutine waiting inside C that another
// goroutine can reach: posixipc.Waiter (flags, a futex word, a signal and,
// for the waits on a descriptor, a sentinel swapped over it), or mq's
// posixipc.MqWaiter (that waiter plus mq's poll mode).
type CWaiter interface {
	// Reset undoes a cancelling kick before a new wait (a closing kick
	// stays). No kick may be in flight for an earlier wait.
	Reset()
	// Kick makes the wait inside C, or the next one, return ECANCELED;
	// closing marks it for good.
	Kick(closing bool)
	// Free releases the C state; nobody may be inside.
	Free()
}

// A point is one place where a goroutine may wait inside C: a gate that
// admits one goroutine, the C waiter it waits on and the canceller that
// kicks it. It stays bound to its key while nobody uses it, so the next
// call with that key takes it without the kit's lock; the kit rebinds an
// unused point to another key only under its lock, with users at -1.
type point[W CWaiter] struct {
	key   atomic.Uint64
	users atomic.Int32 // calls using the point (parked in its gate or inside); -1: being rebound
	g     *Gate
	c     *Canceller
	w     W
	// blocked counts down the calls of Call that go straight to the wait,
	// set to blockRun by a call whose try found it would block.
	blocked atomic.Int32
}

// blockRun is how many calls of Call go straight to the wait after a try
// that found it would block, before one tries first again.
const blockRun = 8

// use counts a call in p if p is bound to key.
func (p *point[W]) use(key uint64) bool {
	for {
		u := p.users.Load()
		if u < 0 || p.key.Load() != key {
			return false
		}
		if p.users.CompareAndSwap(u, u+1) {
			// Counted: p cannot be rebound now. It was not between the
			// loads and the compare-and-swap if its key is still key.
			if p.key.Load() == key {
				return true
			}
			p.users.Add(-1)
			return false
		}
	}
}

// Kit is the blocking-call kit of one handle whose calls wait inside C: its
// Life, and its points, each with a C waiter of type W that another
// goroutine can kick.
//
// Every blocking call goes through Do (or Block), which reads the same for
// every such facility: validate (the caller), fast try, gate, slot, arm, C
// wait, disarm, one error mapping (Life.Result).
//
// Calls with equal keys wait for the same thing (a semaphore's unit, a
// message of one type) and share one point: at most one of them waits in C,
// the others park in Go. Calls with different keys (a receiver of type 1
// and one of type 2) each get their own point, so none waits behind
// another for a result that is already there.
//
// Waiters, the kit of the signal-kicked waiter (posixipc.Waiter), is the
// one most facilities use; mq's kit waits on posixipc.MqWaiter.
type Kit[W CWaiter] struct {
	Life

	timed  bool // the C wait takes a timeout: with a deadline, wait Unarmed before arming
	newW   func() (W, error)
	mu     sync.Mutex
	pts    []*point[W]              // every point, each bound to its key (one point a key); under mu
	hot    atomic.Pointer[point[W]] // the point taken last: take's lock-free path
	closed chan struct{}
	once   sync.Once

	// idleWait and idleWake: see SetIdle.
	idleWait func(ctx context.Context, key uint64) error
	idleWake func()
}

// SetIdle makes the calls of the kit that find no free slot wait without a
// thread, instead of polling their try with a 1 to 25 ms backoff: wait
// returns nil once the call of key may have become possible (a descriptor
// facility waits in the Go runtime's poller, and looks at the descriptor
// after it has armed the poller's wait, so no readiness is lost), and an
// error when ctx is done, when wake is called, or when it cannot wait (the
// call then polls as without it). The kit then tries the call and waits
// again. It is made by at most one call of a key at a time (the holder of
// its point's gate); Close calls wake until every call has left. Set it
// before the first call.
func (k *Kit[W]) SetIdle(wait func(ctx context.Context, key uint64) error, wake func()) {
	k.idleWait, k.idleWake = wait, wake
}

// Waiters is the kit of the signal-kicked C waiter (posixipc.Waiter).
type Waiters = Kit[posixipc.Waiter]

// NewWaiters returns the kit of a handle whose waits use posixipc.Waiter.
// timed tells whether its C waits take a timeout (then a deadline is kept
// in C; otherwise the canceller kicks the wait when the context's deadline
// passes).
func NewWaiters(timed bool) *Waiters { return NewKit(timed, posixipc.NewWaiter) }

// NewKit returns the kit of a handle whose C waiters newW makes (one per
// point, called with the kit's lock held).
func NewKit[W CWaiter](timed bool, newW func() (W, error)) *Kit[W] {
	return &Kit[W]{timed: timed, newW: newW, closed: make(chan struct{})}
}

// Each calls f on every C waiter of the kit, with its lock held (so no
// point is made meanwhile): for a facility that changes how its waiters
// wait (mq's poll mode).
func (k *Kit[W]) Each(f func(W)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pts {
		f(p.w)
	}
}

// WouldBlock is what a try function returns when the call would have to
// wait.
var WouldBlock = syscall.EAGAIN

// done reports whether ctx is done, without the lock that ctx.Err takes.
func done(ctx context.Context) bool {
	d := ctx.Done()
	if d == nil {
		return false
	}
	select {
	case <-d:
		return true
	default:
		return false
	}
}

// Do runs one blocking call: try makes it without waiting (WouldBlock when
// it would have to wait), wait makes it inside C on w with a timeout of rel
// nanoseconds (-1: none) and returns ECANCELED when w is kicked, ETIMEDOUT
// when rel passed. The error is mapped by Life.Result: nil, os.ErrClosed,
// the context's error (errs.Deadline), or the call's own error.
//
// Do tries first, before it looks at the gate: right for a try that costs
// no system call (sem_trywait) or that usually succeeds (a send).
func (k *Kit[W]) Do(ctx context.Context, key uint64, try func() error, wait func(w W, rel int64) error) error {
	return k.run(ctx, key, true, try, wait)
}

// Block is Do for a call whose wait is its own fast path (a semop or
// msgrcv that can proceed returns at once): when the point of key is free
// it goes straight to wait, one system call; try runs only when the call
// must park behind another waiter or poll for a slot.
func (k *Kit[W]) Block(ctx context.Context, key uint64, try func() error, wait func(w W, rel int64) error) error {
	return k.run(ctx, key, false, try, wait)
}

// TryBlock is Block after a first try outside the kit (no Acquire: the
// caller's own reference keeps the handle's C state alive, as a lock
// handle's does), so that a call that succeeds at once costs no more than
// its try; a done context skips it (Block then handles it as Do would).
func (k *Kit[W]) TryBlock(ctx context.Context, key uint64, try func() error, wait func(w W, rel int64) error) error {
	if !done(ctx) {
		if err := try(); err != WouldBlock {
			return err
		}
	}
	return k.Block(ctx, key, try, wait)
}

// Call runs a blocking call as Do or as Block, by how the recent calls of
// key went: after a call whose try found it would block, the next blockRun
// calls go straight to the wait (for a wait that is its own fast path,
// such as a blocking flock: one system call instead of a failed try and
// the wait), then one tries first again. So calls that mostly wait (a
// ping-pong) save the failed try, and calls that mostly succeed at once
// (an uncontended lock) pay no wait set-up.
func (k *Kit[W]) Call(ctx context.Context, key uint64, try func() error, wait func(w W, rel int64) error) error {
	if p := k.hot.Load(); p != nil && p.key.Load() == key {
		if n := p.blocked.Load(); n > 0 {
			p.blocked.Store(n - 1)
			return k.run(ctx, key, false, try, wait)
		}
	}
	return k.run(ctx, key, true, try, wait)
}

func (k *Kit[W]) run(ctx context.Context, key uint64, tryFirst bool, try func() error, wait func(w W, rel int64) error) error {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			if ctx.Err() != context.DeadlineExceeded {
				return errs.Ctx(ctx) // cancelled: nothing is tried
			}
			// A passed deadline still takes what is there: one try.
			if !k.Acquire() {
				return os.ErrClosed
			}
			err := try()
			k.Release()
			if err == WouldBlock {
				return errs.Deadline
			}
			return err
		default:
		}
	}
	if !k.Acquire() {
		return os.ErrClosed
	}
	// No defers on this path: with its many returns they would not be
	// open-coded, and their records cost more than the calls they guard.
	var err error
	if tryFirst {
		err = try()
	}
	if !tryFirst || err == WouldBlock {
		var p *point[W]
		if p, err = k.take(key); err == nil {
			if tryFirst {
				p.blocked.Store(blockRun)
			}
			err = k.at(ctx, p, tryFirst, try, wait)
			k.give(p)
		}
	}
	k.Release()
	return err
}

// at runs the call at point p: through its gate, with a slot (or polling
// for one), then the wait in C.
func (k *Kit[W]) at(ctx context.Context, p *point[W], tried bool, try func() error, wait func(w W, rel int64) error) error {
	if !p.g.TryEnter() {
		if !tried {
			if err := try(); err != WouldBlock {
				return err
			}
		}
		if err := p.g.Enter(ctx); err != nil {
			// A deadline that passes while parked is no reason to give up
			// on a result that is there all along: one last try.
			if err == context.DeadlineExceeded {
				if err := try(); err != WouldBlock {
					return err
				}
			}
			return k.Result(ctx, err)
		}
		// The result may have come while we were parked.
		if err := try(); err != WouldBlock {
			p.g.Leave()
			return err
		}
	}
	if !TakeSlot() {
		var err error
		if k.idleWait != nil {
			err = k.idle(ctx, p.key.Load(), try)
		} else {
			err = waitSlot(ctx, k.closed, try)
		}
		if err != WouldBlock {
			p.g.Leave()
			return err
		}
	}
	err := k.block(ctx, p, wait)
	GiveSlot()
	if (err == syscall.ETIMEDOUT || (err == syscall.ECANCELED && ctx.Err() == context.DeadlineExceeded)) && !k.Closed() {
		// The deadline ended the wait, maybe before it looked (a thread
		// descheduled past it): what is there is still taken, as by a
		// call whose deadline had passed before it began.
		if e := try(); e != WouldBlock {
			err = e
		}
	}
	p.g.Leave()
	return k.Result(ctx, err)
}

// waitSlot is how a waiter that found no free slot (TakeSlot) waits for
// one without holding a thread: it calls try with a backoff from 1 to 25 ms
// until try stops failing with WouldBlock (its result is returned), a slot
// is free (WouldBlock is returned, the slot taken: GiveSlot it), ctx is
// done (its error, errs.Deadline for a deadline) or closed is closed
// (os.ErrClosed).
func waitSlot(ctx context.Context, closed <-chan struct{}, try func() error) error {
	t := time.NewTimer(pollMin)
	defer t.Stop()
	for d := pollMin; ; d = min(2*d, pollMax) {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ended(ctx, try)
		case <-closed:
			return os.ErrClosed
		}
		if err := try(); err != WouldBlock {
			return err
		}
		if TakeSlot() {
			return WouldBlock
		}
		t.Reset(d)
	}
}

// ended is the result of a call waiting for a slot whose ctx is done:
// after a passed deadline one last try (what is there at the deadline is
// taken, as everywhere), then the context's error.
func ended(ctx context.Context, try func() error) error {
	if ctx.Err() == context.DeadlineExceeded {
		if err := try(); err != WouldBlock {
			return err
		}
	}
	return errs.Ctx(ctx)
}

// idle is waitSlot for a kit with an idle wait (SetIdle): wait until the
// call may be possible, try, until the try gives a result (nil, or an
// error other than WouldBlock) or a slot is free (WouldBlock: wait in C).
func (k *Kit[W]) idle(ctx context.Context, key uint64, try func() error) error {
	for {
		werr := k.idleWait(ctx, key)
		switch {
		case k.Closed():
			return os.ErrClosed
		case ctx.Err() != nil:
			return ended(ctx, try)
		case werr != nil:
			return waitSlot(ctx, k.closed, try) // it cannot wait here: poll
		}
		if err := try(); err != WouldBlock {
			return err
		}
		if TakeSlot() {
			return WouldBlock
		}
	}
}

// block makes the wait in C, arming the canceller only when ctx can be done
// (and, for timed waits with a deadline, only after Unarmed has passed
// without a result).
func (k *Kit[W]) block(ctx context.Context, p *point[W], wait func(w W, rel int64) error) error {
	done := ctx.Done()
	rel := Timeout(ctx)
	p.w.Reset()
	if done == nil || (k.timed && rel >= 0 && rel <= Unarmed) {
		return wait(p.w, rel)
	}
	if k.timed && rel >= 0 {
		if err := wait(p.w, Unarmed); err != syscall.ETIMEDOUT {
			return err
		}
		rel = Timeout(ctx)
	}
	p.c.Arm(done)
	err := wait(p.w, rel)
	p.c.Disarm(done)
	return err
}

// take returns the point of key, counting the call in it: the point
// taken last without the kit's lock when it is key's, else under the lock
// key's point, an unused point rebound to key, or a new one.
func (k *Kit[W]) take(key uint64) (*point[W], error) {
	if p := k.hot.Load(); p != nil && p.use(key) {
		return p, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.pts {
		if p.use(key) {
			k.hot.Store(p)
			return p, nil
		}
	}
	var p *point[W]
	for _, q := range k.pts {
		if q.users.CompareAndSwap(0, -1) {
			p = q
			break
		}
	}
	if p == nil {
		w, err := k.newW()
		if err != nil {
			return nil, err
		}
		p = &point[W]{g: New(), w: w}
		p.c = NewCanceller(func() { w.Kick(false) }, KickRepeat)
		k.pts = append(k.pts, p)
	}
	select {
	case <-k.closed: // Close runs: its kicks reach p, and so must its gate
		p.g.Close()
	default:
	}
	p.key.Store(key)
	p.users.Store(1)
	k.hot.Store(p)
	return p, nil
}

// give ends a call's use of p (which stays bound to its key).
func (k *Kit[W]) give(p *point[W]) { p.users.Add(-1) }

// Close makes every call in flight return os.ErrClosed: it sets the closed
// bit, wakes the parked, kicks the waiters inside C until every call has
// left, and then frees the C waiters. It reports whether this call closed
// the handle (false: it was already closed). The handle's own C state may
// be freed once it returns true.
func (k *Kit[W]) Close() bool {
	if !k.Life.Close() {
		return false
	}
	k.once.Do(func() { close(k.closed) })
	k.mu.Lock()
	for _, p := range k.pts {
		p.g.Close()
	}
	k.mu.Unlock()
	k.Drain(func() {
		k.mu.Lock()
		for _, p := range k.pts {
			if p.users.Load() > 0 {
				p.w.Kick(true)
			}
		}
		k.mu.Unlock()
		if k.idleWake != nil {
			k.idleWake()
		}
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hot.Store(nil)
	for _, p := range k.pts {
		p.c.Stop()
		p.w.Free()
	}
	k.pts = nil
	return true
}
