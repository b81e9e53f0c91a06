//go:build linux && cgo

/*
 * shim.c: the only C of package posixipc (see shim.h for the convention).
 *
 * Two parts: WRAPPERS, one small function per libc call (and the few
 * checks of shared bytes they make first), and WAITERS, the functions with
 * a wait loop, each saying why it must be in C.
 */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sched.h>
#include <gnu/libc-version.h>
#include <sys/syscall.h>
#include <sys/msg.h>
#include <sys/ipc.h>
#include <stdlib.h>
#include <linux/futex.h>

/* ======================================================================
 * PART 1: WRAPPERS
 * ====================================================================== */

/* ---- common ---- */

/* Implemented in Go (notify.go): runs the callback registered under handle. */
extern void posixipcMqNotify(uintptr_t handle);

void pi_noop(void) {}

const char *pi_glibc_version(void) { return gnu_get_libc_version(); }

void pi_strerror(int e, char *buf, size_t len) {
	const char *m = strerror_r(e, buf, len); /* GNU: may return a static string */
	if (m != buf) {
		strncpy(buf, m, len - 1);
		buf[len - 1] = 0;
	}
}

/* now_ns returns CLOCK_MONOTONIC in nanoseconds. */
static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- mq ---- */

int pi_mq_open(const char *name, int oflag, unsigned int mode, int has_attr,
               long maxmsg, long msgsize, int *mqd) {
	struct mq_attr a;
	memset(&a, 0, sizeof a);
	a.mq_maxmsg = maxmsg;
	a.mq_msgsize = msgsize;
	mqd_t q = mq_open(name, oflag, (mode_t)mode, has_attr ? &a : NULL);
	if (q == (mqd_t)-1)
		return errno;
	*mqd = (int)q;
	return 0;
}

int pi_mq_close(int mqd) { return mq_close((mqd_t)mqd) < 0 ? errno : 0; }

int pi_mq_unlink(const char *name) { return mq_unlink(name) < 0 ? errno : 0; }

int pi_mq_getattr(int mqd, long *flags, long *maxmsg, long *msgsize, long *curmsgs) {
	struct mq_attr a;
	if (mq_getattr((mqd_t)mqd, &a) < 0)
		return errno;
	*flags = a.mq_flags;
	*maxmsg = a.mq_maxmsg;
	*msgsize = a.mq_msgsize;
	*curmsgs = a.mq_curmsgs;
	return 0;
}

int pi_mq_setattr(int mqd, long flags, long *oflags) {
	struct mq_attr a, o;
	memset(&a, 0, sizeof a);
	a.mq_flags = flags;
	if (mq_setattr((mqd_t)mqd, &a, &o) < 0)
		return errno;
	*oflags = o.mq_flags;
	return 0;
}

int pi_mq_timedsend(int mqd, const char *msg, size_t len, unsigned int prio,
                    int64_t abs_sec, int64_t abs_nsec) {
	struct timespec ts = { .tv_sec = abs_sec, .tv_nsec = abs_nsec };
	return mq_timedsend((mqd_t)mqd, msg, len, prio, &ts) < 0 ? errno : 0;
}

/* The receive shims return (priority << 32 | length) on success and -errno
 * on failure: no out-parameters, so the Go side passes no pointer to its
 * stack (which would make the variables escape and allocate). */
int64_t pi_mq_timedreceive(int mqd, char *buf, size_t len, int64_t abs_sec, int64_t abs_nsec) {
	struct timespec ts = { .tv_sec = abs_sec, .tv_nsec = abs_nsec };
	unsigned prio;
	ssize_t r = mq_timedreceive((mqd_t)mqd, buf, len, &prio, &ts);
	if (r < 0)
		return -(int64_t)errno;
	return (int64_t)prio << 32 | (int64_t)r;
}

int pi_mq_send(int mqd, const char *msg, size_t len, unsigned int prio) {
	return mq_send((mqd_t)mqd, msg, len, prio) < 0 ? errno : 0;
}

int64_t pi_mq_receive(int mqd, char *buf, size_t len) {
	unsigned prio;
	ssize_t r = mq_receive((mqd_t)mqd, buf, len, &prio);
	if (r < 0)
		return -(int64_t)errno;
	return (int64_t)prio << 32 | (int64_t)r;
}

static void notify_trampoline(union sigval v) {
	posixipcMqNotify((uintptr_t)v.sival_ptr);
}

int pi_mq_notify_thread(int mqd, uintptr_t handle) {
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = notify_trampoline;
	ev.sigev_value.sival_ptr = (void *)handle;
	return mq_notify((mqd_t)mqd, &ev) < 0 ? errno : 0;
}

int pi_mq_notify_signal(int mqd, int signo, intptr_t value) {
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = signo;
	ev.sigev_value.sival_ptr = (void *)value;
	return mq_notify((mqd_t)mqd, &ev) < 0 ? errno : 0;
}

int pi_mq_notify_none(int mqd) { return mq_notify((mqd_t)mqd, NULL) < 0 ? errno : 0; }

/* ---- sem ---- */

int pi_sem_open(const char *name, int oflag, unsigned int mode, unsigned int value, sem_t **sem) {
	sem_t *s = sem_open(name, oflag, (mode_t)mode, value);
	if (s == SEM_FAILED)
		return errno;
	*sem = s;
	return 0;
}

int pi_sem_close(sem_t *sem) { return sem_close(sem) < 0 ? errno : 0; }

int pi_sem_unlink(const char *name) { return sem_unlink(name) < 0 ? errno : 0; }

int pi_sem_init(sem_t *sem, int pshared, unsigned int value) {
	return sem_init(sem, pshared, value) < 0 ? errno : 0;
}

int pi_sem_destroy(sem_t *sem) { return sem_destroy(sem) < 0 ? errno : 0; }

/* sem_sane checks the fields glibc's sem_t (struct new_sem: a 64-bit word
 * with the value in its low 32 bits and the waiter count above, then the
 * futex flags "private") must hold: a "private" that is neither 0 (shared)
 * nor FUTEX_PRIVATE_FLAG makes glibc's futex calls fail in a way it aborts
 * the process on ("The futex facility returned an unexpected error code"),
 * and a value above SEM_VALUE_MAX breaks its arithmetic. */
struct pi_new_sem { uint64_t data; int private; int pad; };

int pi_sem_sane(sem_t *sem) {
	struct pi_new_sem *s = (struct pi_new_sem *)sem;
	int priv = __atomic_load_n(&s->private, __ATOMIC_RELAXED);
	uint64_t d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
	if (priv != 0 && priv != 128)
		return EINVAL;
	if ((d & 0xffffffffu) > SEM_VALUE_MAX)
		return EINVAL;
	return 0;
}

int pi_sem_post(sem_t *sem) {
	int r = pi_sem_sane(sem);
	if (r)
		return r;
	return sem_post(sem) < 0 ? errno : 0;
}

int pi_sem_wait(sem_t *sem) { return sem_wait(sem) < 0 ? errno : 0; }

int pi_sem_trywait(sem_t *sem) {
	int r = pi_sem_sane(sem);
	if (r)
		return r;
	return sem_trywait(sem) < 0 ? errno : 0;
}

int pi_sem_clockwait(sem_t *sem, int clock, int64_t abs_sec, int64_t abs_nsec) {
	struct timespec ts = { .tv_sec = abs_sec, .tv_nsec = abs_nsec };
	return sem_clockwait(sem, (clockid_t)clock, &ts) < 0 ? errno : 0;
}

int pi_sem_getvalue(sem_t *sem, int *value) { return sem_getvalue(sem, value) < 0 ? errno : 0; }

/* ---- sysvmsg ---- */

int pi_msgget(int key, int flag, int *id) {
	int r = msgget((key_t)key, flag);
	if (r < 0)
		return errno;
	*id = r;
	return 0;
}

/* perm_of copies the ipc_perm fields Go reports (queues and sets). */
static void perm_of(struct pi_ipc_perm *p, const struct ipc_perm *k) {
	p->key = k->__key;
	p->uid = k->uid;
	p->gid = k->gid;
	p->cuid = k->cuid;
	p->cgid = k->cgid;
	p->mode = k->mode;
	p->seq = k->__seq;
}

int pi_msgctl_stat(int id, struct pi_msg_stat *st) {
	struct msqid_ds d;
	if (msgctl(id, IPC_STAT, &d) < 0)
		return errno;
	perm_of(&st->perm, &d.msg_perm);
	st->qnum = d.msg_qnum;
	st->qbytes = d.msg_qbytes;
	st->cbytes = d.__msg_cbytes;
	st->lspid = d.msg_lspid;
	st->lrpid = d.msg_lrpid;
	st->stime = d.msg_stime;
	st->rtime = d.msg_rtime;
	st->ctime = d.msg_ctime;
	return 0;
}

int pi_msgctl_set(int id, int64_t uid, int64_t gid, int64_t mode, int64_t qbytes) {
	struct msqid_ds d;
	memset(&d, 0, sizeof d);
	d.msg_perm.uid = (uid_t)uid;
	d.msg_perm.gid = (gid_t)gid;
	d.msg_perm.mode = (unsigned short)mode;
	d.msg_qbytes = (msglen_t)qbytes;
	return msgctl(id, IPC_SET, &d) < 0 ? errno : 0;
}

int pi_msgctl_rmid(int id) { return msgctl(id, IPC_RMID, NULL) < 0 ? errno : 0; }

/* A record up to this size is assembled on the C stack, larger ones on the
 * C heap. */
#define MSG_STACK 16384

struct pi_msgbuf {
	long mtype;
	char mtext[];
};

/* msg_buf returns a record buffer for len bytes of text: stack (when it
 * fits) or heap (the caller frees it when it differs from stack). */
static struct pi_msgbuf *msg_buf(void *stack, size_t len) {
	if (len <= MSG_STACK)
		return stack;
	return malloc(sizeof(long) + len);
}

int pi_msgsnd(int id, int64_t type, const char *p, size_t len, int flag) {
	long stack[(sizeof(long) + MSG_STACK) / sizeof(long) + 1];
	struct pi_msgbuf *m = msg_buf(stack, len);
	if (m == NULL)
		return ENOMEM;
	m->mtype = (long)type;
	memcpy(m->mtext, p, len);
	int r = msgsnd(id, m, len, flag) < 0 ? errno : 0;
	if ((void *)m != (void *)stack)
		free(m);
	return r;
}

struct pi_msg_got pi_msgrcv(int id, char *p, size_t len, int64_t type, int flag) {
	long stack[(sizeof(long) + MSG_STACK) / sizeof(long) + 1];
	struct pi_msg_got g = { 0, 0, 0 };
	struct pi_msgbuf *m = msg_buf(stack, len);
	if (m == NULL) {
		g.err = ENOMEM;
		return g;
	}
	ssize_t n = msgrcv(id, m, len, (long)type, flag);
	if (n < 0) {
		g.err = errno;
	} else {
		memcpy(p, m->mtext, (size_t)n);
		g.type = m->mtype;
		g.len = n;
	}
	if ((void *)m != (void *)stack)
		free(m);
	return g;
}

/* ---- sysvsem ---- */

int pi_semget(int key, int nsems, int flag, int *id) {
	int r = semget((key_t)key, nsems, flag);
	if (r < 0)
		return errno;
	*id = r;
	return 0;
}

int pi_semctl_stat(int id, struct pi_sem_stat *st) {
	struct semid_ds d;
	if (semctl(id, 0, IPC_STAT, &d) < 0)
		return errno;
	perm_of(&st->perm, &d.sem_perm);
	st->nsems = d.sem_nsems;
	st->otime = d.sem_otime;
	st->ctime = d.sem_ctime;
	return 0;
}

int pi_semctl_set(int id, int64_t uid, int64_t gid, int64_t mode) {
	struct semid_ds d;
	memset(&d, 0, sizeof d);
	d.sem_perm.uid = (uid_t)uid;
	d.sem_perm.gid = (gid_t)gid;
	d.sem_perm.mode = (unsigned short)mode;
	return semctl(id, 0, IPC_SET, &d) < 0 ? errno : 0;
}

int pi_semctl_rmid(int id) { return semctl(id, 0, IPC_RMID) < 0 ? errno : 0; }

int pi_semctl_get(int id, int num, int cmd, int *v) {
	int r = semctl(id, num, cmd);
	if (r < 0)
		return errno;
	*v = r;
	return 0;
}

int pi_semctl_setval(int id, int num, int v) { return semctl(id, num, SETVAL, v) < 0 ? errno : 0; }

int pi_semctl_getall(int id, unsigned short *v) { return semctl(id, 0, GETALL, v) < 0 ? errno : 0; }

int pi_semctl_setall(int id, unsigned short *v) { return semctl(id, 0, SETALL, v) < 0 ? errno : 0; }

int pi_semop(int id, struct sembuf *ops, size_t n) { return semop(id, ops, n) < 0 ? errno : 0; }

/* ---- pty ---- */

int pi_posix_openpt(int flags, int *fd) {
	int r = posix_openpt(flags);
	if (r < 0)
		return errno;
	*fd = r;
	return 0;
}

int pi_grantpt(int fd) { return grantpt(fd) < 0 ? errno : 0; }

int pi_unlockpt(int fd) { return unlockpt(fd) < 0 ? errno : 0; }

int pi_ptsname_r(int fd, char *buf, size_t len) {
	int r = ptsname_r(fd, buf, len);
	return r < 0 ? errno : r; /* glibc returns the error number (or -1 and errno) */
}

/* ---- sig ---- */

int pi_sigqueue(int pid, int sig, int value) {
	union sigval v;
	v.sival_ptr = NULL;
	v.sival_int = value;
	return sigqueue((pid_t)pid, sig, v) < 0 ? errno : 0;
}

int pi_pidfd_sigqueue(int pidfd, int sig, int value) {
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = sig;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_int = value;
	return syscall(SYS_pidfd_send_signal, pidfd, sig, &si, 0) < 0 ? errno : 0;
}

int pi_sigrtmin(void) { return SIGRTMIN; }

int pi_sigrtmax(void) { return SIGRTMAX; }

#define PI_NSIG 65

static int sig_wfd[PI_NSIG];       /* the pipe of each taken signal, 0: none */
static int sig_lost[PI_NSIG];      /* records the handler could not write */
static struct sigaction sig_old[PI_NSIG];

/*
 * The signal handler. Order: the kernel dequeues a signal's instances in
 * order, but may hand two of them to two threads at once, and their
 * handlers then race to write. Blocking the signal in every thread but
 * one would fix that, but a thread's mask is inherited by every program
 * it starts (os/exec), so it is not done: see binding/sig's doc.
 */
static void sig_handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	int saved = errno; /* the interrupted code's errno must survive */
	struct pi_sig_record r = {
		.signo = sig, .code = si->si_code, .pid = si->si_pid, .uid = (int32_t)si->si_uid,
		.value = si->si_value.sival_int, .pad = 0,
	};
	int fd = __atomic_load_n(&sig_wfd[sig], __ATOMIC_ACQUIRE);
	/* A record is smaller than PIPE_BUF: written whole or not at all. */
	if (fd <= 0 || write(fd, &r, sizeof r) != (ssize_t)sizeof r)
		__atomic_add_fetch(&sig_lost[sig], 1, __ATOMIC_RELAXED);
	errno = saved;
}

int pi_sig_take(int sig, int wfd) {
	if (sig <= 0 || sig >= PI_NSIG)
		return EINVAL;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask); /* one record at a time per thread */
	__atomic_store_n(&sig_wfd[sig], wfd, __ATOMIC_RELEASE);
	if (sigaction(sig, &sa, &sig_old[sig]) < 0) {
		__atomic_store_n(&sig_wfd[sig], 0, __ATOMIC_RELEASE);
		return errno;
	}
	return 0;
}

int pi_sig_give(int sig) {
	if (sig <= 0 || sig >= PI_NSIG)
		return EINVAL;
	int r = sigaction(sig, &sig_old[sig], NULL) < 0 ? errno : 0;
	__atomic_store_n(&sig_wfd[sig], 0, __ATOMIC_RELEASE);
	return r;
}

int pi_sig_lost(int sig) {
	if (sig <= 0 || sig >= PI_NSIG)
		return 0;
	return __atomic_exchange_n(&sig_lost[sig], 0, __ATOMIC_RELAXED);
}

/* ---- shm ---- */

int pi_shm_open(const char *name, int oflag, unsigned int mode, int *fd) {
	int r = shm_open(name, oflag, (mode_t)mode);
	if (r < 0)
		return errno;
	*fd = r;
	return 0;
}

int pi_shm_unlink(const char *name) { return shm_unlink(name) < 0 ? errno : 0; }

int pi_ftok(const char *path, int proj_id, int *key) {
	key_t k = ftok(path, proj_id);
	if (k == (key_t)-1)
		return errno;
	*key = (int)k;
	return 0;
}

/* ---- pthread ---- */

/* glibc's internal values of __owner (nptl/pthreadP.h). */
#define PI_PTHREAD_OWNER_INCONSISTENT INT32_MAX

#define PI_PTHREAD_OWNER_NOTRECOVERABLE (INT32_MAX - 1)

void *pi_pthread_handle_new(void) { return calloc(1, sizeof(pi_pthread_handle)); }

void pi_pthread_handle_free(uintptr_t h) { free((void *)h); }

void pi_pthread_cancel_set(uintptr_t hv, int v) {
	__atomic_store_n(&((pi_pthread_handle *)hv)->cancel, v, __ATOMIC_SEQ_CST);
}

static int pthread_canceled(pi_pthread_handle *h) {
	return __atomic_load_n(&h->cancel, __ATOMIC_SEQ_CST);
}

/* pi_pthread_owned reports whether the calling thread holds the lock
 * through handle h. */
int pi_pthread_owned(uintptr_t hv) {
	pi_pthread_handle *h = (pi_pthread_handle *)hv;
	return __atomic_load_n(&h->owner, __ATOMIC_ACQUIRE) == pthread_self();
}

/* pthread_own records that the calling thread took the lock once more. A
 * new owner starts at depth 1: whatever the record said belonged to a holder
 * that is gone (a thread that exited holding the lock). */
static void pthread_own(pi_pthread_handle *h) {
	if (__atomic_load_n(&h->owner, __ATOMIC_RELAXED) == pthread_self()) {
		h->depth++;
		return;
	}
	h->depth = 1;
	__atomic_store_n(&h->owner, pthread_self(), __ATOMIC_RELEASE);
}

/* pi_pthread_wait_check: 0 when the calling thread holds the mutex through
 * h exactly once (it may wait on a condvar), EPERM when it does not hold it,
 * EINVAL when it holds a recursive mutex more than once. */
int pi_pthread_wait_check(uintptr_t hv) {
	pi_pthread_handle *h = (pi_pthread_handle *)hv;
	if (!pi_pthread_owned((uintptr_t)h))
		return EPERM;
	return h->depth == 1 ? 0 : EINVAL;
}

/* pthread_disown undoes one pthread_own before the unlock; the caller
 * restores it with pthread_own when the unlock fails. */
static void pthread_disown(pi_pthread_handle *h) {
	if (--h->depth == 0)
		__atomic_store_n(&h->owner, (pthread_t)0, __ATOMIC_RELEASE);
}

void pi_pthread_disown(uintptr_t h) {
	if (pi_pthread_owned(h))
		pthread_disown((pi_pthread_handle *)h);
}

/* pthread_slice_end fills ts with the end of the next wait slice: at most
 * PI_PTHREAD_SLICE_NS from now, and never past deadline (if >= 0). */
static void pthread_slice_end(int64_t deadline, struct timespec *ts) {
	int64_t end = now_ns() + PI_PTHREAD_SLICE_NS;
	if (deadline >= 0 && deadline < end)
		end = deadline;
	ts->tv_sec = end / 1000000000;
	ts->tv_nsec = end % 1000000000;
}

int pi_pthread_mutex_init(uintptr_t m, int type, int robust, int pshared) {
	pthread_mutexattr_t a;
	int r = pthread_mutexattr_init(&a);
	if (r)
		return r;
	if ((r = pthread_mutexattr_settype(&a, type)) == 0 &&
	    (r = pthread_mutexattr_setrobust(&a, robust ? PTHREAD_MUTEX_ROBUST : PTHREAD_MUTEX_STALLED)) == 0 &&
	    (r = pthread_mutexattr_setpshared(&a, pshared ? PTHREAD_PROCESS_SHARED : PTHREAD_PROCESS_PRIVATE)) == 0)
		r = pthread_mutex_init((pthread_mutex_t *)m, &a);
	pthread_mutexattr_destroy(&a);
	return r;
}

int pi_pthread_mutex_destroy(uintptr_t m) { return pthread_mutex_destroy((pthread_mutex_t *)m); }

/* pi_pthread_mutex_state reads glibc's own fields (struct __pthread_mutex_s
 * of <bits/struct_mutex.h>) without taking the lock: the futex word, the
 * owner (or PTHREAD_MUTEX_INCONSISTENT / _NOTRECOVERABLE) and the kind. */
int pi_pthread_mutex_state(uintptr_t m, int *lock, int *owner, int *kind) {
	pthread_mutex_t *pm = (pthread_mutex_t *)m;
	*lock = __atomic_load_n(&pm->__data.__lock, __ATOMIC_ACQUIRE);
	*owner = __atomic_load_n(&pm->__data.__owner, __ATOMIC_RELAXED);
	*kind = __atomic_load_n(&pm->__data.__kind, __ATOMIC_RELAXED);
	return 0;
}

/* pthread_unstray releases the futex word of a not-recoverable robust
 * mutex if it holds the calling thread's tid (see pi_pthread_mutex_trylock). */
static void pthread_unstray(pthread_mutex_t *pm) {
	int tid = (int)syscall(SYS_gettid);
	int *w = &pm->__data.__lock;
	int v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	if ((v & FUTEX_TID_MASK) != tid)
		return;
	v = __atomic_exchange_n(w, 0, __ATOMIC_RELEASE);
	if (v & FUTEX_WAITERS)
		syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* mutex_kind_ok: the mutex's __kind is one this module drives (a robust or
 * stalled normal, recursive or errorcheck mutex, process-shared): a priority
 * inheritance or protection kind, or bits no glibc sets, make glibc abort in
 * an assertion, so the lock calls refuse them before glibc sees them. */
#define PI_KIND_PI 32

#define PI_KIND_PP 64

static int mutex_kind_ok(pthread_mutex_t *pm) {
	int k = __atomic_load_n(&pm->__data.__kind, __ATOMIC_RELAXED);
	/* type (3), robust (16), pshared (128), elision hints (256, 512) */
	return (k & ~(3 | 16 | 128 | 256 | 512)) == 0 && (k & 3) != 3 && (k & 128);
}

int pi_pthread_mutex_trylock(uintptr_t m, uintptr_t hv) {
	if (!mutex_kind_ok((pthread_mutex_t *)m))
		return EINVAL;
	/* The holder relocking through its handle: EDEADLK, whatever the type
	 * (a normal mutex would deadlock), except a recursive mutex. */
	if (pi_pthread_owned(hv) &&
	    (((pthread_mutex_t *)m)->__data.__kind & 3) != PTHREAD_MUTEX_RECURSIVE)
		return EDEADLK;
	pthread_mutex_t *pm = (pthread_mutex_t *)m;
	/* glibc 2.36's pthread_mutex_trylock leaves a robust mutex that is not
	 * recoverable locked by the caller (it tests the CAS's old value, 0,
	 * against its tid before unlocking): do not call it then, and undo the
	 * stray lock if the state changed under us. */
	if (__atomic_load_n(&pm->__data.__owner, __ATOMIC_RELAXED) == PI_PTHREAD_OWNER_NOTRECOVERABLE)
		return ENOTRECOVERABLE;
	int r = pthread_mutex_trylock(pm);
	if (r == 0 || r == EOWNERDEAD)
		pthread_own((pi_pthread_handle *)hv);
	else if (r == ENOTRECOVERABLE)
		pthread_unstray(pm);
	return r;
}

int pi_pthread_mutex_unlock(uintptr_t m, uintptr_t hv) {
	pi_pthread_handle *h = (pi_pthread_handle *)hv;
	if (!pi_pthread_owned((uintptr_t)h))
		return EPERM;
	if (!mutex_kind_ok((pthread_mutex_t *)m))
		return EINVAL;
	pthread_disown(h);
	int r = pthread_mutex_unlock((pthread_mutex_t *)m);
	if (r)
		pthread_own(h);
	return r;
}

int pi_pthread_mutex_consistent(uintptr_t m, uintptr_t hv) {
	if (!pi_pthread_owned(hv))
		return EPERM;
	return pthread_mutex_consistent((pthread_mutex_t *)m);
}

int pi_pthread_cond_init(uintptr_t c, int pshared, int monotonic) {
	pthread_condattr_t a;
	int r = pthread_condattr_init(&a);
	if (r)
		return r;
	if ((r = pthread_condattr_setpshared(&a, pshared ? PTHREAD_PROCESS_SHARED : PTHREAD_PROCESS_PRIVATE)) == 0 &&
	    (r = pthread_condattr_setclock(&a, monotonic ? CLOCK_MONOTONIC : CLOCK_REALTIME)) == 0)
		r = pthread_cond_init((pthread_cond_t *)c, &a);
	pthread_condattr_destroy(&a);
	return r;
}

int pi_pthread_cond_destroy(uintptr_t c) { return pthread_cond_destroy((pthread_cond_t *)c); }

/* pi_pthread_cond_state reads __wrefs (bit 0: process-shared, bit 1:
 * CLOCK_MONOTONIC) of glibc's <bits/thread-shared-types.h>. */
int pi_pthread_cond_state(uintptr_t c, unsigned int *wrefs) {
	pthread_cond_t *pc = (pthread_cond_t *)c;
	*wrefs = __atomic_load_n(&pc->__data.__wrefs, __ATOMIC_RELAXED);
	return 0;
}

/* pi_pthread_rwlock_sane checks the fields of glibc's struct
 * __pthread_rwlock_arch_t (x86_64) that a process-shared rwlock must hold:
 * glibc's algorithm loops for ever on values it never writes itself. */
int pi_pthread_rwlock_sane(uintptr_t rwv) {
	pthread_rwlock_t *rw = (pthread_rwlock_t *)rwv;
	volatile struct __pthread_rwlock_arch_t *d = &rw->__data;
	if (d->__shared != 1 || d->__flags > 2)
		return 0;
	if ((d->__wrphase_futex & ~3u) || (d->__writers_futex & ~3u))
		return 0;
	if (d->__pad3 || d->__pad4 || d->__pad2 || d->__cur_writer < 0 || d->__cur_writer > (1 << 22))
		return 0;
	for (int i = 0; i < (int)sizeof d->__pad1; i++)
		if (d->__pad1[i])
			return 0;
	return 1;
}

unsigned int pi_pthread_cond_waiters(uintptr_t c) {
	return __atomic_load_n(&((pthread_cond_t *)c)->__data.__wrefs, __ATOMIC_RELAXED) >> 3;
}

int pi_pthread_cond_signal(uintptr_t c) { return pthread_cond_signal((pthread_cond_t *)c); }

int pi_pthread_cond_broadcast(uintptr_t c) { return pthread_cond_broadcast((pthread_cond_t *)c); }

int pi_pthread_rwlock_init(uintptr_t rw, int pshared, int prefer_writer) {
	pthread_rwlockattr_t a;
	int r = pthread_rwlockattr_init(&a);
	if (r)
		return r;
	if ((r = pthread_rwlockattr_setpshared(&a, pshared ? PTHREAD_PROCESS_SHARED : PTHREAD_PROCESS_PRIVATE)) == 0 &&
	    (r = pthread_rwlockattr_setkind_np(&a, prefer_writer ? PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP
	                                                         : PTHREAD_RWLOCK_PREFER_READER_NP)) == 0)
		r = pthread_rwlock_init((pthread_rwlock_t *)rw, &a);
	pthread_rwlockattr_destroy(&a);
	return r;
}

int pi_pthread_rwlock_destroy(uintptr_t rw) { return pthread_rwlock_destroy((pthread_rwlock_t *)rw); }

/* pi_pthread_rwlock_state reads __shared of glibc's <bits/struct_rwlock.h>. */
int pi_pthread_rwlock_state(uintptr_t rw, int *shared) {
	pthread_rwlock_t *p = (pthread_rwlock_t *)rw;
	*shared = __atomic_load_n(&p->__data.__shared, __ATOMIC_RELAXED);
	return 0;
}

int pi_pthread_rwlock_tryrdlock(uintptr_t rw) {
	if (!pi_pthread_rwlock_sane(rw))
		return EINVAL;
	return pthread_rwlock_tryrdlock((pthread_rwlock_t *)rw);
}

int pi_pthread_rwlock_trywrlock(uintptr_t rw, uintptr_t hv) {
	if (!pi_pthread_rwlock_sane(rw))
		return EINVAL;
	int r = pthread_rwlock_trywrlock((pthread_rwlock_t *)rw);
	if (r == 0)
		pthread_own((pi_pthread_handle *)hv);
	return r;
}

int pi_pthread_rwlock_unlock(uintptr_t rw, uintptr_t hv, int writer) {
	pi_pthread_handle *h = (pi_pthread_handle *)hv;
	if (!pi_pthread_rwlock_sane(rw))
		return EINVAL;
	if (writer) {
		if (!pi_pthread_owned((uintptr_t)h))
			return EPERM;
		pthread_disown(h);
	}
	int r = pthread_rwlock_unlock((pthread_rwlock_t *)rw);
	if (r && writer)
		pthread_own(h);
	return r;
}

int pi_pthread_mutex_lock_plain(uintptr_t m) { return pthread_mutex_lock((pthread_mutex_t *)m); }

int pi_pthread_mutex_unlock_plain(uintptr_t m) { return pthread_mutex_unlock((pthread_mutex_t *)m); }

int pi_pthread_cond_wait_plain(uintptr_t c, uintptr_t m) {
	return pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m);
}

int pi_pthread_rwlock_rdlock_plain(uintptr_t rw) { return pthread_rwlock_rdlock((pthread_rwlock_t *)rw); }

int pi_pthread_rwlock_wrlock_plain(uintptr_t rw) { return pthread_rwlock_wrlock((pthread_rwlock_t *)rw); }

int pi_pthread_rwlock_unlock_plain(uintptr_t rw) { return pthread_rwlock_unlock((pthread_rwlock_t *)rw); }

/* ---- popen ---- */

int pi_popen(const char *command, const char *mode, uintptr_t *fp, int *fd) {
	errno = 0;
	FILE *f = popen(command, mode);
	if (f == NULL)
		return errno ? errno : ENOMEM;
	*fp = (uintptr_t)f;
	*fd = fileno(f);
	return 0;
}

int pi_pclose(uintptr_t fp, int *status) {
	int r = pclose((FILE *)fp);
	if (r == -1)
		return errno;
	*status = r;
	return 0;
}

/* ======================================================================
 * PART 2: WAITERS
 *
 * A wait that must be reachable by cancellation and Close cannot be a
 * plain blocking call made from Go: the check of the cancel flag and the
 * call must happen on the waiting thread, after it has published itself,
 * so that a kick (a flag, then a signal or an eventfd write) is never lost
 * between them; and the glibc waits that a signal does not interrupt
 * (pthread) run on a helper thread of their own. Each group says why.
 * ====================================================================== */

/* ---- the signal-kicked waiter ----
 * sem_clockwait, msgsnd, msgrcv and semtimedop return EINTR on a
 * handled signal: the loop publishes the thread, then checks the flags,
 * then calls, so a kick (flag, then SIGURG) always lands. The calls on a
 * descriptor that Go's SA_RESTART handlers restart (mq_timed*, flock,
 * F_OFD_SETLKW, a FIFO's read and write) are made on the waiter's own
 * descriptor, over which the kick first puts a sentinel: the restarted
 * call fails with EBADF.
 */

struct pi_waiter *pi_waiter_new(void) {
	struct pi_waiter *w = calloc(1, sizeof(struct pi_waiter));
	if (w)
		w->fd = w->sentinel = -1;
	return w;
}

/* waiter_close closes w's descriptor and sentinel, if it has them. */
static void waiter_close(struct pi_waiter *w) {
	if (w->fd >= 0)
		close(w->fd);
	if (w->sentinel >= 0)
		close(w->sentinel);
}

void pi_waiter_free(struct pi_waiter *w) {
	waiter_close(w);
	free(w);
}

/* waiter_signal sends SIGURG to w's waiting thread, if one is published.
 * A stale tid reaches a thread of this process that has left the wait:
 * SIGURG is Go's preemption signal, which every thread tolerates. */
static void waiter_signal(struct pi_waiter *w) {
	int tid = __atomic_load_n(&w->tid, __ATOMIC_SEQ_CST);
	if (tid != 0)
		syscall(SYS_tgkill, getpid(), tid, SIGURG);
}

/* The swaps of fd (kick, rearm, mq's mode change) hold w->lock: a spin
 * lock, held for one dup3. */
static void waiter_lock(struct pi_waiter *w) {
	while (__atomic_exchange_n(&w->lock, 1, __ATOMIC_ACQUIRE))
		sched_yield();
}

static void waiter_unlock(struct pi_waiter *w) { __atomic_store_n(&w->lock, 0, __ATOMIC_RELEASE); }

int pi_waiter_set_fd(struct pi_waiter *w, int fd) {
	int s = open("/", O_PATH | O_CLOEXEC);
	if (s < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	waiter_lock(w);
	w->sentinel = s;
	__atomic_store_n(&w->fd, fd, __ATOMIC_SEQ_CST);
	waiter_unlock(w);
	return 0;
}

int pi_waiter_rearm(struct pi_waiter *w, int src) {
	int e = 0;
	waiter_lock(w);
	if (!__atomic_load_n(&w->closed, __ATOMIC_SEQ_CST)) {
		if (w->swapped && dup3(src, w->fd, O_CLOEXEC) < 0)
			e = errno;
		else {
			w->swapped = 0;
			__atomic_store_n(&w->cancel, 0, __ATOMIC_SEQ_CST);
		}
	}
	waiter_unlock(w);
	return e;
}

static __thread int waiter_tid;

/* waiter_enter publishes the calling thread as w's waiter. */
static void waiter_enter(struct pi_waiter *w) {
	if (waiter_tid == 0)
		waiter_tid = (int)syscall(SYS_gettid);
	__atomic_store_n(&w->tid, waiter_tid, __ATOMIC_SEQ_CST);
}

/* waiter_kicked is checked after tid is published and before every call: a
 * kick either sees the tid (and signals) or set its flag before this load
 * (Dekker, seq_cst), so no kick is lost. */
static int waiter_kicked(struct pi_waiter *w) {
	return __atomic_load_n(&w->closed, __ATOMIC_SEQ_CST) ||
	       __atomic_load_n(&w->cancel, __ATOMIC_SEQ_CST);
}

static void waiter_leave(struct pi_waiter *w) { __atomic_store_n(&w->tid, 0, __ATOMIC_SEQ_CST); }

/* The timed waits share these (wait_deadline: sem, sysvsem, mq, ring;
 * wait_slice and wait_again: sem and ring):
 * wait_deadline turns rel_ns (< 0: none) into an absolute CLOCK_MONOTONIC
 * deadline (-1: none); wait_slice is the absolute time of the next wait,
 * an hour ahead when there is no deadline (a timed wait is ended by a
 * signal with EINTR, an untimed one is restarted under Go's SA_RESTART
 * handlers); wait_again says whether a failed wait is waited again: EINTR
 * (the loop then checks the kick flags) or an hour slice that passed. */
static int64_t wait_deadline(int64_t rel_ns) { return rel_ns >= 0 ? now_ns() + rel_ns : -1; }

static struct timespec wait_slice(int64_t deadline) {
	int64_t d = deadline >= 0 ? deadline : now_ns() + (int64_t)3600 * 1000000000;
	struct timespec ts = { .tv_sec = d / 1000000000, .tv_nsec = d % 1000000000 };
	return ts;
}

static int wait_again(int e, int64_t deadline) { return e == EINTR || (e == ETIMEDOUT && deadline < 0); }

void pi_waiter_kick(struct pi_waiter *w, int closing) {
	__atomic_store_n(closing ? &w->closed : &w->cancel, 1, __ATOMIC_SEQ_CST);
	/* a wait in futex_waitv watches kword: the change ends it, the wake
	 * reaches it if it sleeps (it loads kword before it checks the flags) */
	__atomic_add_fetch(&w->kword, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &w->kword, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
	if (__atomic_load_n(&w->fd, __ATOMIC_SEQ_CST) >= 0) {
		waiter_lock(w);
		if (!w->swapped && (closing || !__atomic_load_n(&w->noswap, __ATOMIC_SEQ_CST)) &&
		    dup3(w->sentinel, w->fd, O_CLOEXEC) >= 0)
			w->swapped = 1;
		waiter_unlock(w);
	}
	waiter_signal(w);
}

/* pi_fd_wait's call: the result of the system call, -1 with errno set. */
static int64_t fd_call(int fd, int op, int how, int64_t start, int64_t len, char *buf, size_t n) {
	switch (op) {
	case PI_FD_FLOCK:
		return flock(fd, how);
	case PI_FD_OFD: {
		struct flock lk = { .l_type = (short)how, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
		return fcntl(fd, F_OFD_SETLKW, &lk);
	}
	case PI_FD_READ:
		return read(fd, buf, n);
	case PI_FD_WRITE:
		return write(fd, buf, n);
	}
	errno = EINVAL;
	return -1;
}

/* The blocking calls on the waiter's descriptor (flock's locks, a FIFO's
 * blocking mode): Go's SA_RESTART handlers restart them after the kick's
 * signal, and the restarted call, on the sentinel, fails with EBADF. */
int64_t pi_fd_wait(struct pi_waiter *w, int op, int how, int64_t start, int64_t len, char *buf, size_t n) {
	int64_t r;
	waiter_enter(w);
	for (;;) {
		if (waiter_kicked(w)) {
			r = -ECANCELED;
			break;
		}
		r = fd_call(w->fd, op, how, start, len, buf, n);
		if (r >= 0)
			break;
		if (errno != EINTR) {
			r = errno == EBADF && waiter_kicked(w) ? -ECANCELED : -(int64_t)errno;
			break;
		}
	}
	waiter_leave(w);
	return r;
}

/* ---- mq ----
 * mq_timed* waits are restarted after Go's SA_RESTART handlers, so a
 * kick swaps the waiter's private descriptor (dup3) before it signals; in
 * poll mode (a notification registered) the waiter sleeps in ppoll on the
 * queue and an eventfd instead, and the kick is an eventfd write.
 */

/*
 * The one waiter of a queue direction blocks in mq_timedreceive/mq_timedsend
 * itself (the kernel hands a message straight to a blocked receiver), on a
 * private duplicate w->fd of the queue descriptor. To cancel it, pi_mq_kick
 * sets a flag, replaces w->fd with a descriptor that is not a queue (dup3)
 * and sends SIGURG to the waiting thread: Go's handler has SA_RESTART, so
 * the kernel restarts the call, which now fails with EBADF, and the loop sees
 * the flag. A call that has already taken its message returns it: nothing is
 * lost.
 *
 * But on Linux any close of a queue descriptor by the process that holds
 * the queue's mq_notify registration removes that registration, and the
 * dup3 closes one. So while a registration may exist (w.noswap, set by
 * pi_mq_poll_mode before mq_notify), the waiter never blocks in mq_timed*:
 * it tries without waiting and sleeps in ppoll(2) on w->fd and w->evfd, and
 * a kick is a write to the eventfd. pi_mq_poll_mode first moves a waiter
 * that blocks in mq_timed* to ppoll (with the dup3 kick: no registration
 * exists yet).
 *
 * Deadlines are CLOCK_MONOTONIC: each attempt converts the time left into
 * the absolute CLOCK_REALTIME time mq_timed* take, and a wall-clock jump
 * that ends an attempt early only starts another. A deadline that has
 * passed still gets one attempt that does not wait (a message that is
 * there is taken).
 */

struct pi_mq_waiter *pi_mq_waiter_new(int mqd) {
	struct pi_mq_waiter *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->w.fd = w->w.sentinel = -1;
	w->mqd = mqd;
	w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int e = errno;
	if (w->evfd >= 0) {
		int fd = fcntl(mqd, F_DUPFD_CLOEXEC, 0);
		e = fd < 0 ? errno : pi_waiter_set_fd(&w->w, fd);
		if (e)
			close(w->evfd);
	}
	if (e) {
		free(w);
		errno = e;
		return NULL;
	}
	return w;
}

void pi_mq_waiter_free(struct pi_mq_waiter *w) {
	waiter_close(&w->w);
	close(w->evfd);
	free(w);
}

void pi_mq_kick(struct pi_mq_waiter *w, int closing) {
	uint64_t one = 1;
	if (write(w->evfd, &one, sizeof one) < 0) {
		/* EAGAIN: a kick is pending already */
	}
	/* Closing ends a registration anyway; a cancelling kick swaps the
	 * descriptor only while no registration can exist (w.noswap) */
	pi_waiter_kick(&w->w, closing);
}

int pi_mq_rearm(struct pi_mq_waiter *w) {
	uint64_t v;
	if (read(w->evfd, &v, sizeof v) < 0) {
		/* EAGAIN: nothing pending */
	}
	return pi_waiter_rearm(&w->w, w->mqd);
}

/* mq_remode swaps the sentinel over fd to move a waiter blocked in
 * mq_timed* to ppoll (on) and, by that waiter (off), puts the queue back,
 * unless a kick swapped it (that stays until pi_mq_rearm). */
static void mq_remode(struct pi_mq_waiter *w, int on) {
	waiter_lock(&w->w);
	if (!w->w.swapped)
		dup3(on ? w->w.sentinel : w->mqd, w->w.fd, O_CLOEXEC);
	__atomic_store_n(&w->remode, on, __ATOMIC_SEQ_CST);
	waiter_unlock(&w->w);
}

int pi_mq_poll_mode(struct pi_mq_waiter *w, int on) {
	__atomic_store_n(&w->w.noswap, on, __ATOMIC_SEQ_CST);
	if (!on)
		return 0;
	/* a waiter blocked in mq_timed* moves to ppoll: kick it with the swap
	 * (it restores the descriptor itself) until it has left */
	for (int i = 0; __atomic_load_n(&w->blocking, __ATOMIC_SEQ_CST) ||
	                __atomic_load_n(&w->remode, __ATOMIC_SEQ_CST); i++) {
		if (!__atomic_load_n(&w->remode, __ATOMIC_SEQ_CST) &&
		    __atomic_load_n(&w->blocking, __ATOMIC_SEQ_CST))
			mq_remode(w, 1);
		waiter_signal(&w->w);
		if (i > 20000)
			return ETIMEDOUT;
		usleep(50);
	}
	return 0;
}

/* mq_wait is the loop of both directions: wr selects mq_timedsend of
 * (msg, len, prio), otherwise mq_timedreceive into (buf, len). It returns
 * 0 (sent), priority<<32 | length (received) or -errno. */
static int64_t mq_wait(struct pi_mq_waiter *w, int wr, int64_t timeout_ns, const char *msg, char *buf,
                       size_t len, unsigned int prio) {
	int64_t deadline = wait_deadline(timeout_ns);
	int64_t r = 0;
	waiter_enter(&w->w);
	for (;;) {
		if (waiter_kicked(&w->w)) {
			r = -ECANCELED;
			break;
		}
		int poll_mode = __atomic_load_n(&w->w.noswap, __ATOMIC_SEQ_CST);
		int64_t left = deadline < 0 ? -1 : deadline - now_ns();
		int last = deadline >= 0 && left <= 0; /* one attempt that does not wait */
		struct timespec ts = { 0, 0 }, *tsp = NULL; /* no deadline: no timer in the kernel */
		if (poll_mode || last) {
			tsp = &ts; /* the epoch: try without waiting */
		} else if (deadline >= 0) {
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + left;
			ts.tv_sec = t / 1000000000;
			ts.tv_nsec = t % 1000000000;
			tsp = &ts;
		}
		if (!poll_mode && !last) {
			/* Dekker with pi_mq_poll_mode: it stores poll then loads
			 * blocking; we store blocking then load poll */
			__atomic_store_n(&w->blocking, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&w->w.noswap, __ATOMIC_SEQ_CST)) {
				__atomic_store_n(&w->blocking, 0, __ATOMIC_SEQ_CST);
				continue;
			}
		}
		int e = 0;
		if (wr) {
			if (mq_timedsend((mqd_t)w->w.fd, msg, len, prio, tsp) == 0)
				r = 0;
			else
				e = errno;
		} else {
			unsigned p;
			ssize_t n = mq_timedreceive((mqd_t)w->w.fd, buf, len, &p, tsp);
			if (n >= 0)
				r = (int64_t)p << 32 | (int64_t)n; /* taken: returned whatever the flags say */
			else
				e = errno;
		}
		__atomic_store_n(&w->blocking, 0, __ATOMIC_SEQ_CST);
		if (e == 0)
			break;
		if (e == EBADF && __atomic_load_n(&w->remode, __ATOMIC_SEQ_CST)) {
			/* moved to ppoll by pi_mq_poll_mode: restore the descriptor */
			mq_remode(w, 0);
			continue;
		}
		if (e == EBADF && waiter_kicked(&w->w))
			continue;
		if (e != ETIMEDOUT && e != EINTR && e != EAGAIN) {
			r = -e;
			break;
		}
		if (last) {
			r = -ETIMEDOUT;
			break;
		}
		if (!poll_mode)
			continue;
		struct pollfd pf[2] = {
			{ .fd = w->w.fd, .events = wr ? POLLOUT : POLLIN },
			{ .fd = w->evfd, .events = POLLIN },
		};
		struct timespec pts, *ptsp = NULL;
		if (deadline >= 0) {
			pts.tv_sec = left / 1000000000;
			pts.tv_nsec = left % 1000000000;
			ptsp = &pts;
		}
		if (ppoll(pf, 2, ptsp, NULL) > 0 && (pf[1].revents & POLLIN)) {
			uint64_t v;
			if (read(w->evfd, &v, sizeof v) < 0) {
				/* drained by another */
			}
		}
	}
	waiter_leave(&w->w);
	return r;
}

int pi_mq_send_wait(struct pi_mq_waiter *w, int64_t timeout_ns, const char *msg, size_t len,
                    unsigned int prio) {
	return (int)-mq_wait(w, 1, timeout_ns, msg, NULL, len, prio);
}

int64_t pi_mq_receive_wait(struct pi_mq_waiter *w, int64_t timeout_ns, char *buf, size_t len) {
	return mq_wait(w, 0, timeout_ns, NULL, buf, len, 0);
}

/* ---- sem ----
 * sem_clockwait on the signal-kicked waiter.
 */

/* The untimed wait: glibc's semaphore algorithm (nptl/sem_waitcommon.c,
 * the 64-bit data word: the value in its low 32 bits, the futex word, and
 * the waiter count in its high 32) with the futex wait replaced by
 * futex_waitv on the value word and the waiter's kick word. A plain futex
 * wait without a timeout is restarted after Go's SA_RESTART handlers, so a
 * signal cannot end it, and a timed one arms a kernel timer per wait (on a
 * VM, about 0.5 µs of a 4 µs round trip); the kick word ends this one
 * without either. sem_post (C's too) wakes it as it wakes glibc's own
 * waiters. ENOSYS: no futex_waitv (Linux before 5.16); the caller falls
 * back to the timed loop, as on architectures where glibc keeps the value
 * elsewhere (32-bit atomics, big-endian). */
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define PI_FUTEX2_U32 2        /* FUTEX2_SIZE_U32 (FUTEX_32 in older headers) */
#define PI_FUTEX2_PRIVATE 128 /* FUTEX2_PRIVATE */

/* waitv_kicked sleeps in futex_waitv on *word while it holds val (wflags:
 * its futex2 flags besides the size) and on w's kick word while it holds
 * kv, until the absolute CLOCK_MONOTONIC deadline (< 0: none): the system
 * call's result (the index of the word woken, or -1 and errno). */
static long waitv_kicked(struct pi_waiter *w, uint32_t *word, uint32_t val, unsigned wflags, unsigned kv, int64_t deadline) {
	struct futex_waitv v[2] = {
		{ .val = val, .uaddr = (uintptr_t)word, .flags = PI_FUTEX2_U32 | wflags },
		{ .val = kv, .uaddr = (uintptr_t)&w->kword, .flags = PI_FUTEX2_U32 | PI_FUTEX2_PRIVATE },
	};
	struct timespec ts, *tsp = NULL;
	if (deadline >= 0) {
		ts.tv_sec = deadline / 1000000000;
		ts.tv_nsec = deadline % 1000000000;
		tsp = &ts;
	}
	return syscall(SYS_futex_waitv, v, 2, 0, tsp, CLOCK_MONOTONIC);
}

#if (defined(__x86_64__) || defined(__aarch64__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PI_SEM_WAITER ((uint64_t)1 << 32)
static int sem_waitv_missing;

/* sem_count_out stops being a waiter of s without a unit. A sem_post's
 * wake-up may have come to this waiter as it gave up: pass it on. */
static void sem_count_out(struct pi_new_sem *s) {
	uint64_t d = __atomic_sub_fetch(&s->data, PI_SEM_WAITER, __ATOMIC_RELAXED);
	if ((uint32_t)d > 0 && (d >> 32) > 0) {
		int priv = __atomic_load_n(&s->private, __ATOMIC_RELAXED) == 0;
		syscall(SYS_futex, (uint32_t *)&s->data, FUTEX_WAKE | (priv ? FUTEX_PRIVATE_FLAG : 0), 1, NULL, NULL, 0);
	}
}

static int sem_wait_v(sem_t *sem, struct pi_waiter *w, int64_t deadline) {
	struct pi_new_sem *s = (struct pi_new_sem *)sem;
	uint32_t *word = (uint32_t *)&s->data; /* the value: the low half on little-endian */
	/* glibc's private field: 0 for a process-private semaphore (private
	 * futex ops), 128 for a shared one */
	unsigned shared_flag = (unsigned)__atomic_load_n(&s->private, __ATOMIC_RELAXED) ^ PI_FUTEX2_PRIVATE;
	uint64_t d = __atomic_fetch_add(&s->data, PI_SEM_WAITER, __ATOMIC_RELAXED);
	int r;
	for (;;) {
		if ((uint32_t)d > 0) {
			/* take a unit and stop being a waiter, in one step */
			if (__atomic_compare_exchange_n(&s->data, &d, d - 1 - PI_SEM_WAITER, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return 0;
			continue;
		}
		unsigned kv = __atomic_load_n(&w->kword, __ATOMIC_SEQ_CST);
		if (waiter_kicked(w)) {
			r = ECANCELED;
			break;
		}
		if ((r = pi_sem_sane(sem)) != 0)
			break; /* a peer wrote garbage over it */
		if (waitv_kicked(w, word, 0, shared_flag, kv, deadline) < 0) {
			if (errno == ENOSYS) {
				sem_waitv_missing = 1;
				r = ENOSYS;
				break;
			}
			if (errno == ETIMEDOUT) {
				r = ETIMEDOUT;
				break;
			}
			if (errno != EAGAIN && errno != EINTR) { /* EAGAIN: a word moved */
				r = errno;
				break;
			}
		}
		d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
	}
	sem_count_out(s); /* leaving without a unit */
	return r;
}
#else
static const int sem_waitv_missing = 1;
static int sem_wait_v(sem_t *sem, struct pi_waiter *w, int64_t deadline) {
	(void)sem, (void)w, (void)deadline;
	return ENOSYS;
}
#endif

int pi_sem_wait_cancel(sem_t *sem, struct pi_waiter *w, int64_t rel_ns) {
	int64_t deadline = wait_deadline(rel_ns);
	waiter_enter(w);
	int r;
	if (!sem_waitv_missing && pi_sem_sane(sem) == 0) {
		/* sane before sem_wait_v registers in the waiter count (an insane
		 * semaphore is refused by the loop below, after its kick check) */
		r = sem_wait_v(sem, w, deadline);
		if (r != ENOSYS) {
			waiter_leave(w);
			return r;
		}
	}
	for (;;) {
		if (waiter_kicked(w)) {
			r = ECANCELED;
			break;
		}
		if ((r = pi_sem_sane(sem)) != 0)
			break; /* a peer wrote garbage over it */
		struct timespec ts = wait_slice(deadline); /* timed, so that a signal interrupts it */
		if (sem_clockwait(sem, CLOCK_MONOTONIC, &ts) == 0) {
			r = 0; /* a unit is taken: report it whatever the flags say */
			break;
		}
		if (wait_again(errno, deadline))
			continue;
		r = errno;
		break;
	}
	waiter_leave(w);
	return r;
}

/* The idle wait's half of a semaphore wait (pi_futex_watch watches the
 * word): count in as a waiter of glibc's algorithm, so that sem_post wakes
 * the value word, and give the word; count out as sem_wait_v leaves. */
#if (defined(__x86_64__) || defined(__aarch64__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
int pi_sem_watch_begin(sem_t *sem, uint32_t **word, int *shared, uint32_t *value) {
	if (sem_waitv_missing)
		return ENOSYS;
	int r = pi_sem_sane(sem);
	if (r != 0)
		return r;
	struct pi_new_sem *s = (struct pi_new_sem *)sem;
	*word = (uint32_t *)&s->data;
	*shared = __atomic_load_n(&s->private, __ATOMIC_RELAXED) != 0;
	*value = (uint32_t)__atomic_add_fetch(&s->data, PI_SEM_WAITER, __ATOMIC_SEQ_CST);
	return 0;
}

void pi_sem_watch_end(sem_t *sem) { sem_count_out((struct pi_new_sem *)sem); }
#else
int pi_sem_watch_begin(sem_t *sem, uint32_t **word, int *shared, uint32_t *value) {
	(void)sem, (void)word, (void)shared, (void)value;
	return ENOSYS;
}
void pi_sem_watch_end(sem_t *sem) { (void)sem; }
#endif

/* ---- the futex watch ----
 * The kit's idle wait on futex words (internal/gate): one thread of the
 * process sleeps in futex_waitv on the words of every call that found no
 * slot in C, and on its waiter's kick word (bumped when the set changes).
 * In C because futex_waitv has no libc wrapper and its array is C's; it
 * never reads the words itself (the kernel does: EFAULT for one no longer
 * mapped).
 */

int pi_futex_watch(const uint64_t *addrs, const uint32_t *vals, const uint32_t *shared, int n, struct pi_waiter *w) {
	if (n < 0 || n > PI_WATCH_MAX)
		return -EINVAL;
	struct futex_waitv v[PI_WATCH_MAX + 1];
	for (int i = 0; i < n; i++)
		v[i] = (struct futex_waitv){ .val = vals[i], .uaddr = addrs[i], .flags = PI_FUTEX2_U32 | (shared[i] ? 0 : PI_FUTEX2_PRIVATE) };
	unsigned kv = __atomic_load_n(&w->kword, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->cancel, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&w->cancel, 0, __ATOMIC_SEQ_CST);
		return n; /* kicked before it slept */
	}
	v[n] = (struct futex_waitv){ .val = kv, .uaddr = (uintptr_t)&w->kword, .flags = PI_FUTEX2_U32 | PI_FUTEX2_PRIVATE };
	long r = syscall(SYS_futex_waitv, v, n + 1, 0, NULL, CLOCK_MONOTONIC);
	if (r < 0)
		return errno == EINTR ? n : -errno;
	return (int)r;
}

/* ---- sysvmsg ----
 * msgsnd and msgrcv on the signal-kicked waiter (never restarted after a
 * signal, so an interrupted call sent or took nothing).
 */

int pi_msgsnd_wait(struct pi_waiter *w, int id, int64_t type, const char *p, size_t len, int flag) {
	long stack[(sizeof(long) + MSG_STACK) / sizeof(long) + 1];
	struct pi_msgbuf *m = msg_buf(stack, len);
	if (m == NULL)
		return ENOMEM;
	m->mtype = (long)type;
	memcpy(m->mtext, p, len);
	waiter_enter(w);
	int r;
	for (;;) {
		if (waiter_kicked(w)) {
			r = ECANCELED;
			break;
		}
		if (msgsnd(id, m, len, flag & ~IPC_NOWAIT) == 0) {
			r = 0;
			break;
		}
		if (errno != EINTR) {
			r = errno;
			break;
		}
	}
	waiter_leave(w);
	if ((void *)m != (void *)stack)
		free(m);
	return r;
}

struct pi_msg_got pi_msgrcv_wait(struct pi_waiter *w, int id, char *p, size_t len, int64_t type, int flag) {
	long stack[(sizeof(long) + MSG_STACK) / sizeof(long) + 1];
	struct pi_msg_got g = { 0, 0, 0 };
	struct pi_msgbuf *m = msg_buf(stack, len);
	if (m == NULL) {
		g.err = ENOMEM;
		return g;
	}
	waiter_enter(w);
	for (;;) {
		if (waiter_kicked(w)) {
			g.err = ECANCELED;
			break;
		}
		ssize_t n = msgrcv(id, m, len, (long)type, flag & ~IPC_NOWAIT);
		if (n >= 0) {
			memcpy(p, m->mtext, (size_t)n);
			g.type = m->mtype;
			g.len = n;
			break;
		}
		if (errno != EINTR) {
			g.err = errno;
			break;
		}
	}
	waiter_leave(w);
	if ((void *)m != (void *)stack)
		free(m);
	return g;
}

/* ---- sysvsem ----
 * semtimedop on the signal-kicked waiter (all or nothing, never
 * restarted after a signal).
 */

int pi_semop_wait(struct pi_waiter *w, int id, struct sembuf *ops, size_t n, int64_t rel_ns) {
	int64_t deadline = wait_deadline(rel_ns);
	waiter_enter(w);
	int r;
	for (int first = 1;; first = 0) {
		if (waiter_kicked(w)) {
			r = ECANCELED;
			break;
		}
		struct timespec ts, *tp = NULL;
		if (deadline >= 0) {
			/* the whole wait on the first call, what is left after a signal */
			int64_t left = first ? rel_ns : deadline - now_ns();
			if (left < 0)
				left = 0;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tp = &ts;
		}
		if (semtimedop(id, ops, n, tp) == 0) {
			r = 0;
			break;
		}
		if (errno == EAGAIN && tp != NULL && now_ns() >= deadline) {
			r = ETIMEDOUT; /* not an IPC_NOWAIT op that would block */
			break;
		}
		if (errno != EINTR) {
			r = errno;
			break;
		}
	}
	waiter_leave(w);
	return r;
}

/* ---- pthread ----
 * glibc restarts its mutex, condvar and rwlock futex waits after a
 * signal: mutexes wait in timed slices that re-check the cancel flag;
 * condvar and contended rwlock waits run on a helper thread, and the caller
 * sleeps on futex words in C memory that no peer can reach.
 */

/* sliced_wait calls lock(obj, CLOCK_MONOTONIC, end of slice) until it returns
 * something other than ETIMEDOUT, h's cancel flag is set (ECANCELED) or
 * rel_ns (if >= 0) has passed (ETIMEDOUT). */
static int sliced_wait(int (*lock)(uintptr_t, const struct timespec *), uintptr_t obj,
                       pi_pthread_handle *h, int64_t rel_ns) {
	int64_t deadline = rel_ns < 0 ? -1 : now_ns() + rel_ns;
	for (;;) {
		if (pthread_canceled(h))
			return ECANCELED;
		struct timespec ts;
		pthread_slice_end(deadline, &ts);
		int r = lock(obj, &ts);
		if (r != ETIMEDOUT)
			return r;
		if (deadline >= 0 && now_ns() >= deadline)
			return ETIMEDOUT;
	}
}

static int mutex_clocklock(uintptr_t m, const struct timespec *ts) {
	return pthread_mutex_clocklock((pthread_mutex_t *)m, CLOCK_MONOTONIC, ts);
}

/* pi_pthread_mutex_lock waits for the mutex in slices of
 * pthread_mutex_clocklock (sliced_wait). */
static int mutex_clocklock_checked(uintptr_t m, const struct timespec *ts) {
	if (!mutex_kind_ok((pthread_mutex_t *)m))
		return EINVAL; /* re-initialised as another kind while we wait */
	return mutex_clocklock(m, ts);
}

int pi_pthread_mutex_lock(uintptr_t m, uintptr_t hv, int64_t rel_ns) {
	pi_pthread_handle *h = (pi_pthread_handle *)hv;
	int r = sliced_wait(mutex_clocklock_checked, m, h, rel_ns);
	if (r == 0 || r == EOWNERDEAD)
		pthread_own(h);
	return r;
}

/* The helper of a Cond or RWMutex handle (see shim.h). state moves IDLE ->
 * REQ (a caller asks for op) -> ARMED (the helper works on it; for a
 * condvar wait it holds m2, which the caller takes once the helper has
 * released it inside glibc's wait) -> DONE (result set) -> IDLE (taken by
 * the caller). A lock caller that gives up moves REQ or ARMED to ABANDONED
 * (a CAS the helper's ARMED -> DONE races with: exactly one wins); the
 * helper then releases a lock it got and goes back to IDLE. wseq counts
 * DONE transitions and kicks: the caller sleeps on it. */
enum { HELPER_IDLE, HELPER_REQ, HELPER_ARMED, HELPER_DONE, HELPER_ABANDONED, HELPER_EXITED };

/* A helper thread idle this long exits (IDLE -> EXITED, a CAS that a
 * request's IDLE -> REQ races with: exactly one wins); the next request
 * starts a new one. So the threads of a process's helpers are those of the
 * handles that waited in the last second, not of every handle that ever
 * waited. */
#define HELPER_IDLE_NS 1000000000LL

enum { HOP_COND_WAIT, HOP_RDLOCK, HOP_WRLOCK };

struct pi_helper {
	int refs;     /* the Go handle's and the thread's */
	int state;
	int wseq;
	int result;
	int inside;   /* the thread is inside glibc on obj */
	int quit;
	int op;       /* HOP_* of the current request */
	int tid;      /* the requesting thread (the write lock's new owner) */
	int64_t deadline; /* of the current request, CLOCK_MONOTONIC ns; -1: none */
	int64_t slice_ns;
	uintptr_t c;  /* the object: a pthread_cond_t or pthread_rwlock_t */
	pthread_mutex_t m2;
};

static long futex_wait_private(int *w, int v, int64_t rel_ns) {
	struct timespec ts, *tsp = NULL;
	if (rel_ns >= 0) {
		ts.tv_sec = rel_ns / 1000000000;
		ts.tv_nsec = rel_ns % 1000000000;
		tsp = &ts;
	}
	return syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, tsp, NULL, 0);
}

static void futex_wake_private(int *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0); }

static void helper_unref(struct pi_helper *h) {
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_mutex_destroy(&h->m2);
		free(h);
	}
}

static int helper_cancelled(struct pi_helper *h) {
	return __atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == HELPER_ABANDONED;
}

static void helper_cond_wait(struct pi_helper *h) {
	pthread_mutex_lock(&h->m2);
	__atomic_store_n(&h->inside, 1, __ATOMIC_SEQ_CST);
	int st = HELPER_REQ;
	if (!__atomic_compare_exchange_n(&h->state, &st, HELPER_ARMED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		/* the caller gave up before we started: the main loop resets it */
		__atomic_store_n(&h->inside, 0, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&h->m2);
		return;
	}
	futex_wake_private(&h->state);
	int64_t end = now_ns() + h->slice_ns;
	int64_t dl = __atomic_load_n(&h->deadline, __ATOMIC_RELAXED);
	if (dl >= 0 && dl < end)
		end = dl;
	struct timespec ts = { .tv_sec = end / 1000000000, .tv_nsec = end % 1000000000 };
	int r = pthread_cond_clockwait((pthread_cond_t *)h->c, &h->m2, CLOCK_MONOTONIC, &ts);
	h->result = r;
	/* Hand the result over, or learn that the caller gave up: one CAS
	 * against the caller's ARMED -> ABANDONED, so exactly one side decides
	 * what happens to a wake-up consumed now. */
	st = HELPER_ARMED;
	if (!__atomic_compare_exchange_n(&h->state, &st, HELPER_DONE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		if (r == 0)
			pthread_cond_signal((pthread_cond_t *)h->c); /* nobody takes this wake-up: pass it on */
		__atomic_store_n(&h->state, HELPER_IDLE, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&h->m2);
	__atomic_store_n(&h->inside, 0, __ATOMIC_SEQ_CST);
}

static void helper_rwlock(struct pi_helper *h) {
	int st = HELPER_REQ;
	if (!__atomic_compare_exchange_n(&h->state, &st, HELPER_ARMED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return; /* abandoned before we started: the main loop resets it */
	__atomic_store_n(&h->inside, 1, __ATOMIC_SEQ_CST);
	pthread_rwlock_t *rw = (pthread_rwlock_t *)h->c;
	int wr = h->op == HOP_WRLOCK;
	int64_t dl = __atomic_load_n(&h->deadline, __ATOMIC_RELAXED);
	int r;
	for (;;) {
		/* every slice starts on fields glibc can use, or not at all */
		if (!pi_pthread_rwlock_sane((uintptr_t)rw)) {
			r = EINVAL;
			break;
		}
		if (helper_cancelled(h)) {
			r = ECANCELED;
			break;
		}
		int64_t end = now_ns() + h->slice_ns;
		if (dl >= 0 && dl < end)
			end = dl;
		struct timespec ts = { .tv_sec = end / 1000000000, .tv_nsec = end % 1000000000 };
		r = wr ? pthread_rwlock_clockwrlock(rw, CLOCK_MONOTONIC, &ts)
		       : pthread_rwlock_clockrdlock(rw, CLOCK_MONOTONIC, &ts);
		if (r != ETIMEDOUT || (dl >= 0 && now_ns() >= dl))
			break;
	}
	int self = 0;
	if (r == 0 && wr) {
		/* glibc tells a write unlock from a read unlock by __cur_writer
		 * == the caller's tid: hand the write lock to the requester */
		self = __atomic_load_n(&rw->__data.__cur_writer, __ATOMIC_RELAXED);
		__atomic_store_n(&rw->__data.__cur_writer, h->tid, __ATOMIC_RELAXED);
	}
	h->result = r;
	st = HELPER_ARMED;
	if (!__atomic_compare_exchange_n(&h->state, &st, HELPER_DONE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		/* the caller gave up: nothing may stay taken for it */
		if (r == 0) {
			if (wr)
				__atomic_store_n(&rw->__data.__cur_writer, self, __ATOMIC_RELAXED);
			pthread_rwlock_unlock(rw);
		}
		__atomic_store_n(&h->state, HELPER_IDLE, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&h->inside, 0, __ATOMIC_SEQ_CST);
}

static void *helper_main(void *p) {
	struct pi_helper *h = p;
	for (;;) {
		int st = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
		if (__atomic_load_n(&h->quit, __ATOMIC_ACQUIRE))
			break;
		if (st == HELPER_ABANDONED) { /* given up before we started */
			__atomic_compare_exchange_n(&h->state, &st, HELPER_IDLE, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&h->wseq, 1, __ATOMIC_SEQ_CST);
			futex_wake_private(&h->wseq);
			continue;
		}
		if (st != HELPER_REQ) {
			if (futex_wait_private(&h->state, st, HELPER_IDLE_NS) != 0 && errno == ETIMEDOUT) {
				int idle = HELPER_IDLE;
				if (__atomic_compare_exchange_n(&h->state, &idle, HELPER_EXITED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
					break; /* idle for HELPER_IDLE_NS: the next request starts a thread */
			}
			continue;
		}
		if (h->op == HOP_COND_WAIT)
			helper_cond_wait(h);
		else
			helper_rwlock(h);
		__atomic_add_fetch(&h->wseq, 1, __ATOMIC_SEQ_CST);
		futex_wake_private(&h->wseq);
	}
	helper_unref(h);
	return NULL;
}

struct pi_helper *pi_helper_new(uintptr_t c, int64_t slice_ns) {
	struct pi_helper *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	int r = pthread_mutex_init(&h->m2, NULL);
	if (r) {
		free(h);
		errno = r;
		return NULL;
	}
	h->refs = 1;
	h->state = HELPER_EXITED; /* no thread yet */
	h->c = c;
	h->slice_ns = slice_ns;
	h->deadline = -1;
	return h;
}

int pi_helper_busy(struct pi_helper *h) {
	int st = __atomic_load_n(&h->state, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&h->inside, __ATOMIC_SEQ_CST) || st == HELPER_REQ ||
	       (st == HELPER_ARMED && h->op != HOP_COND_WAIT) || st == HELPER_ABANDONED;
}

void pi_helper_free(struct pi_helper *h) {
	__atomic_store_n(&h->quit, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&h->state, 0, __ATOMIC_SEQ_CST);
	futex_wake_private(&h->state);
	helper_unref(h);
}

/* helper_start starts the helper's thread, which finds the request that
 * helper_post stored: EAGAIN when no thread can be started. */
static int helper_start(struct pi_helper *h) {
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	/* the thread gets no signals of the Go runtime's choosing: block all */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	pthread_t t;
	int r = pthread_create(&t, &a, helper_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	if (r) {
		__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
		return EAGAIN;
	}
	return 0;
}

/* helper_sleep sleeps on h->wseq (seen as s) until woken or deadline,
 * after a short spin: the helper's answer often comes within microseconds,
 * and a futex sleep and wake-up cost tens of them on a small VM. */
static void helper_sleep(struct pi_helper *h, int s, int64_t deadline) {
	for (int i = 0; i < 100; i++) {
		if (__atomic_load_n(&h->wseq, __ATOMIC_ACQUIRE) != s)
			return;
		__builtin_ia32_pause();
	}
	int64_t rel = -1;
	if (deadline >= 0 && (rel = deadline - now_ns()) <= 0)
		return;
	futex_wait_private(&h->wseq, s, rel);
}

/* helper_free_wait waits until the helper has no request (an earlier
 * call that gave up may still have it inside glibc for up to a slice),
 * honouring the deadline and hc's cancel flag. */
static int helper_free_wait(struct pi_helper *h, pi_pthread_handle *hc, int64_t deadline) {
	for (;;) {
		int s = __atomic_load_n(&h->wseq, __ATOMIC_SEQ_CST);
		int st = __atomic_load_n(&h->state, __ATOMIC_SEQ_CST);
		if (st == HELPER_IDLE || st == HELPER_DONE || st == HELPER_EXITED)
			return 0;
		if (pthread_canceled(hc))
			return ECANCELED;
		if (deadline >= 0 && now_ns() >= deadline)
			return ETIMEDOUT;
		helper_sleep(h, s, deadline);
	}
}

/* helper_post hands request op to the helper, starting a thread when it
 * has none (never started, or exited idle): EAGAIN when none can be
 * started. The helper is free (helper_free_wait): IDLE, DONE or EXITED, and
 * only its thread may move it meanwhile (IDLE -> EXITED). */
static int helper_post(struct pi_helper *h, int op, int64_t deadline) {
	__atomic_store_n(&h->deadline, deadline, __ATOMIC_RELAXED);
	h->op = op;
	h->tid = (int)syscall(SYS_gettid);
	for (;;) {
		int st = __atomic_load_n(&h->state, __ATOMIC_SEQ_CST);
		if (st == HELPER_EXITED) {
			/* the old thread (if any) touches nothing but its reference
			 * after its IDLE -> EXITED: a new one may start now */
			__atomic_store_n(&h->state, HELPER_REQ, __ATOMIC_SEQ_CST);
			if (helper_start(h)) {
				__atomic_store_n(&h->state, HELPER_EXITED, __ATOMIC_SEQ_CST);
				return EAGAIN;
			}
			return 0;
		}
		if (__atomic_compare_exchange_n(&h->state, &st, HELPER_REQ, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			futex_wake_private(&h->state);
			return 0;
		}
	}
}

int pi_pthread_cond_wait(struct pi_helper *h, uintptr_t m, uintptr_t hmv, uintptr_t hcv, int64_t rel_ns) {
	pi_pthread_handle *hm = (pi_pthread_handle *)hmv, *hc = (pi_pthread_handle *)hcv;
	if (!pi_pthread_owned((uintptr_t)hm))
		return EPERM;
	if (hm->depth != 1)
		return EINVAL; /* a recursive mutex locked more than once */
	int64_t deadline = rel_ns < 0 ? -1 : now_ns() + rel_ns;
	/* 1. An earlier wait that gave up may still have the helper inside
	 * glibc (until a wake-up or the end of its slice): wait for it, as a
	 * caller that holds m, honouring the deadline and kicks. */
	int r = helper_free_wait(h, hc, deadline);
	if (r)
		return r;
	if (pthread_canceled(hc))
		return ECANCELED;
	/* 2. Hand the wait over and wait until the helper is registered on the
	 * condvar: it holds m2 from before its wait until glibc releases it
	 * inside, after registering. m is still held, so no wake-up meant for
	 * this wait can come before. */
	if ((r = helper_post(h, HOP_COND_WAIT, deadline)) != 0)
		return r;
	int64_t armed_by = now_ns() + 1000000000;
	for (int i = 0; i < 100 && __atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == HELPER_REQ; i++)
		__builtin_ia32_pause();
	while (__atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == HELPER_REQ) {
		int64_t left = armed_by - now_ns();
		if (left <= 0) {
			/* the helper did not start waiting in a second: give up as
			 * with a spurious wake-up, m held (unless it started just now) */
			int st = HELPER_REQ;
			if (__atomic_compare_exchange_n(&h->state, &st, HELPER_ABANDONED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				futex_wake_private(&h->state);
				return 0;
			}
			break;
		}
		futex_wait_private(&h->state, HELPER_REQ, left);
	}
	/* the helper releases m2 inside glibc's wait within microseconds:
	 * spin for it before sleeping in the lock */
	int got = 0;
	for (int i = 0; i < 100 && !(got = pthread_mutex_trylock(&h->m2) == 0); i++)
		__builtin_ia32_pause();
	if (!got)
		pthread_mutex_lock(&h->m2);
	pthread_mutex_unlock(&h->m2);
	/* 3. Release m (the caller locks it again after we return). */
	pthread_disown(hm);
	r = pthread_mutex_unlock((pthread_mutex_t *)m);
	if (r) {
		pthread_own(hm);
		int st = HELPER_ARMED;
		if (!__atomic_compare_exchange_n(&h->state, &st, HELPER_ABANDONED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			__atomic_store_n(&h->state, HELPER_IDLE, __ATOMIC_SEQ_CST); /* done already: drop it */
		return r;
	}
	/* 4. Sleep on our own word until the helper is done, the deadline
	 * passes or a kick: none of these depends on the condvar's bytes. */
	for (;;) {
		int s = __atomic_load_n(&h->wseq, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&h->state, __ATOMIC_SEQ_CST) == HELPER_DONE) {
			int hr = h->result;
			__atomic_store_n(&h->state, HELPER_IDLE, __ATOMIC_SEQ_CST);
			if (hr == ETIMEDOUT && !(deadline >= 0 && now_ns() >= deadline))
				hr = 0; /* the end of a slice: a spurious wake-up */
			r = hr;
			break;
		}
		int give_up = pthread_canceled(hc) ? ECANCELED : (deadline >= 0 && now_ns() >= deadline) ? ETIMEDOUT : 0;
		if (give_up) {
			int st = HELPER_ARMED;
			if (__atomic_compare_exchange_n(&h->state, &st, HELPER_ABANDONED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				r = give_up; /* the helper passes on a wake-up it gets now */
				break;
			}
			continue; /* the helper was done first: its result counts */
		}
		helper_sleep(h, s, deadline);
	}
	return r | PI_COND_RELEASED;
}

int pi_pthread_rwlock_lock_via(struct pi_helper *h, uintptr_t hv, int writer, int64_t rel_ns) {
	pi_pthread_handle *hc = (pi_pthread_handle *)hv;
	int64_t deadline = rel_ns < 0 ? -1 : now_ns() + rel_ns;
	int r = helper_free_wait(h, hc, deadline);
	if (r)
		return r;
	if ((r = helper_post(h, writer ? HOP_WRLOCK : HOP_RDLOCK, deadline)) != 0)
		return r;
	for (;;) {
		int s = __atomic_load_n(&h->wseq, __ATOMIC_SEQ_CST);
		int st = __atomic_load_n(&h->state, __ATOMIC_SEQ_CST);
		if (st == HELPER_DONE) {
			r = h->result;
			__atomic_store_n(&h->state, HELPER_IDLE, __ATOMIC_SEQ_CST);
			if (r == 0 && writer)
				pthread_own(hc);
			return r;
		}
		int give_up = pthread_canceled(hc) ? ECANCELED : (deadline >= 0 && now_ns() >= deadline) ? ETIMEDOUT : 0;
		if (give_up && (st == HELPER_REQ || st == HELPER_ARMED) &&
		    __atomic_compare_exchange_n(&h->state, &st, HELPER_ABANDONED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			futex_wake_private(&h->state);
			return give_up;
		}
		if (!give_up)
			helper_sleep(h, s, deadline);
	}
}

void pi_helper_kick(struct pi_helper *h, uintptr_t hv) {
	pi_pthread_cancel_set(hv, 1);
	__atomic_add_fetch(&h->wseq, 1, __ATOMIC_SEQ_CST);
	futex_wake_private(&h->wseq);
}

/* ---- ring ----
 * A futex wait on a word of a shared segment, on the signal-kicked waiter:
 * futex_waitv on the word and the waiter's kick word, so a kick ends it
 * and a wait without a deadline arms no kernel timer (as the semaphores'
 * untimed wait). Without futex_waitv (Linux before 5.16) it is a timed
 * FUTEX_WAIT_BITSET (an absolute CLOCK_MONOTONIC time, an hour when there
 * is no deadline), because the kernel restarts an untimed futex wait after
 * Go's SA_RESTART handlers but ends a timed one with EINTR, which lets the
 * kick's signal land.
 */
static int ring_waitv_missing;

/* ring_wait_v is pi_ring_wait by futex_waitv: ENOSYS when the kernel has
 * none (the caller falls back). */
static int ring_wait_v(struct pi_waiter *w, uint32_t *word, uint32_t val, int64_t deadline) {
	for (;;) {
		unsigned kv = __atomic_load_n(&w->kword, __ATOMIC_SEQ_CST);
		if (waiter_kicked(w))
			return ECANCELED;
		long n = waitv_kicked(w, word, val, 0 /* shared: the wakers are other processes */, kv, deadline);
		if (n == 0)
			return waiter_kicked(w) ? ECANCELED : 0; /* the word's wake-up: look again */
		if (n > 0 || errno == EAGAIN) {
			/* the kick word's wake-up, or a word that moved: the kick is
			 * seen above; the ring's word, looked at again by the caller */
			if (__atomic_load_n(word, __ATOMIC_SEQ_CST) != val)
				return waiter_kicked(w) ? ECANCELED : 0;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == ENOSYS)
			ring_waitv_missing = 1;
		return errno; /* ENOSYS, ETIMEDOUT, or EFAULT: the segment was truncated */
	}
}

int pi_ring_wait(struct pi_waiter *w, uint32_t *word, uint32_t val, int64_t rel_ns) {
	int64_t deadline = wait_deadline(rel_ns);
	waiter_enter(w);
	int r;
	if (!__atomic_load_n(&ring_waitv_missing, __ATOMIC_RELAXED) && (r = ring_wait_v(w, word, val, deadline)) != ENOSYS) {
		waiter_leave(w);
		return r;
	}
	for (;;) {
		if (waiter_kicked(w)) {
			r = ECANCELED;
			break;
		}
		struct timespec ts = wait_slice(deadline);
		/* Shared (no FUTEX_PRIVATE_FLAG): the wakers are other processes. */
		if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, val, &ts, NULL, FUTEX_BITSET_MATCH_ANY) == 0 ||
		    errno == EAGAIN) {
			r = waiter_kicked(w) ? ECANCELED : 0; /* woken, or the word moved: look again */
			break;
		}
		if (wait_again(errno, deadline))
			continue;
		r = errno; /* ETIMEDOUT, or EFAULT: the segment was truncated */
		break;
	}
	waiter_leave(w);
	return r;
}

/* ---- fifo ----
 * ppoll on the descriptor and an eventfd: the kick is an eventfd write,
 * which closes nothing.
 */

/*
 * The FIFO's descriptor stays non-blocking (O_NONBLOCK belongs to the open
 * file description, which C peers' dups and the runtime poller share), so
 * the waiter blocks in ppoll(2) rather than in read(2)/write(2). A kick is a
 * write to evfd; it stays readable until a wait drains it, so a kick that
 * comes before the wait starts is not lost (it only ends that wait early).
 */
/* A ppoll that returned later than this slept (a wake-up costs more). */
#define FIFO_SLEPT_NS 4000

int64_t pi_fifo_wait_io(int fd, int evfd, int wr, char *buf, size_t len, int64_t timeout_ns) {
	int64_t start = now_ns();
	int64_t deadline = timeout_ns < 0 ? -1 : start + timeout_ns;
	size_t done = 0; /* written so far */
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = fd, .events = wr ? POLLOUT : POLLIN },
			{ .fd = evfd, .events = POLLIN },
		};
		struct timespec ts, *tsp = NULL;
		if (deadline >= 0) {
			int64_t left = deadline - now_ns();
			if (left <= 0)
				return done ? (int64_t)done : -ETIMEDOUT;
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
			tsp = &ts;
		}
		int r = ppoll(p, 2, tsp, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -(int64_t)errno;
		}
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		if (p[0].revents) {
			/* readable, writable, hangup or error: the call says which */
			ssize_t n = wr ? write(fd, buf + done, len - done) : read(fd, buf, len);
			if (n >= 0 && !wr)
				return (int64_t)n | (now_ns() - start > FIFO_SLEPT_NS ? PI_FIFO_WAITED : 0);
			if (n >= 0) {
				/* a writer keeps going until all is written, as a
				 * blocking write(2) does: one page per wake-up would
				 * cost a return to Go each */
				done += (size_t)n;
				if (done == len || n == 0)
					return (int64_t)done | (now_ns() - start > FIFO_SLEPT_NS ? PI_FIFO_WAITED : 0);
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				return done ? (int64_t)done : -(int64_t)errno;
		}
		if (p[1].revents) {
			uint64_t v;
			if (read(evfd, &v, sizeof v) < 0) {
				/* EAGAIN: drained already; nothing else can fail */
			}
			/* with progress, the caller finds the reason itself */
			return done ? (int64_t)done : -ECANCELED;
		}
	}
}
