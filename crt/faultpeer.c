/*
 * faultpeer: the C side of internal/hardening's fault-injection matrix, soak
 * and signal tests. It maps a POSIX shared memory segment holding a struct
 * posixipc_sync at offset 0 (crt/posixipc_layout.h) and uses glibc's own
 * pthread, sem_* and mq_* calls. Each "victim" command prints one line when
 * it reaches its critical point and then waits to be killed (SIGKILL), so
 * the test places the kill exactly there without sleeping.
 *
 *   faultpeer mutex-hold SEG          lock; a++ (b not yet); print "ready"; pause
 *   faultpeer cond-wait SEG           lock; print "waiting"; cond_wait until turn == 99
 *   faultpeer cond-signal SEG N [S]   N x pthread_cond_signal, then print "signalled N";
 *                                     with S, SIGALRM kills it if it takes S seconds
 *   faultpeer sem-hold SEM SEG        sem_wait; ledger (reserved[0]) += 1; print "ready"; pause
 *   faultpeer mq-send QUEUE MSG       print "sending"; mq_send(MSG) (blocks when full); print "sent"
 *   faultpeer mq-recv QUEUE           print "receiving"; mq_receive; print the message
 *   faultpeer shm-create-partial SHM  shm_open(O_CREAT|O_EXCL); print "ready"; pause (no ftruncate)
 *   faultpeer semset-hold SEMID       semop {0,-1,SEM_UNDO},{1,-1,SEM_UNDO}; print "ready"; pause
 *   faultpeer msg-recv MSQID          print "receiving"; msgrcv(type 0); print the text
 *   faultpeer fifo-write FIFO N       open FIFO for writing; write N bytes (0, 1, 2, ... mod 251);
 *                                     print "ready"; pause
 *   faultpeer fifo-read FIFO          open FIFO for reading; print "ready"; pause (reads nothing)
 *   faultpeer flock-hold FILE         flock(LOCK_EX) on FILE; print "ready"; pause
 *   faultpeer sig-flood PID SIG       sigqueue(PID, SIG, v) for v = 0, 1, ... (retrying EAGAIN) until killed
 *   faultpeer soak SEG SEM QUEUE ID MS  until MS ms passed: sem_wait; lock; counter++;
 *                                     unlock; sem_post; mq_send "ID SEQ"; then print "done N"
 *   faultpeer lock-count SEG N        N x { lock; counter++; unlock }; print "done N"
 *   faultpeer feed SEM QUEUE N        N x { sem_post; mq_send "SEQ" }; print "done N"
 *   faultpeer pingpong SEG N          N rounds as side 1 of a condvar ping-pong on turn;
 *                                     print "done N"
 *
 * Every lock handles EOWNERDEAD the documented way: print "owner died",
 * repair (b = a), pthread_mutex_consistent. Exit status: 0 ok, 1 usage or
 * system error, 3 an invariant broke.
 */
#include "peer.h"
#include "posixipc_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void say(const char *line) {
	printf("%s\n", line);
	fflush(stdout);
}

static struct posixipc_sync *attach(const char *name) {
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0)
		die("shm_open", errno);
	struct stat st;
	if (fstat(fd, &st) < 0)
		die("fstat", errno);
	if (st.st_size < (off_t)sizeof(struct posixipc_sync)) {
		fprintf(stderr, "faultpeer: %s: %ld bytes, too small\n", name, (long)st.st_size);
		exit(1);
	}
	void *p = mmap(NULL, sizeof(struct posixipc_sync), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	close(fd);
	return p;
}

static void lock(struct posixipc_sync *s) {
	int r;
	while ((r = pthread_mutex_lock(&s->mutex)) == EINTR)
		;
	if (r == EOWNERDEAD) {
		say("owner died");
		s->b = s->a; /* repair */
		r = pthread_mutex_consistent(&s->mutex);
	}
	if (r)
		die("pthread_mutex_lock", r);
}

static void unlock(struct posixipc_sync *s) {
	int r = pthread_mutex_unlock(&s->mutex);
	if (r)
		die("pthread_mutex_unlock", r);
}

static void wait_for_kill(void) {
	for (;;)
		pause();
}

static sem_t *open_sem(const char *name) {
	sem_t *sem = sem_open(name, 0);
	if (sem == SEM_FAILED)
		die("sem_open", errno);
	return sem;
}

static void sem_take(sem_t *sem) {
	while (sem_wait(sem) < 0)
		if (errno != EINTR)
			die("sem_wait", errno);
}

static mqd_t open_mq(const char *name, int flag) {
	mqd_t q = mq_open(name, flag);
	if (q == (mqd_t)-1)
		die("mq_open", errno);
	return q;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: faultpeer COMMAND ARGS (see crt/faultpeer.c)\n");
		return 1;
	}
	/* A victim waits to be killed: never outlive the test that started it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		return 1;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "mutex-hold")) {
		struct posixipc_sync *s = attach(argv[2]);
		lock(s);
		s->a++; /* half an update: b follows a only at unlock */
		say("ready");
		wait_for_kill();
	} else if (!strcmp(cmd, "cond-wait")) {
		struct posixipc_sync *s = attach(argv[2]);
		lock(s);
		say("waiting");
		while (s->turn != 99) {
			int r = pthread_cond_wait(&s->cond, &s->mutex);
			if (r == EOWNERDEAD) {
				say("owner died");
				s->b = s->a;
				r = pthread_mutex_consistent(&s->mutex);
			}
			if (r)
				die("pthread_cond_wait", r);
		}
		unlock(s);
		say("woken");
		return 0;
	} else if (!strcmp(cmd, "cond-signal") && (argc == 4 || argc == 5)) {
		struct posixipc_sync *s = attach(argv[2]);
		int n = atoi(argv[3]);
		if (argc == 5)
			alarm(atoi(argv[4]));
		for (int i = 0; i < n; i++) {
			int r = pthread_cond_signal(&s->cond);
			if (r)
				die("pthread_cond_signal", r);
		}
		printf("signalled %d\n", n);
		return 0;
	} else if (!strcmp(cmd, "sem-hold") && argc == 4) {
		sem_t *sem = open_sem(argv[2]);
		struct posixipc_sync *s = attach(argv[3]);
		sem_take(sem);
		__atomic_add_fetch(&s->reserved[0], 1, __ATOMIC_SEQ_CST); /* the ledger */
		say("ready");
		wait_for_kill();
	} else if (!strcmp(cmd, "mq-send") && argc == 4) {
		mqd_t q = open_mq(argv[2], O_WRONLY);
		say("sending");
		while (mq_send(q, argv[3], strlen(argv[3]), 0) < 0)
			if (errno != EINTR)
				die("mq_send", errno);
		say("sent");
		return 0;
	} else if (!strcmp(cmd, "mq-recv")) {
		mqd_t q = open_mq(argv[2], O_RDONLY);
		struct mq_attr a;
		if (mq_getattr(q, &a) < 0)
			die("mq_getattr", errno);
		char *buf = malloc(a.mq_msgsize + 1);
		say("receiving");
		ssize_t n;
		while ((n = mq_receive(q, buf, a.mq_msgsize, NULL)) < 0)
			if (errno != EINTR)
				die("mq_receive", errno);
		buf[n] = 0;
		say(buf);
		return 0;
	} else if (!strcmp(cmd, "semset-hold")) {
		struct sembuf ops[2] = { { 0, -1, SEM_UNDO }, { 1, -1, SEM_UNDO } };
		while (semop(atoi(argv[2]), ops, 2) < 0)
			if (errno != EINTR)
				die("semop", errno);
		say("ready"); /* the kernel gives both units back at our death */
		wait_for_kill();
	} else if (!strcmp(cmd, "msg-recv")) {
		struct {
			long mtype;
			char mtext[8192];
		} m;
		say("receiving");
		ssize_t n;
		while ((n = msgrcv(atoi(argv[2]), &m, sizeof m.mtext - 1, 0, 0)) < 0)
			if (errno != EINTR)
				die("msgrcv", errno);
		m.mtext[n] = 0;
		say(m.mtext);
		return 0;
	} else if (!strcmp(cmd, "fifo-write") && argc == 4) {
		int fd = open(argv[2], O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("open", errno);
		long n = atol(argv[3]);
		char b[4096];
		for (long i = 0; i < n;) {
			long k = n - i < (long)sizeof b ? n - i : (long)sizeof b;
			for (long j = 0; j < k; j++)
				b[j] = (char)((i + j) % 251);
			if (write_all(fd, b, (size_t)k) < 0)
				die("write", errno);
			i += k;
		}
		say("ready");
		wait_for_kill();
	} else if (!strcmp(cmd, "fifo-read") && argc == 3) {
		if (open(argv[2], O_RDONLY | O_CLOEXEC) < 0)
			die("open", errno);
		say("ready");
		wait_for_kill();
	} else if (!strcmp(cmd, "flock-hold") && argc == 3) {
		int fd = open(argv[2], O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open", errno);
		while (flock(fd, LOCK_EX) < 0)
			if (errno != EINTR)
				die("flock", errno);
		say("ready");
		wait_for_kill();
	} else if (!strcmp(cmd, "sig-flood") && argc == 4) {
		int pid = atoi(argv[2]), sig = atoi(argv[3]);
		for (int v = 0;; v++) {
			union sigval sv = { .sival_int = v };
			while (sigqueue(pid, sig, sv) < 0)
				if (errno != EAGAIN)
					die("sigqueue", errno);
		}
	} else if (!strcmp(cmd, "shm-create-partial")) {
		int fd = shm_open(argv[2], O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			die("shm_open", errno);
		say("ready"); /* killed before ftruncate: a 0-byte object remains */
		wait_for_kill();
	} else if (!strcmp(cmd, "soak") && argc == 7) {
		struct posixipc_sync *s = attach(argv[2]);
		sem_t *sem = open_sem(argv[3]);
		mqd_t q = open_mq(argv[4], O_WRONLY);
		const char *id = argv[5];
		int64_t end = now_ns() + atoll(argv[6]) * 1000000LL;
		long n = 0;
		char msg[64];
		say("ready");
		while (now_ns() < end) {
			sem_take(sem);
			int v;
			if (sem_getvalue(sem, &v) == 0 && v < 0) {
				fprintf(stderr, "faultpeer: semaphore value %d\n", v);
				return 3;
			}
			lock(s);
			if (s->a != s->b) {
				fprintf(stderr, "faultpeer: a %lu != b %lu under the mutex\n",
				        (unsigned long)s->a, (unsigned long)s->b);
				return 3;
			}
			s->a++;
			s->counter++;
			s->b++;
			unlock(s);
			if (sem_post(sem) < 0)
				die("sem_post", errno);
			int len = snprintf(msg, sizeof msg, "%s %ld", id, n);
			while (mq_send(q, msg, len, 0) < 0)
				if (errno != EINTR)
					die("mq_send", errno);
			n++;
		}
		printf("done %ld\n", n);
		return 0;
	} else if (!strcmp(cmd, "lock-count") && argc == 4) {
		struct posixipc_sync *s = attach(argv[2]);
		long n = atol(argv[3]);
		for (long i = 0; i < n; i++) {
			lock(s);
			s->counter++;
			unlock(s);
		}
		printf("done %ld\n", n);
		return 0;
	} else if (!strcmp(cmd, "feed") && argc == 5) {
		sem_t *sem = open_sem(argv[2]);
		mqd_t q = open_mq(argv[3], O_WRONLY);
		long n = atol(argv[4]);
		char msg[32];
		for (long i = 0; i < n; i++) {
			if (sem_post(sem) < 0)
				die("sem_post", errno);
			int len = snprintf(msg, sizeof msg, "%ld", i);
			while (mq_send(q, msg, len, 0) < 0)
				if (errno != EINTR)
					die("mq_send", errno);
		}
		printf("done %ld\n", n);
		return 0;
	} else if (!strcmp(cmd, "pingpong") && argc == 4) {
		struct posixipc_sync *s = attach(argv[2]);
		long n = atol(argv[3]);
		for (long i = 0; i < n; i++) {
			lock(s);
			while (s->turn % 2 != 1) {
				int r = pthread_cond_wait(&s->cond, &s->mutex);
				if (r)
					die("pthread_cond_wait", r);
			}
			s->turn++;
			pthread_cond_signal(&s->cond);
			unlock(s);
		}
		printf("done %ld\n", n);
		return 0;
	}
	fprintf(stderr, "faultpeer: bad command line (see crt/faultpeer.c)\n");
	return 1;
}
