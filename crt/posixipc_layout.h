/*
 * posixipc_layout.h: the shared layout a C program uses with the Go side
 * (github.com/posixipc/posixipc/binding/pthread).
 *
 * The objects are glibc's own pthread_mutex_t, pthread_cond_t and
 * pthread_rwlock_t, placed in a POSIX shared memory segment. A C program maps
 * the segment (shm_open + mmap, MAP_SHARED) and casts the bytes at an offset
 * to the struct below; Go places the same objects at the same offsets with
 * pthread.NewMutex(seg, off, opts) / pthread.MutexAt(seg, off) and friends.
 *
 * Rules both sides keep:
 *   - Offsets are multiples of the object's alignment (_Alignof) and the
 *     object lies wholly inside the segment.
 *   - Exactly one side initialises each object, once, with
 *     PTHREAD_PROCESS_SHARED (pthread_*attr_setpshared); the mutex of Go's
 *     defaults is also PTHREAD_MUTEX_ROBUST and PTHREAD_MUTEX_ERRORCHECK, the
 *     condvar uses CLOCK_MONOTONIC (pthread_condattr_setclock), so a C
 *     pthread_cond_timedwait on it takes a CLOCK_MONOTONIC deadline.
 *   - A robust mutex's lock may return EOWNERDEAD: the new holder repairs the
 *     data and calls pthread_mutex_consistent before unlocking, or the mutex
 *     becomes unrecoverable (ENOTRECOVERABLE).
 *   - Nobody destroys or re-initialises an object while another process may
 *     use it; nothing here holds a pointer (pointers differ per process).
 *
 * The sizes below are glibc's on the platform this is compiled for; Go's
 * pthread.SizeofMutex etc. equal them (the Go tests check it against this
 * header compiled by cc).
 */
#ifndef POSIXIPC_LAYOUT_H
#define POSIXIPC_LAYOUT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define POSIXIPC_SIZEOF_MUTEX   sizeof(pthread_mutex_t)   /* 40 on x86_64 */
#define POSIXIPC_ALIGNOF_MUTEX  _Alignof(pthread_mutex_t) /* 8 */
#define POSIXIPC_SIZEOF_COND    sizeof(pthread_cond_t)    /* 48 */
#define POSIXIPC_ALIGNOF_COND   _Alignof(pthread_cond_t)  /* 8 */
#define POSIXIPC_SIZEOF_RWLOCK  sizeof(pthread_rwlock_t)  /* 56 */
#define POSIXIPC_ALIGNOF_RWLOCK _Alignof(pthread_rwlock_t)/* 8 */

/*
 * struct posixipc_sync is the example layout that the tests, the benchmarks,
 * `posixipc demo` and crt/pthreadpeer.c share: one of each object, each on a
 * cache line of its own, then plain data the locks protect. Go names the
 * offsets pthread.LayoutMutex, pthread.LayoutCond, ... (binding/pthread).
 */
struct posixipc_sync {
	_Alignas(64) pthread_mutex_t mutex;   /* offset 0   (pthread.LayoutMutex) */
	_Alignas(64) pthread_cond_t cond;     /* offset 64  (pthread.LayoutCond) */
	_Alignas(64) pthread_rwlock_t rwlock; /* offset 128 (pthread.LayoutRWLock) */
	_Alignas(64) uint64_t counter;        /* offset 192: incremented under mutex */
	uint64_t turn;                        /* offset 200: ping-pong turn, under mutex+cond */
	uint64_t a;                           /* offset 208: written under the write lock... */
	uint64_t b;                           /* offset 216: ...always equal to a */
	uint64_t reserved[4];                 /* offset 224 */
};                                            /* size 256 (pthread.LayoutSize) */

_Static_assert(offsetof(struct posixipc_sync, mutex) == 0, "layout");
_Static_assert(offsetof(struct posixipc_sync, cond) == 64, "layout");
_Static_assert(offsetof(struct posixipc_sync, rwlock) == 128, "layout");
_Static_assert(offsetof(struct posixipc_sync, counter) == 192, "layout");
_Static_assert(offsetof(struct posixipc_sync, turn) == 200, "layout");
_Static_assert(offsetof(struct posixipc_sync, a) == 208, "layout");
_Static_assert(offsetof(struct posixipc_sync, b) == 216, "layout");
_Static_assert(sizeof(struct posixipc_sync) == 256, "layout");

#endif
