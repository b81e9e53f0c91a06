//go:build linux && cgo

package ring

// Queue mode: a bounded multi-producer, multi-consumer ring of sequenced
// slots (after Dmitry Vyukov's bounded MPMC queue). Slot i starts with
// seq = i. Position p is free to produce when its slot's seq is p, holds a
// record when seq is p+1 and is free again when seq is p+N.
//
// A participant takes position p by a compare-and-swap of the slot's claim
// word, from whatever it holds to (p, itself): the claim is the taking, so
// every taken slot names its taker from the first instant and a slot is
// never taken over from the living. Tail (for producers) and head (for
// consumers) are hints of the next position: the taker moves it on with a
// plain store, and whoever finds the hint's slot taken already moves it on
// (a compare-and-swap) and looks at the next. A taker that was slow to
// store may move a hint back; the next caller walks it forward again, at
// most N slots. One atomic read-modify-write per taking, none per hint.

import (
	"fmt"
	"runtime"

	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
)

// taken reports whether claim word c names position pos as taken (who 0
// is the initial, nobody's).
func taken(c, pos uint64) bool { return uint32(c>>32) == uint32(pos) && uint32(c) != 0 }

// qTake takes the position at hint for a producer (want = 0: slot seq pos)
// or a consumer (want = 1: seq pos+1) and claims it as who: WouldBlock when
// the slot is not ready (the ring is full or empty there). It walks a hint
// that lags past taken slots, at most 2N of them: more is garbage.
func (r *Ring) qTake(hint *uint64, want uint64, who uint32, what string) (uint64, error) {
	for walked := uint32(0); ; {
		pos := mem.Load64(hint)
		s := r.slot(pos)
		// The claim before the seq: a claim still c at the CAS below
		// means nobody took the slot since, so the seq read after c
		// still holds then (a seq moves only after a claim does).
		cw := u64(s, slotClaim)
		c := mem.Load64(cw)
		d := int64(mem.Load64(u64(s, slotSeq)) - (pos + want))
		if d < 0 {
			return 0, gate.WouldBlock
		}
		if d > 0 || (taken(c, pos) && (uint32(c)&whoConsumer != 0) == (want == 1)) {
			// pos was taken: move the hint on, unless another did
			if walked++; walked > 2*r.g.slots {
				return 0, fmt.Errorf("the slots after %s %d are all ahead of it: %w", what, pos, ErrCorrupt)
			}
			mem.CAS64(hint, pos, pos+1)
			continue
		}
		if r.g.excl {
			// SPSC's consumer: the one taker of its side, and the
			// handle's turn is held (takeTurn): nobody else takes this slot,
			// and one who takes it over from us does so only once we are
			// dead.
			mem.Set64(cw, claim(pos, who))
		} else if !mem.CAS64(cw, c, claim(pos, who)) {
			continue // another took it, or its state moved on
		}
		if mem.Load64(hint) == pos {
			mem.Set64(hint, pos+1)
		}
		return pos, nil
	}
}

// takeTurn and giveTurn bracket an SPSC handle's taking of slots in
// direction d (0 producer, 1 consumer): its goroutines take turns.
func (r *Ring) takeTurn(d int) {
	for !mem.CAS32(&r.turn[d], 0, 1) {
		runtime.Gosched() // another goroutine of the handle is taking: a few loads and stores
	}
}
func (r *Ring) giveTurn(d int) { mem.Set32(&r.turn[d], 0) }

// sLoanTurn takes the position at the tail for the one producer of an
// SPSC ring, with the handle's turn held: the tail is exact (only the
// producer moves it) and the loan is the move, with no claim on the slot's
// line, which the consumer is reading: a slot below the tail whose seq is
// still its position is a loan of the producer that holds the role.
// WouldBlock when the ring is full.
func (r *Ring) sLoanTurn() (uint64, error) {
	tail := r.hdr64(offTail)
	for walked := uint32(0); ; walked++ {
		pos := mem.Load64(tail)
		d := int64(mem.Load64(u64(r.slot(pos), slotSeq)) - pos)
		if d < 0 {
			return 0, gate.WouldBlock
		}
		if d == 0 {
			mem.Set64(tail, pos+1)
			return pos, nil
		}
		// a slot ahead of the tail: only garbage puts it there; pass it
		if walked > 2*r.g.slots {
			return 0, fmt.Errorf("the slots after tail %d are all ahead of it: %w", pos, ErrCorrupt)
		}
		mem.Set64(tail, pos+1)
	}
}

// qLoan takes the position at the tail for a loan: WouldBlock when the
// ring is full.
func (r *Ring) qLoan() (uint64, error) {
	if r.g.excl {
		r.takeTurn(0)
		defer r.giveTurn(0) // a fault (a truncated segment) must not keep the turn
	}
	return r.qLoanTurn()
}

// qLoanTurn is qLoan with an SPSC handle's turn held.
func (r *Ring) qLoanTurn() (uint64, error) {
	if r.g.excl {
		return r.sLoanTurn()
	}
	return r.qTake(r.hdr64(offTail), 0, r.who, "tail")
}

// qCommit publishes the loan of position pos with n bytes (skip: as a
// skipped slot).
func (r *Ring) qCommit(pos uint64, n int, skip bool) error {
	if err := r.qPut(pos, n, skip, true); err != nil {
		return err
	}
	r.wakeData()
	return nil
}

// fence is a full fence (an atomic add of 0 to a word of the handle): a
// batch's unfenced seq stores before its read of a waiter count (the
// waiters' side of the handshake fences between counting themselves in
// and looking again).
func (r *Ring) fence() { mem.Add32(&r.fenceWord, 0) }

// putsDone and givesDone end a batch of n unfenced puts (qPut) or gives
// (qGive): one fence, then the one wake-up of the other side (nothing for
// n = 0).
func (r *Ring) putsDone(n int) {
	if n > 0 {
		r.fence()
		r.wakeData()
	}
}
func (r *Ring) givesDone(n int) {
	if n > 0 {
		r.fence()
		r.wakeRoom()
	}
}

// qPut publishes the loan of position pos; fenced: by a sequentially
// consistent store, ordered before the waiter count is read (a batch puts
// unfenced and ends with one fence and one wake-up for all its records).
func (r *Ring) qPut(pos uint64, n int, skip, fenced bool) error {
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos || (!r.g.excl && mem.Load64(u64(s, slotClaim)) != claim(pos, r.who)) {
		return ErrReclaimed // (SPSC: a loan taken over has seq pos+1)
	}
	mem.Set32(u32(s, slotLen), uint32(n))
	f := uint32(0)
	if skip {
		f = flagSkip
	}
	mem.Set32(u32(s, slotFlags), f)
	if fenced {
		mem.Store64(u64(s, slotSeq), pos+1)
	} else {
		mem.Set64(u64(s, slotSeq), pos+1) // a release store (x86: every store is)
	}
	r.counted()
	return nil
}

// counted adds one to this participant's record count (a statistic: a
// plain increment, which goroutines of one handle may race on).
func (r *Ring) counted() {
	c := r.ent64(r.self, entCount)
	mem.Set64(c, mem.Load64(c)+1)
}

// qNext takes the record at the head: its position and length; WouldBlock
// when none is committed there. Skipped slots are released on the way.
func (r *Ring) qNext() (uint64, uint32, error) {
	if r.g.excl {
		r.takeTurn(1)
		defer r.giveTurn(1) // a fault (a truncated segment) must not keep the turn
	}
	return r.qNextTurn()
}

// qNextTurn is qNext with an SPSC handle's turn held.
func (r *Ring) qNextTurn() (uint64, uint32, error) {
	for {
		pos, err := r.qTake(r.hdr64(offHead), 1, r.who|whoConsumer, "head")
		if err != nil {
			return 0, 0, err
		}
		s := r.slot(pos)
		n := mem.Load32(u32(s, slotLen))
		if mem.Load32(u32(s, slotFlags))&flagSkip != 0 {
			r.qRelease(pos)
			continue
		}
		if n > r.g.size {
			r.qRelease(pos) // pass it, or it wedges the ring
			return 0, 0, fmt.Errorf("record %d is %d bytes long in %d-byte slots: %w", pos, n, r.g.size, ErrCorrupt)
		}
		return pos, n, nil
	}
}

// qRelease gives the slot of position pos back to the producers.
func (r *Ring) qRelease(pos uint64) error {
	if err := r.qGive(pos, true); err != nil {
		return err
	}
	r.wakeRoom()
	return nil
}

// qGive frees the slot of position pos for the producers; fenced as in
// qPut.
func (r *Ring) qGive(pos uint64, fenced bool) error {
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos+1 || mem.Load64(u64(s, slotClaim)) != claim(pos, r.who|whoConsumer) {
		return ErrReclaimed
	}
	if fenced {
		mem.Store64(u64(s, slotSeq), pos+uint64(r.g.slots))
	} else {
		mem.Set64(u64(s, slotSeq), pos+uint64(r.g.slots))
	}
	r.counted()
	return nil
}

// qStuckConsumer reports whether the head waits for a slot that a
// producer took and has not committed; after a wait slice it takes the
// slot over when its holder is dead. In SPSC mode the slot is such a loan
// when the tail has passed it (the producer writes no claim), and it is
// the loan of the producer that holds the role (one that takes the role
// over from a dead one first takes over the dead one's loans), so it is
// taken over when no live producer holds the role.
func (r *Ring) qStuckConsumer(recover bool) bool {
	pos := mem.Load64(r.hdr64(offHead))
	s := r.slot(pos)
	c := mem.Load64(u64(s, slotClaim))
	if mem.Load64(u64(s, slotSeq)) != pos {
		return false // empty (or a hint that lags: the next try walks it)
	}
	if r.g.excl {
		if int64(mem.Load64(r.hdr64(offTail))-pos) <= 0 {
			return false // a head that lags
		}
		if p := mem.Load32(r.hdr32(offProducer)); recover && p <= r.g.parts && (p == 0 || !r.alive(p-1)) {
			r.takeLoan(pos, c)
		}
		return true
	}
	if !taken(c, pos) || uint32(c)&whoConsumer != 0 {
		return false
	}
	if who := uint32(c); recover && who != whoDead && who <= r.g.parts && !r.alive(who-1) {
		r.takeLoan(pos, c)
	}
	return true
}

// qStuckProducer is qStuckConsumer for a producer at a full ring: the slot
// at the tail waits for a consumer that took it and has not released it.
func (r *Ring) qStuckProducer(recover bool) bool {
	pos := mem.Load64(r.hdr64(offTail)) - uint64(r.g.slots)
	s := r.slot(pos)
	c := mem.Load64(u64(s, slotClaim))
	if mem.Load64(u64(s, slotSeq)) != pos+1 || !taken(c, pos) || uint32(c)&whoConsumer == 0 {
		return false // not yet taken by a consumer: a full ring
	}
	if w := uint32(c) &^ whoConsumer; recover && w != whoDead && w != 0 && w <= r.g.parts && !r.alive(w-1) {
		r.takeView(pos, c)
	}
	return true
}
