//go:build linux && cgo

package ring

import (
	"io/fs"
	"os"
	"runtime/debug"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/internal/mem"
	"golang.org/x/sys/unix"
)

// Stat is a snapshot of a ring: its shape, its positions and its
// participants. Every field may be stale at once.
type Stat struct {
	Config    Config
	Tail      uint64 // records produced
	Head      uint64 // Queue: records consumed (or being consumed)
	Queued    uint64 // Queue: Tail-Head, at most Slots (exact when no call is under way: both are hints); Broadcast: records the slowest live subscriber has not read
	Reclaimed uint64 // slots taken over from dead participants
	// Participants lists the used entries of the table.
	Participants []Participant
}

// Participant is one entry of a ring's participant table.
type Participant struct {
	Entry    int
	Pid      int  // in the pid namespace of the process that joined
	Producer bool // opened to produce
	Consumer bool // opened to consume (or subscribe)
	Alive    bool // its liveness lock is held: false for a dead one not yet reaped
	Cursor   uint64
	Lost     uint64 // Broadcast: records this subscriber lost
	Count    uint64 // records it committed or released
}

// Stat returns a snapshot of the ring.
func (r *Ring) Stat() (Stat, error) {
	if !r.k.Acquire() {
		return Stat{}, r.pathErr("ring_stat", os.ErrClosed)
	}
	defer r.k.Release()
	st, err := r.snapshot()
	if err != nil {
		return Stat{}, r.pathErr("ring_stat", err)
	}
	return st, nil
}

// Inspect returns a snapshot of the ring name without joining it (it takes
// no entry): what `posixipc ring stat` prints.
func Inspect(name string) (Stat, error) {
	cn, err := posixipc.SegmentName(name)
	if err != nil {
		return Stat{}, &fs.PathError{Op: "ring_stat", Path: name, Err: err}
	}
	r := &Ring{name: cn, fd: -1, self: ^uint32(0)}
	if err := r.openExisting(nil); err != nil {
		return Stat{}, err
	}
	defer r.seg.Close()
	if err := r.attach(); err != nil {
		return Stat{}, err
	}
	defer unix.Close(r.fd)
	st, err := r.snapshot()
	if err != nil {
		return Stat{}, &fs.PathError{Op: "ring_stat", Path: cn, Err: err}
	}
	return st, nil
}

func (r *Ring) snapshot() (st Stat, err error) {
	defer catch(&err, debug.SetPanicOnFault(true))
	st.Config = r.Config()
	st.Tail = mem.Load64(r.hdr64(offTail))
	st.Reclaimed = mem.Load64(r.hdr64(offReclaim))
	slowest := st.Tail
	for e := uint32(0); e < r.g.parts; e++ {
		if mem.Load32(r.ent32(e, entState)) == 0 {
			continue
		}
		role := mem.Load32(r.ent32(e, entRole))
		p := Participant{
			Entry:    int(e),
			Pid:      int(mem.Load32(r.ent32(e, entPid))),
			Producer: role&roleProducer != 0,
			Consumer: role&roleConsumer != 0,
			Alive:    r.alive(e),
			Cursor:   mem.Load64(r.ent64(e, entCursor)),
			Lost:     mem.Load64(r.ent64(e, entLost)),
			Count:    mem.Load64(r.ent64(e, entCount)),
		}
		if r.g.mode == uint32(Broadcast) && p.Consumer && p.Alive {
			slowest = min(slowest, p.Cursor)
		}
		st.Participants = append(st.Participants, p)
	}
	if r.g.mode != uint32(Broadcast) {
		st.Head = mem.Load64(r.hdr64(offHead))
		if st.Tail > st.Head {
			st.Queued = min(st.Tail-st.Head, uint64(r.g.slots))
		}
	} else {
		st.Queued = min(st.Tail-slowest, uint64(r.g.slots))
	}
	return st, nil
}
