//go:build linux && cgo

package ring

// Broadcast mode: one producer writes position p into slot p mod N as a
// seqlock (seq = 2p+1 while it writes, 2p+2 once committed) and then
// moves the tail; each subscriber keeps its own cursor in its entry. With
// Block or Fail the producer never writes a position a live subscriber
// still needs (p - cursor < N); with Overwrite it does, and a subscriber
// that finds its position overwritten skips ahead and counts the loss.

import (
	"fmt"

	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
)

// bLoan takes the tail position for the producer: WouldBlock (or EAGAIN
// in Fail mode, through the caller) when a live subscriber would be
// overrun.
func (r *Ring) bLoan() (uint64, error) {
	if mem.Load32(r.hdr32(offProducer)) != r.who {
		return 0, ErrReclaimed // taken over: a second producer saw us dead
	}
	pos := mem.Load64(r.hdr64(offTail))
	if r.g.full != uint32(Overwrite) {
		if gen := mem.Load32(r.hdr32(offSubGen)); gen != r.gen || pos >= r.limit {
			r.limit, r.gen = r.bLimit(pos), gen
		}
		if pos >= r.limit {
			return 0, gate.WouldBlock
		}
	}
	mem.Set64(u64(r.slot(pos), slotSeq), 2*pos+1) // (stores stay in order: before the payload's)
	return pos, nil
}

// bLimit is the first position that would overrun a live subscriber.
func (r *Ring) bLimit(pos uint64) uint64 {
	limit := ^uint64(0)
	for e := uint32(0); e < r.g.parts; e++ {
		if mem.Load32(r.ent32(e, entState)) == 0 || mem.Load32(r.ent32(e, entRole))&roleConsumer == 0 {
			continue
		}
		c := min(mem.Load64(r.ent64(e, entCursor)), pos) // a cursor ahead of the tail is garbage
		limit = min(limit, c+uint64(r.g.slots))
	}
	return limit
}

// bCommit publishes the loan of position pos with n bytes.
func (r *Ring) bCommit(pos uint64, n int) error {
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) != 2*pos+1 || mem.Load64(r.hdr64(offTail)) != pos {
		return ErrReclaimed
	}
	mem.Set32(u32(s, slotLen), uint32(n))
	mem.Set32(u32(s, slotFlags), 0)
	mem.Set64(u64(s, slotSeq), 2*pos+2)
	mem.Store64(r.hdr64(offTail), pos+1) // a fence, before wakeData
	r.counted()
	r.wakeData()
	return nil
}

// bAbort gives up the loan of position pos: the slot is marked as
// committed by nobody (its old record is gone), the tail stays.
func (r *Ring) bAbort(pos uint64) {
	s := r.slot(pos)
	if mem.Load64(u64(s, slotSeq)) == 2*pos+1 {
		mem.Store64(u64(s, slotSeq), 2*pos) // neither pos nor an older lap: read as lost
	}
}

// bNext finds the record at this subscriber's cursor: its position, its
// length and the records lost before it; WouldBlock at the tail.
func (r *Ring) bNext() (pos uint64, n uint32, lost uint64, err error) {
	cur := r.ent64(r.self, entCursor)
	c := mem.Load64(cur)
	for {
		tail := mem.Load64(r.hdr64(offTail))
		if c >= tail {
			if c > tail {
				return 0, 0, 0, fmt.Errorf("cursor %d is ahead of the tail %d: %w", c, tail, ErrCorrupt)
			}
			if lost > 0 {
				mem.Store64(cur, c)
			}
			return 0, 0, lost, gate.WouldBlock
		}
		if tail-c > uint64(r.g.slots) {
			lost += tail - c - uint64(r.g.slots)
			c = tail - uint64(r.g.slots)
		}
		s := r.slot(c)
		seq := mem.Load64(u64(s, slotSeq))
		if seq != 2*c+2 {
			if seq < 2*c+2 && r.g.full != uint32(Overwrite) {
				return 0, 0, 0, fmt.Errorf("committed position %d has slot sequence %d: %w", c, seq, ErrCorrupt)
			}
			lost++ // overwritten (or being overwritten) by a later lap
			c++
			continue
		}
		n = mem.Load32(u32(s, slotLen))
		if n > r.g.size {
			if mem.Load64(u64(s, slotSeq)) != seq {
				lost++
				c++
				continue // torn: it was being overwritten
			}
			mem.Store64(cur, c+1)
			return 0, 0, lost, fmt.Errorf("record %d is %d bytes long in %d-byte slots: %w", c, n, r.g.size, ErrCorrupt)
		}
		if lost > 0 {
			mem.Store64(cur, c)
		}
		return c, n, lost, nil
	}
}

// bValid reports whether the record at position pos is still the one that
// was read (the seqlock check after a copy or a view).
func (r *Ring) bValid(pos uint64) bool { return mem.Load64(u64(r.slot(pos), slotSeq)) == 2*pos+2 }

// bRelease moves this subscriber past position pos.
func (r *Ring) bRelease(pos uint64) {
	r.counted()
	if r.g.full == uint32(Block) {
		mem.Store64(r.ent64(r.self, entCursor), pos+1) // a fence, before wakeRoom
		r.wakeRoom()
		return
	}
	mem.Set64(r.ent64(r.self, entCursor), pos+1)
}

// bStuckProducer reports whether the producer waits for a subscriber;
// after a wait slice it frees dead subscribers' entries first.
func (r *Ring) bStuckProducer(recover bool) bool {
	if recover && r.reap() {
		r.gen-- // recompute the limit
	}
	return true
}
