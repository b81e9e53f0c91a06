/*
 * ringpeer: the C side of the ring tests, demo and benchmarks. It uses
 * crt/posixipc_ring.h only, as any C program would.
 *
 *   ringpeer create NAME SLOTS SIZE MODE FULL    create (MODE queue|broadcast|spsc, FULL block|fail|overwrite), leave it
 *   ringpeer send NAME COUNT [PREFIX]            send "PREFIX<i>" COUNT times (blocking); print "done"
 *   ringpeer recv NAME COUNT [TIMEOUT_MS]        print "ready", then COUNT records as "SEQ LOST TEXT"
 *   ringpeer loan-hold NAME                      loan a slot, write "held" into it, print "loaned SEQ", wait forever
 *   ringpeer send-batch NAME COUNT PER           send "cb<i>" COUNT times, PER a pir_send_batch; print "done"
 *   ringpeer recv-batch NAME COUNT PER           print "ready", receive COUNT records by pir_receive_batch of PER, as recv
 *   ringpeer loan-batch NAME COUNT PER           send "cz<i>" COUNT times by pir_loan_batch/pir_commit_batch of PER; print "done"
 *   ringpeer next-batch NAME COUNT PER           print "ready", receive COUNT records by pir_next_batch/pir_release_batch of PER, as recv
 *   ringpeer batch-hold NAME                     loan three slots by one pir_loan_batch, write "held" into each, print "loaned FIRST LAST", wait forever
 *   ringpeer loan-close NAME                     loan two slots, close the handle, print "closed"
 *   ringpeer view-hold NAME                      print "ready", take a record, print "viewing SEQ TEXT", wait forever
 *   ringpeer recv-one NAME                       print "receiving", receive one record with no spin (asleep on the futex), print it
 *   ringpeer echo REQ RESP [SPIN_NS]             print "ready"; receive on REQ, send back on RESP; stop on an empty record
 *   ringpeer client-lat REQ RESP N SIZE [SPIN_NS] N round trips; print each one's latency in ns, one a line
 *   ringpeer stream-send NAME N SIZE             send N records of SIZE bytes as fast as possible
 *   ringpeer stream-recv NAME N                  print "ready", receive N records; print "N TOTAL_NS" (from the first)
 *
 * loan-hold, batch-hold, view-hold and recv-one are the C victims of the recovery tests
 * and the fault matrix (internal/testutil/ringvictim has their Go twins).
 *
 * Exit status: 0 ok, 1 error (message on stderr), 75 timeout.
 */
#define _GNU_SOURCE 1
#include "peer.h"
#include "posixipc_ring.h"
#include <signal.h>

static void check(const char *what, int e) {
	if (e != 0)
		die(what, e);
}

static struct pir_ring open_ring(const char *name, int oflag) {
	struct pir_ring r;
	char b[512];
	snprintf(b, sizeof b, "pir_open %s", name);
	check(b, pir_open(&r, name, oflag, 0));
	return r;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: ringpeer MODE NAME ...\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *mode = argv[1], *name = argv[2];
	if (strcmp(mode, "create") == 0 && argc == 7) {
		struct pir_config c = { .slots = (uint32_t)atoi(argv[3]), .size = (uint32_t)atoi(argv[4]),
		                        .mode = strcmp(argv[5], "broadcast") == 0 ? PIR_BROADCAST
		                                : strcmp(argv[5], "spsc") == 0    ? PIR_SPSC
		                                                                  : PIR_QUEUE,
		                        .full = strcmp(argv[6], "fail") == 0        ? PIR_FAIL
		                                : strcmp(argv[6], "overwrite") == 0 ? PIR_OVERWRITE
		                                                                    : PIR_BLOCK };
		struct pir_ring r;
		check("pir_create", pir_create(&r, name, O_WRONLY, 0600, &c));
		pir_close(&r);
		printf("created\n");
		return 0;
	}
	if (strcmp(mode, "send") == 0 && argc >= 4) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		long n = atol(argv[3]);
		const char *prefix = argc > 4 ? argv[4] : "c";
		char b[256];
		for (long i = 0; i < n; i++) {
			int len = snprintf(b, sizeof b, "%s%ld", prefix, i);
			check("pir_send", pir_send(&r, b, (size_t)len, -1));
		}
		pir_close(&r);
		printf("done\n");
		return 0;
	}
	if (strcmp(mode, "send-batch") == 0 && argc == 5) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		long n = atol(argv[3]), per = atol(argv[4]);
		char (*b)[32] = calloc((size_t)per, 32);
		const void **recs = calloc((size_t)per, sizeof *recs);
		size_t *lens = calloc((size_t)per, sizeof *lens);
		for (long i = 0; i < n; i += per) {
			long k = n - i < per ? n - i : per;
			for (long j = 0; j < k; j++) {
				lens[j] = (size_t)snprintf(b[j], 32, "cb%ld", i + j);
				recs[j] = b[j];
			}
			size_t sent;
			check("pir_send_batch", pir_send_batch(&r, recs, lens, (size_t)k, -1, &sent));
			if (sent != (size_t)k)
				die("pir_send_batch: short", EIO);
		}
		pir_close(&r);
		printf("done\n");
		return 0;
	}
	if (strcmp(mode, "recv-batch") == 0 && argc == 5) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		long n = atol(argv[3]), per = atol(argv[4]);
		void **bufs = calloc((size_t)per, sizeof *bufs);
		for (long j = 0; j < per; j++)
			bufs[j] = calloc(1, r.cfg.size);
		struct pir_view *recs = calloc((size_t)per, sizeof *recs);
		printf("ready\n");
		for (long i = 0; i < n;) {
			size_t got;
			size_t want = (size_t)(n - i < per ? n - i : per);
			check("pir_receive_batch", pir_receive_batch(&r, bufs, r.cfg.size, recs, want, -1, &got));
			for (size_t j = 0; j < got; j++, i++)
				printf("%llu %llu %.*s\n", (unsigned long long)recs[j].seq, (unsigned long long)recs[j].lost, (int)recs[j].len,
				       (const char *)bufs[j]);
		}
		pir_close(&r);
		return 0;
	}
	if (strcmp(mode, "loan-batch") == 0 && argc == 5) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		long n = atol(argv[3]), per = atol(argv[4]);
		struct pir_loan *loans = calloc((size_t)per, sizeof *loans);
		size_t *lens = calloc((size_t)per, sizeof *lens);
		for (long i = 0; i < n;) {
			size_t got, done;
			size_t want = (size_t)(n - i < per ? n - i : per);
			check("pir_loan_batch", pir_loan_batch(&r, -1, loans, want, &got));
			for (size_t j = 0; j < got; j++)
				lens[j] = (size_t)snprintf(loans[j].data, loans[j].cap, "cz%ld", i + (long)j);
			check("pir_commit_batch", pir_commit_batch(&r, loans, lens, got, &done));
			if (done != got)
				die("pir_commit_batch: short", EIO);
			i += (long)got;
		}
		pir_close(&r);
		printf("done\n");
		return 0;
	}
	if (strcmp(mode, "next-batch") == 0 && argc == 5) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		long n = atol(argv[3]), per = atol(argv[4]);
		struct pir_view *views = calloc((size_t)per, sizeof *views);
		printf("ready\n");
		for (long i = 0; i < n;) {
			size_t got, done;
			size_t want = (size_t)(n - i < per ? n - i : per);
			check("pir_next_batch", pir_next_batch(&r, -1, views, want, &got));
			for (size_t j = 0; j < got; j++)
				printf("%llu %llu %.*s\n", (unsigned long long)views[j].seq, (unsigned long long)views[j].lost, (int)views[j].len,
				       (const char *)views[j].data);
			check("pir_release_batch", pir_release_batch(&r, views, got, &done));
			if (done != got)
				die("pir_release_batch: short", EIO);
			i += (long)got;
		}
		pir_close(&r);
		return 0;
	}
	if (strcmp(mode, "recv") == 0 && argc >= 4) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		long n = atol(argv[3]);
		int64_t timeout = argc > 4 ? (int64_t)atol(argv[4]) * 1000000 : -1;
		char *buf = malloc(r.cfg.size + 1);
		printf("ready\n");
		for (long i = 0; i < n; i++) {
			struct pir_view rec;
			int e = pir_receive(&r, buf, r.cfg.size, timeout, &rec);
			if (e == ETIMEDOUT) {
				printf("timeout\n");
				return 75;
			}
			check("pir_receive", e);
			buf[rec.len] = 0;
			printf("%llu %llu %s\n", (unsigned long long)rec.seq, (unsigned long long)rec.lost, buf);
		}
		pir_close(&r);
		return 0;
	}
	if (strcmp(mode, "loan-hold") == 0) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		struct pir_loan l;
		check("pir_loan", pir_loan(&r, -1, &l));
		memcpy(l.data, "held", 4);
		printf("loaned %llu\n", (unsigned long long)l.seq);
		for (;;)
			pause();
	}
	if (strcmp(mode, "batch-hold") == 0) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		struct pir_loan l[3];
		size_t got;
		check("pir_loan_batch", pir_loan_batch(&r, -1, l, 3, &got));
		for (size_t j = 0; j < got; j++)
			memcpy(l[j].data, "held", 4);
		printf("loaned %llu %llu\n", (unsigned long long)l[0].seq, (unsigned long long)l[got - 1].seq);
		for (;;)
			pause();
	}
	if (strcmp(mode, "loan-close") == 0) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		struct pir_loan a, b;
		check("pir_loan", pir_loan(&r, -1, &a));
		check("pir_loan", pir_loan(&r, -1, &b));
		pir_close(&r);
		printf("closed\n");
		return 0;
	}
	if (strcmp(mode, "view-hold") == 0) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		struct pir_view v;
		printf("ready\n");
		check("pir_next", pir_next(&r, -1, &v));
		printf("viewing %llu %.*s\n", (unsigned long long)v.seq, (int)v.len, (const char *)v.data);
		for (;;)
			pause();
	}
	if (strcmp(mode, "recv-one") == 0) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		struct pir_view rec;
		char buf[4096];
		printf("receiving\n");
		r.spin_ns = 0; /* straight to the futex, where the test kills it */
		check("pir_receive", pir_receive(&r, buf, sizeof buf - 1, -1, &rec));
		printf("%.*s\n", (int)rec.len, buf);
		pir_close(&r);
		return 0;
	}
	if (strcmp(mode, "echo") == 0 && argc >= 4) {
		struct pir_ring in = open_ring(name, O_RDONLY), out = open_ring(argv[3], O_WRONLY);
		if (argc > 4)
			in.spin_ns = out.spin_ns = atol(argv[4]);
		printf("ready\n");
		for (;;) {
			struct pir_view v;
			check("pir_next", pir_next(&in, -1, &v));
			if (v.len == 0) {
				pir_release(&in, &v);
				break;
			}
			check("pir_send", pir_send(&out, v.data, v.len, -1));
			check("pir_release", pir_release(&in, &v));
		}
		pir_close(&in);
		pir_close(&out);
		return 0;
	}
	if (strcmp(mode, "client-lat") == 0 && argc >= 6) {
		struct pir_ring out = open_ring(name, O_WRONLY), in = open_ring(argv[3], O_RDONLY);
		if (argc > 6)
			in.spin_ns = out.spin_ns = atol(argv[6]);
		long n = atol(argv[4]);
		size_t size = (size_t)atol(argv[5]);
		char *msg = calloc(1, size), *buf = malloc(in.cfg.size);
		long long *lat = malloc(sizeof(long long) * (size_t)n);
		for (long i = 0; i < n; i++) {
			long long t0 = now_ns();
			check("pir_send", pir_send(&out, msg, size, -1));
			struct pir_view rec;
			check("pir_receive", pir_receive(&in, buf, in.cfg.size, -1, &rec));
			lat[i] = now_ns() - t0;
		}
		for (long i = 0; i < n; i++)
			printf("%lld\n", lat[i]);
		pir_close(&out);
		pir_close(&in);
		return 0;
	}
	if (strcmp(mode, "stream-send") == 0 && argc == 5) {
		struct pir_ring r = open_ring(name, O_WRONLY);
		long n = atol(argv[3]);
		uint32_t size = (uint32_t)atol(argv[4]);
		unsigned char *src = calloc(1, size);
		for (long i = 0; i < n; i++) {
			struct pir_loan l;
			check("pir_loan", pir_loan(&r, -1, &l));
			src[0] = (unsigned char)i;
			memcpy(l.data, src, size);
			check("pir_commit", pir_commit(&r, &l, size));
		}
		pir_close(&r);
		return 0;
	}
	if (strcmp(mode, "stream-recv") == 0 && argc == 4) {
		struct pir_ring r = open_ring(name, O_RDONLY);
		long n = atol(argv[3]);
		long long t0 = 0;
		volatile unsigned char sink = 0;
		printf("ready\n");
		for (long i = 0; i < n; i++) {
			struct pir_view v;
			check("pir_next", pir_next(&r, -1, &v));
			if (i == 0)
				t0 = now_ns();
			if (v.len > 0)
				sink ^= ((const unsigned char *)v.data)[v.len - 1];
			check("pir_release", pir_release(&r, &v));
		}
		printf("%ld %lld\n", n, now_ns() - t0);
		pir_close(&r);
		return 0;
	}
	fprintf(stderr, "ringpeer: bad arguments for mode %s\n", mode);
	return 1;
}
