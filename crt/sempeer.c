/*
 * sempeer: the C side of the semaphore tests, benchmarks and demo.
 *
 *   sempeer create NAME VALUE MODE      sem_open(O_CREAT|O_EXCL), prints "ok" or the errno name
 *   sempeer open NAME                   sem_open(0): prints "ok" or the errno name (EACCES...)
 *   sempeer post NAME K [GAP_US]        posts K units (GAP_US microseconds apart)
 *   sempeer wait NAME K [TIMEOUT_MS]    takes K units; prints "ok" or the errno name
 *   sempeer value NAME                  prints sem_getvalue
 *   sempeer pong A B                    forever: wait A, post B (killed by the test)
 *   sempeer ping A B N                  N round trips post A, wait B; prints ns per round trip
 *   sempeer ping-lat A B N              the same, printing each round trip's ns on its own line
 *   sempeer init SHM OFF VALUE          sem_init(pshared=1) at OFF of the shm object SHM
 *   sempeer upost SHM OFF K [GAP_US]    posts K units to the unnamed semaphore at OFF of SHM
 *   sempeer uwait SHM OFF K             takes K units from the unnamed semaphore at OFF of SHM
 *   sempeer upong SHM OFFA OFFB         pong on the unnamed semaphores at OFFA, OFFB of SHM
 *   sempeer uping-lat SHM OFFA OFFB N   ping-lat on the unnamed semaphores at OFFA, OFFB of SHM
 *
 * Exit status: 0 ok, 1 a call failed (the errno name is printed), 2 usage.
 */
#include "peer.h"
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
	const char *n = strerrorname_np(errno);
	printf("%s\n", n ? n : "E?");
	fprintf(stderr, "sempeer: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	return 1;
}

static sem_t *open_named(const char *name) { return sem_open(name, 0); }

static sem_t *at(const char *shm, long off) {
	int fd = shm_open(shm, O_RDWR, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || off + (long)sizeof(sem_t) > st.st_size) {
		errno = EINVAL;
		close(fd);
		return NULL;
	}
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	return (sem_t *)((char *)p + off);
}

static int wait1(sem_t *s) {
	while (sem_wait(s) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

static int post_n(sem_t *s, long k, long gap_us) {
	for (long i = 0; i < k; i++) {
		if (sem_post(s) < 0)
			return fail("sem_post");
		if (gap_us > 0)
			usleep(gap_us);
	}
	printf("ok\n");
	return 0;
}

/* pong serves round trips forever: wait a, post b. */
static int pong(sem_t *a, sem_t *b) {
	printf("ready\n");
	for (;;) {
		if (wait1(a) < 0)
			return fail("sem_wait");
		if (sem_post(b) < 0)
			return fail("sem_post");
	}
}

/* ping_lat does n round trips (post a, wait b), then prints each one's ns. */
static int ping_lat(sem_t *a, sem_t *b, long n) {
	int64_t *lat = calloc(n > 0 ? n : 1, sizeof *lat);
	for (long i = 0; i < n; i++) {
		int64_t t0 = now_ns();
		if (sem_post(a) < 0)
			return fail("sem_post");
		if (wait1(b) < 0)
			return fail("sem_wait");
		lat[i] = now_ns() - t0;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	for (long i = 0; i < n; i++)
		printf("%lld\n", (long long)lat[i]);
	free(lat);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of sempeer.c\n");
		return 2;
	}
	const char *cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "create") && argc == 5) {
		sem_t *s = sem_open(argv[2], O_CREAT | O_EXCL, (mode_t)strtol(argv[4], NULL, 8),
		                    (unsigned)atoi(argv[3]));
		if (s == SEM_FAILED)
			return fail("sem_open");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "open") && argc == 3) {
		if (open_named(argv[2]) == SEM_FAILED)
			return fail("sem_open");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "post") && argc >= 4) {
		sem_t *s = open_named(argv[2]);
		if (s == SEM_FAILED)
			return fail("sem_open");
		return post_n(s, atol(argv[3]), argc > 4 ? atol(argv[4]) : 0);
	}
	if (!strcmp(cmd, "wait") && argc >= 4) {
		sem_t *s = open_named(argv[2]);
		if (s == SEM_FAILED)
			return fail("sem_open");
		long k = atol(argv[3]);
		for (long i = 0; i < k; i++) {
			if (argc > 4) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				int64_t d = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + atol(argv[4]) * 1000000L;
				ts.tv_sec = d / 1000000000;
				ts.tv_nsec = d % 1000000000;
				if (sem_clockwait(s, CLOCK_MONOTONIC, &ts) < 0)
					return fail("sem_clockwait");
			} else if (wait1(s) < 0)
				return fail("sem_wait");
		}
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "value") && argc == 3) {
		sem_t *s = open_named(argv[2]);
		int v;
		if (s == SEM_FAILED)
			return fail("sem_open");
		if (sem_getvalue(s, &v) < 0)
			return fail("sem_getvalue");
		printf("%d\n", v);
		return 0;
	}
	if (!strcmp(cmd, "pong") && argc == 4) {
		sem_t *a = open_named(argv[2]), *b = open_named(argv[3]);
		if (a == SEM_FAILED || b == SEM_FAILED)
			return fail("sem_open");
		return pong(a, b);
	}
	if (!strcmp(cmd, "upong") && argc == 5) {
		sem_t *a = at(argv[2], atol(argv[3])), *b = at(argv[2], atol(argv[4]));
		if (!a || !b)
			return fail("map");
		return pong(a, b);
	}
	if (!strcmp(cmd, "uping-lat") && argc == 6) {
		sem_t *a = at(argv[2], atol(argv[3])), *b = at(argv[2], atol(argv[4]));
		if (!a || !b)
			return fail("map");
		return ping_lat(a, b, atol(argv[5]));
	}
	if (!strcmp(cmd, "ping-lat") && argc == 5) {
		sem_t *a = open_named(argv[2]), *b = open_named(argv[3]);
		if (a == SEM_FAILED || b == SEM_FAILED)
			return fail("sem_open");
		return ping_lat(a, b, atol(argv[4]));
	}
	if (!strcmp(cmd, "ping") && argc == 5) {
		sem_t *a = open_named(argv[2]), *b = open_named(argv[3]);
		if (a == SEM_FAILED || b == SEM_FAILED)
			return fail("sem_open");
		long n = atol(argv[4]);
		int64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			if (sem_post(a) < 0)
				return fail("sem_post");
			if (wait1(b) < 0)
				return fail("sem_wait");
		}
		int64_t t1 = now_ns();
		printf("%.1f\n", n > 0 ? (double)(t1 - t0) / n : 0.0);
		return 0;
	}
	if (!strcmp(cmd, "init") && argc == 5) {
		sem_t *s = at(argv[2], atol(argv[3]));
		if (!s)
			return fail("map");
		if (sem_init(s, 1, (unsigned)atoi(argv[4])) < 0)
			return fail("sem_init");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "upost") && argc >= 5) {
		sem_t *s = at(argv[2], atol(argv[3]));
		if (!s)
			return fail("map");
		return post_n(s, atol(argv[4]), argc > 5 ? atol(argv[5]) : 0);
	}
	if (!strcmp(cmd, "uwait") && argc == 5) {
		sem_t *s = at(argv[2], atol(argv[3]));
		if (!s)
			return fail("map");
		for (long i = atol(argv[4]); i > 0; i--)
			if (wait1(s) < 0)
				return fail("sem_wait");
		printf("ok\n");
		return 0;
	}
	fprintf(stderr, "sempeer: bad command line\n");
	return 2;
}
