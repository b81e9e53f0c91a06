#!/usr/bin/env bash
# Interop check, run by make docker-test after the suite: Go in a container
# and C on the host (or in another container) share a POSIX message queue and
# a named semaphore. Needs the image built by docker-test.sh ($IMAGE), whose
# /usr/local/bin/posixipc-interop is testdata/docker/interop and whose
# /src/crt/bin/dockerpeer is crt/dockerpeer.c built with the image's gcc.
#
#   1. --ipc=host: dockerpeer on the host creates queue + semaphore (mode 0666)
#      and sends a ping; the Go program in the container, as the unprivileged
#      user tester (uid 1000), receives it, replies on the queue and posts the
#      semaphore; the host peer checks the reply and the post, then unlinks both.
#   2. Docker's default (a private IPC namespace): the container must NOT see
#      the host's queue (the Go program exits 3, ENOENT).
#   3. Container to container: dockerpeer in a container started with
#      --ipc=shareable, the Go program in a second one with --ipc=container:NAME.
#
# Every object is removed at the end, also on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-posixipc-test:local}
CC=${CC:-cc}

say() { echo "interop: $*" >&2; }
WORK=$(mktemp -d /tmp/pdk-interop.XXXXXX)
NAME="/posixipc-docker-$$-$RANDOM"
PEER=
CONTAINERS=()
cleanup() {
	local rc=$? c
	set +e
	[ -n "$PEER" ] && kill "$PEER" 2>/dev/null && wait "$PEER" 2>/dev/null
	for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1; done
	[ -x "$WORK/dockerpeer" ] && "$WORK/dockerpeer" unlink "$NAME"
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { say "FAILED: $*"; exit 1; }

"$CC" -O2 -Wall -D_GNU_SOURCE -I "$ROOT/crt" -o "$WORK/dockerpeer" "$ROOT/crt/dockerpeer.c" -lrt -lpthread

# wait_ready FILE PID: until FILE says "ready", failing if PID exits first.
wait_ready() {
	for _ in $(seq 300); do
		grep -q '^ready$' "$1" 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
		sleep 0.1
	done
	cat "$1" >&2
	return 1
}

# ---- 1 and 2: host C peer, containerized Go -------------------------------
"$WORK/dockerpeer" serve "$NAME" 60 >"$WORK/peer.out" 2>&1 &
PEER=$!
wait_ready "$WORK/peer.out" "$PEER" || fail "host peer did not start"

say "2. private IPC namespace: the container must not see $NAME"
set +e
"$DOCKER" run --rm --network=none --user tester "$IMAGE" \
	posixipc-interop -mq "$NAME" -sem "$NAME" -timeout 5s >"$WORK/private.out" 2>&1
rc=$?
set -e
sed 's/^/interop:   /' "$WORK/private.out" >&2
[ "$rc" = 3 ] || fail "with a private IPC namespace the Go side exited $rc, want 3 (ENOENT)"

say "1. --ipc=host: Go (container, uid 1000) <-> C (host) on $NAME"
"$DOCKER" run --rm --network=none --ipc=host --user tester "$IMAGE" \
	posixipc-interop -mq "$NAME" -sem "$NAME" -timeout 30s >"$WORK/go.out" 2>&1 ||
	{ cat "$WORK/go.out" >&2; fail "the Go side failed in the container"; }
sed 's/^/interop:   /' "$WORK/go.out" >&2
set +e
wait "$PEER"
rc=$?
set -e
PEER=
sed 's/^/interop:   /' "$WORK/peer.out" >&2
[ "$rc" = 0 ] || fail "the host peer's checks failed (exit $rc)"
grep -q 'reply pong:.*:uid=1000 (priority 5)$' "$WORK/peer.out" ||
	fail "the host peer did not get the reply of uid 1000"
[ ! -e "/dev/shm/sem.${NAME#/}" ] || fail "/dev/shm/sem.${NAME#/} left behind"

# ---- 3: container <-> container -----------------------------------------------
say "3. --ipc=shareable / --ipc=container: C (container A) <-> Go (container B)"
A="pdk-ipc-a-$$"
CONTAINERS+=("$A")
"$DOCKER" run -d --network=none --ipc=shareable --name "$A" "$IMAGE" \
	/src/crt/bin/dockerpeer serve "$NAME" 60 >/dev/null
for _ in $(seq 300); do
	"$DOCKER" logs "$A" 2>&1 | grep -q '^ready$' && break
	[ "$("$DOCKER" inspect -f '{{.State.Running}}' "$A")" = true ] || break
	sleep 0.1
done
"$DOCKER" logs "$A" 2>&1 | grep -q '^ready$' || { "$DOCKER" logs "$A" >&2; fail "container peer did not start"; }
"$DOCKER" run --rm --network=none --ipc="container:$A" --user tester "$IMAGE" \
	posixipc-interop -mq "$NAME" -sem "$NAME" -timeout 30s >"$WORK/go2.out" 2>&1 ||
	{ cat "$WORK/go2.out" >&2; fail "the Go side failed in container B"; }
sed 's/^/interop:   /' "$WORK/go2.out" >&2
rc=$("$DOCKER" wait "$A")
"$DOCKER" logs "$A" 2>&1 | sed 's/^/interop:   /' >&2
[ "$rc" = 0 ] || fail "container A's peer checks failed (exit $rc)"
say "passed"
