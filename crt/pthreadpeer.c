/*
 * pthreadpeer: the C side of binding/pthread's tests, benchmarks and demo.
 * It maps a POSIX shared memory segment and uses the struct posixipc_sync
 * at OFF (crt/posixipc_layout.h) with glibc's own pthread calls.
 *
 *   pthreadpeer layout                     sizes, alignments, offsets (key=value)
 *   pthreadpeer init SEG OFF               initialise mutex (robust, errorcheck), cond, rwlock
 *   pthreadpeer count SEG OFF N            N x { lock; counter++; unlock }, prints "ns T"
 *   pthreadpeer hold SEG OFF               lock the mutex, print "locked", sleep until killed
 *   pthreadpeer condwait SEG OFF           lock, print "waiting", cond_wait until turn == 99
 *   pthreadpeer pingpong SEG OFF N SIDE    N rounds of cond ping-pong on turn, prints "ns T"
 *   pthreadpeer wake SEG OFF               lock, turn = 99, broadcast, unlock
 *   pthreadpeer signal SEG OFF N           N x pthread_cond_signal (no lock)
 *   pthreadpeer pong SEG OFF               serve round trips forever: answer every odd turn
 *   pthreadpeer ping-lat SEG OFF N         N round trips against pong, each one's ns on a line
 *   pthreadpeer rwwrite SEG OFF N          N x { wrlock; a++; b++; unlock }
 *   pthreadpeer rwread SEG OFF N           N x { rdlock; check a == b; unlock }
 *   pthreadpeer rwhold SEG OFF r|w         take a read or write lock, print "locked", sleep
 *   pthreadpeer rwring-init SEG OFF        init the rwlocks of 3 structs at OFF, OFF+256, OFF+512
 *   pthreadpeer rwring-pong SEG OFF        reader side of the rwlock handoff ring (forever)
 *   pthreadpeer rwring-lat SEG OFF         writer side: each line K on stdin -> K round trips,
 *                                          each one's ns on a line
 *
 * The rwlock handoff ring: the rwlocks of three struct posixipc_sync at OFF,
 * OFF+256, OFF+512. The writer side holds two of them write-locked, the
 * reader side one read-locked. One round trip (writer side, step k):
 * unlock k%3 (the reader, blocked in rdlock on it, gets it), then wrlock
 * (k+2)%3 (blocked until the reader unlocks it after taking k%3). So every
 * round trip is one writer->reader and one reader->writer wake-up between
 * the processes, and nobody ever waits for the lock it has just released.
 *
 * Every lock handles EOWNERDEAD the documented way: print "owner died",
 * repair (nothing to repair here), pthread_mutex_consistent. Exit status: 0
 * ok, 1 usage/system error, 3 an invariant broke.
 */
#include "peer.h"
#include "posixipc_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct posixipc_sync *attach(const char *name, const char *off) {
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		die("shm_open", errno);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat", errno);
	long o = strtol(off, NULL, 0);
	if (o < 0 || o % 64 != 0 || o + (long)sizeof(struct posixipc_sync) > st.st_size) {
		fprintf(stderr, "pthreadpeer: offset %ld does not fit a 64-aligned struct posixipc_sync in %ld bytes\n",
		        o, (long)st.st_size);
		exit(1);
	}
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	close(fd);
	return (struct posixipc_sync *)((char *)p + o);
}

static void lock(struct posixipc_sync *s) {
	int r = pthread_mutex_lock(&s->mutex);
	if (r == EOWNERDEAD) {
		printf("owner died\n");
		fflush(stdout);
		r = pthread_mutex_consistent(&s->mutex);
	}
	if (r)
		die("pthread_mutex_lock", r);
}

static void cond_wait(struct posixipc_sync *s) {
	int r = pthread_cond_wait(&s->cond, &s->mutex);
	if (r == EOWNERDEAD) {
		printf("owner died\n");
		fflush(stdout);
		r = pthread_mutex_consistent(&s->mutex);
	}
	if (r)
		die("pthread_cond_wait", r);
}

static void unlock(struct posixipc_sync *s) {
	int r = pthread_mutex_unlock(&s->mutex);
	if (r)
		die("pthread_mutex_unlock", r);
}

static void ready(const char *word) {
	printf("%s\n", word);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc == 2 && strcmp(argv[1], "layout") == 0) {
		printf("sizeof_mutex=%zu\nalignof_mutex=%zu\n", sizeof(pthread_mutex_t), _Alignof(pthread_mutex_t));
		printf("sizeof_cond=%zu\nalignof_cond=%zu\n", sizeof(pthread_cond_t), _Alignof(pthread_cond_t));
		printf("sizeof_rwlock=%zu\nalignof_rwlock=%zu\n", sizeof(pthread_rwlock_t), _Alignof(pthread_rwlock_t));
		printf("off_mutex=%zu\noff_cond=%zu\noff_rwlock=%zu\n", offsetof(struct posixipc_sync, mutex),
		       offsetof(struct posixipc_sync, cond), offsetof(struct posixipc_sync, rwlock));
		printf("off_counter=%zu\noff_turn=%zu\noff_a=%zu\noff_b=%zu\nsize=%zu\n",
		       offsetof(struct posixipc_sync, counter), offsetof(struct posixipc_sync, turn),
		       offsetof(struct posixipc_sync, a), offsetof(struct posixipc_sync, b), sizeof(struct posixipc_sync));
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: pthreadpeer layout | CMD SEG OFF [ARGS] (see the source)\n");
		return 1;
	}
	const char *cmd = argv[1];
	struct posixipc_sync *s = attach(argv[2], argv[3]);
	long n = argc > 4 ? strtol(argv[4], NULL, 0) : 0;

	if (strcmp(cmd, "init") == 0) {
		pthread_mutexattr_t ma;
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
		pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
		int r = pthread_mutex_init(&s->mutex, &ma);
		if (r)
			die("pthread_mutex_init", r);
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if ((r = pthread_cond_init(&s->cond, &ca)))
			die("pthread_cond_init", r);
		pthread_rwlockattr_t ra;
		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
		if ((r = pthread_rwlock_init(&s->rwlock, &ra)))
			die("pthread_rwlock_init", r);
		ready("initialised");
		return 0;
	}
	if (strcmp(cmd, "count") == 0) {
		int64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			lock(s);
			s->counter++;
			unlock(s);
		}
		printf("ns %lld\n", (long long)(now_ns() - t0));
		return 0;
	}
	if (strcmp(cmd, "hold") == 0) {
		lock(s);
		ready("locked");
		for (;;)
			pause();
	}
	if (strcmp(cmd, "condwait") == 0) {
		lock(s);
		ready("waiting");
		while (s->turn != 99)
			cond_wait(s);
		unlock(s);
		ready("woken");
		return 0;
	}
	if (strcmp(cmd, "wake") == 0) {
		lock(s);
		s->turn = 99;
		int r = pthread_cond_broadcast(&s->cond);
		if (r)
			die("pthread_cond_broadcast", r);
		unlock(s);
		ready("woke");
		return 0;
	}
	if (strcmp(cmd, "signal") == 0) {
		for (long i = 0; i < n; i++) {
			int r = pthread_cond_signal(&s->cond);
			if (r)
				die("pthread_cond_signal", r);
		}
		ready("signalled");
		return 0;
	}
	if (strcmp(cmd, "pingpong") == 0) {
		uint64_t side = argc > 5 ? strtoul(argv[5], NULL, 0) : 0;
		ready("ready");
		int64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			lock(s);
			while (s->turn % 2 != side)
				cond_wait(s);
			s->turn++;
			pthread_cond_signal(&s->cond);
			unlock(s);
		}
		printf("ns %lld\n", (long long)(now_ns() - t0));
		return 0;
	}
	if (strcmp(cmd, "pong") == 0) {
		lock(s);
		ready("ready");
		for (;;) {
			while (s->turn % 2 == 0)
				cond_wait(s);
			s->turn++;
			pthread_cond_signal(&s->cond);
		}
	}
	if (strcmp(cmd, "ping-lat") == 0) {
		int64_t *lat = calloc(n > 0 ? n : 1, sizeof *lat);
		for (long i = 0; i < n; i++) {
			int64_t t0 = now_ns();
			lock(s);
			s->turn++;
			pthread_cond_signal(&s->cond);
			while (s->turn % 2 == 1)
				cond_wait(s);
			unlock(s);
			lat[i] = now_ns() - t0;
		}
		for (long i = 0; i < n; i++)
			printf("%lld\n", (long long)lat[i]);
		free(lat);
		return 0;
	}
	if (strcmp(cmd, "rwwrite") == 0 || strcmp(cmd, "rwread") == 0) {
		int w = cmd[2] == 'w';
		for (long i = 0; i < n; i++) {
			int r = w ? pthread_rwlock_wrlock(&s->rwlock) : pthread_rwlock_rdlock(&s->rwlock);
			if (r)
				die("pthread_rwlock_lock", r);
			if (w) {
				uint64_t a = s->a;
				s->a = a + 1;
				for (volatile int k = 0; k < 50; k++)
					;
				s->b = a + 1;
			} else if (s->a != s->b) {
				fprintf(stderr, "pthreadpeer: torn read: a=%llu b=%llu\n",
				        (unsigned long long)s->a, (unsigned long long)s->b);
				return 3;
			}
			if ((r = pthread_rwlock_unlock(&s->rwlock)))
				die("pthread_rwlock_unlock", r);
		}
		ready("ok");
		return 0;
	}
	if (strncmp(cmd, "rwring-", 7) == 0) {
		long o = strtol(argv[3], NULL, 0);
		struct stat st;
		int fd = shm_open(argv[2], O_RDONLY, 0);
		if (fd < 0 || fstat(fd, &st) < 0)
			die("shm_open", errno);
		close(fd);
		if (o + 3 * (long)sizeof *s > st.st_size) {
			fprintf(stderr, "pthreadpeer: a ring of 3 structs at %ld does not fit in %ld bytes\n", o, (long)st.st_size);
			return 1;
		}
		pthread_rwlock_t *ring[3] = {&s[0].rwlock, &s[1].rwlock, &s[2].rwlock};
		int r;
		if (strcmp(cmd, "rwring-init") == 0) {
			pthread_rwlockattr_t ra;
			pthread_rwlockattr_init(&ra);
			pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
			for (int i = 0; i < 3; i++)
				if ((r = pthread_rwlock_init(ring[i], &ra)))
					die("pthread_rwlock_init", r);
			ready("initialised");
			return 0;
		}
		if (strcmp(cmd, "rwring-pong") == 0) {
			if ((r = pthread_rwlock_rdlock(ring[2])))
				die("pthread_rwlock_rdlock", r);
			ready("ready");
			for (unsigned long k = 0;; k++) {
				if ((r = pthread_rwlock_rdlock(ring[k % 3])))
					die("pthread_rwlock_rdlock", r);
				if ((r = pthread_rwlock_unlock(ring[(k + 2) % 3])))
					die("pthread_rwlock_unlock", r);
			}
		}
		if (strcmp(cmd, "rwring-lat") == 0) {
			if ((r = pthread_rwlock_wrlock(ring[0])) || (r = pthread_rwlock_wrlock(ring[1])))
				die("pthread_rwlock_wrlock", r);
			ready("ready");
			unsigned long k = 0;
			long m;
			while (scanf("%ld", &m) == 1) {
				int64_t *lat = calloc(m > 0 ? m : 1, sizeof *lat);
				for (long i = 0; i < m; i++, k++) {
					int64_t t0 = now_ns();
					if ((r = pthread_rwlock_unlock(ring[k % 3])))
						die("pthread_rwlock_unlock", r);
					if ((r = pthread_rwlock_wrlock(ring[(k + 2) % 3])))
						die("pthread_rwlock_wrlock", r);
					lat[i] = now_ns() - t0;
				}
				for (long i = 0; i < m; i++)
					printf("%lld\n", (long long)lat[i]);
				fflush(stdout);
				free(lat);
			}
			return 0;
		}
	}
	if (strcmp(cmd, "rwhold") == 0) {
		int w = argc > 4 && argv[4][0] == 'w';
		int r = w ? pthread_rwlock_wrlock(&s->rwlock) : pthread_rwlock_rdlock(&s->rwlock);
		if (r)
			die("pthread_rwlock_lock", r);
		ready("locked");
		for (;;)
			pause();
	}
	fprintf(stderr, "pthreadpeer: unknown command %s\n", cmd);
	return 1;
}
