//go:build linux && cgo

package ring

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
	"weak"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/errs"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/mem"
	"golang.org/x/sys/unix"
)

// Mode is how records are consumed.
type Mode uint32

const (
	// Queue: one or more producers, one or more consumers; each record is
	// consumed once, in the order of its position.
	Queue Mode = 1
	// Broadcast: one producer, subscribers that each see every record from
	// the moment they join.
	Broadcast Mode = 2
	// SPSC: Queue with one producer and one consumer at a time (a second
	// producer or consumer gets ErrBusy while the first lives): the fast
	// path. Its producer and consumer take their slots by plain stores
	// instead of the queue's compare-and-swap on the slot's shared line.
	SPSC Mode = 3
)

func (m Mode) String() string {
	switch m {
	case Queue:
		return "queue"
	case Broadcast:
		return "broadcast"
	case SPSC:
		return "spsc"
	}
	return fmt.Sprintf("Mode(%d)", uint32(m))
}

// Full is what a producer does when the ring has no free slot.
type Full uint32

const (
	// Block waits for room, within the context.
	Block Full = 0
	// Fail returns an error matching syscall.EAGAIN at once.
	Fail Full = 1
	// Overwrite (Broadcast only) writes over the oldest record; a
	// subscriber that falls that far behind is told how many it lost.
	Overwrite Full = 2
)

func (f Full) String() string {
	switch f {
	case Block:
		return "block"
	case Fail:
		return "fail"
	case Overwrite:
		return "overwrite"
	}
	return fmt.Sprintf("Full(%d)", uint32(f))
}

// Config is the shape of a ring, chosen at creation. Open checks a ring
// it did not create against the fields that are set: Tag always (0 is a
// tag too), the others when non-zero.
type Config struct {
	Slots        int    // slot count: a power of two from 2 to MaxSlots
	Size         int    // payload bytes per slot: 1 to MaxSize
	Mode         Mode   // Queue (the zero value means Queue at creation), Broadcast or SPSC
	Full         Full   // Block, Fail or Overwrite
	Tag          uint64 // the record type both sides agree on
	Participants int    // participant table size: 2 to MaxParticipants (0: DefaultParticipants)
}

// Errors of the ring's own states. Each is returned inside an
// *fs.PathError naming the ring.
var (
	// ErrDeadline is returned when a context's deadline passed; it matches
	// context.DeadlineExceeded, os.ErrDeadlineExceeded and syscall.ETIMEDOUT.
	ErrDeadline = errs.Deadline
	// ErrTag: the ring's type tag is not the one asked for.
	ErrTag = errors.New("ring: type tag mismatch")
	// ErrCorrupt: a word of the segment holds a value no participant
	// writes (a peer wrote garbage); it matches syscall.EUCLEAN.
	ErrCorrupt error = corrupt{}
	// ErrReclaimed: the loan or view was taken over because its holder
	// looked dead (it matches syscall.EOWNERDEAD).
	ErrReclaimed error = reclaimed{}
	// ErrOverrun: in Overwrite mode the producer wrote over a view before
	// it was released; what it showed may be torn.
	ErrOverrun = errors.New("ring: the record was overwritten while it was viewed")
	// ErrBusy: the operation needs what is already out (a broadcast
	// subscriber's one view, the one producer of a broadcast or SPSC ring,
	// the one consumer of an SPSC ring).
	ErrBusy error = busy{}
)

type corrupt struct{}

func (corrupt) Error() string          { return "ring: the segment holds values no participant writes" }
func (corrupt) Is(target error) bool   { return target == syscall.EUCLEAN }
func (reclaimed) Error() string        { return "ring: taken over from a participant that looked dead" }
func (reclaimed) Is(target error) bool { return target == syscall.EOWNERDEAD }
func (busy) Error() string             { return "ring: busy" }
func (busy) Is(target error) bool      { return target == syscall.EBUSY }

type reclaimed struct{}
type busy struct{}

// Ring is one participant's handle on a ring: a producer (os.O_WRONLY), a
// consumer or subscriber (os.O_RDONLY) or, in Queue and SPSC mode, both
// (os.O_RDWR).
type Ring struct {
	name string
	g    geometry
	seg  *shm.Segment
	b    []byte // the mapping
	fd   int    // the segment's descriptor, which holds our liveness lock
	self uint32 // our entry
	who  uint32 // self+1
	send bool
	recv bool

	k        *gate.Waiters
	spin     time.Duration
	spinning [2]uint32 // per direction (key-1): a goroutine spins outside the kit, through mem

	// SPSC: the turn of this handle's goroutines at taking a slot, per
	// direction (0 free, 1 taken): the one producer or consumer of the ring
	// is the handle, so its claim needs no compare-and-swap.
	turn      [2]uint32
	fenceWord uint32 // of the handle's full fences (Ring.fence)

	pmu sync.Mutex // broadcast producer: its one loan
	cmu sync.Mutex // broadcast subscriber: its cursor and one view

	// broadcast producer: the position below which no live subscriber is
	// overrun, and the subscriber generation it was computed at.
	limit   uint64
	gen     uint32
	viewOut bool // broadcast subscriber: one view at a time
	loanOut bool // broadcast producer: one loan at a time

	closeOnce sync.Once
	closeErr  error
	res       *ringRes
}

// DefaultSpin is how long a blocking call spins on the shared words before
// it sleeps on the futex (SetSpin changes it per handle).
const DefaultSpin = 20 * time.Microsecond

// Create creates the ring name (a POSIX shared memory object, glibc's name
// rule) with the shape cfg and the permission bits perm, and opens it with
// flag's access mode. It fails with an error wrapping syscall.EEXIST when
// the name exists.
func Create(name string, flag int, perm os.FileMode, cfg Config) (*Ring, error) {
	return Open(name, flag|os.O_CREATE|os.O_EXCL, perm, &cfg)
}

// Open opens the ring name: flag is os.O_RDONLY (consume, subscribe),
// os.O_WRONLY (produce) or os.O_RDWR (both, Queue and SPSC mode), with
// os.O_CREATE (create it with cfg and perm when it does not exist) and
// os.O_EXCL (fail with EEXIST when it does). A ring that exists is checked
// against cfg (nil: tag 0, any shape) and must be ready; one that a C
// creator is still initialising is waited for up to a second, then an
// error wrapping syscall.EAGAIN.
func Open(name string, flag int, perm os.FileMode, cfg *Config) (*Ring, error) {
	cn, err := posixipc.SegmentName(name)
	if err != nil {
		return nil, &fs.PathError{Op: "ring_open", Path: name, Err: err}
	}
	fail := func(err error) (*Ring, error) { return nil, &fs.PathError{Op: "ring_open", Path: cn, Err: err} }
	if flag&^(os.O_RDONLY|os.O_WRONLY|os.O_RDWR|os.O_CREATE|os.O_EXCL) != 0 {
		return fail(fmt.Errorf("flag %#x has bits other than O_RDONLY, O_WRONLY, O_RDWR, O_CREATE, O_EXCL: %w", flag, syscall.EINVAL))
	}
	r := &Ring{name: cn, fd: -1, spin: DefaultSpin}
	switch flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR) {
	case os.O_RDONLY:
		r.recv = true
	case os.O_WRONLY:
		r.send = true
	case os.O_RDWR:
		r.send, r.recv = true, true
	default:
		return fail(fmt.Errorf("access mode %#x is not O_RDONLY, O_WRONLY or O_RDWR: %w", flag&3, syscall.EINVAL))
	}
	var want Config
	if cfg != nil {
		want = *cfg
	}
	if flag&os.O_EXCL != 0 && flag&os.O_CREATE == 0 {
		return fail(fmt.Errorf("O_EXCL without O_CREATE: %w", syscall.EINVAL))
	}
	created := false
	if flag&os.O_CREATE != 0 {
		if cfg == nil {
			return fail(fmt.Errorf("O_CREATE needs a Config: %w", syscall.EINVAL))
		}
		mode := want.Mode
		if mode == 0 {
			mode = Queue
		}
		g, err := shape(mode, want.Full, want.Slots, want.Size, want.Participants, want.Tag)
		if err != nil {
			return fail(err)
		}
		seg, err := shm.CreateWith(cn, int(g.total), perm, func(s *shm.Segment) error { return initialise(s.Bytes(), g) })
		switch {
		case err == nil:
			r.seg, r.g, created = seg, g, true
		case errors.Is(err, syscall.EEXIST) && flag&os.O_EXCL == 0:
		default:
			return nil, err
		}
	}
	if r.seg == nil {
		if err := r.openExisting(&want); err != nil {
			return nil, err
		}
	}
	if err := r.attach(); err != nil {
		r.seg.Close()
		if created {
			shm.Unlink(cn)
		}
		return nil, err
	}
	if r.g.mode == uint32(Broadcast) && r.send && r.recv {
		r.detach()
		if created {
			shm.Unlink(cn)
		}
		return fail(fmt.Errorf("a broadcast ring's handle either produces (O_WRONLY) or subscribes (O_RDONLY): %w", syscall.EINVAL))
	}
	if err := r.join(); err != nil {
		r.detach()
		if created {
			shm.Unlink(cn)
		}
		return fail(err)
	}
	r.k = gate.NewWaiters(true)
	wr := weak.Make(r) // the kit must not keep the handle alive (its cleanup)
	r.k.SetIdle(func(ctx context.Context, key uint64) error {
		if r := wr.Value(); r != nil {
			return r.idle(ctx, key)
		}
		return os.ErrInvalid
	}, nil)
	r.res = &ringRes{k: r.k, seg: r.seg, fd: r.fd}
	runtime.AddCleanup(r, dropRing, r.res)
	return r, nil
}

// ringRes is what a handle owns. The mapping is unmapped only when the
// handle is unreachable (no call can be in flight, no loan or view be
// used): so the calls that do not wait need no count of calls in flight,
// only the closed bit. A handle dropped without Close leaves here too:
// closing its descriptor releases its liveness lock, so the others
// reclaim what it held.
type ringRes struct {
	k    *gate.Waiters
	seg  *shm.Segment
	fd   int
	left atomic.Bool // Close ran: the kit is closed, the descriptor too
}

func dropRing(res *ringRes) {
	if !res.left.Load() {
		res.k.Close()
		unix.Close(res.fd)
	}
	res.seg.Close()
}

// initialise writes a new ring's header and slots; the magic goes last.
func initialise(b []byte, g geometry) error {
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return err
	}
	p := unsafe.Pointer(&b[0])
	*u32(p, offVersion) = Version
	*u32(p, offMode) = g.mode
	*u32(p, offFull) = g.full
	*u32(p, offSize) = g.size
	*u32(p, offSlots) = g.slots
	*u32(p, offStride) = g.stride
	*u32(p, offParts) = g.parts
	*u32(p, offHdrSize) = g.hdrSize
	*u64(p, offTag) = g.tag
	*u64(p, offTotal) = g.total
	*u64(p, offNonce) = binary.NativeEndian.Uint64(nonce[:])
	if g.mode != uint32(Broadcast) {
		for i := uint64(0); i < uint64(g.slots); i++ {
			*u64(p, uintptr(g.slotsOff+i*uint64(g.stride))+slotSeq) = i
		}
	}
	mem.Store64(u64(p, offMagic), Magic)
	return nil
}

// openExisting maps an existing ring and validates its header, and checks
// it against want unless want is nil (Inspect reads any ring).
func (r *Ring) openExisting(want *Config) error {
	fail := func(err error) error { return &fs.PathError{Op: "ring_open", Path: r.name, Err: err} }
	var seg *shm.Segment
	var err error
	for end := time.Now().Add(time.Second); ; {
		seg, err = shm.Open(r.name)
		if err == nil {
			if seg.Size() >= offEntries {
				m, ferr := seg.LoadUint64(offMagic)
				if ferr != nil {
					seg.Close()
					return ferr
				}
				if m == Magic {
					break
				}
				if m != 0 {
					seg.Close()
					return fail(fmt.Errorf("not a ring (magic %#x): %w", m, syscall.EINVAL))
				}
			} else if seg.Size() > 0 {
				n := seg.Size()
				seg.Close()
				return fail(fmt.Errorf("a %d-byte segment is too small to be a ring: %w", n, syscall.EINVAL))
			}
			seg.Close()
			err = fail(fmt.Errorf("the ring's creator has not finished: %w", syscall.EAGAIN))
		} else if !errors.Is(err, syscall.EAGAIN) {
			return err
		}
		if time.Now().After(end) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
	g, err := readGeometry(seg)
	if err == nil && want != nil {
		err = g.check(*want)
	}
	if err != nil {
		seg.Close()
		return fail(err)
	}
	r.seg, r.g = seg, g
	return nil
}

// readGeometry reads and validates a header: every field must be one this
// layout writes, and the layout must fit the mapping.
func readGeometry(seg *shm.Segment) (geometry, error) {
	var h [offProducer]byte
	if _, err := seg.ReadAt(h[:], 0); err != nil {
		return geometry{}, err
	}
	u32 := func(off int) uint32 { return binary.NativeEndian.Uint32(h[off:]) }
	u64 := func(off int) uint64 { return binary.NativeEndian.Uint64(h[off:]) }
	if v := u32(offVersion); v != Version {
		return geometry{}, fmt.Errorf("ring layout version %d, this package reads %d: %w", v, Version, syscall.EPROTO)
	}
	if u32(offParts) == 0 { // shape's default for a Config, never a header's (pir_open refuses it too)
		return geometry{}, fmt.Errorf("corrupt header: a participant table of 0 entries: %w", ErrCorrupt)
	}
	g, err := shape(Mode(u32(offMode)), Full(u32(offFull)), int(u32(offSlots)), int(u32(offSize)), int(u32(offParts)), u64(offTag))
	if err != nil {
		return g, fmt.Errorf("corrupt header: %v: %w", err, ErrCorrupt)
	}
	if u32(offStride) != g.stride || u32(offHdrSize) != g.hdrSize || u64(offTotal) != g.total {
		return g, fmt.Errorf("corrupt header: stride, header size or total do not follow from the shape: %w", ErrCorrupt)
	}
	if g.total > uint64(seg.Size()) {
		return g, fmt.Errorf("the ring needs %d bytes, the segment has %d (truncated?): %w", g.total, seg.Size(), ErrCorrupt)
	}
	return g, nil
}

// check compares a ring's geometry with what an opener asked for.
func (g geometry) check(want Config) error {
	if g.tag != want.Tag {
		return fmt.Errorf("the ring's tag is %#x, %#x was asked: %w", g.tag, want.Tag, ErrTag)
	}
	mismatch := func(what string, have, asked any) error {
		return fmt.Errorf("the ring has %s %v, %v was asked: %w", what, have, asked, syscall.EINVAL)
	}
	switch {
	case want.Mode != 0 && uint32(want.Mode) != g.mode:
		return mismatch("mode", Mode(g.mode), want.Mode)
	case want.Slots != 0 && want.Slots != int(g.slots):
		return mismatch("slot count", g.slots, want.Slots)
	case want.Size != 0 && want.Size != int(g.size):
		return mismatch("slot size", g.size, want.Size)
	case want.Full != 0 && uint32(want.Full) != g.full:
		return mismatch("full policy", Full(g.full), want.Full)
	case want.Participants != 0 && want.Participants != int(g.parts):
		return mismatch("participant count", g.parts, want.Participants)
	}
	return nil
}

// attach opens the descriptor that carries this handle's liveness lock and
// checks (by the nonce) that it names the object that is mapped.
func (r *Ring) attach() error {
	fd, err := unix.Open(shm.Dir+r.name, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: shm.Dir + r.name, Err: err}
	}
	var got [8]byte
	n, err := unix.Pread(fd, got[:], offNonce)
	want, lerr := r.seg.LoadUint64(offNonce)
	if err == nil && lerr != nil {
		err = lerr
	}
	if err == nil && (n != 8 || binary.NativeEndian.Uint64(got[:]) != want) {
		err = fmt.Errorf("the name was replaced by another object while it was opened: %w", syscall.ESTALE)
	}
	if err != nil {
		unix.Close(fd)
		return &fs.PathError{Op: "ring_open", Path: r.name, Err: err}
	}
	r.fd, r.b = fd, r.seg.Bytes()
	return nil
}

// detach undoes attach and the mapping.
func (r *Ring) detach() {
	unix.Close(r.fd)
	r.seg.Close()
}

// Name returns the ring's canonical name ("/name").
func (r *Ring) Name() string { return r.name }

// Config returns the ring's shape, as its header records it.
func (r *Ring) Config() Config {
	return Config{Slots: int(r.g.slots), Size: int(r.g.size), Mode: Mode(r.g.mode), Full: Full(r.g.full), Tag: r.g.tag, Participants: int(r.g.parts)}
}

// SlotSize returns the payload bytes of a slot: the largest record.
func (r *Ring) SlotSize() int { return int(r.g.size) }

// SetSpin sets how long this handle's blocking calls spin on the shared
// words before they sleep (0: sleep at once, the blocking-only variant).
// Spinning costs CPU time only while a call waits, at most d per wait.
func (r *Ring) SetSpin(d time.Duration) { r.spin = max(d, 0) }

// Close leaves the ring: blocked calls return an error wrapping
// os.ErrClosed, this handle's loans are given up (their slots pass to the
// consumers as skipped) and its views released, its entry is freed and
// its descriptor closed. Loans and views still held become invalid (their
// slots belong to others now); their memory stays mapped until the handle
// and every loan and view of it are unreachable, when the mapping is
// unmapped, so a late access reads or writes a slot, never unmapped
// memory. A call that runs while Close does may or may not take effect.
// Close is idempotent. The ring itself stays (see Remove).
func (r *Ring) Close() error {
	r.closeOnce.Do(func() {
		if !r.k.Close() {
			return
		}
		r.closeErr = r.guard(func() error {
			r.leave()
			return nil
		})
		unix.Close(r.fd)
		r.res.left.Store(true)
	})
	if r.closeErr != nil {
		return &fs.PathError{Op: "ring_close", Path: r.name, Err: r.closeErr}
	}
	return nil
}

// Remove removes the ring's name (shm_unlink); open handles keep working.
func Remove(name string) error { return shm.Unlink(name) }

// u32 and u64 point at the word at off from p.
func u32(p unsafe.Pointer, off uintptr) *uint32 { return (*uint32)(unsafe.Add(p, off)) }
func u64(p unsafe.Pointer, off uintptr) *uint64 { return (*uint64)(unsafe.Add(p, off)) }
