//go:build linux && cgo

package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/pthread"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/peer"
)

// The rwlock primitive: a lock handoff round trip between two processes on a
// ring of three process-shared pthread_rwlock_t, the rwlock fields of three
// struct posixipc_sync (crt/posixipc_layout.h) at offsets 0, 256 and 512 of
// one segment per set-up. The client (writer side) holds two of them
// write-locked, the server (reader side) one read-locked. One round trip
// (client side, step k): unlock k%3, which the server, blocked in a read
// lock on it, then gets; the server unlocks (k+2)%3, which the client is
// blocked on in a write lock. So each round trip is one writer→reader and
// one reader→writer wake-up across the processes, nobody polls, and nobody
// ever waits for the lock it has just released (no re-grab race). The
// rwlocks are glibc's default kind (readers preferred). Every set-up runs
// this same scheme (crt/pthreadpeer.c rwring-*):
//
//	c-c    pthreadpeer rwring-lat against pthreadpeer rwring-pong; C
//	       initialises the ring (rwring-init)
//	go-c   binding/pthread RWMutex (Lock/Unlock, cancellable context)
//	       against pthreadpeer rwring-pong; C initialises, Go attaches
//	       (RWMutexAt)
//	go-go  RWMutex on both sides (`bench-peer rwring-pong`: RLock/RUnlock);
//	       Go initialises (NewRWMutex)
//	cgo    plain blocking pthread_rwlock_wrlock/rdlock/unlock cgo calls on
//	       both sides (`bench-peer rwring-pong-raw`), no gate, no
//	       cancellation; the writer stays on its OS thread, as glibc needs
//
// The servers never exit by themselves; cleanup kills them (glibc rwlocks
// are not robust: a dead reader's lock stays taken, so the ring is not
// reused), then releases this side's write locks and unlinks the segments.

func init() {
	addBench(benchPrimitive{name: "rwlock", order: 41,
		what:  "write-lock handoff to a reader process and back, on a ring of three process-shared pthread rwlocks",
		setup: benchRWLockSetup})
	benchPeers["rwring-pong"] = func(args []string) error { return rwringPong(args, false) }
	benchPeers["rwring-pong-raw"] = func(args []string) error { return rwringPong(args, true) }
}

// rwringOff is the offset of ring lock i in a set-up's segment.
func rwringOff(i int) int { return i*pthread.LayoutSize + pthread.LayoutRWLock }

// goRWRing uses binding/pthread with a cancellable context: the path a real
// service takes.
type goRWRing struct {
	rw     [3]*pthread.RWMutex
	ctx    context.Context
	writer bool
}

func (r *goRWRing) lock(i int) error {
	if r.writer {
		return r.rw[i].Lock(r.ctx)
	}
	return r.rw[i].RLock(r.ctx)
}

func (r *goRWRing) unlock(i int) error {
	if r.writer {
		return r.rw[i].Unlock()
	}
	return r.rw[i].RUnlock()
}

func (r *goRWRing) close() {
	for _, rw := range r.rw {
		if rw != nil {
			rw.Close()
		}
	}
}

// openGoRWRing attaches to (or, with create, initialises) the ring in seg.
func openGoRWRing(ctx context.Context, seg *shm.Segment, create, writer bool) (*goRWRing, error) {
	r := &goRWRing{ctx: ctx, writer: writer}
	for i := range r.rw {
		var err error
		if create {
			r.rw[i], err = pthread.NewRWMutex(seg, int64(rwringOff(i)), nil)
		} else {
			r.rw[i], err = pthread.RWMutexAt(seg, int64(rwringOff(i)))
		}
		if err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

// rawRWRing uses plain blocking cgo calls.
type rawRWRing struct {
	rw     [3]unsafe.Pointer
	writer bool
}

func newRawRWRing(seg *shm.Segment, writer bool) *rawRWRing {
	r := &rawRWRing{writer: writer}
	for i := range r.rw {
		r.rw[i] = unsafe.Pointer(&seg.Bytes()[rwringOff(i)])
	}
	return r
}

func (r *rawRWRing) lock(i int) error {
	if r.writer {
		return posixipc.PthreadRWLockWrlockPlain(r.rw[i])
	}
	return posixipc.PthreadRWLockRdlockPlain(r.rw[i])
}

func (r *rawRWRing) unlock(i int) error { return posixipc.PthreadRWLockUnlockPlain(r.rw[i]) }

// rwringPong is the server (reader) side: read-lock 2, print "ready", then
// forever: read-lock k%3 (waiting), unlock (k+2)%3.
func rwringPong(args []string, raw bool) error {
	if len(args) != 1 {
		return usagef("rwring-pong SEG")
	}
	seg, err := shm.Open(args[0])
	if err != nil {
		return err
	}
	defer seg.Close()
	if len(seg.Bytes()) < 3*pthread.LayoutSize {
		return fmt.Errorf("rwring-pong: segment %s too small for the ring", args[0])
	}
	var r lockRing
	if raw {
		r = newRawRWRing(seg, false)
	} else {
		g, err := openGoRWRing(context.Background(), seg, false, false)
		if err != nil {
			return err
		}
		defer g.close()
		r = g
	}
	return ringServe(r)
}

// trackRing wraps a writer ring and records which locks it holds, so
// cleanup releases exactly those.
type trackRing struct {
	lockRing
	held [3]bool
}

func (t *trackRing) lock(i int) error {
	err := t.lockRing.lock(i)
	if err == nil {
		t.held[i] = true
	}
	return err
}

func (t *trackRing) unlock(i int) error {
	err := t.lockRing.unlock(i)
	if err == nil {
		t.held[i] = false
	}
	return err
}

func (t *trackRing) release() {
	for i, h := range t.held {
		if h {
			t.unlock(i)
		}
	}
}

func benchRWLockSetup() (configs []benchConfig, stream []benchThroughput, cleanupFn func(), err error) {
	var cl benchCleanup
	defer func() {
		if err != nil {
			cl.run()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cl.add(cancel)

	// c-c
	segCC, err := benchSegment(&cl, "rwlock", "cc")
	if err != nil {
		return nil, nil, nil, err
	}
	if out, err := peer.Output("pthreadpeer", "rwring-init", segCC.Name(), "0"); err != nil || out != "initialised\n" {
		return nil, nil, nil, fmt.Errorf("pthreadpeer rwring-init: %q %v", out, err)
	}
	cc, err := startLatProc("pthreadpeer", "rwring-lat", segCC.Name(), "0")
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(cc.stop)
	if err := cc.expect("ready", 10*time.Second); err != nil {
		return nil, nil, nil, err
	}
	if err := cl.server(peer.Command("pthreadpeer", "rwring-pong", segCC.Name(), "0")); err != nil {
		return nil, nil, nil, err
	}
	configs = append(configs, benchConfig{label: "c-c", block: cc.block})

	// client takes write locks 0 and 1 of r, starts the server and adds
	// the set-up; cleanup kills the server, then releases the client's
	// write locks (on this goroutine, which took them).
	client := func(label string, r lockRing, srv func() error) error {
		t := &trackRing{lockRing: r}
		cl.add(t.release)
		for i := 0; i < 2; i++ {
			if err := t.lock(i); err != nil {
				return err
			}
		}
		if err := srv(); err != nil {
			return err
		}
		configs = append(configs, ringClient(label, t))
		return nil
	}

	// go-c
	segGC, err := benchSegment(&cl, "rwlock", "gc")
	if err != nil {
		return nil, nil, nil, err
	}
	if out, err := peer.Output("pthreadpeer", "rwring-init", segGC.Name(), "0"); err != nil || out != "initialised\n" {
		return nil, nil, nil, fmt.Errorf("pthreadpeer rwring-init: %q %v", out, err)
	}
	gc, err := openGoRWRing(ctx, segGC, false, true)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(gc.close)
	if err := client("go-c", gc, func() error {
		return cl.server(peer.Command("pthreadpeer", "rwring-pong", segGC.Name(), "0"))
	}); err != nil {
		return nil, nil, nil, err
	}

	// go-go
	segGG, err := benchSegment(&cl, "rwlock", "gg")
	if err != nil {
		return nil, nil, nil, err
	}
	gg, err := openGoRWRing(ctx, segGG, true, true)
	if err != nil {
		return nil, nil, nil, err
	}
	cl.add(gg.close)
	if err := client("go-go", gg, func() error {
		return cl.server(selfCmd("bench-peer", "rwring-pong", segGG.Name()))
	}); err != nil {
		return nil, nil, nil, err
	}

	// cgo: the writer must unlock on the thread that locked, so this
	// goroutine stays on its thread from here to cleanup.
	segRaw, err := benchSegment(&cl, "rwlock", "raw")
	if err != nil {
		return nil, nil, nil, err
	}
	raw := newRawRWRing(segRaw, true)
	for i := range raw.rw {
		if err := posixipc.PthreadRWLockInit(raw.rw[i], true, false); err != nil {
			return nil, nil, nil, err
		}
	}
	runtime.LockOSThread()
	cl.add(runtime.UnlockOSThread)
	if err := client("cgo", raw, func() error {
		return cl.server(selfCmd("bench-peer", "rwring-pong-raw", segRaw.Name()))
	}); err != nil {
		return nil, nil, nil, err
	}
	return configs, nil, cl.run, nil
}
