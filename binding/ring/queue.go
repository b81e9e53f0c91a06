//go:build linux && cgo

package ring

// Queue mode: a bounded multi-producer, multi-consumer ring of sequenced
// slots (after Dmitry Vyukov's bounded MPMC queue). Slot i starts with
// seq = i. A producer takes position p (tail) when its slot's seq is p,
// fills it and commits with seq = p+1; a consumer takes position p (head)
// when seq is p+1 and releases it with seq = p+N. Each taker then writes
// its claim word (position, entry), so the slot can be taken over when its
// holder dies; before it moves tail or head it writes its intent, so a
// slot taken but not yet claimed is not mistaken for a dead one's.

import (
	"fmt"

	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
)

// qLoan takes the position at the tail for a loan: WouldBlock when the
// ring is full.
func (r *Ring) qLoan() (uint64, error) {
	tail := r.hdr64(offTail)
	intent := r.ent64(r.self, entPIntent)
	for {
		pos := mem.Load64(tail)
		s := r.slot(pos)
		d := int64(mem.Load64(u64(s, slotSeq)) - pos)
		if d < 0 {
			return 0, gate.WouldBlock
		}
		if d > 0 {
			if mem.Load64(tail) == pos {
				return 0, fmt.Errorf("slot of position %d is ahead of the tail: %w", pos, ErrCorrupt)
			}
			continue // another producer took pos
		}
		if !mem.CAS32(&r.pwin, 0, 1) {
			mem.Pause() // another goroutine of this handle is in its window
			continue
		}
		mem.Set64(intent, pos+1)
		if !mem.CAS64(tail, pos, pos+1) {
			mem.Set64(intent, 0)
			mem.Set32(&r.pwin, 0)
			continue
		}
		// While our intent names pos, nobody takes the slot over (see
		// qStuckConsumer), so the claim needs no compare-and-swap.
		mem.Set64(u64(s, slotClaim), claim(pos, r.who))
		mem.Set64(intent, 0)
		mem.Set32(&r.pwin, 0)
		return pos, nil
	}
}

// qCommit publishes the loan of position pos with n bytes (skip: as a
// skipped slot).
func (r *Ring) qCommit(pos uint64, n int, skip bool) error {
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos || mem.Load64(u64(s, slotClaim)) != claim(pos, r.who) {
		return ErrReclaimed
	}
	mem.Set32(u32(s, slotLen), uint32(n))
	f := uint32(0)
	if skip {
		f = flagSkip
	}
	mem.Set32(u32(s, slotFlags), f)
	mem.Store64(u64(s, slotSeq), pos+1) // a fence: before wakeData reads the waiter count
	r.counted()
	r.wakeData()
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
	head := r.hdr64(offHead)
	intent := r.ent64(r.self, entCIntent)
	for {
		pos := mem.Load64(head)
		s := r.slot(pos)
		d := int64(mem.Load64(u64(s, slotSeq)) - (pos + 1))
		if d < 0 {
			return 0, 0, gate.WouldBlock
		}
		if d > 0 {
			if mem.Load64(head) == pos {
				return 0, 0, fmt.Errorf("slot of position %d is ahead of the head: %w", pos, ErrCorrupt)
			}
			continue // another consumer took pos
		}
		if !mem.CAS32(&r.cwin, 0, 1) {
			mem.Pause()
			continue
		}
		mem.Set64(intent, pos+1)
		if !mem.CAS64(head, pos, pos+1) {
			mem.Set64(intent, 0)
			mem.Set32(&r.cwin, 0)
			continue
		}
		mem.Set64(u64(s, slotClaim), claim(pos, r.who|whoConsumer))
		mem.Set64(intent, 0)
		mem.Set32(&r.cwin, 0)
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
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos+1 || mem.Load64(u64(s, slotClaim)) != claim(pos, r.who|whoConsumer) {
		return ErrReclaimed
	}
	mem.Store64(u64(s, slotSeq), pos+uint64(r.g.slots)) // a fence, before wakeRoom
	r.counted()
	r.wakeRoom()
	return nil
}

// qStuckConsumer reports whether the head waits for a slot that a
// producer took and has not committed; after a wait slice it takes the
// slot over when its holder is dead.
func (r *Ring) qStuckConsumer(recover bool) bool {
	pos := mem.Load64(r.hdr64(offHead))
	if mem.Load64(r.hdr64(offTail)) <= pos {
		return false // empty
	}
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos {
		return false
	}
	if recover {
		c := mem.Load64(u64(s, slotClaim))
		if who := uint32(c); uint32(c>>32) == uint32(pos) && who != 0 && who&whoConsumer == 0 {
			if who != whoDead && who <= r.g.parts && !r.alive(who-1) {
				r.takeLoan(pos, c)
			}
		} else if !r.intending(entPIntent, pos) {
			r.takeLoan(pos, c)
		}
	}
	return true
}

// qStuckProducer is qStuckConsumer for a producer at a full ring: the slot
// at the tail waits for a consumer that took it and has not released it.
func (r *Ring) qStuckProducer(recover bool) bool {
	tail := mem.Load64(r.hdr64(offTail))
	n := uint64(r.g.slots)
	if tail < n {
		return false
	}
	pos := tail - n
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != pos+1 || mem.Load64(r.hdr64(offHead)) <= pos {
		return false // not yet taken by a consumer: a full ring
	}
	if recover {
		c := mem.Load64(u64(s, slotClaim))
		if who := uint32(c); uint32(c>>32) == uint32(pos) && who&whoConsumer != 0 {
			if w := who &^ whoConsumer; w != whoDead && w != 0 && w <= r.g.parts && !r.alive(w-1) {
				r.takeView(pos, c)
			}
		} else if !r.intending(entCIntent, pos) {
			r.takeView(pos, c)
		}
	}
	return true
}
