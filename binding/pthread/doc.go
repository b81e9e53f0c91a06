//go:build linux && cgo

// Package pthread places process-shared pthread mutexes, condition
// variables and reader/writer locks in shared memory (a binding/shm
// Segment), where Go and C processes use them together.
//
// The objects are glibc's own pthread_mutex_t, pthread_cond_t and
// pthread_rwlock_t: a C program that maps the same segment and casts the
// bytes at the same offset to a struct holding a pthread_mutex_t shares
// them with Go. crt/posixipc_layout.h shows such a layout, with the sizes
// and alignments (SizeofMutex, AlignofMutex, ... here).
//
// # Ownership
//
// A Segment owns the memory; each Mutex, Cond and RWMutex is a handle to an
// object at an offset in it. NewMutex (NewCond, NewRWMutex) initialises the
// object — do it once, while no process uses it; MutexAt (CondAt,
// RWMutexAt) attaches to one that this or another process initialised and
// refuses bytes that are not a process-shared object. A handle pins its
// segment (Segment.Close fails with EBUSY) until it is closed and every lock
// taken through it is released. Close never destroys the object: other
// processes may still use it.
//
// # Threads
//
// A pthread mutex belongs to the OS thread that locked it. Lock wires the
// calling goroutine to its thread (runtime.LockOSThread) and Unlock unwires
// it, so the goroutine that locked is the one that must unlock: Unlock from
// any other goroutine returns an error wrapping syscall.EPERM and changes
// nothing (the Go side checks, whatever the mutex type). Relocking through
// the same handle returns EDEADLK unless the mutex is Recursive. A
// goroutine that exits holding a lock ends its thread, which the kernel
// treats as the owner's death (the next locker gets ErrOwnerDead), except on
// the main thread, which Go wedges instead, so the lock stays held until the
// process exits; either way that handle keeps its segment pinned. The write lock of an RWMutex follows the
// same rules; read locks are not tied to a thread.
//
// Waiting costs a bounded number of threads: for each handle and direction
// only one goroutine waits inside C (internal/gate); the others wait in Go.
// Mutex.Lock and the RWMutex locks wait through the module's waiter kit
// (gate.Kit), as the other facilities' blocking calls do, so their waits
// inside C also count toward the process-wide bound (gate.MaxInKernel,
// over every handle of every facility): a lock call that finds no free
// slot retries its trylock with a backoff of 1 to 25 ms, wired to a thread
// only for each try. A Cond.Wait that finds no free slot waits in Go and
// returns as from a spurious wake-up after SlotPoll (10 ms). A wait inside
// C through a helper (below) holds two threads, the caller's and the
// helper's; a helper idle for a second exits. So however many handles a
// process has, its waits hold at most 2 × gate.MaxInKernel threads, and
// its idle handles none.
// A Cond has one waiter in C per handle; the other local waiters release
// the mutex and park in Go and wake with it. The mutex's gate is held only
// while acquiring, never while the lock is held or during a condvar wait, so
// a condvar waiter that wakes up holding the mutex never waits for a gate
// that a goroutine blocked on that mutex holds.
//
// Every blocking call takes a context; deadlines use CLOCK_MONOTONIC, and
// one too far away to represent (year 9999) means no deadline. glibc
// retries robust-mutex futex waits on EINTR, so a signal cannot interrupt
// them: Mutex.Lock waits in slices of posixipc.PthreadSliceNanos (2 ms) of
// pthread_mutex_clocklock and checks a cancel flag in C memory between
// slices, so cancellation takes at most about 2 ms.
//
// Condvar waits and rwlock waits never run glibc's wait on the caller's
// thread. Each Cond handle, and each direction of an RWMutex handle, has a
// helper thread, created in C by a wait when it has none (its first, or the
// first after a second idle), that makes the glibc call
// (pthread_cond_clockwait with a private mutex of its own, registered on the
// condvar before the caller releases its mutex, so no wake-up is lost;
// pthread_rwlock_clock{rd,wr}lock in 20 ms slices, the write lock then handed
// to the caller's thread). The caller sleeps on futex words in C memory that
// no other process can reach, so its deadline, its context and Close end
// the wait promptly, whatever the object's bytes hold. A lock the helper
// gets after its caller gave up is released; a condvar wake-up it consumed
// is passed on. Signal and Broadcast run on a goroutine of the handle and
// wait at most WakeBound (ErrWedged after that). The price is a hand-over
// between threads per wait (see the README's benchmark section).
//
// # Trust
//
// Every process that can write the segment must be trusted: the objects
// are glibc's, and glibc trusts their bytes. What this package checks
// before glibc sees an object (at attach and again before each lock, wait
// or unlock call): the mutex kind (process-shared; no priority-inheritance
// or -protection bits, which make glibc abort), the condvar's process-shared
// bit, the rwlock's fields that glibc never writes other values into
// (pads, flags, futex words, __shared); and that the bytes are backed
// (Segment.Prefault at placement: a full /dev/shm is an error, not a SIGBUS).
// What it cannot check: plausible but inconsistent values a hostile peer
// writes on purpose. Such a peer can make a lock call fail, grant a lock
// that another also holds, or wedge a helper thread inside glibc (the
// caller still returns; the handle's segment then stays pinned, and later
// waits of that handle park until their context ends). With robust
// mutexes, glibc keeps the list of the robust mutexes a thread holds
// linked through the mutexes themselves (__list in the segment): a peer
// that rewrites those links makes the holder's Unlock, or the kernel at
// its death, write peer-chosen values at peer-chosen addresses of the Go
// process, and the segment exposes thread ids. Limit who can write the
// segment: permission bits 0600 and one uid, or --ipc=private / a private
// IPC namespace in containers, shared only with peers you trust.
//
// A peer that truncates the segment while a goroutine waits inside glibc
// on an object in it (Mutex.Lock's slices, an unlock) kills the process
// with SIGBUS inside C: the fault happens in glibc, where Go cannot turn it
// into an error (TestTruncatedUnderLockWait shows it). Keep the size of a
// segment with objects in it fixed; the Segment accessors, which are
// Go code, report a truncation as an error.
//
// # Owner death
//
// Mutexes are robust by default. When the holder (a C or Go process, or a
// thread) dies, the next Lock, TryLock or Cond.Wait returns ErrOwnerDead
// with the lock held. The recovery pattern:
//
//	err := m.Lock(ctx)
//	if errors.Is(err, pthread.ErrOwnerDead) {
//		repair(shared)         // the dead holder may have left it half-updated
//		err = m.MarkConsistent()
//	}
//	if err != nil { ... }      // not held (except after ErrOwnerDead)
//	defer m.Unlock()
//
// Unlocking without MarkConsistent makes the mutex unrecoverable: every
// later lock, in any process, fails with ErrNotRecoverable.
//
// # Not supported
//
//   - Priority-inheritance and priority-protect mutexes (PTHREAD_PRIO_*):
//     MutexAt and every lock call refuse them with EINVAL.
//   - Robust rwlocks and condvars: glibc has none. A process that dies
//     holding an RWMutex leaves it held. A process killed while waiting on a
//     condvar leaves a reference in glibc's condvar (before glibc 2.41), and a
//     later pthread_cond_signal can then block forever: Signal and
//     Broadcast return ErrWedged after WakeBound instead; after such a
//     death, re-initialise the condvar (NewCond) while nobody uses it.
//   - Process-private objects: every object is PTHREAD_PROCESS_SHARED.
//   - Condvar waits with a recursive mutex locked more than once (EINVAL).
package pthread
