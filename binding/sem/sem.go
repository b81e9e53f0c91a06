//go:build linux && cgo

// Package sem gives Go programs the POSIX semaphores that C programs use:
// named ones (sem_open) and unnamed ones placed in shared memory (sem_init
// with pshared=1 in a shm.Segment), byte for byte the glibc sem_t.
//
// # Model
//
// A *Sem is a handle: the sem_t belongs to the system (named) or to the
// segment (unnamed), and a C peer may use it at the same time. Close releases
// the handle (sem_close, or Unpin of the segment); it does not remove the
// semaphore (Unlink) or destroy it (Destroy).
//
// Waiting. Wait first tries sem_trywait. When it must block, it goes
// through the module's waiter kit (internal/gate): at most one goroutine
// per handle waits inside C, the others park in Go, where they cost no OS thread; and at most
// gate.MaxInKernel (16) waiters of the whole process, over every handle and
// facility, are inside C at once, so thousands of blocked goroutines on
// thousands of handles cost a bounded number of threads. A Wait that finds
// no slot waits in the process's futex watch (gate.FutexWait): counted in
// glibc's waiter count like a wait in C, its semaphore's value word is one
// of up to posixipc.WatchMax (127) words that one thread of the process
// sleeps on in futex_waitv, so a post wakes it at once; past those (or
// without futex_waitv) it polls sem_trywait every 1 to 25 ms.
//
// The wait inside C is glibc's own semaphore algorithm on the sem_t's
// words (registered in its waiter count, so any sem_post, C's too, wakes
// it), with the futex sleep made by futex_waitv(2) on two words: the
// semaphore's value and the waiter's kick word, which cancellation and
// Close bump and wake. So a wait without a deadline arms no kernel timer
// (a timer per wait cost about 0.5 µs of a 4 µs round trip on a VM) and is
// still reachable. Without futex_waitv (Linux before 5.16) it waits in
// sem_clockwait instead, timed so that a signal interrupts it: the kick
// then also sends SIGURG to its thread (tgkill; Go's handler has
// SA_RESTART, but a timed futex wait returns EINTR on a handled signal),
// repeated every millisecond until the waiter leaves. SIGURG is Go's own
// preemption signal: every thread of a Go process already receives it.
// A cancellable Wait first waits 500µs in C without arming the canceller (so
// short waits, like a ping-pong, cost no extra goroutine wake-up) and checks
// its context when that expires; so a cancellation is seen within about
// 0.5 ms plus the kick.
//
// Exactness. A Wait that returns nil took exactly one unit; a Wait that
// returns an error (cancelled, timed out, closed) took none. A unit taken in
// C while the context is being cancelled is reported as success, never
// dropped.
//
// Deadlines come from the context and are measured on CLOCK_MONOTONIC
// (futex_waitv's clock, or sem_clockwait's), so wall-clock jumps do not
// move them.
//
// Close is idempotent and safe while other goroutines wait: they return an
// error wrapping os.ErrClosed, and the sem_t is released only after the last
// call in flight has left C.
//
// Names follow internal/name.Canonical (a leading '/' is optional, 1 to 251
// bytes, no other '/'). Errors are *fs.PathError wrapping syscall.Errno (or
// the context's error), so errors.Is(err, fs.ErrNotExist),
// errors.Is(err, syscall.EAGAIN) and errors.Is(err, context.Canceled) work.
//
// # Trust
//
// Every process that can write a semaphore's bytes (the segment of an
// unnamed one, /dev/shm/sem.NAME of a named one) must be trusted. Checked
// before glibc sees them: At refuses a sem_t whose futex flags are neither
// shared nor private or whose value is above SEM_VALUE_MAX (glibc would
// abort the process on its first Post: "The futex facility returned an
// unexpected error code"), and Post, TryWait and Wait check the same before
// every call (EINVAL); Open refuses a sem.NAME file shorter than a sem_t
// (EAGAIN: a peer created it with shm_open and has not sized it; mapping it
// would SIGBUS); At and Init touch the bytes through the fault-safe path
// first (Segment.Prefault: a full /dev/shm is an error, not a SIGBUS). Not
// checkable: a value a peer sets on purpose (it can hand out units), and a
// scribble between the check and the call.
//
// Not supported: a peer truncating a segment under an unnamed semaphore
// while a call is inside C (the C call faults with SIGBUS, which kills the
// process: keep the segment's size fixed while semaphores in it are in
// use).
package sem

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"syscall"

	"github.com/posixipc/posixipc/internal/errs"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/shm"
	"github.com/posixipc/posixipc/internal/gate"
	"github.com/posixipc/posixipc/internal/name"
)

// ErrDeadline is wrapped by the error of a call whose deadline passed while
// it waited: the same value in every package of the module; errors.Is
// matches it against context.DeadlineExceeded, syscall.ETIMEDOUT and
// os.ErrDeadlineExceeded.
var ErrDeadline = errs.Deadline

// Size and Align are the size and alignment of a sem_t: an unnamed semaphore
// occupies Size bytes at an offset that is a multiple of Align.
const (
	Size  = posixipc.SemSize
	Align = posixipc.SemAlign
)

// ValueMax is the largest value of a semaphore (SEM_VALUE_MAX). A Post that
// would pass it fails with an error wrapping syscall.EOVERFLOW.
const ValueMax = posixipc.SemValueMax

// Sem is a handle on a POSIX semaphore. It is safe for concurrent use.
type Sem struct {
	name string // "/name", or "SEGMENT@OFFSET" for an unnamed one
	raw  posixipc.Sem
	seg  *shm.Segment // unnamed only: pinned while the handle is open

	k *gate.Waiters // calls in flight, the closed bit and the waiter inside C

	errAgain  error // preallocated, so TryWait allocates nothing
	errClosed error

	cleanup runtime.Cleanup // for a handle dropped without Close
}

// semRes is what a Sem dropped without Close leaves to release.
type semRes struct {
	raw posixipc.Sem
	seg *shm.Segment
	k   *gate.Waiters
}

// dropSem releases a Sem that became unreachable without Close (no call
// can be in flight then: a call keeps its handle reachable).
func dropSem(r semRes) {
	r.k.Close()
	releaseRaw(r.raw, r.seg)
}

// releaseRaw lets go of a semaphore a handle no longer uses: sem_close for
// a named one, the segment's pin for an unnamed one.
func releaseRaw(raw posixipc.Sem, seg *shm.Segment) {
	if seg == nil {
		posixipc.SemClose(raw)
	} else {
		seg.Unpin()
	}
}

// newSem makes the handle; on failure it releases raw (sem_close, or the
// segment's pin), so the caller has nothing to undo.
func newSem(op, nm string, raw posixipc.Sem, seg *shm.Segment) (*Sem, error) {
	k := gate.NewWaiters(true)
	k.SetIdle(idler{raw, k}.wait, nil)
	s := &Sem{name: nm, raw: raw, seg: seg, k: k}
	s.errAgain = &fs.PathError{Op: "sem_trywait", Path: nm, Err: syscall.EAGAIN}
	s.errClosed = &fs.PathError{Op: "sem", Path: nm, Err: os.ErrClosed}
	s.cleanup = runtime.AddCleanup(s, dropSem, semRes{raw, seg, s.k})
	return s, nil
}

// Open opens the named semaphore name (sem_open). flag is 0 (open an existing
// one) or os.O_CREATE, optionally with os.O_EXCL; an access mode
// (os.O_RDWR, ...) may be added and means nothing; perm and value (0 to
// ValueMax) are used only when the call creates the semaphore.
func Open(n string, flag int, perm os.FileMode, value int) (*Sem, error) {
	cn, err := name.Canonical(n)
	if err != nil {
		return nil, &fs.PathError{Op: "sem_open", Path: n, Err: err}
	}
	// The access mode means nothing to sem_open (a semaphore is always
	// read and written): os.O_RDWR and the others are accepted and dropped.
	flag &^= os.O_RDONLY | os.O_WRONLY | os.O_RDWR
	if flag&^(os.O_CREATE|os.O_EXCL) != 0 || flag == os.O_EXCL {
		return nil, &fs.PathError{Op: "sem_open", Path: cn, Err: fmt.Errorf("flag %#x: only 0, O_CREATE and O_CREATE|O_EXCL (with an access mode or not) are supported: %w", flag, syscall.EINVAL)}
	}
	if err := checkValue(value); err != nil {
		return nil, &fs.PathError{Op: "sem_open", Path: cn, Err: err}
	}
	if perm&^os.ModePerm != 0 {
		return nil, &fs.PathError{Op: "sem_open", Path: cn, Err: fmt.Errorf("mode %v: only permission bits are allowed: %w", perm, syscall.EINVAL)}
	}
	// A sem.NAME file that a peer created with shm_open and has not sized
	// yet (glibc itself publishes a semaphore whole) would be mapped and
	// then kill the process with SIGBUS at the first touch.
	if st, err := os.Stat(shm.Dir + "/" + name.SemPrefix + cn[1:]); err == nil && st.Size() < int64(Size) {
		if flag&os.O_EXCL == 0 {
			return nil, &fs.PathError{Op: "sem_open", Path: cn, Err: fmt.Errorf("%s is %d bytes, less than a sem_t (%d): its creator has not finished: %w", shm.Dir+"/"+name.SemPrefix+cn[1:], st.Size(), Size, syscall.EAGAIN)}
		}
	}
	raw, err := posixipc.SemOpen(cn, flag, uint32(perm), uint32(value))
	if err != nil {
		return nil, &fs.PathError{Op: "sem_open", Path: cn, Err: err}
	}
	return newSem("sem_open", cn, raw, nil)
}

// Unlink removes the named semaphore name (sem_unlink). Open handles stay
// usable.
func Unlink(n string) error {
	cn, err := name.Canonical(n)
	if err != nil {
		return &fs.PathError{Op: "sem_unlink", Path: n, Err: err}
	}
	if err := posixipc.SemUnlink(cn); err != nil {
		return &fs.PathError{Op: "sem_unlink", Path: cn, Err: err}
	}
	return nil
}

func checkValue(v int) error {
	if v < 0 || v > ValueMax {
		return fmt.Errorf("value %d: must be 0 to %d (SEM_VALUE_MAX): %w", v, ValueMax, syscall.EINVAL)
	}
	return nil
}

// place checks that a sem_t fits at off in seg, pins seg and prefaults it
// (shm.Segment.Place).
func place(op string, seg *shm.Segment, off int64) (string, posixipc.Sem, error) {
	nm, p, err := seg.Place(op, off, Size, Align)
	if err != nil {
		return "", posixipc.Sem{}, err
	}
	return nm, posixipc.SemAt(p), nil
}

// Init initialises an unnamed, process-shared semaphore with value at offset
// off of seg (sem_init with pshared=1) and returns a handle on it. off must
// be a multiple of Align with Size bytes inside the segment. The segment is
// pinned until the handle is closed.
func Init(seg *shm.Segment, off int64, value int) (*Sem, error) {
	if err := checkValue(value); err != nil {
		return nil, &fs.PathError{Op: "sem_init", Path: "", Err: err}
	}
	nm, raw, err := place("sem_init", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.SemInit(raw, true, uint32(value)); err != nil {
		seg.Unpin()
		return nil, &fs.PathError{Op: "sem_init", Path: nm, Err: err}
	}
	return newSem("sem_init", nm, raw, seg)
}

// At returns a handle on the unnamed semaphore that a peer initialised at
// offset off of seg. The same checks as Init apply; the segment is pinned
// until the handle is closed.
func At(seg *shm.Segment, off int64) (*Sem, error) {
	nm, raw, err := place("sem_at", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.SemSane(raw); err != nil {
		seg.Unpin()
		return nil, &fs.PathError{Op: "sem_at", Path: nm, Err: fmt.Errorf("not an initialised semaphore (its futex flags or value are none glibc writes; initialise it with Init or sem_init): %w", err)}
	}
	return newSem("sem_at", nm, raw, seg)
}

// Name returns "/name" for a named semaphore, "SEGMENT@OFFSET" otherwise.
func (s *Sem) Name() string { return s.name }

// Post increments the semaphore (sem_post). At ValueMax it fails with an
// error wrapping syscall.EOVERFLOW.
func (s *Sem) Post() error {
	if !s.k.Acquire() {
		return s.errClosed
	}
	err := posixipc.SemPost(s.raw)
	s.k.Release()
	if err != nil {
		if err == syscall.EOVERFLOW {
			err = fmt.Errorf("value is already SEM_VALUE_MAX (%d): %w", ValueMax, err)
		}
		return &fs.PathError{Op: "sem_post", Path: s.name, Err: err}
	}
	return nil
}

// TryWait takes a unit if one is available at once (sem_trywait), and
// otherwise fails with an error wrapping syscall.EAGAIN.
func (s *Sem) TryWait() error {
	if !s.k.Acquire() {
		return s.errClosed
	}
	err := posixipc.SemTryWait(s.raw)
	s.k.Release()
	switch err {
	case nil:
		return nil
	case syscall.EAGAIN:
		return s.errAgain
	}
	return &fs.PathError{Op: "sem_trywait", Path: s.name, Err: err}
}

// Wait takes a unit, blocking until one is available, ctx is done (an error
// wrapping ctx.Err(); with a deadline also syscall.ETIMEDOUT) or the handle
// is closed (an error wrapping os.ErrClosed). A Wait that returns an error
// took no unit. The deadline of ctx is kept on CLOCK_MONOTONIC. When no
// other Wait of the handle waits, it goes straight to the wait in C, which
// takes an available unit without a system call (the kit's Block: no
// sem_trywait first).
func (s *Sem) Wait(ctx context.Context) error {
	err := s.k.Block(ctx, 0, s.try, s.wait)
	if err == nil {
		return nil
	}
	if err == os.ErrClosed {
		return s.errClosed
	}
	return &fs.PathError{Op: "sem_clockwait", Path: s.name, Err: err}
}

// An idler is the kit's wait for a Wait that finds none of the process's
// gate.MaxInKernel slots in C (gate.Kit.SetIdle): counted in as a waiter
// of the semaphore, so that a post wakes its value word, it waits in the
// process's futex watch (one thread for all such waits: gate.FutexWait)
// until the value moves from 0; the kit then tries again. It holds no
// reference to the Sem (its cleanup must be able to run).
type idler struct {
	raw posixipc.Sem
	k   *gate.Waiters
}

func (d idler) wait(ctx context.Context, key uint64) error {
	word, shared, v, err := posixipc.SemWatchBegin(d.raw)
	if err != nil {
		return err // the kit polls (and its try reports a broken semaphore)
	}
	if v == 0 {
		err = d.k.FutexWait(ctx, word, 0, shared)
	}
	posixipc.SemWatchEnd(d.raw)
	return err
}

// try is Wait's fast path (sem_trywait).
func (s *Sem) try() error { return posixipc.SemTryWait(s.raw) }

// wait is Wait's wait in C (posixipc.SemWaitCancel: futex_waitv on the
// value and the kick word, or sem_clockwait kicked by a signal).
func (s *Sem) wait(w posixipc.Waiter, rel int64) error { return posixipc.SemWaitCancel(s.raw, w, rel) }

// Value returns the semaphore's value (sem_getvalue): a snapshot that may be
// stale at once. glibc reports 0, never a negative count, while some wait.
func (s *Sem) Value() (int, error) {
	if !s.k.Acquire() {
		return 0, s.errClosed
	}
	v, err := posixipc.SemGetValue(s.raw)
	s.k.Release()
	if err != nil {
		return 0, &fs.PathError{Op: "sem_getvalue", Path: s.name, Err: err}
	}
	return v, nil
}

// Close releases the handle: goroutines blocked in Wait return an error
// wrapping os.ErrClosed, and once every call in flight has left C the
// handle's resources go (sem_close for a named semaphore, Unpin of the
// segment for an unnamed one). It is idempotent. The semaphore itself stays.
func (s *Sem) Close() error { return s.shutdown(false) }

// Destroy closes the handle like Close and then destroys the unnamed
// semaphore (sem_destroy): no process may use it afterwards. For a named
// semaphore it fails with an error wrapping syscall.EINVAL (use Unlink).
func (s *Sem) Destroy() error {
	if s.seg == nil {
		return &fs.PathError{Op: "sem_destroy", Path: s.name, Err: fmt.Errorf("a named semaphore is removed with Unlink: %w", syscall.EINVAL)}
	}
	return s.shutdown(true)
}

func (s *Sem) shutdown(destroy bool) error {
	if !s.k.Close() {
		if destroy {
			return s.errClosed
		}
		return nil
	}
	s.cleanup.Stop()
	if s.seg == nil {
		if err := posixipc.SemClose(s.raw); err != nil {
			return &fs.PathError{Op: "sem_close", Path: s.name, Err: err}
		}
		return nil
	}
	var err error
	if destroy {
		if e := posixipc.SemDestroy(s.raw); e != nil {
			err = &fs.PathError{Op: "sem_destroy", Path: s.name, Err: e}
		}
	}
	s.seg.Unpin()
	return err
}
