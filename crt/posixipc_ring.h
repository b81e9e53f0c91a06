/*
 * posixipc_ring.h: the C side of posixipc's shared-memory ring
 * (github.com/posixipc/posixipc/binding/ring), header-only C11.
 *
 * Build: copy this one file next to your sources (or add the module's crt/
 * directory with -I) and compile with a C11 compiler on Linux:
 *
 *     cc -std=c11 -O2 -D_GNU_SOURCE -I path/to/posixipc/crt app.c -lrt
 *
 * Nothing else is needed: no library, no daemon. A Go program using
 * binding/ring and a C program using this header share a ring byte for
 * byte; either side may create it.
 *
 * ---------------------------------------------------------------------------
 * WHAT IT IS
 *
 * A ring of N fixed-size slots (N a power of two) in one POSIX shared
 * memory object (shm_open name, "/name"). Two modes:
 *
 *  - PIR_QUEUE: one or more producers, one or more consumers; each record
 *    is consumed once, in order of position (after Vyukov's bounded MPMC
 *    queue: slot i starts with seq = i; position p is free to produce when
 *    its slot's seq == p, holds a record when seq == p+1 and is free again
 *    when seq == p+N). A participant takes p by a compare-and-swap of the
 *    slot's claim word to (p, itself): the claim is the taking. Tail and
 *    head are hints of the next position to produce and to consume: the
 *    taker moves its hint on with a plain store, and whoever finds the
 *    hint's slot taken already moves it on by compare-and-swap and looks
 *    at the next (a slow taker may move a hint back; the next caller walks
 *    it forward, at most N slots).
 *  - PIR_SPSC: the queue with one producer and one consumer at a time (a
 *    second producer or consumer gets EBUSY while the first lives: the
 *    header's producer and consumer words name them). Each side is the one
 *    taker of its slots: the consumer claims a slot by a plain store
 *    instead of the compare-and-swap, and the producer writes no claim at
 *    all (its loan of p is the tail passing p while the slot's seq is still
 *    p; whoever takes a dead producer's role, or frees it, passes those
 *    loans on as skipped). The fast path; the queue's slots, seqs and
 *    recovery otherwise.
 *  - PIR_BROADCAST: one producer, subscribers that each see every record
 *    from the moment they join; the slot is a seqlock (seq = 2p+1 while
 *    being written, 2p+2 once committed); each subscriber has a cursor.
 *
 * When the ring is full the producer blocks (PIR_BLOCK), fails with EAGAIN
 * (PIR_FAIL) or, broadcast only, writes over the oldest record
 * (PIR_OVERWRITE): a subscriber that falls more than N behind is told how
 * many records it lost, and never gets a torn one from pir_receive.
 *
 * Zero copy: pir_loan lends a slot to fill and pir_commit publishes it;
 * pir_next lends a record to read and pir_release gives it back.
 * pir_send/pir_receive copy; pir_send_batch/pir_receive_batch copy many
 * records per call, with one fence and at most one wake-up for the records
 * that go at once (the way to stream small records); pir_loan_batch,
 * pir_commit_batch, pir_next_batch and pir_release_batch do the same
 * without the copies.
 *
 * Waiting: spin for the handle's spin budget (spin_ns, 20 us by default),
 * then sleep on a futex word of the segment; a waker makes the FUTEX_WAKE
 * system call only when the waiter count says someone sleeps. Timeouts are
 * relative nanoseconds on CLOCK_MONOTONIC: -1 waits without limit, 0 tries
 * once.
 *
 * Liveness: each participant takes an entry of the participant table and
 * holds an OFD write lock (fcntl F_OFD_SETLK) on byte e of the object, e
 * its entry. The kernel drops the lock when the process dies, however it
 * dies, so the others know who is alive. A slot loaned by a dead producer
 * passes to the consumers as skipped, a record viewed by a dead consumer is
 * released (it counts as delivered: at most once), a dead subscriber stops
 * holding a blocked producer back.
 *
 * Trust: every process that can write the object can break the ring (it
 * is its memory). Both sides validate the header at open, bound every
 * index by the mask, check every record length against the slot size and
 * report impossible values as EUCLEAN; a wait on corrupt state still ends
 * at its timeout. Who may write is set by the object's permission bits.
 *
 * Threads: a struct pir_ring is one participant, used by one thread at a
 * time. Open one per thread (each gets its own entry), or lock around it.
 *
 * Return values: 0, or an errno value (never -1): EAGAIN (full or empty
 * without waiting), ETIMEDOUT, EMSGSIZE, EINVAL, EBADF (wrong side),
 * EBUSY (a second broadcast or SPSC producer, a second SPSC consumer, a
 * second broadcast loan or view out), EUCLEAN
 * (corrupt), EOWNERDEAD (the loan or view was taken over), EPROTO (another
 * layout version), EUSERS (participant table full), or what a system call
 * returned.
 *
 * ---------------------------------------------------------------------------
 * LAYOUT (native endian, naturally aligned; binding/ring/layout.go is the
 * same table)
 *
 *   header            offset  type
 *     magic             0     u64  "PIRING\0\1" as little-endian, written last
 *     version           8     u32  3 (2: no SPSC mode; 1: before claim-first)
 *     mode             12     u32  1 queue, 2 broadcast, 3 spsc
 *     full             16     u32  0 block, 1 fail, 2 overwrite
 *     size             20     u32  payload bytes of a slot
 *     slots            24     u32  N, a power of two, 2..2^24
 *     stride           28     u32  64 + size rounded up to 64
 *     parts            32     u32  participant entries, 2..4096
 *     hdr_size         36     u32  512 + 64*parts rounded up to 64
 *     tag              40     u64  the record type both sides agree on
 *     total            48     u64  hdr_size + slots*stride
 *     nonce            56     u64  random, names this object
 *     producer         64     u32  broadcast, spsc: entry+1 of the producer, 0 none
 *     sub_gen          68     u32  broadcast: bumped when subscribers come and go
 *     consumer         72     u32  spsc: entry+1 of the consumer, 0 none
 *     tail            128     u64  next position to produce (queue: a hint; spsc: exact)
 *     head            192     u64  queue, spsc: next position to consume (a hint)
 *     data_word       256     u32  futex of consumers
 *     data_waiters    260     u32  consumers asleep on it
 *     room_word       320     u32  futex of producers
 *     room_waiters    324     u32  producers asleep on it
 *     reclaimed       384     u64  slots taken over from the dead
 *   entry e at 512 + 64*e
 *     state             0     u32  0 free, 1 used
 *     pid               4     u32
 *     role              8     u32  1 producer | 2 consumer
 *     waiting          12     u32  1 counted in data_waiters | 2 in room_waiters
 *     cursor           16     u64  broadcast: next position to read
 *     (reserved)       24     u64  zero
 *     (reserved)       32     u64  zero
 *     lost             40     u64  broadcast: records lost
 *     count            48     u64  records committed or released
 *   slot of position p at hdr_size + (p & (N-1))*stride
 *     seq               0     u64
 *     claim             8     u64  queue: (u32)p << 32 | who, the taker of p (spsc:
 *                                  consumers only; the producer's loan of p is
 *                                  the tail passing p while seq is still p);
 *                                  who = entry+1, | 1<<31 for a consumer,
 *                                  0x7fffffff: dead, 0: nobody (initial)
 *     len              16     u32
 *     flags            20     u32  1: skipped (no record)
 *     payload          64
 */
#ifndef POSIXIPC_RING_H
#define POSIXIPC_RING_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PIR_MAGIC 0x0100474E49524950ULL
#define PIR_VERSION 3u

enum { PIR_QUEUE = 1, PIR_BROADCAST = 2, PIR_SPSC = 3 };
enum { PIR_BLOCK = 0, PIR_FAIL = 1, PIR_OVERWRITE = 2 };

#define PIR_MAX_SLOTS (1u << 24)
#define PIR_MAX_SIZE (1u << 30)
#define PIR_MAX_PARTS 4096u
#define PIR_DEFAULT_PARTS 64u
#define PIR_DEFAULT_SPIN_NS 20000
#define PIR_PURE_SPIN_NS 1000 /* of the spin budget, the part that never yields */

/* Header, entry and slot offsets (see LAYOUT). */
enum {
	PIR_O_MAGIC = 0, PIR_O_VERSION = 8, PIR_O_MODE = 12, PIR_O_FULL = 16, PIR_O_SIZE = 20,
	PIR_O_SLOTS = 24, PIR_O_STRIDE = 28, PIR_O_PARTS = 32, PIR_O_HDRSIZE = 36, PIR_O_TAG = 40,
	PIR_O_TOTAL = 48, PIR_O_NONCE = 56, PIR_O_PRODUCER = 64, PIR_O_SUBGEN = 68, PIR_O_CONSUMER = 72, PIR_O_TAIL = 128,
	PIR_O_HEAD = 192, PIR_O_DATAWORD = 256, PIR_O_DATAWAIT = 260, PIR_O_ROOMWORD = 320,
	PIR_O_ROOMWAIT = 324, PIR_O_RECLAIM = 384, PIR_O_ENTRIES = 512,
	PIR_E_SIZE = 64, PIR_E_STATE = 0, PIR_E_PID = 4, PIR_E_ROLE = 8, PIR_E_WAITING = 12,
	PIR_E_CURSOR = 16, PIR_E_LOST = 40, PIR_E_COUNT = 48,
	PIR_S_HEADER = 64, PIR_S_SEQ = 0, PIR_S_CLAIM = 8, PIR_S_LEN = 16, PIR_S_FLAGS = 20,
};
#define PIR_ROLE_PRODUCER 1u
#define PIR_ROLE_CONSUMER 2u
#define PIR_WAIT_DATA 1u
#define PIR_WAIT_ROOM 2u
#define PIR_FLAG_SKIP 1u
#define PIR_WHO_CONSUMER (1u << 31)
#define PIR_WHO_DEAD ((1u << 31) - 1)
#define PIR_RECOVER_NS 10000000LL /* wait slice while a holder's life is in doubt */

/* The shape of a ring (pir_create's input; pir_open fills it in). */
struct pir_config {
	uint32_t slots, size, mode, full, participants;
	uint64_t tag;
};

/* One participant's handle. */
struct pir_ring {
	unsigned char *base;
	size_t map_size;
	int fd;
	uint32_t self, who;
	int send, recv;
	struct pir_config cfg;
	uint32_t stride, hdr_size;
	uint64_t total, mask;
	int64_t spin_ns; /* spin budget of blocking calls; 0: sleep at once */
	uint64_t limit;  /* broadcast producer: first position that overruns a subscriber */
	uint32_t gen;
	int loan_out, view_out;
	uint64_t lost; /* broadcast subscriber: records lost so far */
};

/* A loan (a slot to fill) and a view (a record to read). */
struct pir_loan {
	uint64_t seq;
	void *data;
	uint32_t cap;
};
struct pir_view {
	uint64_t seq;
	const void *data;
	uint32_t len;
	uint64_t lost; /* broadcast: records lost just before this one */
};

/* ---- words ---- */
#define PIR_U32(r, off) ((_Atomic uint32_t *)((r)->base + (off)))
#define PIR_U64(r, off) ((_Atomic uint64_t *)((r)->base + (off)))
#define PIR_E32(r, e, f) PIR_U32(r, PIR_O_ENTRIES + (size_t)(e)*PIR_E_SIZE + (f))
#define PIR_E64(r, e, f) PIR_U64(r, PIR_O_ENTRIES + (size_t)(e)*PIR_E_SIZE + (f))

static inline unsigned char *pir_slot(const struct pir_ring *r, uint64_t pos) {
	return r->base + r->hdr_size + (pos & r->mask) * r->stride;
}
#define PIR_S32(s, f) ((_Atomic uint32_t *)((s) + (f)))
#define PIR_S64(s, f) ((_Atomic uint64_t *)((s) + (f)))
/* A release store (no fence) for words no Dekker handshake reads, and the
 * per-participant count, a statistic only its owner writes. */
#define PIR_SET(p, v) atomic_store_explicit((p), (v), memory_order_release)
static inline void pir_counted(struct pir_ring *r);

static inline uint64_t pir_claim(uint64_t pos, uint32_t who) { return (uint64_t)(uint32_t)pos << 32 | who; }

static inline int64_t pir_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t pir_align64(uint64_t n) { return (n + 63) & ~(uint64_t)63; }

/* pir_shape checks a configuration and computes its geometry into r. */
static inline int pir_shape(struct pir_ring *r, const struct pir_config *c) {
	if (c->mode != PIR_QUEUE && c->mode != PIR_BROADCAST && c->mode != PIR_SPSC)
		return EINVAL;
	if (c->full > PIR_OVERWRITE || (c->full == PIR_OVERWRITE && c->mode != PIR_BROADCAST))
		return EINVAL;
	if (c->slots < 2 || c->slots > PIR_MAX_SLOTS || (c->slots & (c->slots - 1)) != 0)
		return EINVAL;
	if (c->size < 1 || c->size > PIR_MAX_SIZE)
		return EINVAL;
	uint32_t parts = c->participants ? c->participants : PIR_DEFAULT_PARTS;
	if (parts < 2 || parts > PIR_MAX_PARTS)
		return EINVAL;
	r->cfg = *c;
	r->cfg.participants = parts;
	r->stride = (uint32_t)(PIR_S_HEADER + pir_align64(c->size));
	r->hdr_size = (uint32_t)pir_align64(PIR_O_ENTRIES + (uint64_t)parts * PIR_E_SIZE);
	r->total = r->hdr_size + (uint64_t)c->slots * r->stride;
	if (r->total > (1ULL << 40))
		return EINVAL;
	r->mask = c->slots - 1;
	return 0;
}

/* ---- liveness: the OFD lock on byte e ---- */
static inline int pir_lock_entry(int fd, uint32_t e) {
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = e, .l_len = 1 };
	if (fcntl(fd, F_OFD_SETLK, &lk) == 0)
		return 1;
	return (errno == EAGAIN || errno == EACCES) ? 0 : -1;
}
static inline void pir_unlock_entry(int fd, uint32_t e) {
	struct flock lk = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = e, .l_len = 1 };
	fcntl(fd, F_OFD_SETLK, &lk);
}
static inline int pir_alive(const struct pir_ring *r, uint32_t e) {
	if (e == r->self)
		return 1;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = e, .l_len = 1 };
	if (fcntl(r->fd, F_OFD_GETLK, &lk) != 0)
		return 1; /* cannot tell: never take over from the living */
	return lk.l_type != F_UNLCK;
}

/* ---- waking ---- */
static inline void pir_futex_wake(_Atomic uint32_t *w) {
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
static inline void pir_wake_data(struct pir_ring *r) {
	if (atomic_load(PIR_U32(r, PIR_O_DATAWAIT)) != 0) {
		atomic_fetch_add(PIR_U32(r, PIR_O_DATAWORD), 1);
		pir_futex_wake(PIR_U32(r, PIR_O_DATAWORD));
	}
}
static inline void pir_wake_room(struct pir_ring *r) {
	if (atomic_load(PIR_U32(r, PIR_O_ROOMWAIT)) != 0) {
		atomic_fetch_add(PIR_U32(r, PIR_O_ROOMWORD), 1);
		pir_futex_wake(PIR_U32(r, PIR_O_ROOMWORD));
	}
}

static inline void pir_counted(struct pir_ring *r) {
	_Atomic uint64_t *c = PIR_E64(r, r->self, PIR_E_COUNT);
	PIR_SET(c, atomic_load_explicit(c, memory_order_relaxed) + 1);
}

/* ---- taking over the dead's slots ---- */
static inline int pir_take_loan(struct pir_ring *r, uint64_t pos, uint64_t c) {
	unsigned char *s = pir_slot(r, pos);
	if (!atomic_compare_exchange_strong(PIR_S64(s, PIR_S_CLAIM), &c, pir_claim(pos, PIR_WHO_DEAD)))
		return 0;
	atomic_store(PIR_S32(s, PIR_S_LEN), 0);
	atomic_store(PIR_S32(s, PIR_S_FLAGS), PIR_FLAG_SKIP);
	atomic_store(PIR_S64(s, PIR_S_SEQ), pos + 1);
	atomic_fetch_add(PIR_U64(r, PIR_O_RECLAIM), 1);
	pir_wake_data(r);
	return 1;
}
static inline int pir_take_view(struct pir_ring *r, uint64_t pos, uint64_t c) {
	unsigned char *s = pir_slot(r, pos);
	if (!atomic_compare_exchange_strong(PIR_S64(s, PIR_S_CLAIM), &c, pir_claim(pos, PIR_WHO_DEAD | PIR_WHO_CONSUMER)))
		return 0;
	atomic_store(PIR_S64(s, PIR_S_SEQ), pos + r->cfg.slots);
	atomic_fetch_add(PIR_U64(r, PIR_O_RECLAIM), 1);
	pir_wake_room(r);
	return 1;
}

/* pir_s_reclaim_loans passes an SPSC producer's uncommitted loans to the
 * consumer as skipped: the positions of the last ring below tail whose
 * slot's seq is still the position (an SPSC producer writes no claim: the
 * tail passing a slot is its loan). Who took the role from a dead
 * producer, or freed it, calls it. */
static inline void pir_s_reclaim_loans(struct pir_ring *r, uint64_t tail) {
	for (uint64_t k = 1; k <= r->cfg.slots && k <= tail; k++) {
		uint64_t pos = tail - k;
		unsigned char *s = pir_slot(r, pos);
		uint64_t c = atomic_load(PIR_S64(s, PIR_S_CLAIM));
		if (atomic_load(PIR_S64(s, PIR_S_SEQ)) == pos)
			pir_take_loan(r, pos, c);
	}
}

/* pir_reclaim_entry takes back what entry e's owner held (it is dead, or
 * it is this handle closing). */
static inline void pir_reclaim_entry(struct pir_ring *r, uint32_t e) {
	uint32_t w = atomic_load(PIR_E32(r, e, PIR_E_WAITING));
	if (w & PIR_WAIT_DATA)
		atomic_fetch_sub(PIR_U32(r, PIR_O_DATAWAIT), 1);
	if (w & PIR_WAIT_ROOM)
		atomic_fetch_sub(PIR_U32(r, PIR_O_ROOMWAIT), 1);
	atomic_store(PIR_E32(r, e, PIR_E_WAITING), 0);
	uint32_t p = e + 1;
	if (r->cfg.mode == PIR_BROADCAST) {
		atomic_compare_exchange_strong(PIR_U32(r, PIR_O_PRODUCER), &p, 0);
		return;
	}
	if (r->cfg.mode == PIR_SPSC) {
		/* The producer's loans go with its role: whoever frees the role
		 * (a CAS) passes them on. The tail is read first: a producer that
		 * takes the role after the CAS loans at or above it. */
		uint64_t tail = atomic_load(PIR_U64(r, PIR_O_TAIL));
		if (atomic_compare_exchange_strong(PIR_U32(r, PIR_O_PRODUCER), &p, 0))
			pir_s_reclaim_loans(r, tail);
		p = e + 1;
		atomic_compare_exchange_strong(PIR_U32(r, PIR_O_CONSUMER), &p, 0);
	}
	for (uint64_t i = 0; i < r->cfg.slots; i++) {
		unsigned char *s = r->base + r->hdr_size + i * r->stride;
		uint64_t c = atomic_load(PIR_S64(s, PIR_S_CLAIM));
		uint64_t seq = atomic_load(PIR_S64(s, PIR_S_SEQ));
		if ((uint32_t)c == e + 1) {
			if ((uint32_t)seq == (uint32_t)(c >> 32) && (seq & r->mask) == i)
				pir_take_loan(r, seq, c);
		} else if ((uint32_t)c == ((e + 1) | PIR_WHO_CONSUMER)) {
			if ((uint32_t)(seq - 1) == (uint32_t)(c >> 32) && ((seq - 1) & r->mask) == i)
				pir_take_view(r, seq - 1, c);
		}
	}
}

/* pir_reap frees the entries of dead participants; 1 when it freed one. */
static inline int pir_reap(struct pir_ring *r) {
	int freed = 0;
	for (uint32_t e = 0; e < r->cfg.participants; e++) {
		if (e == r->self || atomic_load(PIR_E32(r, e, PIR_E_STATE)) == 0)
			continue;
		if (pir_lock_entry(r->fd, e) != 1)
			continue;
		if (atomic_load(PIR_E32(r, e, PIR_E_STATE)) != 0) {
			pir_reclaim_entry(r, e);
			atomic_store(PIR_E32(r, e, PIR_E_STATE), 0);
			if (r->cfg.mode == PIR_BROADCAST)
				atomic_fetch_add(PIR_U32(r, PIR_O_SUBGEN), 1);
			freed = 1;
		}
		pir_unlock_entry(r->fd, e);
	}
	return freed;
}

/* ---- joining and leaving ---- */
/* pir_claim_role makes r the one participant of the role whose header word
 * is at off (entry+1 of its holder: the producer of a broadcast or SPSC
 * ring, the consumer of an SPSC ring): EBUSY while a live one holds it, a
 * dead one's is taken over. */
static inline int pir_claim_role(struct pir_ring *r, size_t off, int *took) {
	for (;;) {
		uint32_t p = atomic_load(PIR_U32(r, off));
		if (p > r->cfg.participants)
			return EUCLEAN;
		if (p != 0 && p != r->who && pir_alive(r, p - 1))
			return EBUSY;
		uint32_t was = p;
		if (atomic_compare_exchange_strong(PIR_U32(r, off), &p, r->who)) {
			*took = was != 0 && was != r->who; /* a dead holder's */
			return 0;
		}
	}
}

static inline int pir_join(struct pir_ring *r) {
	for (uint32_t e = 0; e < r->cfg.participants; e++) {
		int ok = pir_lock_entry(r->fd, e);
		if (ok < 0)
			return errno;
		if (!ok)
			continue;
		if (atomic_load(PIR_E32(r, e, PIR_E_STATE)) != 0)
			pir_reclaim_entry(r, e);
		r->self = e;
		r->who = e + 1;
		uint32_t role = (r->send ? PIR_ROLE_PRODUCER : 0) | (r->recv ? PIR_ROLE_CONSUMER : 0);
		atomic_store(PIR_E32(r, e, PIR_E_PID), (uint32_t)getpid());
		atomic_store(PIR_E32(r, e, PIR_E_ROLE), role);
		atomic_store(PIR_E32(r, e, PIR_E_WAITING), 0);
		atomic_store(PIR_E64(r, e, PIR_E_LOST), 0);
		atomic_store(PIR_E64(r, e, PIR_E_COUNT), 0);
		int err = 0, took = 0;
		if (r->cfg.mode != PIR_QUEUE && r->send && (err = pir_claim_role(r, PIR_O_PRODUCER, &took)) == 0 && took &&
		    r->cfg.mode == PIR_SPSC)
			pir_s_reclaim_loans(r, atomic_load(PIR_U64(r, PIR_O_TAIL))); /* the dead one's, before ours */
		if (err == 0 && r->cfg.mode == PIR_SPSC && r->recv && (err = pir_claim_role(r, PIR_O_CONSUMER, &took)) != 0 && r->send) {
			uint32_t p = r->who;
			atomic_compare_exchange_strong(PIR_U32(r, PIR_O_PRODUCER), &p, 0);
		}
		if (err != 0) {
			pir_unlock_entry(r->fd, e);
			return err;
		}
		if (r->cfg.mode == PIR_BROADCAST) {
			if (r->send) {
				r->gen = atomic_load(PIR_U32(r, PIR_O_SUBGEN)) - 1;
			} else {
				atomic_store(PIR_E64(r, e, PIR_E_CURSOR), atomic_load(PIR_U64(r, PIR_O_TAIL)));
			}
		}
		atomic_store(PIR_E32(r, e, PIR_E_STATE), 1);
		if (r->cfg.mode == PIR_BROADCAST && r->recv) {
			atomic_fetch_add(PIR_U32(r, PIR_O_SUBGEN), 1);
			atomic_store(PIR_E64(r, e, PIR_E_CURSOR), atomic_load(PIR_U64(r, PIR_O_TAIL)));
		}
		return 0;
	}
	return EUSERS; /* raise the ring's participant count (fixed at creation) */
}

static inline int pir_attach(struct pir_ring *r, const char *name, int oflag) {
	switch (oflag & O_ACCMODE) {
	case O_RDONLY: r->recv = 1; break;
	case O_WRONLY: r->send = 1; break;
	case O_RDWR: r->send = r->recv = 1; break;
	default: return EINVAL;
	}
	(void)name;
	return 0;
}

/* pir_create creates the ring name (O_EXCL: EEXIST when it exists) with
 * shape cfg and permission bits perm, and opens it for oflag's access mode
 * (O_RDONLY consume, O_WRONLY produce, O_RDWR both, queue only). The
 * backing store is reserved (posix_fallocate: ENOSPC, not a later SIGBUS). */
static inline int pir_create(struct pir_ring *r, const char *name, int oflag, mode_t perm, const struct pir_config *cfg) {
	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->spin_ns = PIR_DEFAULT_SPIN_NS;
	int e = pir_attach(r, name, oflag);
	if (e == 0)
		e = pir_shape(r, cfg);
	if (e == 0 && r->cfg.mode == PIR_BROADCAST && r->send && r->recv)
		e = EINVAL;
	if (e != 0)
		return e;
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, perm);
	if (fd < 0)
		return errno;
	if ((e = posix_fallocate(fd, 0, (off_t)r->total)) != 0)
		goto undo;
	r->base = mmap(NULL, r->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		e = errno;
		r->base = NULL;
		goto undo;
	}
	r->map_size = r->total;
	r->fd = fd;
	uint64_t nonce = 0;
	if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce)
		nonce = (uint64_t)pir_now() ^ ((uint64_t)getpid() << 32);
	atomic_store(PIR_U32(r, PIR_O_VERSION), PIR_VERSION);
	atomic_store(PIR_U32(r, PIR_O_MODE), r->cfg.mode);
	atomic_store(PIR_U32(r, PIR_O_FULL), r->cfg.full);
	atomic_store(PIR_U32(r, PIR_O_SIZE), r->cfg.size);
	atomic_store(PIR_U32(r, PIR_O_SLOTS), r->cfg.slots);
	atomic_store(PIR_U32(r, PIR_O_STRIDE), r->stride);
	atomic_store(PIR_U32(r, PIR_O_PARTS), r->cfg.participants);
	atomic_store(PIR_U32(r, PIR_O_HDRSIZE), r->hdr_size);
	atomic_store(PIR_U64(r, PIR_O_TAG), r->cfg.tag);
	atomic_store(PIR_U64(r, PIR_O_TOTAL), r->total);
	atomic_store(PIR_U64(r, PIR_O_NONCE), nonce);
	if (r->cfg.mode != PIR_BROADCAST)
		for (uint64_t i = 0; i < r->cfg.slots; i++)
			atomic_store(PIR_S64(r->base + r->hdr_size + i * r->stride, PIR_S_SEQ), i);
	atomic_store(PIR_U64(r, PIR_O_MAGIC), PIR_MAGIC); /* ready */
	if ((e = pir_join(r)) == 0)
		return 0;
	munmap(r->base, r->map_size);
	r->base = NULL;
	r->fd = -1;
undo:
	close(fd);
	shm_unlink(name);
	return e;
}

/* pir_open opens the existing ring name for oflag's access mode and checks
 * its header; tag must be the ring's (EINVAL otherwise, like every header
 * mismatch; EPROTO for another layout version). A ring whose creator has
 * not finished is waited for up to a second (then EAGAIN). */
static inline int pir_open(struct pir_ring *r, const char *name, int oflag, uint64_t tag) {
	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->spin_ns = PIR_DEFAULT_SPIN_NS;
	int e = pir_attach(r, name, oflag);
	if (e != 0)
		return e;
	int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	struct stat st;
	for (int64_t end = pir_now() + 1000000000;;) {
		if (fstat(fd, &st) != 0) {
			e = errno;
			goto fail;
		}
		if (st.st_size >= PIR_O_ENTRIES) {
			uint64_t m = 0;
			if (pread(fd, &m, sizeof m, PIR_O_MAGIC) != (ssize_t)sizeof m) {
				e = EIO;
				goto fail;
			}
			if (m == PIR_MAGIC)
				break;
			if (m != 0) {
				e = EINVAL; /* not a ring */
				goto fail;
			}
		}
		if (pir_now() > end) {
			e = EAGAIN;
			goto fail;
		}
		usleep(1000);
	}
	r->base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		e = errno;
		r->base = NULL;
		goto fail;
	}
	r->map_size = (size_t)st.st_size;
	r->fd = fd;
	if (atomic_load(PIR_U32(r, PIR_O_VERSION)) != PIR_VERSION) {
		e = EPROTO;
		goto unmap;
	}
	struct pir_config c = {
		.slots = atomic_load(PIR_U32(r, PIR_O_SLOTS)), .size = atomic_load(PIR_U32(r, PIR_O_SIZE)),
		.mode = atomic_load(PIR_U32(r, PIR_O_MODE)), .full = atomic_load(PIR_U32(r, PIR_O_FULL)),
		.participants = atomic_load(PIR_U32(r, PIR_O_PARTS)), .tag = atomic_load(PIR_U64(r, PIR_O_TAG)),
	};
	if (c.participants == 0 || pir_shape(r, &c) != 0 || atomic_load(PIR_U32(r, PIR_O_STRIDE)) != r->stride ||
	    atomic_load(PIR_U32(r, PIR_O_HDRSIZE)) != r->hdr_size || atomic_load(PIR_U64(r, PIR_O_TOTAL)) != r->total) {
		e = EUCLEAN;
		goto unmap;
	}
	if (r->total > r->map_size) {
		e = EUCLEAN; /* truncated */
		goto unmap;
	}
	if (c.tag != tag || (c.mode == PIR_BROADCAST && r->send && r->recv)) {
		e = EINVAL;
		goto unmap;
	}
	if ((e = pir_join(r)) == 0)
		return 0;
unmap:
	munmap(r->base, r->map_size);
	r->base = NULL;
	r->fd = -1;
fail:
	close(fd);
	return e;
}

/* pir_close leaves the ring: this handle's loans pass as skipped, its
 * views are released, its entry is freed; the ring stays (shm_unlink
 * removes its name). */
static inline void pir_close(struct pir_ring *r) {
	if (r->base == NULL)
		return;
	pir_reclaim_entry(r, r->self);
	atomic_store(PIR_E32(r, r->self, PIR_E_STATE), 0);
	if (r->cfg.mode == PIR_BROADCAST && r->recv) {
		atomic_fetch_add(PIR_U32(r, PIR_O_SUBGEN), 1);
		pir_wake_room(r);
	}
	munmap(r->base, r->map_size);
	close(r->fd);
	r->base = NULL;
	r->fd = -1;
}

/* ---- queue mode ---- */
/* pir_taken: claim word c names position pos as taken. */
static inline int pir_taken(uint64_t c, uint64_t pos) {
	return (uint32_t)(c >> 32) == (uint32_t)pos && (uint32_t)c != 0;
}

/* pir_q_take takes the position at *hint for a producer (want 0: the slot's
 * seq is pos) or a consumer (want 1: seq is pos+1) and claims it as who;
 * EAGAIN when the slot is not ready (full or empty there). It walks a hint
 * that lags past taken slots, at most 2N of them: more is garbage. */
static inline int pir_q_take(struct pir_ring *r, _Atomic uint64_t *hint, uint64_t want, uint32_t who, uint64_t *out) {
	for (uint64_t walked = 0;;) {
		uint64_t pos = atomic_load(hint);
		unsigned char *s = pir_slot(r, pos);
		/* The claim before the seq: a claim still c at the CAS below means
		 * nobody took the slot since, so the seq read after c still holds
		 * then (a seq moves only after a claim does). */
		_Atomic uint64_t *cw = PIR_S64(s, PIR_S_CLAIM);
		uint64_t c = atomic_load(cw);
		int64_t d = (int64_t)(atomic_load(PIR_S64(s, PIR_S_SEQ)) - (pos + want));
		if (d < 0)
			return EAGAIN;
		if (d > 0 || (pir_taken(c, pos) && (uint64_t)(((uint32_t)c & PIR_WHO_CONSUMER) != 0) == want)) {
			/* pos was taken: move the hint on, unless another did */
			if (++walked > 2 * (uint64_t)r->cfg.slots)
				return EUCLEAN;
			uint64_t p = pos;
			atomic_compare_exchange_strong(hint, &p, pos + 1);
			continue;
		}
		if (r->cfg.mode == PIR_SPSC)
			/* SPSC's consumer: the one taker of its side (a handle is used
			 * by one thread at a time): nobody else takes this slot, and
			 * one who takes it over from us does so only once we are dead */
			PIR_SET(cw, pir_claim(pos, who));
		else if (!atomic_compare_exchange_strong(cw, &c, pir_claim(pos, who)))
			continue; /* another took it, or its state moved on */
		if (atomic_load(hint) == pos)
			PIR_SET(hint, pos + 1);
		*out = pos;
		return 0;
	}
}

/* pir_s_loan takes the position at the tail for the one producer of an
 * SPSC ring: the tail is exact (only the producer moves it) and the loan is
 * the move, with no claim on the slot's line, which the consumer reads. */
static inline int pir_s_loan(struct pir_ring *r, uint64_t *out) {
	_Atomic uint64_t *tail = PIR_U64(r, PIR_O_TAIL);
	for (uint64_t walked = 0;; walked++) {
		uint64_t pos = atomic_load_explicit(tail, memory_order_relaxed);
		int64_t d = (int64_t)(atomic_load_explicit(PIR_S64(pir_slot(r, pos), PIR_S_SEQ), memory_order_acquire) - pos);
		if (d < 0)
			return EAGAIN;
		PIR_SET(tail, pos + 1);
		if (d == 0) {
			*out = pos;
			return 0;
		}
		if (walked > 2 * (uint64_t)r->cfg.slots)
			return EUCLEAN; /* slots ahead of the tail: garbage; passed */
	}
}

static inline int pir_q_loan(struct pir_ring *r, uint64_t *out) {
	if (r->cfg.mode == PIR_SPSC)
		return pir_s_loan(r, out);
	return pir_q_take(r, PIR_U64(r, PIR_O_TAIL), 0, r->who, out);
}

/* pir_q_put publishes the slot of pos; fenced: by a seq_cst store, which
 * orders it before the waiter count is read (a batch puts unfenced and
 * ends with one fence and one wake-up for all its records). */
static inline int pir_q_put(struct pir_ring *r, uint64_t pos, uint32_t n, uint32_t flags, int fenced) {
	unsigned char *s = pir_slot(r, pos);
	if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != pos ||
	    (r->cfg.mode != PIR_SPSC && atomic_load(PIR_S64(s, PIR_S_CLAIM)) != pir_claim(pos, r->who)))
		return EOWNERDEAD; /* (SPSC: a loan taken over has seq pos+1) */
	PIR_SET(PIR_S32(s, PIR_S_LEN), n);
	PIR_SET(PIR_S32(s, PIR_S_FLAGS), flags);
	if (fenced)
		atomic_store(PIR_S64(s, PIR_S_SEQ), pos + 1);
	else
		PIR_SET(PIR_S64(s, PIR_S_SEQ), pos + 1);
	pir_counted(r);
	return 0;
}

static inline int pir_q_commit(struct pir_ring *r, uint64_t pos, uint32_t n, uint32_t flags) {
	int e = pir_q_put(r, pos, n, flags, 1);
	if (e == 0)
		pir_wake_data(r);
	return e;
}

/* pir_q_give frees the slot of pos for the producers; fenced as in
 * pir_q_put. */
static inline int pir_q_give(struct pir_ring *r, uint64_t pos, int fenced) {
	unsigned char *s = pir_slot(r, pos);
	if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != pos + 1 ||
	    atomic_load(PIR_S64(s, PIR_S_CLAIM)) != pir_claim(pos, r->who | PIR_WHO_CONSUMER))
		return EOWNERDEAD;
	if (fenced)
		atomic_store(PIR_S64(s, PIR_S_SEQ), pos + r->cfg.slots);
	else
		PIR_SET(PIR_S64(s, PIR_S_SEQ), pos + r->cfg.slots);
	pir_counted(r);
	return 0;
}

/* pir_puts_done and pir_gives_done end a batch of n unfenced puts or
 * gives: one fence, then the one wake-up of the other side (nothing for
 * n = 0). */
static inline void pir_puts_done(struct pir_ring *r, size_t n) {
	if (n > 0) {
		atomic_thread_fence(memory_order_seq_cst);
		pir_wake_data(r);
	}
}
static inline void pir_gives_done(struct pir_ring *r, size_t n) {
	if (n > 0) {
		atomic_thread_fence(memory_order_seq_cst);
		pir_wake_room(r);
	}
}

static inline int pir_q_release(struct pir_ring *r, uint64_t pos) {
	int e = pir_q_give(r, pos, 1);
	if (e == 0)
		pir_wake_room(r);
	return e;
}

static inline int pir_q_next(struct pir_ring *r, uint64_t *out, uint32_t *len) {
	for (;;) {
		uint64_t pos;
		int e = pir_q_take(r, PIR_U64(r, PIR_O_HEAD), 1, r->who | PIR_WHO_CONSUMER, &pos);
		if (e != 0)
			return e;
		unsigned char *s = pir_slot(r, pos);
		uint32_t n = atomic_load(PIR_S32(s, PIR_S_LEN));
		if (atomic_load(PIR_S32(s, PIR_S_FLAGS)) & PIR_FLAG_SKIP) {
			pir_q_release(r, pos);
			continue;
		}
		if (n > r->cfg.size) {
			pir_q_release(r, pos); /* pass it, or it wedges the ring */
			return EUCLEAN;
		}
		*out = pos;
		*len = n;
		return 0;
	}
}

/* The stuck checks: does the slot waited for have a holder whose life is
 * in doubt? With recover, take it over when the holder is dead. */
static inline int pir_q_stuck_consumer(struct pir_ring *r, int recover) {
	uint64_t pos = atomic_load(PIR_U64(r, PIR_O_HEAD));
	unsigned char *s = pir_slot(r, pos);
	uint64_t c = atomic_load(PIR_S64(s, PIR_S_CLAIM));
	if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != pos)
		return 0; /* empty (or a hint that lags: the next try walks it) */
	if (r->cfg.mode == PIR_SPSC) {
		/* the slot at the head is a loan when the tail has passed it: the
		 * loan of the producer that holds the role (one that takes a dead
		 * one's role takes its loans over first), taken over when no live
		 * producer holds the role */
		if ((int64_t)(atomic_load(PIR_U64(r, PIR_O_TAIL)) - pos) <= 0)
			return 0;
		uint32_t p = atomic_load(PIR_U32(r, PIR_O_PRODUCER));
		if (recover && p <= r->cfg.participants && (p == 0 || !pir_alive(r, p - 1)))
			pir_take_loan(r, pos, c);
		return 1;
	}
	uint32_t who = (uint32_t)c;
	if (!pir_taken(c, pos) || (who & PIR_WHO_CONSUMER))
		return 0;
	if (recover && who != PIR_WHO_DEAD && who <= r->cfg.participants && !pir_alive(r, who - 1))
		pir_take_loan(r, pos, c);
	return 1;
}

static inline int pir_q_stuck_producer(struct pir_ring *r, int recover) {
	uint64_t pos = atomic_load(PIR_U64(r, PIR_O_TAIL)) - r->cfg.slots;
	unsigned char *s = pir_slot(r, pos);
	uint64_t c = atomic_load(PIR_S64(s, PIR_S_CLAIM));
	uint32_t w = (uint32_t)c & ~PIR_WHO_CONSUMER;
	if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != pos + 1 || !pir_taken(c, pos) || !((uint32_t)c & PIR_WHO_CONSUMER))
		return 0; /* not yet taken by a consumer: a full ring */
	if (recover && w != PIR_WHO_DEAD && w != 0 && w <= r->cfg.participants && !pir_alive(r, w - 1))
		pir_take_view(r, pos, c);
	return 1;
}

/* ---- broadcast mode ---- */
static inline uint64_t pir_b_limit(struct pir_ring *r, uint64_t pos) {
	uint64_t limit = UINT64_MAX;
	for (uint32_t e = 0; e < r->cfg.participants; e++) {
		if (atomic_load(PIR_E32(r, e, PIR_E_STATE)) == 0 || !(atomic_load(PIR_E32(r, e, PIR_E_ROLE)) & PIR_ROLE_CONSUMER))
			continue;
		uint64_t c = atomic_load(PIR_E64(r, e, PIR_E_CURSOR));
		if (c > pos)
			c = pos;
		if (c + r->cfg.slots < limit)
			limit = c + r->cfg.slots;
	}
	return limit;
}

static inline int pir_b_loan(struct pir_ring *r, uint64_t *out) {
	if (atomic_load(PIR_U32(r, PIR_O_PRODUCER)) != r->who)
		return EOWNERDEAD;
	uint64_t pos = atomic_load(PIR_U64(r, PIR_O_TAIL));
	if (r->cfg.full != PIR_OVERWRITE) {
		uint32_t gen = atomic_load(PIR_U32(r, PIR_O_SUBGEN));
		if (gen != r->gen || pos >= r->limit) {
			r->limit = pir_b_limit(r, pos);
			r->gen = gen;
		}
		if (pos >= r->limit)
			return EAGAIN;
	}
	PIR_SET(PIR_S64(pir_slot(r, pos), PIR_S_SEQ), 2 * pos + 1);
	*out = pos;
	return 0;
}

static inline int pir_b_commit(struct pir_ring *r, uint64_t pos, uint32_t n) {
	unsigned char *s = pir_slot(r, pos);
	if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != 2 * pos + 1 || atomic_load(PIR_U64(r, PIR_O_TAIL)) != pos)
		return EOWNERDEAD;
	PIR_SET(PIR_S32(s, PIR_S_LEN), n);
	PIR_SET(PIR_S32(s, PIR_S_FLAGS), 0);
	PIR_SET(PIR_S64(s, PIR_S_SEQ), 2 * pos + 2);
	atomic_store(PIR_U64(r, PIR_O_TAIL), pos + 1); /* a fence */
	pir_counted(r);
	pir_wake_data(r);
	return 0;
}

static inline int pir_b_next(struct pir_ring *r, uint64_t *out, uint32_t *len, uint64_t *lost) {
	_Atomic uint64_t *cur = PIR_E64(r, r->self, PIR_E_CURSOR);
	uint64_t c = atomic_load(cur);
	for (;;) {
		uint64_t tail = atomic_load(PIR_U64(r, PIR_O_TAIL));
		if (c >= tail) {
			if (c > tail)
				return EUCLEAN;
			if (*lost)
				atomic_store(cur, c);
			return EAGAIN;
		}
		if (tail - c > r->cfg.slots) {
			*lost += tail - c - r->cfg.slots;
			c = tail - r->cfg.slots;
		}
		unsigned char *s = pir_slot(r, c);
		uint64_t seq = atomic_load(PIR_S64(s, PIR_S_SEQ));
		if (seq != 2 * c + 2) {
			if (seq < 2 * c + 2 && r->cfg.full != PIR_OVERWRITE)
				return EUCLEAN;
			(*lost)++;
			c++;
			continue;
		}
		uint32_t n = atomic_load(PIR_S32(s, PIR_S_LEN));
		if (n > r->cfg.size) {
			if (atomic_load(PIR_S64(s, PIR_S_SEQ)) != seq) {
				(*lost)++;
				c++;
				continue;
			}
			atomic_store(cur, c + 1);
			return EUCLEAN;
		}
		if (*lost)
			atomic_store(cur, c);
		*out = c;
		*len = n;
		return 0;
	}
}

static inline void pir_b_release(struct pir_ring *r, uint64_t pos) {
	pir_counted(r);
	if (r->cfg.full == PIR_BLOCK) {
		atomic_store(PIR_E64(r, r->self, PIR_E_CURSOR), pos + 1); /* a fence */
		pir_wake_room(r);
		return;
	}
	PIR_SET(PIR_E64(r, r->self, PIR_E_CURSOR), pos + 1);
}

static inline void pir_add_lost(struct pir_ring *r, uint64_t lost) {
	if (lost) {
		r->lost += lost;
		atomic_fetch_add(PIR_E64(r, r->self, PIR_E_LOST), lost);
	}
}

/* ---- waiting ---- */
#if defined(__x86_64__) || defined(__i386__)
#define PIR_PAUSE() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define PIR_PAUSE() __asm__ __volatile__("yield")
#else
#define PIR_PAUSE() ((void)0)
#endif

/* A blocking operation: attempt (0 done, EAGAIN must wait, else an error)
 * and the stuck check of its direction. */
typedef int (*pir_try_fn)(struct pir_ring *, void *);
typedef int (*pir_stuck_fn)(struct pir_ring *, int);

static inline int pir_wait(struct pir_ring *r, int64_t timeout_ns, int room, pir_try_fn try, void *arg, pir_stuck_fn stuck) {
	int e = try(r, arg);
	if (e != EAGAIN || timeout_ns == 0)
		return e;
	int64_t now = pir_now();
	int64_t end = timeout_ns > 0 ? now + timeout_ns : -1;
	if (r->spin_ns > 0) {
		/* Spin: on the shared words for PIR_PURE_SPIN_NS, then yielding
		 * the CPU between looks, so that a peer woken onto this CPU runs
		 * (two spinners on one CPU would each burn the whole budget). */
		int64_t spin_end = now + r->spin_ns, pure_end = now + PIR_PURE_SPIN_NS;
		for (int i = 1;; i++) {
			if ((e = try(r, arg)) != EAGAIN)
				return e;
			PIR_PAUSE();
			if ((i & 15) == 0) {
				int64_t t = pir_now();
				if (t > spin_end)
					break;
				if (t > pure_end)
					sched_yield();
			}
		}
	}
	_Atomic uint32_t *word = PIR_U32(r, room ? PIR_O_ROOMWORD : PIR_O_DATAWORD);
	_Atomic uint32_t *count = PIR_U32(r, room ? PIR_O_ROOMWAIT : PIR_O_DATAWAIT);
	_Atomic uint32_t *mine = PIR_E32(r, r->self, PIR_E_WAITING);
	uint32_t flag = room ? PIR_WAIT_ROOM : PIR_WAIT_DATA;
	for (;;) {
		atomic_fetch_add(count, 1);
		atomic_fetch_or(mine, flag);
		uint32_t v = atomic_load(word);
		e = try(r, arg);
		if (e == EAGAIN) {
			int64_t slice = -1;
			if (end >= 0 && (slice = end - pir_now()) <= 0)
				e = ETIMEDOUT;
			int sliced = 0;
			if (e == EAGAIN && stuck(r, 0) && (slice < 0 || slice > PIR_RECOVER_NS)) {
				slice = PIR_RECOVER_NS;
				sliced = 1;
			}
			if (e == EAGAIN) {
				int64_t d = pir_now() + (slice >= 0 ? slice : (int64_t)3600 * 1000000000);
				struct timespec ts = { .tv_sec = d / 1000000000, .tv_nsec = d % 1000000000 };
				long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, v, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
				if (rc != 0 && errno == ETIMEDOUT) {
					if (sliced)
						stuck(r, 1);
					else if (slice >= 0)
						e = ETIMEDOUT;
				} else if (rc != 0 && errno == EFAULT) {
					e = EFAULT; /* the object was truncated under the mapping */
				}
			}
		}
		atomic_fetch_and(mine, ~flag);
		atomic_fetch_sub(count, 1);
		if (e != EAGAIN)
			return e;
	}
}

/* ---- the operations ---- */
/* pir_lend_loan and pir_lend_view describe the slot of pos as a loan, or
 * as a view of its n bytes. */
static inline void pir_lend_loan(struct pir_ring *r, uint64_t pos, struct pir_loan *l) {
	l->seq = pos;
	l->data = pir_slot(r, pos) + PIR_S_HEADER;
	l->cap = r->cfg.size;
}
static inline void pir_lend_view(struct pir_ring *r, uint64_t pos, uint32_t n, struct pir_view *v) {
	v->seq = pos;
	v->data = pir_slot(r, pos) + PIR_S_HEADER;
	v->len = n;
}

struct pir_loan_arg { struct pir_loan *l; };
static inline int pir_try_loan(struct pir_ring *r, void *a) {
	struct pir_loan *l = ((struct pir_loan_arg *)a)->l;
	uint64_t pos;
	int e;
	if (r->cfg.mode != PIR_BROADCAST) {
		e = pir_q_loan(r, &pos);
	} else {
		if (r->loan_out)
			return EBUSY;
		if ((e = pir_b_loan(r, &pos)) == 0)
			r->loan_out = 1;
	}
	if (e == 0)
		pir_lend_loan(r, pos, l);
	return e;
}
static inline int pir_stuck_room(struct pir_ring *r, int recover) {
	if (r->cfg.mode != PIR_BROADCAST)
		return pir_q_stuck_producer(r, recover);
	if (recover && pir_reap(r))
		r->gen--;
	return 1;
}
static inline int pir_stuck_data(struct pir_ring *r, int recover) {
	return r->cfg.mode != PIR_BROADCAST ? pir_q_stuck_consumer(r, recover) : 0;
}

/* pir_loan lends the next slot (l->data, l->cap bytes) to fill. PIR_FAIL
 * rings never wait (EAGAIN). */
static inline int pir_loan(struct pir_ring *r, int64_t timeout_ns, struct pir_loan *l) {
	if (!r->send)
		return EBADF;
	struct pir_loan_arg a = { l };
	return pir_wait(r, r->cfg.full == PIR_FAIL ? 0 : timeout_ns, 1, pir_try_loan, &a, pir_stuck_room);
}

/* pir_commit publishes the first n bytes of the loan as one record. */
static inline int pir_commit(struct pir_ring *r, struct pir_loan *l, uint32_t n) {
	if (n > r->cfg.size)
		return EINVAL;
	if (r->cfg.mode != PIR_BROADCAST)
		return pir_q_commit(r, l->seq, n, 0);
	r->loan_out = 0;
	return pir_b_commit(r, l->seq, n);
}

/* pir_abort gives the loan up: no record (queue: a skipped slot). */
static inline int pir_abort(struct pir_ring *r, struct pir_loan *l) {
	if (r->cfg.mode != PIR_BROADCAST)
		return pir_q_commit(r, l->seq, 0, PIR_FLAG_SKIP);
	r->loan_out = 0;
	unsigned char *s = pir_slot(r, l->seq);
	uint64_t odd = 2 * l->seq + 1;
	atomic_compare_exchange_strong(PIR_S64(s, PIR_S_SEQ), &odd, 2 * l->seq);
	return 0;
}

struct pir_next_arg { struct pir_view *v; };
static inline int pir_try_next(struct pir_ring *r, void *a) {
	struct pir_view *v = ((struct pir_next_arg *)a)->v;
	uint64_t pos, lost = 0;
	uint32_t n;
	int e;
	if (r->cfg.mode != PIR_BROADCAST) {
		e = pir_q_next(r, &pos, &n);
	} else {
		if (r->view_out)
			return EBUSY;
		e = pir_b_next(r, &pos, &n, &lost);
		pir_add_lost(r, lost);
		v->lost += lost;
		if (e == 0)
			r->view_out = 1;
	}
	if (e == 0)
		pir_lend_view(r, pos, n, v);
	return e;
}

/* pir_next lends the next record (v->data, v->len bytes) to read. */
static inline int pir_next(struct pir_ring *r, int64_t timeout_ns, struct pir_view *v) {
	if (!r->recv)
		return EBADF;
	v->lost = 0;
	struct pir_next_arg a = { v };
	return pir_wait(r, timeout_ns, 0, pir_try_next, &a, pir_stuck_data);
}

/* pir_release gives the record back; broadcast with PIR_OVERWRITE: EAGAIN
 * when it was overwritten while viewed (what it showed may be torn). */
static inline int pir_release(struct pir_ring *r, struct pir_view *v) {
	if (r->cfg.mode != PIR_BROADCAST)
		return pir_q_release(r, v->seq);
	if (!r->view_out)
		return EINVAL;
	int valid = atomic_load(PIR_S64(pir_slot(r, v->seq), PIR_S_SEQ)) == 2 * v->seq + 2;
	pir_b_release(r, v->seq);
	r->view_out = 0;
	return valid ? 0 : EAGAIN;
}

struct pir_send_arg { const void *p; uint32_t n; };
static inline int pir_try_send(struct pir_ring *r, void *a) {
	struct pir_send_arg *s = a;
	uint64_t pos;
	int e;
	if (r->cfg.mode != PIR_BROADCAST) {
		if ((e = pir_q_loan(r, &pos)) != 0)
			return e;
		memcpy(pir_slot(r, pos) + PIR_S_HEADER, s->p, s->n);
		return pir_q_commit(r, pos, s->n, 0);
	}
	if (r->loan_out)
		return EBUSY;
	if ((e = pir_b_loan(r, &pos)) != 0)
		return e;
	memcpy(pir_slot(r, pos) + PIR_S_HEADER, s->p, s->n);
	return pir_b_commit(r, pos, s->n);
}

/* pir_send copies n bytes into the next slot and commits them (EMSGSIZE
 * when n is larger than a slot). */
static inline int pir_send(struct pir_ring *r, const void *p, size_t n, int64_t timeout_ns) {
	if (!r->send)
		return EBADF;
	if (n > r->cfg.size)
		return EMSGSIZE;
	struct pir_send_arg a = { p, (uint32_t)n };
	return pir_wait(r, r->cfg.full == PIR_FAIL ? 0 : timeout_ns, 1, pir_try_send, &a, pir_stuck_room);
}

struct pir_recv_arg { void *buf; struct pir_view *rec; };
static inline int pir_try_receive(struct pir_ring *r, void *a) {
	struct pir_recv_arg *x = a;
	uint64_t pos;
	uint32_t n;
	int e;
	if (r->cfg.mode != PIR_BROADCAST) {
		if ((e = pir_q_next(r, &pos, &n)) != 0)
			return e;
		memcpy(x->buf, pir_slot(r, pos) + PIR_S_HEADER, n);
		x->rec->seq = pos;
		x->rec->len = n;
		return pir_q_release(r, pos);
	}
	if (r->view_out)
		return EBUSY;
	for (;;) {
		uint64_t lost = 0;
		e = pir_b_next(r, &pos, &n, &lost);
		pir_add_lost(r, lost);
		x->rec->lost += lost;
		if (e != 0)
			return e;
		unsigned char *s = pir_slot(r, pos);
		memcpy(x->buf, s + PIR_S_HEADER, n);
		if (atomic_load(PIR_S64(s, PIR_S_SEQ)) == 2 * pos + 2) {
			pir_b_release(r, pos);
			x->rec->seq = pos;
			x->rec->len = n;
			return 0;
		}
		x->rec->lost++; /* torn while copied */
		pir_add_lost(r, 1);
		atomic_store(PIR_E64(r, r->self, PIR_E_CURSOR), pos + 1);
	}
}

/* pir_receive copies the next record into buf (cap must hold a slot:
 * EMSGSIZE otherwise); rec gets its seq, len and the records lost before
 * it (rec->data is buf). */
static inline int pir_receive(struct pir_ring *r, void *buf, size_t cap, int64_t timeout_ns, struct pir_view *rec) {
	if (!r->recv)
		return EBADF;
	if (cap < r->cfg.size)
		return EMSGSIZE;
	rec->lost = 0;
	rec->data = buf;
	struct pir_recv_arg a = { buf, rec };
	return pir_wait(r, timeout_ns, 0, pir_try_receive, &a, pir_stuck_data);
}

/* ---- batches ---- */
struct pir_batch_arg {
	void *const *bufs;  /* send: the records; receive: the buffers */
	const size_t *lens; /* send: their lengths */
	struct pir_view *recs;
	size_t count, done;
};
static inline int pir_try_send_batch(struct pir_ring *r, void *a) {
	struct pir_batch_arg *b = a;
	size_t start = b->done;
	int e = 0;
	while (b->done < b->count) {
		if (r->cfg.mode == PIR_BROADCAST) {
			struct pir_send_arg s = { b->bufs[b->done], (uint32_t)b->lens[b->done] };
			if ((e = pir_try_send(r, &s)) != 0)
				break;
		} else {
			uint64_t pos;
			if ((e = pir_q_loan(r, &pos)) != 0)
				break;
			memcpy(pir_slot(r, pos) + PIR_S_HEADER, b->bufs[b->done], b->lens[b->done]);
			if ((e = pir_q_put(r, pos, (uint32_t)b->lens[b->done], 0, 0)) != 0)
				break;
		}
		b->done++;
	}
	if (r->cfg.mode != PIR_BROADCAST)
		pir_puts_done(r, b->done - start);
	return b->done > start && e == EAGAIN ? 0 : e;
}

/* pir_send_batch sends the count records recs[i] (lens[i] bytes each) in
 * order, as a pir_send of each would; *sent gets how many went: all of
 * them, or those before the error that stopped it (ETIMEDOUT, EAGAIN when
 * a PIR_FAIL ring filled, ...). It waits (timeout_ns for the whole batch)
 * only while the ring is full; the records it finds room for at once go in
 * together, with one fence and at most one wake-up system call. A record
 * larger than a slot is EMSGSIZE, and nothing is sent. */
static inline int pir_send_batch(struct pir_ring *r, const void *const *recs, const size_t *lens, size_t count,
                                 int64_t timeout_ns, size_t *sent) {
	*sent = 0;
	if (!r->send)
		return EBADF;
	for (size_t i = 0; i < count; i++)
		if (lens[i] > r->cfg.size)
			return EMSGSIZE;
	struct pir_batch_arg a = { (void *const *)recs, lens, NULL, count, 0 };
	int64_t end = timeout_ns > 0 ? pir_now() + timeout_ns : 0;
	int e = 0;
	while (a.done < count) {
		int64_t left = timeout_ns;
		if (timeout_ns > 0 && (left = end - pir_now()) < 0)
			left = 0;
		if ((e = pir_wait(r, r->cfg.full == PIR_FAIL ? 0 : left, 1, pir_try_send_batch, &a, pir_stuck_room)) != 0)
			break;
	}
	*sent = a.done;
	return e;
}

static inline int pir_try_receive_batch(struct pir_ring *r, void *a) {
	struct pir_batch_arg *b = a;
	int e = 0;
	while (b->done < b->count) {
		struct pir_view *v = &b->recs[b->done];
		if (r->cfg.mode == PIR_BROADCAST) {
			v->lost = 0;
			struct pir_recv_arg x = { b->bufs[b->done], v };
			if ((e = pir_try_receive(r, &x)) != 0)
				break;
			v->data = b->bufs[b->done];
		} else {
			uint64_t pos;
			uint32_t n;
			if ((e = pir_q_next(r, &pos, &n)) != 0)
				break;
			memcpy(b->bufs[b->done], pir_slot(r, pos) + PIR_S_HEADER, n);
			v->seq = pos;
			v->len = n;
			v->lost = 0;
			v->data = b->bufs[b->done];
			if ((e = pir_q_give(r, pos, 0)) != 0)
				break;
		}
		b->done++;
	}
	if (r->cfg.mode != PIR_BROADCAST)
		pir_gives_done(r, b->done); /* done counts the records given back */
	return b->done > 0 && e == EAGAIN ? 0 : e;
}

/* pir_receive_batch copies records into the count buffers bufs (each
 * must hold a slot: EMSGSIZE otherwise, cap bytes each), in order, as a
 * pir_receive into each would: it waits (timeout_ns) for the first, then
 * takes as many more as are there, with one fence and at most one wake-up.
 * *got gets how many; recs[i] describes bufs[i]. */
static inline int pir_receive_batch(struct pir_ring *r, void *const *bufs, size_t cap, struct pir_view *recs, size_t count,
                                    int64_t timeout_ns, size_t *got) {
	*got = 0;
	if (!r->recv)
		return EBADF;
	if (cap < r->cfg.size)
		return EMSGSIZE;
	if (count == 0)
		return 0;
	struct pir_batch_arg a = { bufs, NULL, recs, count, 0 };
	int e = pir_wait(r, timeout_ns, 0, pir_try_receive_batch, &a, pir_stuck_data);
	*got = a.done;
	return e;
}

/* ---- zero-copy batches ---- */
struct pir_zbatch_arg {
	void *items; /* struct pir_loan or struct pir_view */
	size_t count, done;
};
static inline int pir_try_loan_batch(struct pir_ring *r, void *a) {
	struct pir_zbatch_arg *b = a;
	struct pir_loan *l = b->items;
	int e = 0;
	if (r->cfg.mode == PIR_BROADCAST) { /* one loan at a time */
		struct pir_loan_arg x = { &l[0] };
		if ((e = pir_try_loan(r, &x)) == 0)
			b->done = 1;
		return e;
	}
	while (b->done < b->count) {
		uint64_t pos;
		if ((e = pir_q_loan(r, &pos)) != 0)
			break;
		pir_lend_loan(r, pos, &l[b->done]);
		b->done++;
	}
	return b->done > 0 && e == EAGAIN ? 0 : e;
}

/* pir_loan_batch lends up to count slots, loans[0] to loans[*got - 1], in
 * order, as a pir_loan of each would: it waits (timeout_ns) for the first,
 * then takes as many more as are free at once. Give them back with
 * pir_commit_batch (or each with pir_commit or pir_abort). A broadcast
 * producer has one loan at a time, so there a batch is one loan. */
static inline int pir_loan_batch(struct pir_ring *r, int64_t timeout_ns, struct pir_loan *loans, size_t count, size_t *got) {
	*got = 0;
	if (!r->send)
		return EBADF;
	if (count == 0)
		return 0;
	struct pir_zbatch_arg a = { loans, count, 0 };
	int e = pir_wait(r, r->cfg.full == PIR_FAIL ? 0 : timeout_ns, 1, pir_try_loan_batch, &a, pir_stuck_room);
	*got = a.done;
	return e;
}

/* pir_commit_batch publishes loans[i] with its first lens[i] bytes, in
 * order, as a pir_commit of each would, with one fence and at most one
 * wake-up for all of them; *done gets how many: all, or those before the
 * error that stopped it (EOWNERDEAD: a loan taken over; the rest stay out).
 * A length larger than a slot is EINVAL, and nothing is published. */
static inline int pir_commit_batch(struct pir_ring *r, struct pir_loan *loans, const size_t *lens, size_t count, size_t *done) {
	*done = 0;
	for (size_t i = 0; i < count; i++)
		if (lens[i] > r->cfg.size)
			return EINVAL;
	int e = 0;
	size_t n = 0;
	if (r->cfg.mode == PIR_BROADCAST) {
		for (; n < count; n++)
			if ((e = pir_commit(r, &loans[n], (uint32_t)lens[n])) != 0)
				break;
		*done = n;
		return e;
	}
	for (; n < count; n++)
		if ((e = pir_q_put(r, loans[n].seq, (uint32_t)lens[n], 0, 0)) != 0)
			break;
	pir_puts_done(r, n);
	*done = n;
	return e;
}

static inline int pir_try_next_batch(struct pir_ring *r, void *a) {
	struct pir_zbatch_arg *b = a;
	struct pir_view *v = b->items;
	int e = 0;
	if (r->cfg.mode == PIR_BROADCAST) { /* one view at a time */
		struct pir_next_arg x = { &v[0] };
		if ((e = pir_try_next(r, &x)) == 0)
			b->done = 1;
		return e;
	}
	while (b->done < b->count) {
		uint64_t pos;
		uint32_t n;
		if ((e = pir_q_next(r, &pos, &n)) != 0)
			break;
		pir_lend_view(r, pos, n, &v[b->done]);
		v[b->done].lost = 0;
		b->done++;
	}
	return b->done > 0 && e == EAGAIN ? 0 : e;
}

/* pir_next_batch lends up to count records, views[0] to views[*got - 1],
 * in order, as a pir_next of each would: it waits (timeout_ns) for the
 * first, then takes as many more as are there at once. Give them back
 * with pir_release_batch (or each with pir_release). A broadcast
 * subscriber has one view at a time, so there a batch is one view. */
static inline int pir_next_batch(struct pir_ring *r, int64_t timeout_ns, struct pir_view *views, size_t count, size_t *got) {
	*got = 0;
	if (!r->recv)
		return EBADF;
	if (count == 0)
		return 0;
	views[0].lost = 0;
	struct pir_zbatch_arg a = { views, count, 0 };
	int e = pir_wait(r, timeout_ns, 0, pir_try_next_batch, &a, pir_stuck_data);
	*got = a.done;
	return e;
}

/* pir_release_batch gives views back, in order, as a pir_release of each
 * would, with one fence and at most one wake-up for all of them; *done gets
 * how many: all, or those before the error that stopped it (EOWNERDEAD: a
 * view taken over; broadcast: EAGAIN for an overwritten view, which is
 * given back and counted). */
static inline int pir_release_batch(struct pir_ring *r, struct pir_view *views, size_t count, size_t *done) {
	int e = 0;
	size_t n = 0;
	if (r->cfg.mode == PIR_BROADCAST) {
		for (; n < count; n++)
			if ((e = pir_release(r, &views[n])) != 0) {
				n += e == EAGAIN;
				break;
			}
		*done = n;
		return e;
	}
	for (; n < count; n++)
		if ((e = pir_q_give(r, views[n].seq, 0)) != 0)
			break;
	pir_gives_done(r, n);
	*done = n;
	return e;
}

#endif
