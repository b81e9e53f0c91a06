/*
 * sysvpeer: the C side of the System V message queue and semaphore set
 * tests, benchmarks, demo and fault matrix.
 *
 *   sysvpeer msg-send ID TYPE TEXT [COUNT]   msgsnd COUNT (1) messages; prints "ok" or the errno name
 *   sysvpeer msg-recv ID SEL [SIZE]          one msgrcv (blocking); prints "TYPE TEXT" or the errno name
 *   sysvpeer msg-worker ID TYPE REPLY        forever: take a message of TYPE, send "TYPE:TEXT" back as REPLY
 *   sysvpeer msg-pong ID IN OUT              forever: take type IN, send it back as type OUT
 *   sysvpeer msg-ping-lat ID OUT IN N SIZE   N round trips of SIZE bytes; prints each one's ns
 *                                            (after WARMUP untimed ones: a fresh process on an idle
 *                                            VM otherwise measures the CPUs waking up, ~50 us)
 *   sysvpeer msg-stream ID TYPE N SIZE       sends N messages of SIZE bytes; prints "ok NS"
 *   sysvpeer msg-drain ID TYPE N SIZE        takes N messages of TYPE; prints "ok NS"
 *   sysvpeer sem-op ID HOLD_MS NUM:DELTA[u]...  one semop of the ops ("u": SEM_UNDO); prints "ok"
 *                                            (or the errno name), then sleeps HOLD_MS (for kill -9)
 *   sysvpeer sem-get ID N                    prints the N values
 *   sysvpeer sem-pong ID A B                 forever: take 1 from A, give 1 to B
 *   sysvpeer sem-ping-lat ID A B N           N round trips give A, take B; prints each one's ns
 *
 * A blocking call prints "ready" on stdout first (msg-recv, sem-op print it
 * before they call; the loops before their first call).
 * Exit status: 0 ok, 1 a call failed (the errno name is printed), 2 usage.
 */
#include "peer.h"
#include <sys/msg.h>
#include <sys/sem.h>

static int fail(const char *what) {
	const char *n = strerrorname_np(errno);
	printf("%s\n", n ? n : "E?");
	fprintf(stderr, "sysvpeer: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	return 1;
}

struct msg {
	long mtype;
	char mtext[65536];
};
static struct msg m;

static int rcv(int id, long sel, size_t size, int flag) {
	ssize_t n;
	while ((n = msgrcv(id, &m, size, sel, flag)) < 0)
		if (errno != EINTR)
			return -1;
	return (int)n;
}

static int snd(int id, long type, size_t n) {
	m.mtype = type;
	while (msgsnd(id, &m, n, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* print_lat prints the n latencies of lat, one per line, and frees it:
 * after the round trips, so that printing costs them nothing. */
static int print_lat(long long *lat, long n) {
	for (long i = 0; i < n; i++)
		printf("%lld\n", lat[i]);
	free(lat);
	return 0;
}

/* WARMUP round trips precede the timed ones of the *-ping-lat commands. */
#define WARMUP 300

static int op(int id, unsigned short num, short delta, short flg) {
	struct sembuf b = { num, delta, flg };
	while (semop(id, &b, 1) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	const char *cmd = argv[1];
	int id = atoi(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "msg-send") && argc >= 5) {
		long count = argc > 5 ? atol(argv[5]) : 1;
		size_t n = strlen(argv[4]);
		memcpy(m.mtext, argv[4], n);
		for (long i = 0; i < count; i++)
			if (snd(id, atol(argv[3]), n) < 0)
				return fail("msgsnd");
		printf("ok\n");
		return 0;
	}
	if (!strcmp(cmd, "msg-recv") && argc >= 4) {
		size_t size = argc > 4 ? (size_t)atol(argv[4]) : sizeof m.mtext;
		printf("ready\n");
		int n = rcv(id, atol(argv[3]), size, 0);
		if (n < 0)
			return fail("msgrcv");
		printf("%ld %.*s\n", m.mtype, n, m.mtext);
		return 0;
	}
	if (!strcmp(cmd, "msg-worker") && argc >= 5) {
		long type = atol(argv[3]), reply = atol(argv[4]);
		printf("ready\n");
		for (;;) {
			int n = rcv(id, type, sizeof m.mtext - 32, 0);
			if (n < 0)
				return fail("msgrcv");
			char out[65536];
			int k = snprintf(out, sizeof out, "%ld:%.*s", type, n, m.mtext);
			memcpy(m.mtext, out, (size_t)k);
			if (snd(id, reply, (size_t)k) < 0)
				return fail("msgsnd");
		}
	}
	if (!strcmp(cmd, "msg-pong") && argc >= 5) {
		long in = atol(argv[3]), out = atol(argv[4]);
		printf("ready\n");
		for (;;) {
			int n = rcv(id, in, sizeof m.mtext, 0);
			if (n < 0)
				return fail("msgrcv");
			if (snd(id, out, (size_t)n) < 0)
				return fail("msgsnd");
		}
	}
	if (!strcmp(cmd, "msg-ping-lat") && argc >= 7) {
		long out = atol(argv[3]), in = atol(argv[4]), n = atol(argv[5]);
		size_t size = (size_t)atol(argv[6]);
		long long *lat = calloc(n > 0 ? n : 1, sizeof *lat);
		memset(m.mtext, 'x', size);
		for (long i = -WARMUP; i < n; i++) {
			long long t = now_ns();
			if (snd(id, out, size) < 0)
				return fail("msgsnd");
			if (rcv(id, in, sizeof m.mtext, 0) < 0)
				return fail("msgrcv");
			if (i >= 0)
				lat[i] = now_ns() - t;
		}
		return print_lat(lat, n);
	}
	if (!strcmp(cmd, "msg-stream") && argc >= 6) {
		long type = atol(argv[3]), n = atol(argv[4]);
		size_t size = (size_t)atol(argv[5]);
		memset(m.mtext, 'x', size);
		long long t = now_ns();
		for (long i = 0; i < n; i++)
			if (snd(id, type, size) < 0)
				return fail("msgsnd");
		printf("ok %lld\n", now_ns() - t);
		return 0;
	}
	if (!strcmp(cmd, "msg-drain") && argc >= 6) {
		long type = atol(argv[3]), n = atol(argv[4]);
		size_t size = (size_t)atol(argv[5]);
		printf("ready\n");
		long long t = 0;
		for (long i = 0; i < n; i++) {
			if (rcv(id, type, size, 0) < 0)
				return fail("msgrcv");
			if (i == 0)
				t = now_ns();
		}
		printf("ok %lld\n", now_ns() - t);
		return 0;
	}
	if (!strcmp(cmd, "sem-op") && argc >= 5) {
		long hold = atol(argv[3]);
		struct sembuf ops[64];
		int n = 0;
		for (int i = 4; i < argc && n < 64; i++, n++) {
			char *end;
			ops[n].sem_num = (unsigned short)strtol(argv[i], &end, 10);
			if (*end != ':')
				return 2;
			ops[n].sem_op = (short)strtol(end + 1, &end, 10);
			ops[n].sem_flg = *end == 'u' ? SEM_UNDO : 0;
		}
		printf("ready\n");
		while (semop(id, ops, (size_t)n) < 0)
			if (errno != EINTR)
				return fail("semop");
		printf("ok\n");
		if (hold > 0)
			usleep((useconds_t)hold * 1000);
		return 0;
	}
	if (!strcmp(cmd, "sem-get") && argc >= 4) {
		int n = atoi(argv[3]);
		for (int i = 0; i < n; i++) {
			int v = semctl(id, i, GETVAL);
			if (v < 0)
				return fail("semctl");
			printf(i ? " %d" : "%d", v);
		}
		printf("\n");
		return 0;
	}
	if (!strcmp(cmd, "sem-pong") && argc >= 5) {
		unsigned short a = (unsigned short)atoi(argv[3]), b = (unsigned short)atoi(argv[4]);
		printf("ready\n");
		for (;;) {
			if (op(id, a, -1, 0) < 0)
				return fail("semop");
			if (op(id, b, 1, 0) < 0)
				return fail("semop");
		}
	}
	if (!strcmp(cmd, "sem-ping-lat") && argc >= 6) {
		unsigned short a = (unsigned short)atoi(argv[3]), b = (unsigned short)atoi(argv[4]);
		long n = atol(argv[5]);
		long long *lat = calloc(n > 0 ? n : 1, sizeof *lat);
		for (long i = -WARMUP; i < n; i++) {
			long long t = now_ns();
			if (op(id, a, 1, 0) < 0)
				return fail("semop");
			if (op(id, b, -1, 0) < 0)
				return fail("semop");
			if (i >= 0)
				lat[i] = now_ns() - t;
		}
		return print_lat(lat, n);
	}
	return 2;
}
