//go:build linux && cgo

// Package hardening holds the module's cross-facility reliability tests: a
// fault-injection matrix that kills (SIGKILL) a C peer (crt/faultpeer.c) or a
// Go helper process (this test binary, re-executed) at each critical point, a
// time-bounded soak with processes of both languages, signal floods during
// blocking calls, and leak checks (goroutines, descriptors, POSIX objects).
// It has no API: everything is in its tests.
//
// # What a killed process leaves, and how survivors recover
//
//   - Holding a robust pthread mutex: the next Lock (Go) or
//     pthread_mutex_lock (C) returns ErrOwnerDead (EOWNERDEAD) WITH the lock
//     held. Repair the protected data (the dead holder may have left it half
//     updated), call MarkConsistent (pthread_mutex_consistent), then Unlock.
//   - Waiting on a condvar: the mutex is not held, so it needs no repair, but
//     glibc (before 2.41) keeps a reference for the dead waiter, and a later
//     signal or broadcast can block forever (seen with glibc 2.36 here):
//     re-initialise the condvar (pthread.NewCond) at a moment nobody waits on
//     it, e.g. under the mutex after the supervisor has reaped the dead
//     process, before anyone signals it again.
//   - Holding a semaphore unit (between sem_wait and sem_post): the unit is
//     lost. A sem_t has no owner, so neither the kernel nor glibc can give it
//     back: the tests prove exactly one unit goes. Recovery pattern: each
//     process records the units it holds in a ledger in shared memory (a
//     counter per process, updated right after sem_wait and right before
//     sem_post); the supervisor that reaps a dead process (waitpid, or a
//     pidfd) posts the units its ledger shows and clears the ledger. A kill
//     between sem_wait and the ledger update still loses a unit silently, so
//     when exactness matters use a lock the kernel releases on death instead
//     (a robust mutex, or binding/flock's OFD locks) for a count of one.
//   - Blocked in mq_send on a full queue, or in mq_receive: nothing is lost or
//     duplicated; the message being sent was never queued, the kernel
//     delivers a message only to a receiver that returns it.
//   - Creating a segment: binding/shm publishes a segment only whole (an
//     O_TMPFILE linked into place), so a killed Go creator leaves no name and
//     no file. A C creator killed between shm_open(O_CREAT) and ftruncate
//     leaves a 0-byte object: Open reports EAGAIN ("its creator has not sized
//     it yet"); once the creator is known dead, Unlink it and create again.
package hardening
