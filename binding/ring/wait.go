//go:build linux && cgo

package ring

// Waiting: a call that cannot proceed goes through the module's waiter kit
// (internal/gate): one goroutine per handle and direction spins on the
// shared words for the handle's spin budget, then sleeps on the futex word
// of its direction (posixipc.RingWait, kicked like every signal-kicked
// waiter); the others park in Go. A waker bumps the word and calls
// FUTEX_WAKE only when the direction's waiter count says someone sleeps.

import (
	"context"
	"os"
	"runtime/debug"
	"syscall"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc/binding/shm"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
	"golang.org/x/sys/unix"
)

// The two directions, as gate keys.
const (
	keyData = 1 // consumers wait for records
	keyRoom = 2 // producers wait for free slots
)

// futexWakeOp is FUTEX_WAKE (linux/futex.h), shared: the sleepers are in
// other processes.
const futexWakeOp = 1

// pureSpin is the part of the spin budget that never yields the CPU (the
// C header's PIR_PURE_SPIN_NS).
const pureSpin = time.Microsecond

// recoverSlice is how long a waiter sleeps at a time while the slot it
// waits for is held by another participant, before it checks that the
// holder is alive (and takes the slot over when it is not).
const recoverSlice = 10 * time.Millisecond

func futexWake(word *uint32) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), futexWakeOp, 1<<30, 0, 0, 0)
}

// wakeData wakes the consumers (or subscribers) that sleep.
func (r *Ring) wakeData() {
	if mem.Load32(r.hdr32(offDataWait)) != 0 {
		mem.Add32(r.hdr32(offDataWord), 1)
		futexWake(r.hdr32(offDataWord))
	}
}

// wakeRoom wakes the producers that sleep.
func (r *Ring) wakeRoom() {
	if mem.Load32(r.hdr32(offRoomWait)) != 0 {
		mem.Add32(r.hdr32(offRoomWord), 1)
		futexWake(r.hdr32(offRoomWord))
	}
}

// A waitFor is one blocking call's parts: try makes it without waiting
// (gate.WouldBlock when it must wait); stuck tells whether what it waits
// for is held by another participant (so the wait is sliced to check the
// holder's life, recovering when the argument is true).
type waitFor struct {
	key   uint64
	try   func() error
	stuck func(recover bool) bool
}

// wait runs a blocking call: its fast try is extended by a spin of the
// handle's budget, made by one goroutine per handle and direction at a
// time outside the kit (a result that comes within the spin, as in a
// ping-pong, costs no gate, slot or arming); then the kit's gate, slot,
// arming and the sleep in C.
func (r *Ring) wait(ctx context.Context, w *waitFor) error {
	if err := r.once(w.try, gate.WouldBlock); err != gate.WouldBlock {
		return err
	}
	if r.spin > 0 && !done(ctx) {
		flag := &r.spinning[w.key-1]
		if mem.CAS32(flag, 0, 1) {
			err := os.ErrClosed
			if !r.k.Closed() {
				err = r.spinOn(w, nil)
			}
			mem.Set32(flag, 0)
			if err != gate.WouldBlock {
				return err
			}
		}
	}
	return r.k.Do(ctx, w.key, w.try, func(kw posixipc.Waiter, rel int64) error { return r.sleep(kw, rel, w) })
}

// spinOn calls try for the spin budget: on the shared words for pureSpin,
// then yielding the CPU between looks, so that a peer woken onto this CPU
// runs (two spinners on one CPU would each burn the whole budget). It
// returns try's result, or WouldBlock when the budget ran out (or kw, if
// any, was kicked).
func (r *Ring) spinOn(w *waitFor, kw *posixipc.Waiter) error {
	t0 := time.Now()
	for i := 1; ; i++ {
		if err := w.try(); err != gate.WouldBlock {
			return err
		}
		mem.Pause()
		if i&15 == 0 {
			d := time.Since(t0)
			if d > r.spin || (kw != nil && kw.Kicked()) {
				return gate.WouldBlock
			}
			if d > pureSpin {
				unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
		}
	}
}

// sleep is the kit's wait in C: sleep on the futex word until try
// succeeds, rel nanoseconds pass (ETIMEDOUT; < 0: none) or kw is kicked
// (ECANCELED).
func (r *Ring) sleep(kw posixipc.Waiter, rel int64, w *waitFor) (err error) {
	var end time.Time
	if rel >= 0 {
		end = time.Now().Add(time.Duration(rel))
	}
	sl := r.sleeperOf(w.key)
	for {
		err = r.sleepOnce(kw, sl, end, w)
		if err != gate.WouldBlock {
			return err
		}
	}
}

// A sleeper is where a participant sleeps in one direction: the futex
// word, the waiter count that tells wakers someone sleeps, and its entry's
// flag of the direction (a reaper takes a dead one's counts back).
type sleeper struct {
	word, count, mine *uint32
	flag              uint32
}

// sleeperOf returns this participant's sleeper of key's direction.
func (r *Ring) sleeperOf(key uint64) sleeper {
	if key == keyRoom {
		return sleeper{r.hdr32(offRoomWord), r.hdr32(offRoomWait), r.ent32(r.self, entWaiting), waitRoom}
	}
	return sleeper{r.hdr32(offDataWord), r.hdr32(offDataWait), r.ent32(r.self, entWaiting), waitData}
}

// in counts the participant in as a sleeper (before it looks once more,
// so that a waker after the look sees the count); out counts it out.
func (s sleeper) in() {
	mem.Add32(s.count, 1)
	setBits(s.mine, s.flag)
}
func (s sleeper) out() {
	clearBits(s.mine, s.flag)
	mem.Add32(s.count, ^uint32(0))
}

// sleepOnce counts itself in, tries once more, sleeps once.
func (r *Ring) sleepOnce(kw posixipc.Waiter, sl sleeper, end time.Time, w *waitFor) (err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	sl.in()
	defer sl.out()
	v := mem.Load32(sl.word)
	if err := w.try(); err != gate.WouldBlock {
		return err
	}
	slice := int64(-1)
	if !end.IsZero() {
		if slice = int64(time.Until(end)); slice <= 0 {
			return syscall.ETIMEDOUT
		}
	}
	sliced := false
	if w.stuck(false) && (slice < 0 || slice > int64(recoverSlice)) {
		slice, sliced = int64(recoverSlice), true
	}
	switch err := posixipc.RingWait(kw, sl.word, v, slice); err {
	case nil:
		return gate.WouldBlock
	case syscall.ETIMEDOUT:
		if sliced {
			w.stuck(true)
			return gate.WouldBlock
		}
		return err
	case syscall.EFAULT:
		return &shm.FaultError{Addr: uintptr(unsafe.Pointer(sl.word))}
	default:
		return err
	}
}

// idle is the kit's wait for a call that finds none of the process's
// gate.MaxInKernel slots in C (gate.Kit.SetIdle): counted in as a sleeper
// of its direction, as sleepOnce is, it waits in the process's futex
// watch (gate.FutexWait: one thread for all such waits) on the
// direction's word until a waker bumps it; the kit then tries again. Not
// while what it waits for is held by another participant (whose death
// only a sliced sleep in C sees), nor for a broadcast producer (its room
// is every subscriber's cursor): those poll, as without it.
func (r *Ring) idle(ctx context.Context, key uint64) (err error) {
	if key == keyRoom && r.g.mode == uint32(Broadcast) {
		return os.ErrInvalid
	}
	defer catch(&err, debug.SetPanicOnFault(true))
	sl := r.sleeperOf(key)
	sl.in()
	defer sl.out()
	v := mem.Load32(sl.word)
	if r.ready(key) {
		return nil // (counted in first: a waker after this look sees the count)
	}
	if key == keyData && r.g.mode != uint32(Broadcast) && r.qStuckConsumer(false) ||
		key == keyRoom && r.qStuckProducer(false) {
		return os.ErrInvalid
	}
	return r.k.FutexWait(ctx, sl.word, v, true)
}

// ready reports whether the call of key may proceed now (a look without
// taking: the kit's try decides).
func (r *Ring) ready(key uint64) bool {
	if r.g.mode == uint32(Broadcast) { // a subscriber's (a producer's room is not looked at here)
		return mem.Load64(r.ent64(r.self, entCursor)) < mem.Load64(r.hdr64(offTail))
	}
	hint, want := r.hdr64(offHead), uint64(1)
	if key == keyRoom {
		hint, want = r.hdr64(offTail), 0
	}
	pos := mem.Load64(hint)
	return int64(mem.Load64(u64(r.slot(pos), slotSeq))-(pos+want)) >= 0
}

func setBits(p *uint32, b uint32) {
	for {
		v := mem.Load32(p)
		if mem.CAS32(p, v, v|b) {
			return
		}
	}
}

func clearBits(p *uint32, b uint32) {
	for {
		v := mem.Load32(p)
		if mem.CAS32(p, v, v&^b) {
			return
		}
	}
}

// done reports whether ctx is done already (a call then does not spin).
func done(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}
