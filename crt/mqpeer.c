/*
 * mqpeer: the C side of the message-queue tests, demo and benchmarks.
 * It uses glibc's mq_* directly, as any C daemon would.
 *
 *   mqpeer create NAME MAXMSG MSGSIZE            create (O_EXCL) and close
 *   mqpeer send NAME PRIO MSG [COUNT]            send MSG COUNT times (blocking)
 *   mqpeer recv NAME COUNT [TIMEOUT_MS]          receive COUNT messages; print "PRIO LEN TEXT" lines
 *   mqpeer notify-hold NAME                      register SIGEV_SIGNAL, print "registered", wait for stdin EOF
 *   mqpeer notify-wait NAME TIMEOUT_MS           register SIGEV_SIGNAL(SIGUSR1), print "registered",
 *                                                wait for the signal; print "notified" or "timeout"
 *   mqpeer echo REQ RESP                         receive on REQ, send back on RESP; stop on an empty message
 *   mqpeer client REQ RESP N SIZE                N round trips; print "N TOTAL_NS P50 P99 P999"
 *   mqpeer client-lat REQ RESP N SIZE            N round trips; print each one's latency in ns, one a line
 *   mqpeer stream-send NAME N SIZE               send N messages as fast as possible
 *   mqpeer stream-recv NAME N SIZE               receive N messages; print "N TOTAL_NS"
 *
 * Exit status: 0 ok, 1 error (message on stderr), 75 timeout.
 */
#define _GNU_SOURCE 1
#include "peer.h"
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* die_q is die for a call on the queue name. */
static void die_q(const char *what, const char *name) {
	char b[512];
	snprintf(b, sizeof b, "%s %s", what, name);
	die(b, errno);
}

static mqd_t open_q(const char *name, int flags) {
	mqd_t q = mq_open(name, flags);
	if (q == (mqd_t)-1)
		die_q("mq_open", name);
	return q;
}

static long msgsize(mqd_t q) {
	struct mq_attr a;
	if (mq_getattr(q, &a) < 0)
		die_q("mq_getattr", "");
	return a.mq_msgsize;
}

static int cmp64(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: mqpeer MODE ARGS (see crt/mqpeer.c)\n");
		return 2;
	}
	const char *mode = argv[1], *name = argv[2];
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);

	if (!strcmp(mode, "create") && argc == 5) {
		struct mq_attr a = { .mq_maxmsg = atol(argv[3]), .mq_msgsize = atol(argv[4]) };
		mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
		if (q == (mqd_t)-1)
			die_q("mq_open", name);
		mq_close(q);
		return 0;
	}
	if (!strcmp(mode, "send") && argc >= 5) {
		mqd_t q = open_q(name, O_WRONLY);
		unsigned prio = (unsigned)atoi(argv[3]);
		long count = argc > 5 ? atol(argv[5]) : 1;
		for (long i = 0; i < count; i++)
			if (mq_send(q, argv[4], strlen(argv[4]), prio) < 0)
				die_q("mq_send", name);
		return 0;
	}
	if (!strcmp(mode, "recv") && argc >= 4) {
		mqd_t q = open_q(name, O_RDONLY);
		long count = atol(argv[3]);
		long tmo = argc > 4 ? atol(argv[4]) : -1;
		long sz = msgsize(q);
		char *buf = malloc(sz + 1);
		for (long i = 0; i < count; i++) {
			unsigned prio;
			ssize_t n;
			if (tmo >= 0) {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += tmo / 1000;
				ts.tv_nsec += (tmo % 1000) * 1000000;
				if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
				n = mq_timedreceive(q, buf, sz, &prio, &ts);
			} else {
				n = mq_receive(q, buf, sz, &prio);
			}
			if (n < 0) {
				if (errno == ETIMEDOUT) {
					fprintf(stderr, "mqpeer: timeout\n");
					return 75;
				}
				die_q("mq_receive", name);
			}
			buf[n] = 0;
			printf("%u %zd %s\n", prio, n, buf);
		}
		return 0;
	}
	if ((!strcmp(mode, "notify-hold") && argc == 3) || (!strcmp(mode, "notify-wait") && argc == 4)) {
		mqd_t q = open_q(name, O_RDONLY);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		struct sigevent ev;
		memset(&ev, 0, sizeof ev);
		ev.sigev_notify = SIGEV_SIGNAL;
		ev.sigev_signo = SIGUSR1;
		if (mq_notify(q, &ev) < 0)
			die_q("mq_notify", name);
		printf("registered\n");
		fflush(stdout);
		if (!strcmp(mode, "notify-hold")) {
			char c;
			while (read(0, &c, 1) > 0)
				;
			return 0;
		}
		long tmo = atol(argv[3]);
		struct timespec ts = { tmo / 1000, (tmo % 1000) * 1000000 };
		int s = sigtimedwait(&set, NULL, &ts);
		if (s == SIGUSR1) {
			printf("notified\n");
			return 0;
		}
		printf("timeout\n");
		return 75;
	}
	if (!strcmp(mode, "echo") && argc == 4) {
		mqd_t rq = open_q(argv[2], O_RDONLY), wq = open_q(argv[3], O_WRONLY);
		long sz = msgsize(rq);
		char *buf = malloc(sz);
		for (;;) {
			unsigned prio;
			ssize_t n = mq_receive(rq, buf, sz, &prio);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				die_q("mq_receive", argv[2]);
			}
			if (n == 0)
				return 0;
			if (mq_send(wq, buf, n, prio) < 0)
				die_q("mq_send", argv[3]);
		}
	}
	if ((!strcmp(mode, "client") || !strcmp(mode, "client-lat")) && argc == 6) {
		mqd_t wq = open_q(argv[2], O_WRONLY), rq = open_q(argv[3], O_RDONLY);
		long n = atol(argv[4]), size = atol(argv[5]);
		long sz = msgsize(rq);
		char *buf = malloc(sz), *msg = calloc(1, size > 0 ? size : 1);
		int64_t *lat = malloc(sizeof(int64_t) * n);
		int64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int64_t s = now_ns();
			if (mq_send(wq, msg, size, 0) < 0)
				die_q("mq_send", argv[2]);
			unsigned prio;
			if (mq_receive(rq, buf, sz, &prio) < 0)
				die_q("mq_receive", argv[3]);
			lat[i] = now_ns() - s;
		}
		int64_t total = now_ns() - t0;
		if (!strcmp(mode, "client-lat")) {
			for (long i = 0; i < n; i++)
				printf("%lld\n", (long long)lat[i]);
			return 0;
		}
		qsort(lat, n, sizeof(int64_t), cmp64);
		printf("%ld %lld %lld %lld %lld\n", n, (long long)total, (long long)lat[n / 2],
		       (long long)lat[n * 99 / 100], (long long)lat[n * 999 / 1000]);
		return 0;
	}
	if (!strcmp(mode, "stream-send") && argc == 5) {
		mqd_t q = open_q(name, O_WRONLY);
		long n = atol(argv[3]), size = atol(argv[4]);
		char *msg = calloc(1, size > 0 ? size : 1);
		for (long i = 0; i < n; i++)
			if (mq_send(q, msg, size, 0) < 0)
				die_q("mq_send", name);
		return 0;
	}
	if (!strcmp(mode, "stream-recv") && argc == 5) {
		mqd_t q = open_q(name, O_RDONLY);
		long n = atol(argv[3]);
		long sz = msgsize(q);
		char *buf = malloc(sz);
		int64_t t0 = 0;
		for (long i = 0; i < n; i++) {
			unsigned prio;
			if (mq_receive(q, buf, sz, &prio) < 0)
				die_q("mq_receive", name);
			if (i == 0)
				t0 = now_ns();
		}
		printf("%ld %lld\n", n, (long long)(now_ns() - t0));
		return 0;
	}
	fprintf(stderr, "mqpeer: bad arguments for mode %s\n", mode);
	return 2;
}
