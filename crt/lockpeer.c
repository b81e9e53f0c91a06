/*
 * lockpeer: the C side of binding/flock's tests, benchmarks and demo.
 *
 *   lockpeer fcntl PATH START LEN r|w   take a classic fcntl record lock (F_SETLKW),
 *                                       print "locked PID", hold it until stdin
 *                                       reaches EOF (or a line arrives), then exit
 *   lockpeer flock PATH sh|ex           the same with flock(2)
 *   lockpeer tryfcntl PATH START LEN r|w  F_SETLK once: print "ok" and exit 0, or
 *                                       print "busy PID" (F_GETLK's l_pid: -1 for an
 *                                       OFD lock) and exit 3
 *   lockpeer tryflock PATH sh|ex        flock(LOCK_NB) once: "ok" (0) or "busy" (3)
 *   lockpeer bench flock|ofd PATH N     N uncontended lock/unlock round trips;
 *                                       print the nanoseconds per round trip
 *   lockpeer pong flock|ofd PATH        lock handoff server (see below): take lock 2,
 *                                       print "ready", then forever: for k = 0, 1, ...
 *                                       lock k%3 (waiting), unlock (k+2)%3
 *   lockpeer client-lat flock|ofd PATH  lock handoff client: take locks 0 and 1, print
 *                                       "ready"; for each line K on stdin do K round
 *                                       trips: unlock k%3, lock (k+2)%3 (waiting), and
 *                                       print each one's latency in ns, one a line
 *
 * The handoff ring: three exclusive locks, flock(2) on PATH.0 PATH.1 PATH.2 or
 * OFD locks (F_OFD_SETLKW) on bytes 0, 1, 2 of PATH. The client holds two, the
 * server one and waits for one of the client's. A client round trip hands a
 * lock to the server (the server's wait returns) and waits for the lock the
 * server then releases: two handoffs between processes. Neither side ever
 * waits for the lock it has just released, so no lock is stolen back.
 */
#include "peer.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static void hold(void) {
	printf("locked %d\n", (int)getpid());
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof buf) < 0 && errno == EINTR)
		;
}

static void setrange(struct flock *fl, const char *start, const char *len, const char *how) {
	memset(fl, 0, sizeof *fl);
	fl->l_type = how[0] == 'r' ? F_RDLCK : F_WRLCK;
	fl->l_whence = SEEK_SET;
	fl->l_start = atoll(start);
	fl->l_len = atoll(len);
}

/* ring_lock takes lock i of the handoff ring, waiting (F_OFD_SETLKW or flock). */
static void ring_lock(int *fds, int i, int ofd) {
	int r;
	if (ofd) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = i, .l_len = 1};
		do
			r = fcntl(fds[i], F_OFD_SETLKW, &fl);
		while (r < 0 && errno == EINTR);
	} else {
		do
			r = flock(fds[i], LOCK_EX);
		while (r < 0 && errno == EINTR);
	}
	if (r < 0)
		die("lock", errno);
}

static void ring_unlock(int *fds, int i, int ofd) {
	int r;
	if (ofd) {
		struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = i, .l_len = 1};
		r = fcntl(fds[i], F_OFD_SETLK, &fl);
	} else {
		r = flock(fds[i], LOCK_UN);
	}
	if (r < 0)
		die("unlock", errno);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: lockpeer fcntl|flock|tryfcntl|tryflock|bench ...\n");
		return 2;
	}
	const char *m = argv[1];
	if ((!strcmp(m, "fcntl") || !strcmp(m, "tryfcntl")) && argc == 6) {
		int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
		if (fd < 0)
			die("open", errno);
		struct flock fl;
		setrange(&fl, argv[3], argv[4], argv[5]);
		if (!strcmp(m, "tryfcntl")) {
			if (fcntl(fd, F_SETLK, &fl) == 0) {
				printf("ok\n");
				return 0;
			}
			if (errno != EAGAIN && errno != EACCES)
				die("fcntl F_SETLK", errno);
			setrange(&fl, argv[3], argv[4], argv[5]);
			if (fcntl(fd, F_GETLK, &fl) < 0)
				die("fcntl F_GETLK", errno);
			printf("busy %d\n", (int)fl.l_pid);
			return 3;
		}
		int r;
		do
			r = fcntl(fd, F_SETLKW, &fl);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			die("fcntl F_SETLKW", errno);
		hold();
		return 0;
	}
	if ((!strcmp(m, "flock") || !strcmp(m, "tryflock")) && argc == 4) {
		int fd = open(argv[2], O_RDWR | O_CREAT, 0644);
		if (fd < 0)
			die("open", errno);
		int op = !strcmp(argv[3], "sh") ? LOCK_SH : LOCK_EX;
		if (!strcmp(m, "tryflock")) {
			if (flock(fd, op | LOCK_NB) == 0) {
				printf("ok\n");
				return 0;
			}
			if (errno != EWOULDBLOCK)
				die("flock", errno);
			printf("busy\n");
			return 3;
		}
		int r;
		do
			r = flock(fd, op);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			die("flock", errno);
		hold();
		return 0;
	}
	if (!strcmp(m, "bench") && argc == 5) {
		int fd = open(argv[3], O_RDWR | O_CREAT, 0644);
		if (fd < 0)
			die("open", errno);
		long n = atol(argv[4]);
		int ofd = !strcmp(argv[2], "ofd");
		struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
		struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
		long long t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (ofd) {
				if (fcntl(fd, F_OFD_SETLK, &lk) < 0 || fcntl(fd, F_OFD_SETLK, &un) < 0)
					die("fcntl", errno);
			} else {
				if (flock(fd, LOCK_EX | LOCK_NB) < 0 || flock(fd, LOCK_UN) < 0)
					die("flock", errno);
			}
		}
		printf("%lld\n", (now_ns() - t0) / (n > 0 ? n : 1));
		return 0;
	}
	if ((!strcmp(m, "pong") || !strcmp(m, "client-lat")) && argc == 4) {
		int ofd = !strcmp(argv[2], "ofd");
		int fds[3];
		for (int i = 0; i < 3; i++) {
			char p[4200];
			if (ofd)
				snprintf(p, sizeof p, "%s", argv[3]);
			else
				snprintf(p, sizeof p, "%s.%d", argv[3], i);
			fds[i] = open(p, O_RDWR | O_CREAT, 0644);
			if (fds[i] < 0)
				die("open", errno);
		}
		if (!strcmp(m, "pong")) {
			ring_lock(fds, 2, ofd);
			printf("ready\n");
			fflush(stdout);
			for (unsigned long k = 0;; k++) {
				ring_lock(fds, k % 3, ofd);
				ring_unlock(fds, (k + 2) % 3, ofd);
			}
		}
		ring_lock(fds, 0, ofd);
		ring_lock(fds, 1, ofd);
		printf("ready\n");
		fflush(stdout);
		unsigned long k = 0;
		long n;
		while (scanf("%ld", &n) == 1) {
			long long *lat = malloc(sizeof *lat * (size_t)(n > 0 ? n : 1));
			for (long i = 0; i < n; i++, k++) {
				long long t0 = now_ns();
				ring_unlock(fds, k % 3, ofd);
				ring_lock(fds, (k + 2) % 3, ofd);
				lat[i] = now_ns() - t0;
			}
			for (long i = 0; i < n; i++)
				printf("%lld\n", lat[i]);
			fflush(stdout);
			free(lat);
		}
		return 0;
	}
	fprintf(stderr, "lockpeer: bad arguments\n");
	return 2;
}
