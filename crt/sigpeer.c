/*
 * sigpeer: the C side of the signal tests, benchmarks and demo.
 *
 *   sigpeer send PID SIG VALUE [COUNT]  sigqueue(PID, SIG, VALUE+i) for i < COUNT (1), retrying
 *                                       on EAGAIN (RLIMIT_SIGPENDING reached); prints "sent COUNT"
 *   sigpeer recv SIG COUNT              a SA_SIGINFO handler for SIG; prints "ready PID", then
 *                                       "SIGNO CODE PID UID VALUE" for each of COUNT signals
 *   sigpeer pong SIG                    forever: for each SIG with value V from P, sigqueue(P, SIG, V+1)
 *   sigpeer ping-lat PID SIG N          N round trips: sigqueue(PID, SIG, v), wait for v+1; prints
 *                                       each one's ns (after 300 untimed ones)
 *
 * SIG is a number. The handler writes each siginfo to a pipe (write is
 * async-signal-safe); main reads and prints. Exit status: 0 ok, 1 a call
 * failed, 2 usage.
 */
#include "peer.h"
#include <signal.h>
#include <sched.h>

struct rec {
	int signo, code, pid, uid, value;
};
static int wfd;

static void handler(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	int saved = errno;
	struct rec r = { sig, si->si_code, si->si_pid, (int)si->si_uid, si->si_value.sival_int };
	if (write(wfd, &r, sizeof r) != sizeof r)
		_exit(3); /* a lost record: the test sees the exit status */
	errno = saved;
}

static int take(int sig) {
	int p[2];
	if (pipe(p) < 0)
		die("pipe", errno);
	wfd = p[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		die("sigaction", errno);
	return p[0];
}

static void next(int rfd, struct rec *r) {
	char *b = (char *)r;
	size_t got = 0;
	while (got < sizeof *r) {
		ssize_t n = read(rfd, b + got, sizeof *r - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read", errno);
		got += (size_t)n;
	}
}

static void queue(int pid, int sig, int value) {
	union sigval v = { .sival_int = value };
	while (sigqueue(pid, sig, v) < 0) {
		if (errno != EAGAIN)
			die("sigqueue", errno);
		sched_yield(); /* the receiver's queue is full: let it drain */
	}
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "send") && argc >= 5) {
		int pid = atoi(argv[2]), sig = atoi(argv[3]), value = atoi(argv[4]);
		long count = argc > 5 ? atol(argv[5]) : 1;
		for (long i = 0; i < count; i++)
			queue(pid, sig, value + (int)i);
		printf("sent %ld\n", count);
		return 0;
	}
	if (!strcmp(argv[1], "recv") && argc == 4) {
		int rfd = take(atoi(argv[2]));
		long count = atol(argv[3]);
		printf("ready %d\n", getpid());
		for (long i = 0; i < count; i++) {
			struct rec r;
			next(rfd, &r);
			printf("%d %d %d %d %d\n", r.signo, r.code, r.pid, r.uid, r.value);
		}
		return 0;
	}
	if (!strcmp(argv[1], "ping-lat") && argc == 5) {
		int pid = atoi(argv[2]), sig = atoi(argv[3]);
		long n = atol(argv[4]);
		int rfd = take(sig);
		long long *lat = calloc(n > 0 ? n : 1, sizeof *lat);
		for (long i = -300; i < n; i++) {
			long long t = now_ns();
			queue(pid, sig, (int)(2 * i));
			struct rec r;
			next(rfd, &r);
			if (r.value != (int)(2 * i + 1))
				die("pong value", EPROTO);
			if (i >= 0)
				lat[i] = now_ns() - t;
		}
		for (long i = 0; i < n; i++)
			printf("%lld\n", lat[i]);
		return 0;
	}
	if (!strcmp(argv[1], "pong")) {
		int sig = atoi(argv[2]);
		int rfd = take(sig);
		printf("ready %d\n", getpid());
		for (;;) {
			struct rec r;
			next(rfd, &r);
			queue(r.pid, sig, r.value + 1);
		}
	}
	return 2;
}
