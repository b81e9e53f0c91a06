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
 *
 * Lines end in "\r\n" after raw mode (no output processing). Exit status: 0
 * ok, 1 a call failed, 2 usage.
 */
#include "peer.h"
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

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
