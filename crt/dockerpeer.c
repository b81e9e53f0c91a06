/*
 * dockerpeer: the host side of the Docker interop check
 * (testdata/docker/interop.sh). A C program on the host shares a POSIX
 * message queue and a named semaphore with a Go program in a container
 * (testdata/docker/interop, run with docker run --ipc=host).
 *
 *   dockerpeer serve NAME TIMEOUT_SEC
 *       creates the queue NAME (4 x 128 bytes) and the semaphore NAME (value
 *       0), both mode 0666 so that an unprivileged uid in the container can
 *       open them; sends "ping:<nonce>" at priority 3; prints "ready"; waits
 *       for the semaphore (at most TIMEOUT_SEC, CLOCK_MONOTONIC); then checks
 *       that the queue holds exactly the Go side's "pong:<nonce>:uid=<uid>"
 *       at priority 5. Removes both objects before it exits: 0 if every
 *       check passed, 1 otherwise.
 *   dockerpeer unlink NAME
 *       removes the queue and the semaphore NAME if they exist (cleanup).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void fail(const char *what) {
	fprintf(stderr, "dockerpeer: %s: %s\n", what, strerror(errno));
	failed = 1;
}

static int serve(const char *name, int timeout) {
	char nonce[64], want[128], msg[129];
	struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 128};
	struct timespec ts;
	unsigned int prio = 0;
	ssize_t n;
	mqd_t q;
	sem_t *s;

	umask(0);
	q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0666, &attr);
	if (q == (mqd_t)-1) {
		fail("mq_open");
		return 1;
	}
	s = sem_open(name, O_CREAT | O_EXCL, 0666, 0);
	if (s == SEM_FAILED) {
		fail("sem_open");
		mq_close(q);
		mq_unlink(name);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(nonce, sizeof nonce, "%ld-%ld", (long)getpid(), (long)ts.tv_nsec);
	snprintf(msg, sizeof msg, "ping:%s", nonce);
	if (mq_send(q, msg, strlen(msg), 3) != 0)
		fail("mq_send");
	printf("ready\n");
	fflush(stdout);

	if (!failed) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += timeout;
		while (sem_clockwait(s, CLOCK_MONOTONIC, &ts) != 0) {
			if (errno != EINTR) {
				fail("sem_clockwait (the Go side never posted)");
				break;
			}
		}
	}
	if (!failed) {
		/* The Go side sends before it posts: the reply must be queued now. */
		clock_gettime(CLOCK_REALTIME, &ts);
		n = mq_timedreceive(q, msg, sizeof msg - 1, &prio, &ts);
		if (n < 0) {
			fail("mq_timedreceive (no reply queued)");
		} else {
			msg[n] = 0;
			snprintf(want, sizeof want, "pong:%s:uid=", nonce);
			if (strncmp(msg, want, strlen(want)) != 0 || prio != 5) {
				fprintf(stderr, "dockerpeer: got %s (priority %u), want %s<uid> (priority 5)\n",
				        msg, prio, want);
				failed = 1;
			} else {
				printf("host (C): semaphore posted; reply %s (priority %u)\n", msg, prio);
			}
		}
	}
	if (!failed) {
		if (mq_getattr(q, &attr) != 0)
			fail("mq_getattr");
		else if (attr.mq_curmsgs != 0) {
			fprintf(stderr, "dockerpeer: %ld messages left in the queue, want 0\n",
			        (long)attr.mq_curmsgs);
			failed = 1;
		}
	}
	mq_close(q);
	sem_close(s);
	if (mq_unlink(name) != 0)
		fail("mq_unlink");
	if (sem_unlink(name) != 0)
		fail("sem_unlink");
	return failed;
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "unlink") == 0) {
		if (mq_unlink(argv[2]) != 0 && errno != ENOENT)
			fail("mq_unlink");
		if (sem_unlink(argv[2]) != 0 && errno != ENOENT)
			fail("sem_unlink");
		return failed;
	}
	fprintf(stderr, "usage: dockerpeer serve NAME TIMEOUT_SEC | dockerpeer unlink NAME\n");
	return 2;
}
