/*
 * peer.h: the helpers that every C peer of crt/ shares (header-only; each
 * peer is one program). now_ns reads CLOCK_MONOTONIC, die reports a failed
 * call with errno e's text and exits 1, write_all writes a whole buffer.
 */
#ifndef POSIXIPC_PEER_H
#define POSIXIPC_PEER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* now_ns returns CLOCK_MONOTONIC in nanoseconds. */
static inline long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* die prints "PEER: WHAT: strerror(e)" on stderr and exits 1; PEER is the
 * program's name without the build cache's "-HASH" suffix. */
static inline void die(const char *what, int e) {
	const char *n = program_invocation_short_name;
	const char *dash = strrchr(n, '-');
	int len = dash ? (int)(dash - n) : (int)strlen(n);
	fprintf(stderr, "%.*s: %s: %s\n", len, n, what, strerror(e));
	exit(1);
}

/* write_all writes the n bytes at p, retrying after EINTR and short
 * writes; it returns 0, or -1 with errno set. */
static inline int write_all(int fd, const void *p, size_t n) {
	const char *b = p;
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

#endif
