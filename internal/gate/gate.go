//go:build linux && cgo

// Package gate bounds the OS threads that blocked goroutines cost.
//
// A goroutine blocked inside a C call holds an OS thread. To keep thousands of
// blocked goroutines from costing thousands of threads, every object and
// direction (a queue's receivers, a semaphore's waiters, ...) has a Gate: the
// one goroutine that holds it may block inside C, the others park in Go,
// where they cost no thread, until it is their turn, their context is done or
// the object is closed.
//
// The one inside C must be reachable by cancellation: a Canceller watches its
// context from a long-lived goroutine (no allocation per call) and, when the
// context is done, runs a kick function that makes the C call return (write an
// eventfd that C polls, signal the thread, set a flag that C checks).
package gate

import (
	"context"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Gate admits one goroutine at a time. The zero value is not usable: call New.
//
// The free gate is taken and left with one atomic operation each (no
// channel), so the uncontended path of a blocking call pays a few
// nanoseconds for it; goroutines that find it held park on a channel.
type Gate struct {
	held    atomic.Int32  // 1 while a goroutine holds the gate
	waiting atomic.Int32  // goroutines parked in Enter
	tok     chan struct{} // a wake-up for the parked (capacity 1)
	closed  chan struct{}
	once    sync.Once
}

// New returns an open gate.
func New() *Gate {
	return &Gate{tok: make(chan struct{}, 1), closed: make(chan struct{})}
}

// Enter waits for the gate. It returns ctx.Err() when ctx is done first and
// an error wrapping os.ErrClosed when the gate is closed. After a nil return
// the caller must call Leave.
func (g *Gate) Enter(ctx context.Context) error {
	if !g.held.CompareAndSwap(0, 1) {
		g.waiting.Add(1)
		for !g.held.CompareAndSwap(0, 1) {
			// Leave stores 0 before it looks at waiting, and we counted
			// ourselves before this CAS: either the CAS sees the gate
			// free or Leave sees us and sends a token (sequentially
			// consistent atomics), so no wake-up is lost.
			select {
			case <-g.tok:
			case <-ctx.Done():
				g.waiting.Add(-1)
				g.pass()
				return ctx.Err()
			case <-g.closed:
				g.waiting.Add(-1)
				g.pass()
				return os.ErrClosed
			}
		}
		g.waiting.Add(-1)
	}
	select {
	case <-g.closed:
		g.Leave()
		return os.ErrClosed
	default:
	}
	return nil
}

// pass hands a token on when a parked goroutine that gave up may have
// taken the wake-up meant for another.
func (g *Gate) pass() {
	if g.waiting.Load() > 0 && g.held.Load() == 0 {
		select {
		case g.tok <- struct{}{}:
		default:
		}
	}
}

// TryEnter takes the gate only if it is free at once.
func (g *Gate) TryEnter() bool { return g.held.CompareAndSwap(0, 1) }

// Leave gives the gate to the next waiter.
func (g *Gate) Leave() {
	g.held.Store(0)
	if g.waiting.Load() > 0 {
		select {
		case g.tok <- struct{}{}:
		default: // a token is already there
		}
	}
}

// Close wakes every goroutine parked in Enter (they return os.ErrClosed) and
// makes later Enters fail. It does not wait for the holder: the owner of the
// object kicks the holder out of C and then waits with Drain.
func (g *Gate) Close() { g.once.Do(func() { close(g.closed) }) }

// Drain waits until the current holder, if any, has left. Call it after Close.
func (g *Gate) Drain() {
	for i := 0; !g.held.CompareAndSwap(0, 1); i++ {
		time.Sleep(min(time.Duration(10<<min(i, 7))*time.Microsecond, time.Millisecond))
	}
	g.Leave()
}

// Canceller runs kick when the context of the goroutine inside C is done.
// One Canceller serves one Gate: only the gate's holder arms it.
//
// Arm and Disarm cost a few atomic operations and no lock: the holder
// never waits for the watching goroutine, except while a kick it armed for
// is running (Disarm waits for that kick to finish). When consecutive calls
// use the same context (a service's long-lived one), the goroutine keeps
// watching its Done channel and Arm sends it nothing; a new context costs
// one buffered channel send. Each Done channel handed to the goroutine gets
// a new watch number; a kick happens only while the call armed under that
// number is still armed, so a late watcher never kicks a call that has
// disarmed, nor one armed with another context.
type Canceller struct {
	kick   func()
	repeat time.Duration
	reqs   chan watch
	stop   chan struct{}

	// st is the arming state: armed (bit 0), a kick running (bit 1) and
	// the watch number of the armed call (the bits above).
	st atomic.Uint64
	// watching is the Done channel the goroutine watches (or a nil one once
	// it closed): written by Arm and the goroutine, read by Arm.
	watching atomic.Value
	n        uint64 // the last watch number; only the holder (Arm) writes it

	once     sync.Once
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// A watch is a Done channel handed to the Canceller's goroutine and its
// number.
type watch struct {
	done <-chan struct{}
	n    uint64
}

const (
	stArmed   = 1
	stKicking = 2
	stShift   = 2
)

// NewCanceller returns a Canceller that calls kick when an armed context is
// done. With repeat > 0 it calls kick again every repeat until the holder
// disarms (for kicks that can be lost, like a signal that arrives just before
// the thread sleeps). Its goroutine starts on the first Arm; Stop ends it.
// Disarm waits for a kick in progress: kick must be short and must not call
// Arm or Disarm.
func NewCanceller(kick func(), repeat time.Duration) *Canceller {
	c := &Canceller{kick: kick, repeat: repeat, reqs: make(chan watch, 16), stop: make(chan struct{})}
	c.watching.Store((<-chan struct{})(nil))
	return c
}

// fire kicks if the call armed under watch w is still armed and reports
// whether it did. With forget, it first stops watching w's channel (it is
// closed for good): an Arm that still finds it watched has stored its
// state before, so fire sees it armed.
func (c *Canceller) fire(w watch, forget bool) bool {
	if forget {
		c.watching.CompareAndSwap(w.done, (<-chan struct{})(nil))
	}
	for {
		s := c.st.Load()
		if s&stArmed == 0 || s>>stShift != w.n {
			return false
		}
		if c.st.CompareAndSwap(s, s|stKicking) {
			break
		}
	}
	c.kick()
	c.st.And(^uint64(stKicking))
	return true
}

func (c *Canceller) loop() {
	defer c.wg.Done()
	for {
		var cur watch
		select {
		case cur = <-c.reqs:
		case <-c.stop:
			return
		}
	watch:
		select {
		case cur = <-c.reqs: // a newer context replaces this one
			goto watch
		case <-c.stop:
			return
		case <-cur.done:
		}
		if !c.fire(cur, true) || c.repeat <= 0 {
			continue
		}
		t := time.NewTicker(c.repeat)
		for c.fire(cur, false) {
			select {
			case <-t.C:
			case <-c.stop:
				t.Stop()
				return
			}
		}
		t.Stop()
	}
}

// Arm watches done (a context's Done channel) until Disarm. A nil done needs
// no watching and Arm does nothing. Only the gate holder may call Arm, and
// it must call Disarm with the same done before it leaves the gate.
func (c *Canceller) Arm(done <-chan struct{}) {
	if done == nil {
		return
	}
	c.once.Do(func() { c.wg.Add(1); go c.loop() })
	// The state first, then the look at what is watched: a goroutine that
	// forgets done after this look sees the call armed (see fire).
	if c.watching.Load() == any(done) {
		c.st.Store(c.n<<stShift | stArmed)
		if c.watching.Load() == any(done) {
			return
		}
		// Forgotten in between (done is closed): its kick may be running,
		// rightly, for this call; it is watched again under a new number.
	}
	c.n++
	c.set(c.n<<stShift | stArmed)
	c.watching.Store(done)
	c.reqs <- watch{done, c.n}
}

// set stores v as the arming state once no kick is running.
func (c *Canceller) set(v uint64) {
	for {
		s := c.st.Load()
		if s&stKicking != 0 {
			runtime.Gosched()
			continue
		}
		if c.st.CompareAndSwap(s, v) {
			return
		}
	}
}

// Disarm ends the watch begun by Arm(done). When it returns, no kick for that
// watch is running or will run.
func (c *Canceller) Disarm(done <-chan struct{}) {
	if done != nil {
		c.set(0)
	}
}

// Stop ends the goroutine. No Arm may follow.
func (c *Canceller) Stop() {
	c.once.Do(func() {})
	c.stopOnce.Do(func() { close(c.stop) })
	c.wg.Wait()
}

// MaxTimeout is the longest wait, in nanoseconds, that a blocking call hands
// to C (about 146 years). A deadline further away than that cannot be
// represented as an absolute time in C without overflowing (now + timeout),
// so it means no deadline at all, never an error.
const MaxTimeout = int64(1) << 62

// Timeout returns the nanoseconds left until ctx's deadline, for a C wait:
// -1 when ctx has no deadline or one too far to represent (see MaxTimeout),
// 0 when it has passed.
func Timeout(ctx context.Context) int64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	return Saturate(time.Until(dl))
}

// Saturate turns a wait of d into the nanoseconds a C wait takes: -1 (no
// limit) past MaxTimeout, 0 for a wait that has passed.
func Saturate(d time.Duration) int64 {
	switch {
	case d <= 0:
		return 0
	case int64(d) >= MaxTimeout:
		return -1
	}
	return int64(d)
}
