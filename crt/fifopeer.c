/*
 * fifopeer: the C side of binding/fifo's tests, benchmarks and demo.
 *
 *   fifopeer write PATH BYTES BLOCK         open PATH O_WRONLY (blocking), write BYTES
 *                                           bytes (byte i is i%251) in BLOCK-byte writes
 *   fifopeer read PATH [check|fast] [PIPESZ] open PATH O_RDONLY (blocking), read to EOF;
 *                                           print "BYTES NANOSECONDS [ok|bad]" (time
 *                                           from the open's return to EOF); with
 *                                           PIPESZ, first set the pipe's capacity
 *                                           (F_SETPIPE_SZ)
 *   fifopeer records PATH ID COUNT SIZE     open PATH O_WRONLY, write COUNT records of
 *                                           SIZE bytes, each filled with byte 'A'+ID,
 *                                           one write(2) per record
 *   fifopeer checkrecords PATH SIZE         read SIZE-byte records to EOF; print
 *                                           "RECORDS MIXED" (MIXED: records that are
 *                                           not one byte repeated)
 *   fifopeer pipebuf PATH                   print fpathconf(fd, _PC_PIPE_BUF)
 *   fifopeer upper IN OUT                   open IN for reading, then OUT for writing;
 *                                           copy IN to OUT upper-cased until EOF
 *   fifopeer echo REQ RESP SIZE             round-trip server: open REQ for reading, then
 *                                           RESP for writing; read SIZE-byte messages
 *                                           from REQ and write each back to RESP, until EOF
 *   fifopeer client-lat REQ RESP SIZE       round-trip client: open REQ for writing, then
 *                                           RESP for reading; for each line K on stdin, do
 *                                           K round trips (write SIZE bytes, read SIZE
 *                                           back) and print each one's latency in ns, one
 *                                           a line; exit at EOF on stdin
 */
#include "peer.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ssize_t read_full(int fd, char *p, size_t n) {
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: fifopeer write|read|records|checkrecords|pipebuf|upper|echo|client-lat PATH ...\n");
		return 2;
	}
	const char *m = argv[1], *path = argv[2];
	if (!strcmp(m, "write") && argc == 5) {
		long long total = atoll(argv[3]);
		size_t block = (size_t)atol(argv[4]);
		char *buf = malloc(block + 251);
		for (size_t i = 0; i < block + 251; i++)
			buf[i] = (char)(i % 251);
		int fd = open(path, O_WRONLY);
		if (fd < 0)
			die("open", errno);
		long long off = 0;
		while (off < total) {
			size_t n = total - off < (long long)block ? (size_t)(total - off) : block;
			if (write_all(fd, buf + off % 251, n) < 0)
				die("write", errno);
			off += (long long)n;
		}
		close(fd);
		return 0;
	}
	if (!strcmp(m, "read") && argc >= 3 && argc <= 5) {
		int check = argc >= 4 && !strcmp(argv[3], "check");
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", errno);
		if (argc == 5 && fcntl(fd, F_SETPIPE_SZ, atoi(argv[4])) < 0)
			die("fcntl F_SETPIPE_SZ", errno);
		static char buf[65536];
		long long got = 0, t0 = now_ns();
		int ok = 1;
		for (;;) {
			ssize_t r = read(fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			if (check)
				for (ssize_t i = 0; i < r; i++)
					if ((unsigned char)buf[i] != (got + i) % 251)
						ok = 0;
			got += r;
		}
		long long t1 = now_ns();
		close(fd);
		if (check)
			printf("%lld %lld %s\n", got, t1 - t0, ok ? "ok" : "bad");
		else
			printf("%lld %lld\n", got, t1 - t0);
		return 0;
	}
	if (!strcmp(m, "records") && argc == 6) {
		int id = atoi(argv[3]), count = atoi(argv[4]);
		size_t size = (size_t)atol(argv[5]);
		char *buf = malloc(size);
		memset(buf, 'A' + id, size);
		int fd = open(path, O_WRONLY);
		if (fd < 0)
			die("open", errno);
		for (int i = 0; i < count; i++) {
			ssize_t w;
			do
				w = write(fd, buf, size);
			while (w < 0 && errno == EINTR);
			if (w != (ssize_t)size)
				die("short write", errno);
		}
		close(fd);
		return 0;
	}
	if (!strcmp(m, "checkrecords") && argc == 4) {
		size_t size = (size_t)atol(argv[3]);
		char *buf = malloc(size);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", errno);
		long records = 0, mixed = 0;
		for (;;) {
			ssize_t r = read_full(fd, buf, size);
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			records++;
			if ((size_t)r != size) {
				mixed++;
				break;
			}
			for (size_t i = 1; i < size; i++)
				if (buf[i] != buf[0]) {
					mixed++;
					break;
				}
		}
		printf("%ld %ld\n", records, mixed);
		return 0;
	}
	if (!strcmp(m, "pipebuf") && argc == 3) {
		int fd = open(path, O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			die("open", errno);
		printf("%ld\n", fpathconf(fd, _PC_PIPE_BUF));
		return 0;
	}
	if (!strcmp(m, "upper") && argc == 4) {
		int in = open(path, O_RDONLY);
		if (in < 0)
			die("open in", errno);
		int out = open(argv[3], O_WRONLY);
		if (out < 0)
			die("open out", errno);
		char buf[4096];
		for (;;) {
			ssize_t r = read(in, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			for (ssize_t i = 0; i < r; i++)
				buf[i] = (char)toupper((unsigned char)buf[i]);
			if (write_all(out, buf, (size_t)r) < 0)
				die("write", errno);
		}
		return 0;
	}
	if (!strcmp(m, "echo") && argc == 5) {
		size_t size = (size_t)atol(argv[4]);
		char *buf = malloc(size);
		int in = open(path, O_RDONLY);
		if (in < 0)
			die("open req", errno);
		int out = open(argv[3], O_WRONLY);
		if (out < 0)
			die("open resp", errno);
		for (;;) {
			ssize_t r = read_full(in, buf, size);
			if (r < 0)
				die("read", errno);
			if (r == 0)
				return 0;
			if (write_all(out, buf, (size_t)r) < 0)
				die("write", errno);
		}
	}
	if (!strcmp(m, "client-lat") && argc == 5) {
		size_t size = (size_t)atol(argv[4]);
		char *msg = calloc(1, size), *buf = malloc(size);
		int out = open(path, O_WRONLY);
		if (out < 0)
			die("open req", errno);
		int in = open(argv[3], O_RDONLY);
		if (in < 0)
			die("open resp", errno);
		long k;
		while (scanf("%ld", &k) == 1) {
			long long *lat = malloc(sizeof *lat * (size_t)(k > 0 ? k : 1));
			for (long i = 0; i < k; i++) {
				long long t0 = now_ns();
				if (write_all(out, msg, size) < 0)
					die("write", errno);
				if (read_full(in, buf, size) != (ssize_t)size)
					die("read", errno);
				lat[i] = now_ns() - t0;
			}
			for (long i = 0; i < k; i++)
				printf("%lld\n", lat[i]);
			fflush(stdout);
			free(lat);
		}
		return 0;
	}
	fprintf(stderr, "fifopeer: bad arguments\n");
	return 2;
}
