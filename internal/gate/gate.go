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
// Arm and Disarm cost an uncontended mutex: the holder never waits for the
// watching goroutine. When consecutive calls use the same context (a
// service's long-lived one), the goroutine keeps watching its Done channel
// and Arm sends it nothing; a new context costs one buffered channel send.
// A kick happens only under the mutex and only while the call that armed
// with that Done channel is still armed, so a late watcher never kicks a
// call that has disarmed.
type Canceller struct {
	kick   func()
	repeat time.Duration
	reqs   chan (<-chan struct{})
	stop   chan struct{}

	mu        sync.Mutex
	armed     bool
	armedDone <-chan struct{} // the Done channel of the armed call
	watching  <-chan struct{} // the Done channel last handed to the goroutine

	once     sync.Once
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// NewCanceller returns a Canceller that calls kick when an armed context is
// done. With repeat > 0 it calls kick again every repeat until the holder
// disarms (for kicks that can be lost, like a signal that arrives just before
// the thread sleeps). Its goroutine starts on the first Arm; Stop ends it.
// kick runs with the Canceller's mutex held: it must be short and must not
// call Arm or Disarm.
func NewCanceller(kick func(), repeat time.Duration) *Canceller {
	return &Canceller{kick: kick, repeat: repeat, reqs: make(chan (<-chan struct{}), 16), stop: make(chan struct{})}
}

// fire kicks if the call armed with done is still armed and reports whether
// it did. With forget, it also stops watching done (it is closed for good).
func (c *Canceller) fire(done <-chan struct{}, forget bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if forget && c.watching == done {
		c.watching = nil
	}
	if !c.armed || c.armedDone != done {
		return false
	}
	c.kick()
	return true
}

func (c *Canceller) loop() {
	defer c.wg.Done()
	for {
		var cur <-chan struct{}
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
		case <-cur:
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
	c.mu.Lock()
	c.armed, c.armedDone = true, done
	send := c.watching != done
	if send {
		c.watching = done
	}
	c.mu.Unlock()
	if send {
		c.reqs <- done
	}
}

// Disarm ends the watch begun by Arm(done). When it returns, no kick for that
// watch is running or will run.
func (c *Canceller) Disarm(done <-chan struct{}) {
	if done == nil {
		return
	}
	c.mu.Lock()
	c.armed, c.armedDone = false, nil
	c.mu.Unlock()
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
