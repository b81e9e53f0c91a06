//go:build linux && cgo

package ring

// The participant table: who is in the ring, and who is alive. A
// participant owns entry e while its descriptor of the segment holds an
// OFD write lock on byte e (F_OFD_SETLK): the kernel drops the lock when
// the process dies, however it dies, so "the lock is free" is "the owner
// is gone", with no pid to reuse and across pid namespaces.

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/mem"
	"golang.org/x/sys/unix"
)

// base is the mapping's first byte.
func (r *Ring) base() unsafe.Pointer { return unsafe.Pointer(&r.b[0]) }

func (r *Ring) hdr32(off uintptr) *uint32 { return u32(r.base(), off) }
func (r *Ring) hdr64(off uintptr) *uint64 { return u64(r.base(), off) }

// ent32 and ent64 point at a field of entry e (e < parts).
func (r *Ring) ent32(e uint32, f uintptr) *uint32 {
	return u32(r.base(), offEntries+uintptr(e)*entrySize+f)
}
func (r *Ring) ent64(e uint32, f uintptr) *uint64 {
	return u64(r.base(), offEntries+uintptr(e)*entrySize+f)
}

// slot returns the header of the slot of position pos.
func (r *Ring) slot(pos uint64) unsafe.Pointer {
	return unsafe.Add(r.base(), r.g.slotsOff+(pos&r.g.mask)*uint64(r.g.stride))
}

// payload returns the payload of the slot of position pos, n bytes long.
func (r *Ring) payload(pos uint64, n uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(r.slot(pos), slotHeader)), r.g.size)[:n:r.g.size]
}

// lockEntry takes the liveness lock of entry e on fd without waiting:
// false when another descriptor holds it.
func lockEntry(fd int, e uint32) (bool, error) {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(e), Len: 1}
	switch err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err {
	case nil:
		return true, nil
	case unix.EAGAIN, unix.EACCES:
		return false, nil
	default:
		return false, &os.SyscallError{Syscall: "fcntl F_OFD_SETLK", Err: err}
	}
}

func unlockEntry(fd int, e uint32) {
	lk := unix.Flock_t{Type: unix.F_UNLCK, Whence: 0, Start: int64(e), Len: 1}
	unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
}

// held reports whether some descriptor other than fd's holds entry e's
// liveness lock (F_OFD_GETLK).
func held(fd int, e uint32) bool {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: int64(e), Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk); err != nil {
		return true // cannot tell: never take over from the living
	}
	return lk.Type != unix.F_UNLCK
}

// alive reports whether the participant of entry e is alive.
func (r *Ring) alive(e uint32) bool { return e == r.self || held(r.fd, e) }

// join takes a free entry (one whose lock nobody holds), reclaiming what
// a dead former owner left, and fills it in for this handle's role.
func (r *Ring) join() (err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	for e := uint32(0); e < r.g.parts; e++ {
		ok, err := lockEntry(r.fd, e)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if mem.Load32(r.ent32(e, entState)) != 0 {
			r.reclaimEntry(e) // its owner died without leaving
		}
		r.self, r.who = e, e+1
		if err := r.fill(); err != nil {
			mem.Store32(r.ent32(e, entState), 0)
			unlockEntry(r.fd, e)
			return err
		}
		return nil
	}
	return &errs.LimitError{Errno: syscall.EUSERS, Setting: "ring.Config.Participants (fixed when the ring is created)",
		Detail: fmt.Sprintf("all %d participant entries of the ring are held by live processes", r.g.parts)}
}

// fill writes this handle's entry and, for a broadcast producer and an
// SPSC producer or consumer, claims the role's word.
func (r *Ring) fill() error {
	e := r.self
	role := uint32(0)
	if r.send {
		role |= roleProducer
	}
	if r.recv {
		role |= roleConsumer
	}
	mem.Store32(r.ent32(e, entPid), uint32(os.Getpid()))
	mem.Store32(r.ent32(e, entRole), role)
	mem.Store32(r.ent32(e, entWaiting), 0)
	mem.Store64(r.ent64(e, entLost), 0)
	mem.Store64(r.ent64(e, entCount), 0)
	if r.send && r.g.mode != uint32(Queue) { // the one producer of a broadcast or SPSC ring
		took, err := r.claimRole(offProducer, "producer")
		if err != nil {
			return err
		}
		if took && r.g.excl { // before our first loan: what is loaned is the dead one's
			r.sReclaimLoans(mem.Load64(r.hdr64(offTail)))
		}
	}
	if r.recv && r.g.excl { // the one consumer of an SPSC ring
		if _, err := r.claimRole(offConsumer, "consumer"); err != nil {
			if r.send {
				mem.CAS32(r.hdr32(offProducer), r.who, 0)
			}
			return err
		}
	}
	if r.g.mode == uint32(Broadcast) {
		if r.send {
			r.gen = mem.Load32(r.hdr32(offSubGen)) - 1 // compute the limit at the first loan
		} else {
			mem.Store64(r.ent64(e, entCursor), mem.Load64(r.hdr64(offTail)))
		}
	}
	mem.Store32(r.ent32(e, entState), 1)
	if r.g.mode == uint32(Broadcast) && r.recv {
		mem.Add32(r.hdr32(offSubGen), 1)
		// Join from the tail as it is now that the producer can see us.
		mem.Store64(r.ent64(e, entCursor), mem.Load64(r.hdr64(offTail)))
	}
	return nil
}

// claimRole makes this handle the one participant of the role whose
// header word is at off (it holds entry+1): ErrBusy while a live one holds
// it; a dead one's is taken over (what it held is reclaimed by whoever
// finds it stuck, or reaps it). took reports a dead holder's role taken.
func (r *Ring) claimRole(off uintptr, role string) (took bool, err error) {
	for {
		p := mem.Load32(r.hdr32(off))
		if p > r.g.parts {
			return false, fmt.Errorf("%s word %d: %w", role, p, ErrCorrupt)
		}
		if p != 0 && p != r.who && r.alive(p-1) {
			return false, fmt.Errorf("the ring has a live %s (pid %d): %w", role, mem.Load32(r.ent32(p-1, entPid)), ErrBusy)
		}
		if mem.CAS32(r.hdr32(off), p, r.who) {
			return p != 0 && p != r.who, nil
		}
	}
}

// sReclaimLoans passes an SPSC producer's uncommitted loans to the
// consumer as skipped: the positions of the last ring below tail whose
// slot's seq is still the position. Who took the role from a dead
// producer, or freed it, calls it.
func (r *Ring) sReclaimLoans(tail uint64) {
	for k := uint64(1); k <= uint64(r.g.slots) && k <= tail; k++ {
		pos := tail - k
		s := r.slot(pos)
		c := mem.Load64(u64(s, slotClaim))
		if mem.Load64(u64(s, slotSeq)) == pos {
			r.takeLoan(pos, c)
		}
	}
}

// leave gives up this handle's loans and views and frees its entry; the
// lock goes with the descriptor.
func (r *Ring) leave() {
	r.reclaimEntry(r.self)
	mem.Store32(r.ent32(r.self, entState), 0)
	if r.g.mode == uint32(Broadcast) && r.recv {
		mem.Add32(r.hdr32(offSubGen), 1)
		r.wakeRoom() // a producer blocked on us may go on
	}
}

// reap frees the entries of dead participants: for each used entry whose
// lock this descriptor can take, it reclaims what the owner held. It
// reports whether it freed any.
func (r *Ring) reap() bool {
	freed := false
	for e := uint32(0); e < r.g.parts; e++ {
		if e == r.self || mem.Load32(r.ent32(e, entState)) == 0 {
			continue
		}
		if ok, _ := lockEntry(r.fd, e); !ok {
			continue
		}
		if mem.Load32(r.ent32(e, entState)) != 0 {
			r.reclaimEntry(e)
			mem.Store32(r.ent32(e, entState), 0)
			if r.g.mode == uint32(Broadcast) {
				mem.Add32(r.hdr32(offSubGen), 1)
			}
			freed = true
		}
		unlockEntry(r.fd, e)
	}
	return freed
}

// reclaimEntry takes back what entry e's owner held (the owner is gone or
// is this handle closing): its place in the waiter counts, its
// uncommitted loans (skipped), its unreleased views (released) and the
// producer word.
func (r *Ring) reclaimEntry(e uint32) {
	w := mem.Load32(r.ent32(e, entWaiting))
	if w&waitData != 0 {
		mem.Add32(r.hdr32(offDataWait), ^uint32(0))
	}
	if w&waitRoom != 0 {
		mem.Add32(r.hdr32(offRoomWait), ^uint32(0))
	}
	mem.Store32(r.ent32(e, entWaiting), 0)
	if r.g.mode == uint32(Broadcast) {
		mem.CAS32(r.hdr32(offProducer), e+1, 0)
		return
	}
	if r.g.excl {
		// The producer's loans go with its role: whoever frees the role
		// (a CAS, so one of those who find it free or dead) passes them
		// on. The tail is read first: a producer that takes the role
		// after the CAS loans at or above it, never what is passed here.
		tail := mem.Load64(r.hdr64(offTail))
		if mem.CAS32(r.hdr32(offProducer), e+1, 0) {
			r.sReclaimLoans(tail)
		}
		mem.CAS32(r.hdr32(offConsumer), e+1, 0)
	}
	for i := uint64(0); i < uint64(r.g.slots); i++ {
		s := r.slotAt(i)
		c := mem.Load64(u64(s, slotClaim))
		seq := mem.Load64(u64(s, slotSeq))
		switch uint32(c) {
		case e + 1: // a loan: uncommitted while seq is its position
			if uint32(seq) == uint32(c>>32) && seq&r.g.mask == i {
				r.takeLoan(seq, c)
			}
		case (e + 1) | whoConsumer: // a view: unreleased while seq is its position+1
			if uint32(seq-1) == uint32(c>>32) && (seq-1)&r.g.mask == i {
				r.takeView(seq-1, c)
			}
		}
	}
}

// slotAt returns the header of slot index i.
func (r *Ring) slotAt(i uint64) unsafe.Pointer {
	return unsafe.Add(r.base(), r.g.slotsOff+i*uint64(r.g.stride))
}

// takeLoan passes the uncommitted slot of position pos, claimed as c, to
// the consumers as skipped; it reports whether this call did it.
func (r *Ring) takeLoan(pos, c uint64) bool {
	s := r.slot(pos)
	if !mem.CAS64(u64(s, slotClaim), c, claim(pos, whoDead)) {
		return false
	}
	mem.Store32(u32(s, slotLen), 0)
	mem.Store32(u32(s, slotFlags), flagSkip)
	mem.Store64(u64(s, slotSeq), pos+1)
	mem.Add64(r.hdr64(offReclaim), 1)
	r.wakeData()
	return true
}

// takeView releases the unreleased slot of position pos, claimed as c.
func (r *Ring) takeView(pos, c uint64) bool {
	s := r.slot(pos)
	if !mem.CAS64(u64(s, slotClaim), c, claim(pos, whoDead|whoConsumer)) {
		return false
	}
	mem.Store64(u64(s, slotSeq), pos+uint64(r.g.slots))
	mem.Add64(r.hdr64(offReclaim), 1)
	r.wakeRoom()
	return true
}

// claim is the claim word of position pos by who.
func claim(pos uint64, who uint32) uint64 { return uint64(uint32(pos))<<32 | uint64(who) }

// catch ends a function that touches the mapping: it restores the fault
// setting and turns a memory fault (the segment was truncated under the
// mapping) into an error. Use: defer catch(&err, debug.SetPanicOnFault(true)).
func catch(err *error, old bool) {
	debug.SetPanicOnFault(old)
	if x := recover(); x != nil {
		if f, ok := x.(interface{ Addr() uintptr }); ok {
			*err = &shm.FaultError{Addr: f.Addr()}
			return
		}
		panic(x)
	}
}

// guard runs f under catch.
func (r *Ring) guard(f func() error) (err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	return f()
}
