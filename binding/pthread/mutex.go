//go:build linux && cgo

package pthread

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
)

// ErrDeadline is wrapped by the error of a call whose deadline passed while
// it waited: the same value in every package of the module; errors.Is
// matches it against context.DeadlineExceeded, syscall.ETIMEDOUT and
// os.ErrDeadlineExceeded.
var ErrDeadline = errs.Deadline

// Sizes and alignments of glibc's objects, in bytes: an object needs that
// many bytes at an offset that is a multiple of its alignment. They equal
// sizeof/_Alignof of pthread_mutex_t, pthread_cond_t and pthread_rwlock_t
// (the tests check them against crt/posixipc_layout.h compiled by cc).
const (
	SizeofMutex    = posixipc.SizeofPthreadMutex
	AlignofMutex   = posixipc.AlignofPthreadMutex
	SizeofCond     = posixipc.SizeofPthreadCond
	AlignofCond    = posixipc.AlignofPthreadCond
	SizeofRWMutex  = posixipc.SizeofPthreadRWLock
	AlignofRWMutex = posixipc.AlignofPthreadRWLock
)

// The example layout of struct posixipc_sync in crt/posixipc_layout.h:
// offsets of its fields from the start of the struct, and its size.
const (
	LayoutMutex   = 0
	LayoutCond    = 64
	LayoutRWLock  = 128
	LayoutCounter = 192 // uint64, under the mutex
	LayoutTurn    = 200 // uint64, ping-pong turn under mutex and cond
	LayoutA       = 208 // uint64, written under the write lock ...
	LayoutB       = 216 // uint64, ... always equal to LayoutA
	LayoutSize    = 256
)

// MutexType is the pthread mutex type (pthread_mutexattr_settype).
type MutexType int

const (
	// ErrorCheck (the default) reports relocking by the holder (EDEADLK)
	// and unlocking by another thread (EPERM).
	ErrorCheck MutexType = iota
	// Normal: no checks in glibc; the Go side still refuses relocking
	// through the same handle (EDEADLK) and foreign unlocks (EPERM).
	Normal
	// Recursive: the holder may lock again; each Lock needs its Unlock.
	Recursive
)

func (t MutexType) String() string {
	switch t {
	case ErrorCheck:
		return "errorcheck"
	case Normal:
		return "normal"
	case Recursive:
		return "recursive"
	}
	return fmt.Sprintf("MutexType(%d)", int(t))
}

func (t MutexType) pthread() (int, bool) {
	switch t {
	case ErrorCheck:
		return posixipc.PthreadMutexErrorCheck, true
	case Normal:
		return posixipc.PthreadMutexNormal, true
	case Recursive:
		return posixipc.PthreadMutexRecursive, true
	}
	return 0, false
}

// MutexOptions are the attributes NewMutex gives a mutex. The zero value (or
// nil) is a robust, error-checking, process-shared mutex.
type MutexOptions struct {
	Type MutexType
	// Stalled makes the mutex not robust (PTHREAD_MUTEX_STALLED): when a
	// holder dies, the mutex stays locked forever. Not recommended.
	Stalled bool
}

// Mutex is a handle to a process-shared pthread_mutex_t placed in a
// shared-memory segment. Its methods are safe for concurrent use by many
// goroutines; the lock itself belongs to the goroutine (OS thread) that took
// it, until it unlocks it.
type Mutex struct {
	object
	h       posixipc.PthreadHandle
	k       *gate.Kit[flagWaiter] // calls in flight, the one waiter inside C and its canceller
	try     func() error          // tryLock and waitLock as values made once (no allocation per Lock)
	wait    func(flagWaiter, int64) error
	errBusy error // TryLock's error, allocated once
}

// flagWaiter is the kit's C waiter of a Mutex: its handle's cancel flag,
// which pthread's sliced waits check between slices. A closing kick is
// cleared by the next Reset like any other; the kit's Close repeats its
// kicks until every call has left, so none is lost.
type flagWaiter struct{ h posixipc.PthreadHandle }

func (w flagWaiter) Reset()    { w.h.SetCancel(false) }
func (w flagWaiter) Kick(bool) { w.h.SetCancel(true) }
func (w flagWaiter) Free()     {} // the handle is the Mutex's: freed by its finalize

// NewMutex initialises a mutex at off in seg with pthread_mutex_init(3)
// (PTHREAD_PROCESS_SHARED, plus opts) and returns a handle to it. Initialise
// each mutex once, while no process uses it; others attach with MutexAt.
func NewMutex(seg *shm.Segment, off int64, opts *MutexOptions) (*Mutex, error) {
	if opts == nil {
		opts = &MutexOptions{}
	}
	typ, ok := opts.Type.pthread()
	if !ok {
		return nil, &fs.PathError{Op: "pthread_mutex_init", Path: segName(seg, off), Err: fmt.Errorf("unknown mutex type %d: %w", int(opts.Type), syscall.EINVAL)}
	}
	m, err := newMutex("pthread_mutex_init", seg, off)
	if err != nil {
		return nil, err
	}
	if err := posixipc.PthreadMutexInit(m.ptr, typ, !opts.Stalled, true); err != nil {
		m.Close()
		return nil, m.err("pthread_mutex_init", err)
	}
	return m, nil
}

// MutexAt attaches to the mutex at off in seg, which this or another process
// (C or Go) initialised as process-shared. It fails with an error wrapping
// syscall.EINVAL when the bytes there are not a process-shared mutex.
func MutexAt(seg *shm.Segment, off int64) (*Mutex, error) {
	m, err := newMutex("attach", seg, off)
	if err != nil {
		return nil, err
	}
	_, _, kind := posixipc.PthreadMutexState(m.ptr)
	switch {
	case kind&posixipc.PthreadKindPshared == 0:
		m.Close()
		return nil, m.err("attach", fmt.Errorf("not an initialised process-shared mutex (kind %#x; initialise it with NewMutex or pthread_mutexattr_setpshared): %w", kind, syscall.EINVAL))
	case kind&(posixipc.PthreadKindPI|posixipc.PthreadKindPP) != 0:
		m.Close()
		return nil, m.err("attach", fmt.Errorf("a priority-inheritance or priority-protection mutex (kind %#x) is not supported: %w", kind, syscall.EINVAL))
	case kind&^(posixipc.PthreadKindTypeMask|posixipc.PthreadKindRobust|posixipc.PthreadKindPshared|posixipc.PthreadKindElision) != 0 || kind&posixipc.PthreadKindTypeMask == 3:
		m.Close()
		return nil, m.err("attach", fmt.Errorf("kind %#x is no mutex kind glibc makes: %w", kind, syscall.EINVAL))
	}
	return m, nil
}

func segName(seg *shm.Segment, off int64) string {
	if seg == nil {
		return "<nil segment>"
	}
	return shm.PlaceName(seg.Name(), off)
}

func newMutex(op string, seg *shm.Segment, off int64) (*Mutex, error) {
	m := &Mutex{}
	if err := m.place(op, seg, off, SizeofMutex, AlignofMutex); err != nil {
		return nil, err
	}
	h, err := newHandle(op, m.name)
	if err != nil {
		seg.Unpin()
		return nil, err
	}
	m.h = h
	m.k = gate.NewKit(true, func() (flagWaiter, error) { return flagWaiter{h}, nil })
	m.try, m.wait = m.tryLock, m.waitLock
	m.errBusy = m.err("pthread_mutex_trylock", syscall.EBUSY)
	k := m.k
	m.l.finalize = func() bool { // refers to the C state, not to m (see life)
		k.Close() // a no-op after Close; for a handle dropped without it, stops the canceller
		h.Free()
		return true
	}
	watch(m, &m.object)
	return m, nil
}

// Lock locks the mutex (pthread_mutex_trylock, then pthread_mutex_clocklock
// on CLOCK_MONOTONIC), waiting until it is free, ctx is done or the handle is
// closed. On success the calling goroutine is wired to its OS thread
// (runtime.LockOSThread) until the matching Unlock.
//
// When the previous holder died holding it, Lock returns ErrOwnerDead (in a
// *fs.PathError) WITH the lock held: repair, MarkConsistent, Unlock. After
// ErrNotRecoverable, or any other error, the lock is not held.
//
// Lock waits through the module's waiter kit, as every blocking call does:
// one goroutine per handle waits inside C, the others wait in Go and cost no
// OS thread, and the waits inside C of the whole process are bounded
// (gate.MaxInKernel): a Lock that finds no free slot retries
// pthread_mutex_trylock with a backoff from 1 to 25 ms, its goroutine wired
// to a thread only for each try. A cancelled wait returns within about
// posixipc.PthreadSliceNanos (2 ms) with an error wrapping ctx.Err().
func (m *Mutex) Lock(ctx context.Context) error {
	if !m.acquire() {
		return m.errClosed("pthread_mutex_lock")
	}
	// The fast try comes before the kit (a free mutex costs no more than
	// TryLock); the kit then waits in C at once when the point is free,
	// and tries again only when it must park or poll.
	switch err := m.k.TryBlock(ctx, 0, m.try, m.wait); err {
	case nil:
		return nil
	case syscall.EOWNERDEAD: // the lock is held: the thread and the reference stay
		return m.err("pthread_mutex_lock", ErrOwnerDead)
	case os.ErrClosed:
		m.release()
		return m.errClosed("pthread_mutex_lock")
	default:
		m.release()
		return m.err("pthread_mutex_lock", err)
	}
}

// tryLock is Lock's try: pthread_mutex_trylock on the calling goroutine's
// thread, which stays wired to it when the lock is taken (nil or
// EOWNERDEAD); EBUSY is the kit's WouldBlock.
func (m *Mutex) tryLock() error {
	runtime.LockOSThread()
	err := posixipc.PthreadMutexTrylock(m.ptr, m.h)
	switch err {
	case nil, syscall.EOWNERDEAD:
		return err
	case syscall.EBUSY:
		err = gate.WouldBlock
	}
	runtime.UnlockOSThread()
	return err
}

// waitLock is Lock's wait inside C: pthread_mutex_clocklock in slices that
// check the handle's cancel flag (the kit's kick), for at most rel ns.
func (m *Mutex) waitLock(_ flagWaiter, rel int64) error {
	runtime.LockOSThread()
	err := posixipc.PthreadMutexLock(m.ptr, m.h, rel)
	if err != nil && err != syscall.EOWNERDEAD {
		runtime.UnlockOSThread()
	}
	return err
}

// lockResult finishes a lock call that returned err != nil: EOWNERDEAD
// keeps the lock (and the thread, and the reference); the rest undo them.
func (m *Mutex) lockResult(op string, err error) error {
	if err == syscall.EOWNERDEAD {
		return m.err(op, ErrOwnerDead)
	}
	runtime.UnlockOSThread()
	m.release()
	return m.err(op, err)
}

// TryLock locks the mutex if it is free at once (pthread_mutex_trylock). It
// returns an error wrapping syscall.EBUSY (allocated once per handle) when
// it is not, and ErrOwnerDead with the lock held as Lock does.
func (m *Mutex) TryLock() error {
	if !m.acquire() {
		return m.errClosed("pthread_mutex_trylock")
	}
	runtime.LockOSThread()
	err := posixipc.PthreadMutexTrylock(m.ptr, m.h)
	if err == nil {
		return nil
	}
	if err == syscall.EBUSY {
		runtime.UnlockOSThread()
		m.release()
		return m.errBusy
	}
	return m.lockResult("pthread_mutex_trylock", err)
}

// Unlock unlocks the mutex (pthread_mutex_unlock) and unwires the goroutine
// from its thread. Only the goroutine that locked it may unlock it: from any
// other goroutine, or when it is not locked through this handle, Unlock
// returns an error wrapping syscall.EPERM and changes nothing. Unlock works
// after Close, so a holder can always release the lock.
func (m *Mutex) Unlock() error {
	if !m.acquireLive() {
		return m.err("pthread_mutex_unlock", syscall.EPERM)
	}
	err := posixipc.PthreadMutexUnlock(m.ptr, m.h)
	if err != nil {
		m.release()
		return m.err("pthread_mutex_unlock", err)
	}
	runtime.UnlockOSThread()
	m.release2() // the lock's reference and this call's
	return nil
}

// Held reports whether the calling goroutine holds the mutex through this
// handle (it is wired to the OS thread that locked it, see Lock). It reads
// the handle's C state only, never the mutex's bytes.
func (m *Mutex) Held() bool {
	if !m.acquireLive() {
		return false
	}
	defer m.release()
	return m.h.Owned()
}

// MarkConsistent marks the state the mutex protects as repaired after
// ErrOwnerDead (pthread_mutex_consistent). The caller must hold the lock.
func (m *Mutex) MarkConsistent() error {
	if !m.acquireLive() {
		return m.err("pthread_mutex_consistent", syscall.EPERM)
	}
	defer m.release()
	if err := posixipc.PthreadMutexConsistent(m.ptr, m.h); err != nil {
		return m.err("pthread_mutex_consistent", err)
	}
	return nil
}

// Close releases the handle: waiters in Lock return an error wrapping
// os.ErrClosed (the one inside C within a wait slice), later calls fail the
// same way. It does not unlock the mutex and does not destroy it (other
// processes may use it). A lock still held through the handle keeps the
// segment pinned until its Unlock, which still works. Close is idempotent
// and safe concurrently with blocked calls.
func (m *Mutex) Close() error {
	if !m.markClosed() {
		return nil
	}
	m.k.Close()
	m.release()
	return nil
}

// MutexState is what State read from glibc's fields of the mutex.
type MutexState struct {
	Locked         bool // a thread (of any process) holds it
	OwnerTID       int  // the holder's kernel thread id (0 when unlocked)
	Waiters        bool // FUTEX_WAITERS: some thread may sleep on it
	OwnerDied      bool // the last holder died; the next lock gets ErrOwnerDead
	Inconsistent   bool // locked after ErrOwnerDead, MarkConsistent not called yet
	NotRecoverable bool // unlocked without MarkConsistent: unusable
	Robust         bool
	Type           MutexType
}

// State reads the mutex's glibc fields (__lock, __owner, __kind of struct
// __pthread_mutex_s) without locking it: a snapshot for diagnostics, stale as
// soon as it returns. It is glibc-specific.
func (m *Mutex) State() (MutexState, error) {
	if !m.acquire() {
		return MutexState{}, m.errClosed("state")
	}
	defer m.release()
	lock, owner, kind := posixipc.PthreadMutexState(m.ptr)
	s := MutexState{
		OwnerTID:       int(lock & posixipc.FutexTIDMask),
		Waiters:        lock&posixipc.FutexWaiters != 0,
		Inconsistent:   owner == posixipc.PthreadMutexInconsistent,
		NotRecoverable: owner == posixipc.PthreadMutexNotRecovering,
		Robust:         kind&posixipc.PthreadKindRobust != 0,
	}
	if !s.Robust { // __lock is 0, 1 or 2 and __owner is the tid
		s.OwnerTID = 0
		if lock != 0 {
			s.OwnerTID = int(owner)
		}
	}
	s.Locked = lock != 0 && (s.OwnerTID != 0 || !s.Robust)
	s.OwnerDied = s.Robust && lock&posixipc.FutexOwnerDied != 0 && s.OwnerTID == 0
	switch kind & posixipc.PthreadKindTypeMask {
	case posixipc.PthreadMutexNormal:
		s.Type = Normal
	case posixipc.PthreadMutexRecursive:
		s.Type = Recursive
	default:
		s.Type = ErrorCheck
	}
	return s, nil
}

func (s MutexState) String() string {
	var st string
	switch {
	case s.NotRecoverable:
		st = "not recoverable"
	case s.Locked && s.Inconsistent:
		st = fmt.Sprintf("locked by tid %d, inconsistent (recovering after owner death)", s.OwnerTID)
	case s.Locked:
		st = fmt.Sprintf("locked by tid %d", s.OwnerTID)
	case s.OwnerDied:
		st = "unlocked, owner died (the next lock recovers it)"
	default:
		st = "unlocked"
	}
	rb := "robust"
	if !s.Robust {
		rb = "stalled"
	}
	w := ""
	if s.Waiters {
		w = ", waiters"
	}
	return fmt.Sprintf("%s (%s, %s%s)", st, s.Type, rb, w)
}
