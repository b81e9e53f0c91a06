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
// A Cond has one waiter in C per handle; the other local waiters release
// the mutex and park in Go and wake with it. The mutex's gate is held only
// while acquiring, never while the lock is held or during a condvar wait, so
// a condvar waiter that wakes up holding the mutex never waits for a gate
// that a goroutine blocked on that mutex holds.
//
// Every blocking call takes a context. glibc retries robust-mutex, rwlock
// and condvar futex waits on EINTR, so a signal cannot interrupt them: lock
// calls wait in slices of posixipc.PthreadSliceNanos (2 ms) of
// pthread_mutex_clocklock (pthread_rwlock_clock*lock) on CLOCK_MONOTONIC
// and check a cancel flag in C memory between slices, so cancellation takes
// at most about 2 ms; Cond.Wait is kicked with the flag and a broadcast
// (the other waiters wake spuriously, which POSIX allows) and returns with
// the mutex held again. Deadlines use CLOCK_MONOTONIC.
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
//   - Priority-inheritance and priority-protect mutexes (PTHREAD_PRIO_*).
//   - Robust rwlocks and condvars: glibc has none. A process that dies
//     holding an RWMutex leaves it held. A process killed while waiting on a
//     condvar leaves a reference in glibc's condvar (before glibc 2.41), and a
//     later Signal or Broadcast can then block forever; after such a death,
//     re-initialise the condvar (NewCond) while nobody uses it.
//   - Process-private objects: every object is PTHREAD_PROCESS_SHARED.
//   - Condvar waits with a recursive mutex locked more than once (EINVAL).
package pthread
