/*
 * popenpeer: the C side of binding/popen's tests, benchmarks and demo.
 *
 *   popenpeer fds                 print this process's open fds, one a line
 *   popenpeer lines N             print "line 1" .. "line N"
 *   popenpeer exit CODE           exit with CODE
 *   popenpeer kill SIGNO          kill itself with signal SIGNO
 *   popenpeer copy OUTFILE        copy stdin to OUTFILE until EOF
 *   popenpeer write BYTES BLOCK   write BYTES bytes to stdout in BLOCK-byte writes
 *   popenpeer bench BYTES BLOCK   C baseline: popen("popenpeer write ...", "r"),
 *                                 read it all in 64 KiB reads; print "BYTES
 *                                 NANOSECONDS TIMED": the bytes read, the time
 *                                 from the first read's return to EOF, and the
 *                                 bytes read in that time (all but the first read's)
 *   popenpeer sink OUTFILE        read stdin in 64 KiB reads until EOF; write
 *                                 "BYTES NANOSECONDS" to OUTFILE: the bytes read
 *                                 after the first read and the time from the first
 *                                 read's return to EOF (so the start-up of the
 *                                 shell and of this program is not counted)
 *   popenpeer benchw BYTES BLOCK OUTFILE  C baseline of a "w" pipe:
 *                                 popen("popenpeer sink OUTFILE", "we") and write
 *                                 BYTES bytes to it in BLOCK-byte writes
 */
#include "peer.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: popenpeer fds|lines|exit|kill|copy|write|bench|sink|benchw ...\n");
		return 2;
	}
	const char *m = argv[1];
	if (!strcmp(m, "fds")) {
		DIR *d = opendir("/proc/self/fd");
		if (!d)
			die("opendir", errno);
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			int fd = atoi(e->d_name);
			if (fd == dirfd(d))
				continue;
			printf("%d\n", fd);
		}
		closedir(d);
		return 0;
	}
	if (!strcmp(m, "lines") && argc == 3) {
		int n = atoi(argv[2]);
		for (int i = 1; i <= n; i++)
			printf("line %d\n", i);
		return 0;
	}
	if (!strcmp(m, "exit") && argc == 3)
		return atoi(argv[2]);
	if (!strcmp(m, "kill") && argc == 3) {
		fflush(stdout);
		kill(getpid(), atoi(argv[2]));
		pause();
		return 0;
	}
	if (!strcmp(m, "copy") && argc == 3) {
		int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0)
			die("open", errno);
		char buf[65536];
		for (;;) {
			ssize_t r = read(0, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			if (write_all(out, buf, (size_t)r) < 0)
				die("write", errno);
		}
		close(out);
		return 0;
	}
	if (!strcmp(m, "write") && argc == 4) {
		long long total = atoll(argv[2]);
		size_t block = (size_t)atol(argv[3]);
		char *buf = malloc(block);
		for (size_t i = 0; i < block; i++)
			buf[i] = (char)('a' + i % 26);
		while (total > 0) {
			size_t n = total < (long long)block ? (size_t)total : block;
			if (write_all(1, buf, n) < 0)
				die("write", errno);
			total -= (long long)n;
		}
		return 0;
	}
	if (!strcmp(m, "bench") && argc == 4) {
		char cmd[4200];
		char self[4096];
		ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
		if (sl < 0)
			die("readlink", errno);
		self[sl] = 0;
		snprintf(cmd, sizeof cmd, "exec '%s' write %s %s", self, argv[2], argv[3]);
		FILE *f = popen(cmd, "re");
		if (!f)
			die("popen", errno);
		int fd = fileno(f);
		static char buf[65536];
		long long got = 0, timed = 0, tfirst = 0;
		for (;;) {
			ssize_t r = read(fd, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			if (got == 0)
				tfirst = now_ns();
			else
				timed += r;
			got += r;
		}
		long long t1 = now_ns();
		if (pclose(f) != 0)
			die("pclose", errno);
		printf("%lld %lld %lld\n", got, t1 - tfirst, timed);
		return 0;
	}
	if (!strcmp(m, "sink") && argc == 3) {
		static char buf[65536];
		long long got = 0, t0 = 0;
		for (;;) {
			ssize_t r = read(0, buf, sizeof buf);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				die("read", errno);
			if (r == 0)
				break;
			if (t0 == 0)
				t0 = now_ns();
			else
				got += r;
		}
		long long t1 = now_ns();
		FILE *out = fopen(argv[2], "w");
		if (!out)
			die("fopen", errno);
		fprintf(out, "%lld %lld\n", got, t0 ? t1 - t0 : 0);
		if (fclose(out) != 0)
			die("fclose", errno);
		return 0;
	}
	if (!strcmp(m, "benchw") && argc == 5) {
		char cmd[8400];
		char self[4096];
		ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
		if (sl < 0)
			die("readlink", errno);
		self[sl] = 0;
		snprintf(cmd, sizeof cmd, "exec '%s' sink '%s'", self, argv[4]);
		long long total = atoll(argv[2]);
		size_t block = (size_t)atol(argv[3]);
		char *buf = malloc(block);
		for (size_t i = 0; i < block; i++)
			buf[i] = (char)('a' + i % 26);
		FILE *f = popen(cmd, "we");
		if (!f)
			die("popen", errno);
		int fd = fileno(f);
		while (total > 0) {
			size_t n = total < (long long)block ? (size_t)total : block;
			if (write_all(fd, buf, n) < 0)
				die("write", errno);
			total -= (long long)n;
		}
		if (pclose(f) != 0)
			die("pclose", errno);
		return 0;
	}
	fprintf(stderr, "popenpeer: bad arguments\n");
	return 2;
}
