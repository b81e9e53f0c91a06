/*
 * shim.h: the C side of package posixipc.
 *
 * One small function per libc call. Every shim returns 0 on success or the
 * error number on failure (errno for calls that set it, the return value for
 * pthread_* calls), so Go sees a single convention. Results come back through
 * out-parameters. No shim keeps a pointer it was given after it returns.
 *
 * Sections belong to one facility each: mq, sem, shm, pthread, popen.
 */
#ifndef POSIXIPC_SHIM_H
#define POSIXIPC_SHIM_H

#define _GNU_SOURCE 1
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <mqueue.h>
#include <semaphore.h>
#include <pthread.h>
#include <stdio.h>

/* pi_noop does nothing: the floor cost of one cgo call, for benchmarks. */
void pi_noop(void);

/* ==== mq ==== */
int pi_mq_open(const char *name, int oflag, unsigned int mode, int has_attr,
               long maxmsg, long msgsize, int *mqd);
int pi_mq_close(int mqd);
int pi_mq_unlink(const char *name);
int pi_mq_getattr(int mqd, long *flags, long *maxmsg, long *msgsize, long *curmsgs);
int pi_mq_setattr(int mqd, long flags, long *oflags);
int pi_mq_timedsend(int mqd, const char *msg, size_t len, unsigned int prio,
                    int64_t abs_sec, int64_t abs_nsec);
int pi_mq_timedreceive(int mqd, char *buf, size_t len, unsigned int *prio,
                       int64_t abs_sec, int64_t abs_nsec, ssize_t *n);
int pi_mq_send(int mqd, const char *msg, size_t len, unsigned int prio);
int pi_mq_receive(int mqd, char *buf, size_t len, unsigned int *prio, ssize_t *n);
int pi_mq_send_poll(int mqd, int cancelfd, int64_t deadline_ns, const char *msg,
                    size_t len, unsigned int prio);
int pi_mq_receive_poll(int mqd, int cancelfd, int64_t deadline_ns, char *buf,
                       size_t len, unsigned int *prio, ssize_t *n);
int pi_mq_notify_thread(int mqd, uintptr_t handle);
int pi_mq_notify_signal(int mqd, int signo, intptr_t value);
int pi_mq_notify_none(int mqd);

/* ==== sem ==== */

/* ==== shm ==== */
int pi_shm_open(const char *name, int oflag, unsigned int mode, int *fd);
int pi_shm_unlink(const char *name);

/* ==== pthread ==== */

/* ==== popen ==== */

#endif
