/*
 * shim.h: the C side of package posixipc.
 *
 * shim.c has two parts: wrappers, one small function per libc call, and
 * waiters, the few functions with a wait loop (its second part, where each
 * group says why it must be in C). Every shim returns 0 on success or the
 * error number on failure (errno for calls that set it, the return value
 * for pthread_* calls), so Go sees a single convention. Results come back
 * through out-parameters (msgrcv's by value, so that Go passes no address
 * of its own). No shim keeps a pointer it was given after it returns.
 *
 * Sections belong to one facility each: mq, sem, sysvmsg, sysvsem, pty,
 * sig, shm, pthread, fifo, popen.
 */
#ifndef POSIXIPC_SHIM_H
#define POSIXIPC_SHIM_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <mqueue.h>
#include <semaphore.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* pi_noop does nothing: the floor cost of one cgo call, for benchmarks. */
void pi_noop(void);

/* pi_strerror wraps strerror_r(3) (the GNU one): the C library's text for
 * errno e, copied into buf (len bytes, NUL-terminated). */
void pi_strerror(int e, char *buf, size_t len);

/* pi_glibc_version wraps gnu_get_libc_version(3): the version of the C
 * library the process runs on (not the one it was built against). */
const char *pi_glibc_version(void);

/* ==== the signal-kicked waiter (every wait in C but pthread's) ====
 *
 * pi_waiter is the C-memory state of one goroutine that waits inside C.
 * cancel and closed are set by pi_waiter_kick from another thread; tid is
 * the waiting thread, 0 when nobody is inside. The wait loops publish tid,
 * then check the flags, then make the call; a kick sets a flag, bumps and
 * wakes kword (the futex_waitv waits watch it), swaps the sentinel over fd
 * (the waits that Go's SA_RESTART handlers restart: mq, flock, FIFO), then
 * signals tid (SIGURG, Go's preemption signal) if one is published. So a
 * call that a signal interrupts (EINTR: sem_clockwait, msgsnd, msgrcv,
 * semtimedop) ends, a restarted call on fd fails with EBADF, and a futex
 * wait on kword wakes.
 */
struct pi_waiter {
	int cancel;
	int closed;
	int tid;
	unsigned int kword; /* bumped and woken by every kick */
	/* the descriptor swap, for the waits that block on a descriptor: */
	int fd;       /* the waiter's own descriptor, -1 until pi_waiter_set_fd */
	int sentinel; /* an O_PATH descriptor: the calls on fd fail with EBADF once it is there */
	int swapped;  /* fd holds the sentinel: pi_waiter_rearm restores it */
	int noswap;   /* cancelling kicks leave fd alone (mq: a registration may exist) */
	int lock;     /* orders the swaps of kicks, rearms and mq's mode changes */
};
/* pi_waiter_new allocates a cleared waiter without a descriptor (fd -1);
 * NULL when C has no memory. pi_waiter_free closes its descriptors and
 * releases it; nobody may be inside. */
struct pi_waiter *pi_waiter_new(void);
void pi_waiter_free(struct pi_waiter *w);
/* pi_waiter_kick sets w->cancel (closing: the sticky w->closed), bumps and
 * wakes w->kword, puts the sentinel in w->fd's place (a closing kick
 * always, a cancelling one unless w->noswap), and signals the waiting
 * thread, if any, with SIGURG. */
void pi_waiter_kick(struct pi_waiter *w, int closing);
/* pi_waiter_set_fd gives w its descriptor: w owns fd from then on (also on
 * failure: it is closed) and opens the sentinel; 0 or errno. Call it
 * before the first wait on fd, while nobody is inside; a kick before it
 * has set the flags, which the wait checks. */
int pi_waiter_set_fd(struct pi_waiter *w, int fd);
/* pi_waiter_rearm undoes a cancelling kick before a new wait (a closing
 * one stays): it clears w->cancel and, if the kick swapped, puts a
 * duplicate of src in w->fd's place (dup3); 0 or errno (the flag is then
 * still set). */
int pi_waiter_rearm(struct pi_waiter *w, int src);
/* pi_fd_wait is one blocking call on w->fd, on the signal-kicked waiter:
 * flock(2) with how (op PI_FD_FLOCK), fcntl(2) F_OFD_SETLKW of
 * (type, start, len) from SEEK_SET (PI_FD_OFD), read(2) (PI_FD_READ) or
 * write(2) (PI_FD_WRITE) of buf. It returns the byte count or 0 (a write
 * interrupted part-way: what it wrote), or -errno: -ECANCELED after a
 * kick. */
enum { PI_FD_FLOCK, PI_FD_OFD, PI_FD_READ, PI_FD_WRITE };
int64_t pi_fd_wait(struct pi_waiter *w, int op, int how, int64_t start, int64_t len, char *buf, size_t n);

/* ==== mq ==== */
int pi_mq_open(const char *name, int oflag, unsigned int mode, int has_attr,
               long maxmsg, long msgsize, int *mqd);
int pi_mq_close(int mqd);
int pi_mq_unlink(const char *name);
int pi_mq_getattr(int mqd, long *flags, long *maxmsg, long *msgsize, long *curmsgs);
int pi_mq_setattr(int mqd, long flags, long *oflags);
int pi_mq_timedsend(int mqd, const char *msg, size_t len, unsigned int prio,
                    int64_t abs_sec, int64_t abs_nsec);
int64_t pi_mq_timedreceive(int mqd, char *buf, size_t len, int64_t abs_sec, int64_t abs_nsec);
int pi_mq_send(int mqd, const char *msg, size_t len, unsigned int prio);
int64_t pi_mq_receive(int mqd, char *buf, size_t len);
/*
 * pi_mq_waiter is the C-memory state of the one goroutine of a queue
 * direction that waits inside C: the signal-kicked waiter w, whose fd is
 * its private duplicate of the queue descriptor (w.noswap: a registration
 * may exist, so the waiter waits in ppoll and a cancelling kick never
 * swaps fd), and what the poll mode adds.
 */
struct pi_mq_waiter {
	struct pi_waiter w;
	int mqd;      /* the queue's own descriptor */
	int evfd;     /* an eventfd: the kick of a waiter in ppoll */
	int blocking; /* the waiter is (about to be) blocked in mq_timed* */
	int remode;   /* pi_mq_poll_mode swapped fd to move it to ppoll */
};
/* pi_mq_waiter_new returns a waiter for mqd, or NULL with errno set. */
struct pi_mq_waiter *pi_mq_waiter_new(int mqd);
void pi_mq_waiter_free(struct pi_mq_waiter *w);
/* pi_mq_send_wait sends like mq_timedsend on w->fd, waiting at most
 * timeout_ns on CLOCK_MONOTONIC (< 0: no limit); ECANCELED once kicked. */
int pi_mq_send_wait(struct pi_mq_waiter *w, int64_t timeout_ns, const char *msg, size_t len,
                    unsigned int prio);
/* pi_mq_receive_wait receives like mq_timedreceive on w->fd; it returns
 * priority<<32 | length, or -errno (-ECANCELED once kicked). */
int64_t pi_mq_receive_wait(struct pi_mq_waiter *w, int64_t timeout_ns, char *buf, size_t len);
/* pi_mq_kick stops the waiter: it writes the eventfd, then kicks w->w
 * (pi_waiter_kick). */
void pi_mq_kick(struct pi_mq_waiter *w, int closing);
/* pi_mq_rearm undoes a cancel kick (not a closing one): it drains the
 * eventfd, then rearms w->w from the queue's descriptor. */
int pi_mq_rearm(struct pi_mq_waiter *w);
/* pi_mq_poll_mode(w, 1) makes the waiter wait in ppoll from now on, moving
 * one blocked in mq_timed* there first (call it before mq_notify);
 * pi_mq_poll_mode(w, 0) lets it block in mq_timed* again (after the
 * registration is gone). */
int pi_mq_poll_mode(struct pi_mq_waiter *w, int on);
int pi_mq_notify_thread(int mqd, uintptr_t handle);
int pi_mq_notify_signal(int mqd, int signo, intptr_t value);
int pi_mq_notify_none(int mqd);

/* ==== sem ==== */

/* SEM_VALUE_MAX, the largest value of a semaphore. */
#include <limits.h>
enum { PI_SEM_SIZE = sizeof(sem_t), PI_SEM_ALIGN = _Alignof(sem_t), PI_SEM_VALUE_MAX = SEM_VALUE_MAX };

int pi_sem_open(const char *name, int oflag, unsigned int mode, unsigned int value, sem_t **sem);
int pi_sem_close(sem_t *sem);
int pi_sem_unlink(const char *name);
int pi_sem_init(sem_t *sem, int pshared, unsigned int value);
int pi_sem_destroy(sem_t *sem);
/* pi_sem_sane: 0 when the sem_t's fields are ones glibc can use, EINVAL
 * otherwise. pi_sem_post, pi_sem_trywait and pi_sem_wait_cancel check it
 * first. */
int pi_sem_sane(sem_t *sem);
int pi_sem_post(sem_t *sem);
int pi_sem_wait(sem_t *sem);
int pi_sem_trywait(sem_t *sem);
int pi_sem_clockwait(sem_t *sem, int clock, int64_t abs_sec, int64_t abs_nsec);
int pi_sem_getvalue(sem_t *sem, int *value);
/* pi_sem_wait_cancel waits like sem_clockwait on CLOCK_MONOTONIC (rel_ns < 0:
 * no deadline) until it takes a unit (0), the deadline passes (ETIMEDOUT) or
 * w->cancel or w->closed is set (ECANCELED; no unit taken). */
int pi_sem_wait_cancel(sem_t *sem, struct pi_waiter *w, int64_t rel_ns);
/* pi_sem_watch_begin counts the caller in as a waiter of glibc's
 * semaphore algorithm (so sem_post wakes the value word, as for
 * pi_sem_wait_cancel) and gives the value word, whether it is a shared
 * futex, and the value after counting in; ENOSYS where that algorithm is
 * not the one pi_sem_wait_cancel knows, EINVAL for a semaphore glibc
 * cannot use. pi_sem_watch_end counts it out (and passes on a wake-up it
 * may have taken). For the kit's idle wait (pi_futex_watch). */
int pi_sem_watch_begin(sem_t *sem, uint32_t **word, int *shared, uint32_t *value);
void pi_sem_watch_end(sem_t *sem);

/* ==== sysvmsg: System V message queues ==== */

#include <sys/msg.h>
enum { PI_MSG_EXCEPT = MSG_EXCEPT, PI_MSG_NOERROR = MSG_NOERROR, PI_IPC_NOWAIT = IPC_NOWAIT };

/* pi_ipc_perm: the fields of struct ipc_perm that Go reports, for queues
 * and semaphore sets alike. */
struct pi_ipc_perm {
	int64_t key, uid, gid, cuid, cgid, mode, seq;
};
/* pi_msg_stat: the fields of struct msqid_ds that Go reports. */
struct pi_msg_stat {
	struct pi_ipc_perm perm;
	int64_t qnum, qbytes, cbytes, lspid, lrpid, stime, rtime, ctime;
};
int pi_msgget(int key, int flag, int *id);
int pi_msgctl_stat(int id, struct pi_msg_stat *st);  /* msgctl IPC_STAT */
int pi_msgctl_set(int id, int64_t uid, int64_t gid, int64_t mode, int64_t qbytes); /* msgctl IPC_SET */
int pi_msgctl_rmid(int id);                           /* msgctl IPC_RMID */
/* pi_msgsnd sends { long mtype = type; char mtext[len] } (msgsnd; the record
 * is assembled in C memory). */
int pi_msgsnd(int id, int64_t type, const char *p, size_t len, int flag);
/* pi_msg_got is what a receive returns by value (no out-pointer, so Go
 * passes no address of its own to C): the error (0 or the errno), the
 * text's length and the message's type. */
struct pi_msg_got {
	int64_t len, type;
	int err;
};
/* pi_msgrcv receives into p (at most len bytes of mtext; msgrcv). */
struct pi_msg_got pi_msgrcv(int id, char *p, size_t len, int64_t type, int flag);
/* pi_msgsnd_wait and pi_msgrcv_wait block in msgsnd/msgrcv until they
 * complete, fail, or w is kicked (ECANCELED: nothing sent or taken; neither
 * call is restarted after a signal, so a kick that lands inside the call
 * makes it return EINTR with nothing done, and the loop sees the flag).
 * Waiters: they must be in C, because the flag check and the call must be
 * on the same thread, after its tid is published. */
int pi_msgsnd_wait(struct pi_waiter *w, int id, int64_t type, const char *p, size_t len, int flag);
struct pi_msg_got pi_msgrcv_wait(struct pi_waiter *w, int id, char *p, size_t len, int64_t type, int flag);

/* ==== sysvsem: System V semaphore sets ==== */

#include <sys/sem.h>
enum {
	PI_SEMBUF_SIZE = sizeof(struct sembuf), PI_SEM_UNDO = SEM_UNDO,
	PI_GETVAL = GETVAL, PI_GETPID = GETPID, PI_GETNCNT = GETNCNT, PI_GETZCNT = GETZCNT,
};
/* pi_sem_stat: the fields of struct semid_ds that Go reports. */
struct pi_sem_stat {
	struct pi_ipc_perm perm;
	int64_t nsems, otime, ctime;
};
int pi_semget(int key, int nsems, int flag, int *id);
int pi_semctl_stat(int id, struct pi_sem_stat *st);            /* semctl IPC_STAT */
int pi_semctl_set(int id, int64_t uid, int64_t gid, int64_t mode); /* semctl IPC_SET */
int pi_semctl_rmid(int id);                                     /* semctl IPC_RMID */
/* pi_semctl_get: semctl(id, num, cmd) for GETVAL, GETPID, GETNCNT, GETZCNT. */
int pi_semctl_get(int id, int num, int cmd, int *v);
int pi_semctl_setval(int id, int num, int v);                   /* semctl SETVAL */
int pi_semctl_getall(int id, unsigned short *v);                /* semctl GETALL */
int pi_semctl_setall(int id, unsigned short *v);                /* semctl SETALL */
int pi_semop(int id, struct sembuf *ops, size_t n);             /* semop */
/* pi_semop_wait applies ops atomically (semtimedop) with a deadline rel_ns
 * from now on CLOCK_MONOTONIC (< 0: none) until they are applied (0), the
 * deadline passes (ETIMEDOUT) or w is kicked (ECANCELED); an op with
 * IPC_NOWAIT that would block fails with EAGAIN. semtimedop is all or nothing and never restarted after a
 * signal: an interrupted or timed-out call changed nothing. */
int pi_semop_wait(struct pi_waiter *w, int id, struct sembuf *ops, size_t n, int64_t rel_ns);

/* ==== pty: pseudoterminals ==== */

int pi_posix_openpt(int flags, int *fd);                     /* posix_openpt */
int pi_grantpt(int fd);                                       /* grantpt */
int pi_unlockpt(int fd);                                      /* unlockpt */
int pi_ptsname_r(int fd, char *buf, size_t len);              /* ptsname_r */

/* ==== sig: signals that carry data ==== */

int pi_sigqueue(int pid, int sig, int value);                 /* sigqueue */
/* pi_pidfd_sigqueue sends sig with value to the process of pidfd as
 * sigqueue does (pidfd_send_signal with a siginfo of code SI_QUEUE). */
int pi_pidfd_sigqueue(int pidfd, int sig, int value);
int pi_sigrtmin(void);                                        /* SIGRTMIN (glibc's, after its own) */
int pi_sigrtmax(void);                                        /* SIGRTMAX */
/* pi_sig_record is what the handler of pi_sig_take writes to its pipe for
 * each signal: the siginfo fields Go reports. */
struct pi_sig_record {
	int32_t signo, code, pid, uid, value, pad;
};
/* pi_sig_take installs a SA_SIGINFO|SA_ONSTACK|SA_RESTART handler for sig
 * that writes one pi_sig_record per signal to wfd (a non-blocking pipe;
 * write is async-signal-safe), keeping the old disposition for
 * pi_sig_give. pi_sig_give restores it. The handler is the one function
 * here that runs in signal context. */
int pi_sig_take(int sig, int wfd);
int pi_sig_give(int sig);
/* pi_sig_lost returns how many records of sig the handler could not write
 * (the pipe was full) and clears the count. */
int pi_sig_lost(int sig);

/* ==== shm ==== */
int pi_shm_open(const char *name, int oflag, unsigned int mode, int *fd);
int pi_shm_unlink(const char *name);
int pi_ftok(const char *path, int proj_id, int *key);

/* ==== pthread ==== */
/* Sizes and alignments of glibc's pthread objects (the Go constants). */
enum {
	PI_SIZEOF_PTHREAD_MUTEX = sizeof(pthread_mutex_t),
	PI_ALIGNOF_PTHREAD_MUTEX = _Alignof(pthread_mutex_t),
	PI_SIZEOF_PTHREAD_COND = sizeof(pthread_cond_t),
	PI_ALIGNOF_PTHREAD_COND = _Alignof(pthread_cond_t),
	PI_SIZEOF_PTHREAD_RWLOCK = sizeof(pthread_rwlock_t),
	PI_ALIGNOF_PTHREAD_RWLOCK = _Alignof(pthread_rwlock_t),
	/* A blocked lock call waits in slices of this length and checks its
	 * handle's cancel flag between them (glibc retries robust futex waits
	 * on EINTR, so a signal cannot interrupt it). */
	PI_PTHREAD_SLICE_NS = 2000000,
};

/*
 * pi_pthread_handle is the per-handle C state of one Go object (malloc'd C
 * memory, never Go memory, never shared memory): the cancel flag a Go
 * canceller sets, and the thread that holds the lock through this handle
 * with its recursion depth (written only by the holder, under the lock).
 */
typedef struct pi_pthread_handle {
	int cancel;
	int depth;
	pthread_t owner;
} pi_pthread_handle;

void *pi_pthread_handle_new(void);
void pi_pthread_handle_free(uintptr_t h);
void pi_pthread_cancel_set(uintptr_t h, int v);
int pi_pthread_owned(uintptr_t h);
int pi_pthread_wait_check(uintptr_t h);
/* pi_pthread_disown forgets one hold of the calling thread through h. */
void pi_pthread_disown(uintptr_t h);

int pi_pthread_mutex_init(uintptr_t m, int type, int robust, int pshared);
int pi_pthread_mutex_destroy(uintptr_t m);
int pi_pthread_mutex_state(uintptr_t m, int *lock, int *owner, int *kind);
int pi_pthread_mutex_trylock(uintptr_t m, uintptr_t h);
int pi_pthread_mutex_lock(uintptr_t m, uintptr_t h, int64_t rel_ns);
int pi_pthread_mutex_unlock(uintptr_t m, uintptr_t h);
int pi_pthread_mutex_consistent(uintptr_t m, uintptr_t h);

int pi_pthread_cond_init(uintptr_t c, int pshared, int monotonic);
int pi_pthread_cond_destroy(uintptr_t c);
int pi_pthread_cond_state(uintptr_t c, unsigned int *wrefs);
/*
 * A condvar wait does not run glibc's wait on the caller's thread: a peer
 * that scribbles over the condvar (or re-initialises it) can leave glibc
 * waiting forever on words it no longer understands (futex waits without
 * a timeout on its internal lock and group references), and the caller
 * would never honour its deadline, its cancellation or Close. Instead, each
 * Cond handle has a helper thread (created in C by a wait when it has none;
 * it exits after a second idle) that
 * waits in pthread_cond_clockwait with a private mutex of its own, and the
 * caller sleeps on futex words of the helper struct, which live in C memory
 * that no peer can reach. See pi_pthread_cond_wait.
 */
struct pi_helper;
/* pi_helper_new allocates a helper for the condvar or rwlock at c (a thread
 * starts on a wait when it has none: the first, or one after HELPER_IDLE_NS
 * idle); NULL with errno set on failure. slice_ns bounds
 * one wait of the helper in glibc (then the caller sees a spurious wake-up). */
struct pi_helper *pi_helper_new(uintptr_t c, int64_t slice_ns);
/* pi_helper_busy: 1 while the helper thread is inside glibc on c. */
int pi_helper_busy(struct pi_helper *h);
/* pi_helper_free ends the helper: its thread exits when it leaves glibc
 * and frees the struct then (or now, if it never started or has left). */
void pi_helper_free(struct pi_helper *h);
/*
 * pi_pthread_cond_wait waits on the condvar of helper ch, with mutex m held
 * once by the calling thread through hm. It hands the wait to the helper,
 * waits until the helper is registered on the condvar, unlocks m, and sleeps
 * until the helper was woken (0: a signal, a broadcast or a spurious
 * wake-up), the timeout passed (ETIMEDOUT) or hc's cancel flag is set
 * (ECANCELED, by pi_helper_kick). It returns with m UNLOCKED (the
 * result or'ed with PI_COND_RELEASED): the caller locks it again. Errors
 * found before (EPERM: m not held; EINVAL: held more than once; ECANCELED;
 * EAGAIN: no helper thread could be started) leave m held and lack the bit.
 * A wake-up the helper consumed after the caller gave up is passed on.
 */
#define PI_COND_RELEASED 0x10000
int pi_pthread_cond_wait(struct pi_helper *ch, uintptr_t m, uintptr_t hm, uintptr_t hc, int64_t rel_ns);
/* pi_pthread_cond_waiters: glibc's own first test of signal and broadcast
 * (__wrefs >> 3, the waiter references): 0 means there is nobody to wake. */
unsigned int pi_pthread_cond_waiters(uintptr_t c);
int pi_pthread_cond_signal(uintptr_t c);
int pi_pthread_cond_broadcast(uintptr_t c);

int pi_pthread_rwlock_init(uintptr_t rw, int pshared, int prefer_writer);
int pi_pthread_rwlock_destroy(uintptr_t rw);
int pi_pthread_rwlock_state(uintptr_t rw, int *shared);
int pi_pthread_rwlock_tryrdlock(uintptr_t rw);
int pi_pthread_rwlock_trywrlock(uintptr_t rw, uintptr_t h);
int pi_pthread_rwlock_unlock(uintptr_t rw, uintptr_t h, int writer);
/* pi_pthread_rwlock_sane: 1 when the rwlock's fields are ones glibc writes
 * for a process-shared rwlock (glibc loops for ever on others). */
int pi_pthread_rwlock_sane(uintptr_t rw);
/* pi_pthread_rwlock_lock_via takes a read or write lock through the helper
 * of the rwlock (pi_helper_new on it): the helper waits in slices of
 * pthread_rwlock_clock{rd,wr}lock, checking pi_pthread_rwlock_sane before
 * each (EINVAL otherwise), while the caller sleeps on the helper's words
 * until it got the lock (0; a write lock then belongs to the calling
 * thread), the timeout passed (ETIMEDOUT) or h's cancel flag is set
 * (ECANCELED, pi_helper_kick). A lock the helper gets after the caller gave
 * up is released: a call that fails took nothing. */
int pi_pthread_rwlock_lock_via(struct pi_helper *ch, uintptr_t h, int writer, int64_t rel_ns);
/* pi_helper_kick sets h's cancel flag and wakes a caller sleeping in
 * pi_pthread_cond_wait or pi_pthread_rwlock_lock_via: it touches only C
 * memory, never the condvar or rwlock. */
void pi_helper_kick(struct pi_helper *ch, uintptr_t h);

/* Plain blocking calls with no handle, no slices: the cgo baseline. */
int pi_pthread_mutex_lock_plain(uintptr_t m);
int pi_pthread_mutex_unlock_plain(uintptr_t m);
int pi_pthread_cond_wait_plain(uintptr_t c, uintptr_t m);
int pi_pthread_rwlock_rdlock_plain(uintptr_t rw);
int pi_pthread_rwlock_wrlock_plain(uintptr_t rw);
int pi_pthread_rwlock_unlock_plain(uintptr_t rw);

/* ==== ring: the futex wait of binding/ring ==== */
/* pi_ring_wait sleeps on the shared futex word while it holds val, on the
 * signal-kicked waiter w (futex_waitv on the word and w's kick word; a timed
 * FUTEX_WAIT_BITSET without futex_waitv): 0 when woken or when the word no longer holds val
 * (the caller looks again), ETIMEDOUT after rel_ns (CLOCK_MONOTONIC; < 0:
 * none), ECANCELED when w is kicked, EFAULT when the word is no longer
 * mapped (the segment was truncated). */
int pi_ring_wait(struct pi_waiter *w, uint32_t *word, uint32_t val, int64_t rel_ns);

/* ==== the futex watch: the kit's idle wait on futex words ==== */

enum { PI_WATCH_MAX = 127 }; /* futex_waitv takes 128 words: these and the kick word */
/* pi_futex_watch sleeps in futex_waitv, without a timeout, on the n words
 * at addrs while each holds vals[i] (shared[i]: a shared futex) and on
 * w->kword: the index of the word that woke it, n when w was kicked
 * (w->cancel set: it clears it) or interrupted, or -errno (-EAGAIN: a word
 * did not hold its value, -EFAULT: a word is not mapped, -ENOSYS: no
 * futex_waitv). It never reads the words itself. */
int pi_futex_watch(const uint64_t *addrs, const uint32_t *vals, const uint32_t *shared, int n, struct pi_waiter *w);

/* ==== fifo ==== */
/* pi_fifo_wait_io is the wait of the one goroutine of a FIFO direction (the
 * gate holder): it waits in ppoll(2) until fd is readable (wr == 0) or
 * writable (wr != 0), or evfd (an eventfd: the kick of Close or of a deadline
 * change) is readable, or timeout_ns (CLOCK_MONOTONIC; < 0: none) has passed.
 * A reader then reads buf once; a writer writes until all of buf is written
 * (as a blocking write(2) would), a kick, the timeout or an error stops it.
 * It returns the byte count, plus PI_FIFO_WAITED when ppoll slept (the
 * caller's hint to poll first next time), or, with nothing transferred,
 * -errno: -ECANCELED after a kick (the eventfd is drained), -ETIMEDOUT when
 * the timeout passed. A writer stopped after some progress returns the count
 * only: the caller checks again why (closed, deadline). */
#define PI_FIFO_WAITED ((int64_t)1 << 32)
int64_t pi_fifo_wait_io(int fd, int evfd, int wr, char *buf, size_t len, int64_t timeout_ns);


/* ==== popen ==== */
/* pi_popen wraps popen(3): the FILE * comes back as an opaque handle, with its
 * file descriptor (fileno). */
int pi_popen(const char *command, const char *mode, uintptr_t *fp, int *fd);
/* pi_pclose wraps pclose(3): it closes the stream, waits for the shell
 * (blocking in waitpid) and returns its wait status. */
int pi_pclose(uintptr_t fp, int *status);

#endif
