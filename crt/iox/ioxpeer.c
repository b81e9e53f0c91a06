/*
 * ioxpeer: the iceoryx anchor of the ring benchmark (Debian's iceoryx 2.0.3
 * C binding, blocking WaitSet), built by internal/bench only when
 * libiceoryx-binding-c-dev is installed (`make bench-anchors`), with RouDi
 * (iox-roudi) running.
 *
 *   ioxpeer pong TAG            answer each request on Bench/TAG/Req with its bytes on Bench/TAG/Resp
 *   ioxpeer ping TAG N SIZE     N round trips of SIZE bytes; print each one's latency in ns, one a line
 *
 * pong prints "ready" once its ports are offered and subscribed; both exit
 * on SIGTERM or, for ping, after N round trips.
 */
#define _GNU_SOURCE 1
#include "../peer.h"
#include <iceoryx_binding_c/enums.h>
#include <iceoryx_binding_c/log.h>
#include <iceoryx_binding_c/notification_info.h>
#include <iceoryx_binding_c/publisher.h>
#include <iceoryx_binding_c/runtime.h>
#include <iceoryx_binding_c/subscriber.h>
#include <iceoryx_binding_c/types.h>
#include <iceoryx_binding_c/wait_set.h>
#include <signal.h>

static void wait_one(iox_ws_t ws) {
	iox_notification_info_t info[2];
	uint64_t missed = 0;
	iox_ws_wait(ws, info, 2, &missed);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: ioxpeer pong TAG | ping TAG N SIZE\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int ping = strcmp(argv[1], "ping") == 0;
	char app[128];
	snprintf(app, sizeof app, "ioxpeer-%s-%s-%d", argv[1], argv[2], getpid());
	iox_set_loglevel(Iceoryx_LogLevel_Warn);
	iox_runtime_init(app);
	iox_pub_options_t po;
	iox_pub_options_init(&po);
	po.subscriberTooSlowPolicy = ConsumerTooSlowPolicy_WAIT_FOR_CONSUMER;
	iox_sub_options_t so;
	iox_sub_options_init(&so);
	so.queueCapacity = 4;
	so.historyRequest = 0;
	so.queueFullPolicy = QueueFullPolicy_BLOCK_PRODUCER;
	iox_pub_storage_t ps;
	iox_sub_storage_t ss;
	iox_pub_t pub = iox_pub_init(&ps, "Bench", argv[2], ping ? "Req" : "Resp", &po);
	iox_sub_t sub = iox_sub_init(&ss, "Bench", argv[2], ping ? "Resp" : "Req", &so);
	iox_sub_subscribe(sub);
	iox_ws_storage_t wss;
	iox_ws_t ws = iox_ws_init(&wss);
	if (iox_ws_attach_subscriber_state(ws, sub, SubscriberState_HAS_DATA, 1, NULL) != WaitSetResult_SUCCESS)
		die("iox_ws_attach_subscriber_state", EINVAL);
	/* pong: subscribed before "ready"; ping: both sides connected before
	 * the first message */
	for (long long end = now_ns() + 10000000000LL;
	     iox_sub_get_subscription_state(sub) != SubscribeState_SUBSCRIBED || (ping && !iox_pub_has_subscribers(pub));) {
		if (now_ns() > end)
			die("iceoryx ports never connected (is iox-roudi running?)", ETIMEDOUT);
		usleep(1000);
	}
	if (!ping) {
		printf("ready\n");
		for (;;) {
			const void *in;
			while (iox_sub_take_chunk(sub, &in) != ChunkReceiveResult_SUCCESS)
				wait_one(ws);
			/* the chunk's size is in its header; the bench's records are fixed */
			void *out;
			uint32_t size = *(const uint32_t *)in;
			if (iox_pub_loan_chunk(pub, &out, size) != AllocationResult_SUCCESS)
				die("iox_pub_loan_chunk", ENOMEM);
			memcpy(out, in, size);
			iox_sub_release_chunk(sub, in);
			iox_pub_publish_chunk(pub, out);
		}
	}
	if (argc != 5) {
		fprintf(stderr, "usage: ioxpeer ping TAG N SIZE\n");
		return 1;
	}
	long n = atol(argv[3]);
	uint32_t size = (uint32_t)atol(argv[4]);
	if (size < sizeof(uint32_t))
		size = sizeof(uint32_t);
	long long *lat = malloc(sizeof(long long) * (size_t)n);
	for (long i = 0; i < n; i++) {
		long long t0 = now_ns();
		void *out;
		if (iox_pub_loan_chunk(pub, &out, size) != AllocationResult_SUCCESS)
			die("iox_pub_loan_chunk", ENOMEM);
		memset(out, 0, size);
		*(uint32_t *)out = size;
		iox_pub_publish_chunk(pub, out);
		const void *in;
		while (iox_sub_take_chunk(sub, &in) != ChunkReceiveResult_SUCCESS)
			wait_one(ws);
		iox_sub_release_chunk(sub, in);
		lat[i] = now_ns() - t0;
	}
	for (long i = 0; i < n; i++)
		printf("%lld\n", lat[i]);
	iox_ws_detach_subscriber_state(ws, sub, SubscriberState_HAS_DATA);
	iox_ws_deinit(ws);
	iox_sub_deinit(sub);
	iox_pub_deinit(pub);
	iox_runtime_shutdown();
	return 0;
}
