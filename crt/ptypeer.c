/*
 * ptypeer: the C side of the pseudoterminal tests and demo.
 *
 *   ptypeer check        prints "tty I O E" (isatty of 0, 1, 2), "size ROWS COLS"
 *                        (TIOCGWINSZ), "sid OK|NO" (0 is its controlling terminal),
 *                        then puts the terminal in raw mode itself (cfmakeraw),
 *                        prints "raw", and echoes each chunk it reads as "echo:CHUNK"
 *                        until it reads a 'q'
 *   ptypeer burst N      writes N bytes (a counting pattern) and exits at once
 *   ptypeer color TEXT   prints TEXT in red when stdout is a terminal, plain otherwise
 *   ptypeer winch        prints "ready", waits for SIGWINCH, prints the new "size ROWS COLS"
 *   ptypeer flood        writes "line N\n" for N = 0, 1, ... until it is killed
 *   ptypeer echo         raw mode on its terminal, prints "ready\n", then echoes what it reads
 *   ptypeer ping-lat N SIZE   opens a pseudoterminal of its own, runs "ptypeer echo" on it and
 *                        times N round trips of SIZE bytes through the master (after 300
 *                        untimed ones); prints each one's ns
 *
 * Lines end in "\r\n" after raw mode (no output processing). Exit status: 0
 * ok, 1 a call failed, 2 usage.
 */
#include "peer.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <fcntl.h>
#include <sys/wait.h>

static void size(void) {
	struct winsize ws;
	if (ioctl(0, TIOCGWINSZ, &ws) < 0)
		die("ioctl TIOCGWINSZ", errno);
	printf("size %d %d\n", ws.ws_row, ws.ws_col);
}

static volatile sig_atomic_t winched;
static void on_winch(int sig) { (void)sig; winched = 1; }

int main(int argc, char **argv) {
	if (argc < 2)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "check")) {
		printf("tty %d %d %d\n", isatty(0), isatty(1), isatty(2));
		size();
		printf("sid %s\n", tcgetsid(0) == getsid(0) ? "OK" : "NO");
		struct termios t;
		if (tcgetattr(0, &t) < 0)
			die("tcgetattr", errno);
		cfmakeraw(&t);
		if (tcsetattr(0, TCSANOW, &t) < 0)
			die("tcsetattr", errno);
		printf("raw\r\n");
		char buf[256];
		for (;;) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n <= 0)
				return n < 0 ? 1 : 0;
			printf("echo:%.*s\r\n", (int)n, buf);
			if (memchr(buf, 'q', (size_t)n))
				return 0;
		}
	}
	if (!strcmp(argv[1], "burst") && argc == 3) {
		long n = atol(argv[2]);
		char *b = malloc((size_t)n + 1);
		for (long i = 0; i < n; i++)
			b[i] = (char)('a' + i % 26);
		/* no output processing, so the bytes arrive as written */
		struct termios t;
		if (tcgetattr(1, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(1, TCSANOW, &t);
		}
		if (write_all(1, b, (size_t)n) < 0)
			die("write", errno);
		_exit(0); /* at once: what was written must still be read */
	}
	if (!strcmp(argv[1], "color") && argc == 3) {
		if (isatty(1))
			printf("\033[31m%s\033[0m\n", argv[2]);
		else
			printf("%s\n", argv[2]);
		return 0;
	}
	if (!strcmp(argv[1], "echo")) {
		struct termios t;
		if (tcgetattr(0, &t) < 0)
			die("tcgetattr", errno);
		cfmakeraw(&t);
		if (tcsetattr(0, TCSANOW, &t) < 0)
			die("tcsetattr", errno);
		printf("ready\n");
		char buf[65536];
		for (;;) {
			ssize_t n = read(0, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return 0;
			if (write_all(1, buf, (size_t)n) < 0)
				return 1;
		}
	}
	if (!strcmp(argv[1], "ping-lat") && argc == 4) {
		long n = atol(argv[2]);
		size_t size = (size_t)atol(argv[3]);
		int m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
			die("posix_openpt", errno);
		char slave[128];
		if (ptsname_r(m, slave, sizeof slave) != 0)
			die("ptsname_r", errno);
		pid_t pid = fork();
		if (pid < 0)
			die("fork", errno);
		if (pid == 0) {
			setsid();
			int s = open(slave, O_RDWR);
			if (s < 0)
				_exit(1);
			dup2(s, 0);
			dup2(s, 1);
			execl("/proc/self/exe", "ptypeer", "echo", (char *)NULL);
			_exit(1);
		}
		char *buf = malloc(size + 16);
		char ready[6];
		for (size_t got = 0; got < sizeof ready;) { /* "ready\n" */
			ssize_t r = read(m, ready + got, sizeof ready - got);
			if (r <= 0)
				die("read ready", errno);
			got += (size_t)r;
		}
		memset(buf, 'x', size);
		long long *lat = calloc(n > 0 ? n : 1, sizeof *lat);
		for (long i = -300; i < n; i++) {
			long long t0 = now_ns();
			if (write_all(m, buf, size) < 0)
				die("write", errno);
			for (size_t got = 0; got < size;) {
				ssize_t r = read(m, buf + got, size - got);
				if (r <= 0)
					die("read", errno);
				got += (size_t)r;
			}
			if (i >= 0)
				lat[i] = now_ns() - t0;
		}
		kill(pid, SIGKILL);
		for (long i = 0; i < n; i++)
			printf("%lld\n", lat[i]);
		return 0;
	}
	if (!strcmp(argv[1], "flood")) {
		for (long i = 0;; i++)
			printf("line %ld\n", i);
	}
	if (!strcmp(argv[1], "winch")) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_winch;
		sigaction(SIGWINCH, &sa, NULL);
		printf("ready\n");
		while (!winched)
			usleep(1000); /* not pause(): a signal between the test and the call would be missed */
		size();
		return 0;
	}
	return 2;
}
