/*
 * shim.c: the only C of package posixipc. See shim.h for the convention.
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

/* Implemented in Go (notify.go): runs the callback registered under handle. */
extern void posixipcMqNotify(uintptr_t handle);

void pi_noop(void) {}

/* now_ns returns CLOCK_MONOTONIC in nanoseconds. */
static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * wait_ready polls fd for events together with cancelfd (an eventfd) until fd
 * is ready (0), cancelfd is readable (ECANCELED) or the CLOCK_MONOTONIC
 * deadline passes (ETIMEDOUT). deadline_ns < 0 means no deadline.
 */
static int wait_ready(int fd, short events, int cancelfd, int64_t deadline_ns) {
	struct pollfd p[2];
	for (;;) {
		int timeout = -1;
		if (deadline_ns >= 0) {
			int64_t left = deadline_ns - now_ns();
			if (left <= 0)
				return ETIMEDOUT;
			/* round up so we never wake before the deadline */
			int64_t ms = (left + 999999) / 1000000;
			timeout = ms > 1000000 ? 1000000 : (int)ms;
		}
		p[0].fd = fd; p[0].events = events; p[0].revents = 0;
		p[1].fd = cancelfd; p[1].events = POLLIN; p[1].revents = 0;
		int r = poll(p, cancelfd >= 0 ? 2 : 1, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (cancelfd >= 0 && (p[1].revents & POLLIN))
			return ECANCELED;
		if (p[0].revents & (POLLERR | POLLNVAL))
			return EBADF;
		if (p[0].revents & events)
			return 0;
	}
}

/* ==== mq ==== */

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

int pi_mq_timedreceive(int mqd, char *buf, size_t len, unsigned int *prio,
                       int64_t abs_sec, int64_t abs_nsec, ssize_t *n) {
	struct timespec ts = { .tv_sec = abs_sec, .tv_nsec = abs_nsec };
	ssize_t r = mq_timedreceive((mqd_t)mqd, buf, len, prio, &ts);
	if (r < 0)
		return errno;
	*n = r;
	return 0;
}

int pi_mq_send(int mqd, const char *msg, size_t len, unsigned int prio) {
	return mq_send((mqd_t)mqd, msg, len, prio) < 0 ? errno : 0;
}

int pi_mq_receive(int mqd, char *buf, size_t len, unsigned int *prio, ssize_t *n) {
	ssize_t r = mq_receive((mqd_t)mqd, buf, len, prio);
	if (r < 0)
		return errno;
	*n = r;
	return 0;
}

/* An absolute CLOCK_REALTIME time in the past: a timed call that would block
 * returns ETIMEDOUT at once, whatever O_NONBLOCK says. */
static const struct timespec past = { 0, 0 };

int pi_mq_send_poll(int mqd, int cancelfd, int64_t deadline_ns, const char *msg,
                    size_t len, unsigned int prio) {
	for (;;) {
		if (mq_timedsend((mqd_t)mqd, msg, len, prio, &past) == 0)
			return 0;
		if (errno != ETIMEDOUT && errno != EAGAIN && errno != EINTR)
			return errno;
		int e = wait_ready(mqd, POLLOUT, cancelfd, deadline_ns);
		if (e)
			return e;
	}
}

int pi_mq_receive_poll(int mqd, int cancelfd, int64_t deadline_ns, char *buf,
                       size_t len, unsigned int *prio, ssize_t *n) {
	for (;;) {
		ssize_t r = mq_timedreceive((mqd_t)mqd, buf, len, prio, &past);
		if (r >= 0) {
			*n = r;
			return 0;
		}
		if (errno != ETIMEDOUT && errno != EAGAIN && errno != EINTR)
			return errno;
		int e = wait_ready(mqd, POLLIN, cancelfd, deadline_ns);
		if (e)
			return e;
	}
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

/* ==== sem ==== */

/* ==== shm ==== */

int pi_shm_open(const char *name, int oflag, unsigned int mode, int *fd) {
	int r = shm_open(name, oflag, (mode_t)mode);
	if (r < 0)
		return errno;
	*fd = r;
	return 0;
}

int pi_shm_unlink(const char *name) { return shm_unlink(name) < 0 ? errno : 0; }

/* ==== pthread ==== */

/* ==== popen ==== */
