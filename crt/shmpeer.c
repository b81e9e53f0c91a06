/*
 * shmpeer: the C side of the shared-memory tests, benchmarks and demo.
 *
 *   shmpeer create NAME SIZE MODE     shm_open(O_CREAT|O_EXCL)+ftruncate; "ok" or the errno name
 *   shmpeer open NAME                 shm_open(O_RDWR): "ok" or the errno name (EACCES...)
 *   shmpeer size NAME                 prints the object's size
 *   shmpeer write NAME OFF TEXT       copies TEXT to offset OFF
 *   shmpeer read NAME OFF LEN         prints LEN bytes at OFF
 *   shmpeer truncate NAME SIZE        ftruncate (to shrink under a Go mapping)
 *   shmpeer memcpy NAME N             copies the whole object to private memory N times;
 *                                     prints nanoseconds per copy
 *   shmpeer sysv-write KEY OFF TEXT   copies TEXT into the System V segment KEY at OFF
 *   shmpeer sysv-read KEY OFF LEN     prints LEN bytes of the System V segment KEY at OFF
 *   shmpeer ftok PATH PROJ            prints ftok(PATH, PROJ)
 *   shmpeer reply NAME                demo: prints the NUL-terminated text at offset 0 and
 *                                     writes "hello from C (pid N), got: TEXT" at offset 256
 *
 * Exit status: 0 ok, 1 a call failed (the errno name is printed), 2 usage.
 */
#include "peer.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what) {
	const char *n = strerrorname_np(errno);
	printf("%s\n", n ? n : "E?");
	fprintf(stderr, "shmpeer: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	return 1;
}

static char *map(const char *name, size_t *size) {
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return NULL;
	}
	*size = st.st_size;
	void *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of shmpeer.c\n");
		return 2;
	}
	const char *cmd = argv[1];
	size_t size;
	char *p;
	if (!strcmp(cmd, "create") && argc == 5) {
		int fd = shm_open(argv[2], O_RDWR | O_CREAT | O_EXCL, (mode_t)strtol(argv[4], NULL, 8));
		if (fd < 0)
			return fail("shm_open");
		if (ftruncate(fd, atol(argv[3])) < 0)
			return fail("ftruncate");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "open") && argc == 3) {
		if (shm_open(argv[2], O_RDWR, 0) < 0)
			return fail("shm_open");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "size") && argc == 3) {
		int fd = shm_open(argv[2], O_RDONLY, 0);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			return fail("shm_open");
		printf("%lld\n", (long long)st.st_size);
		return 0;
	}
	if (!strcmp(cmd, "write") && argc == 5) {
		if (!(p = map(argv[2], &size)))
			return fail("map");
		size_t off = atol(argv[3]), n = strlen(argv[4]);
		if (off + n > size) {
			errno = EINVAL;
			return fail("write");
		}
		memcpy(p + off, argv[4], n);
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "read") && argc == 5) {
		if (!(p = map(argv[2], &size)))
			return fail("map");
		size_t off = atol(argv[3]), n = atol(argv[4]);
		if (off + n > size) {
			errno = EINVAL;
			return fail("read");
		}
		fwrite(p + off, 1, n, stdout);
		return 0;
	}
	if (!strcmp(cmd, "truncate") && argc == 4) {
		int fd = shm_open(argv[2], O_RDWR, 0);
		if (fd < 0)
			return fail("shm_open");
		if (ftruncate(fd, atol(argv[3])) < 0)
			return fail("ftruncate");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "memcpy") && argc == 4) {
		if (!(p = map(argv[2], &size)))
			return fail("map");
		long n = atol(argv[3]);
		char *buf = malloc(size);
		memset(buf, 1, size);
		int64_t t0 = now_ns();
		for (long i = 0; i < n; i++) {
			memcpy(buf, p, size);
			__asm__ volatile("" : : "r"(buf) : "memory");
		}
		int64_t t1 = now_ns();
		printf("%.1f\n", n > 0 ? (double)(t1 - t0) / n : 0.0);
		return 0;
	}
	if ((!strcmp(cmd, "sysv-write") || !strcmp(cmd, "sysv-read")) && argc == 5) {
		int id = shmget((key_t)strtol(argv[2], NULL, 0), 0, 0);
		if (id < 0)
			return fail("shmget");
		struct shmid_ds ds;
		if (shmctl(id, IPC_STAT, &ds) < 0)
			return fail("shmctl");
		p = shmat(id, NULL, 0);
		if (p == (void *)-1)
			return fail("shmat");
		size_t off = atol(argv[3]);
		if (!strcmp(cmd, "sysv-write")) {
			size_t n = strlen(argv[4]);
			if (off + n > ds.shm_segsz) {
				errno = EINVAL;
				return fail("write");
			}
			memcpy(p + off, argv[4], n);
			printf("ok\n");
		} else {
			size_t n = atol(argv[4]);
			if (off + n > ds.shm_segsz) {
				errno = EINVAL;
				return fail("read");
			}
			fwrite(p + off, 1, n, stdout);
		}
		shmdt(p);
		return 0;
	}
	if (!strcmp(cmd, "ftok") && argc == 4) {
		key_t k = ftok(argv[2], atoi(argv[3]));
		if (k == (key_t)-1)
			return fail("ftok");
		printf("%d\n", (int)k);
		return 0;
	}
	if (!strcmp(cmd, "reply") && argc == 3) {
		if (!(p = map(argv[2], &size)))
			return fail("map");
		if (size < 512) {
			errno = EINVAL;
			return fail("size");
		}
		char got[200];
		memcpy(got, p, sizeof got - 1);
		got[sizeof got - 1] = 0;
		printf("%s\n", got);
		snprintf(p + 256, 256, "hello from C (pid %d), got: %s", (int)getpid(), got);
		return 0;
	}
	fprintf(stderr, "shmpeer: bad command line\n");
	return 2;
}
