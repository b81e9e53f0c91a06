#!/usr/bin/env bash
# make docker-test: build the test image (Dockerfile) with no network and run
# the whole suite in it, then the host <-> container interop check
# (testdata/docker/interop.sh).
#
# Engine: the running Docker engine if `docker info` reaches one; otherwise
# (as root) its own dockerd, installed with apt-get if missing, with its own
# --data-root, exec root and socket under a temporary directory, stopped and
# removed at the end. Storage driver overlay2, else vfs; no iptables, no
# bridge: every container runs with --network=none, builds too.
#
# Base image: the Dockerfile's pinned golang:1.26.8-bookworm@sha256:... when
# it can be pulled (or is present); otherwise a stand-in tagged
# golang:1.26.8-bookworm, imported in one layer (docker import): Debian bookworm
# from mmdebstrap, or debootstrap (minbase + gcc, libc6-dev, make; cached per
# day under $POSIXIPC_DOCKER_CACHE) plus the host's Go toolchain of the same
# release. The output says so.
#
# Modules: `go mod vendor` into the temporary build context, from the host's
# module cache (GOPROXY=off first), so the build downloads nothing.
#
# Environment:
#   DOCKER_TEST_NOENGINE_OK=1   exit 0 with a loud SKIPPED message when no
#                               Docker engine can be started (.ci/run sets it);
#                               otherwise that is a failure (exit 1)
#   POSIXIPC_DOCKER_CMD=...     run this shell command in the container instead
#                               of the image's default (make test)
#   POSIXIPC_DOCKER_USER=u      run the suite as user u (e.g. tester, uid 1000)
#                               instead of root: see "Users" in the Dockerfile
#   POSIXIPC_OWN_DOCKERD=1      start an own dockerd even if one is running
#   POSIXIPC_DOCKER_STORAGE=d   force the storage driver of the own dockerd
#   POSIXIPC_DOCKER_CACHE=dir   Debian tarball cache (default /var/tmp/posixipc-docker-cache)
#   DEBIAN_MIRROR=url           for (mm)debootstrap (default http://deb.debian.org/debian)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GO_VERSION=1.26.8
BASE_TAG="golang:${GO_VERSION}-bookworm"
IMAGE=posixipc-test:local
CACHE=${POSIXIPC_DOCKER_CACHE:-/var/tmp/posixipc-docker-cache}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=0 # the classic builder: offline, no frontend image to pull
export PATH="$PATH:/usr/local/go/bin"

T0=$SECONDS
say() { echo "docker-test: $*" >&2; }
phase() { say "[$((SECONDS - T0))s] $*"; }
banner() {
	echo "docker-test: ************************************************************" >&2
	local l
	for l in "$@"; do echo "docker-test: *** $l" >&2; done
	echo "docker-test: ************************************************************" >&2
}
die() { say "FAILED: $*"; exit 1; }
no_engine() {
	if [ "${DOCKER_TEST_NOENGINE_OK:-0}" = 1 ]; then
		banner "SKIPPED: no Docker engine can be started on this machine:" "$*" \
			"The suite did NOT run in Docker."
		exit 0
	fi
	die "no Docker engine can be started: $*"
}

PINNED=$(sed -n 's/^ARG GO_IMAGE=//p' "$ROOT/Dockerfile")
[ -n "$PINNED" ] || die "no 'ARG GO_IMAGE=' line in Dockerfile"

RUN=$(mktemp -d /tmp/pdk.XXXXXX) # short: dockerd's unix sockets live below it
DOCKERD_PID=
CONTAINERS=()
cleanup() {
	local rc=$? c
	set +e
	for c in "${CONTAINERS[@]}"; do "$DOCKER" rm -f "$c" >/dev/null 2>&1; done
	if [ -n "$DOCKERD_PID" ]; then
		phase "stopping dockerd (pid $DOCKERD_PID), removing $RUN"
		kill -TERM "$DOCKERD_PID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$DOCKERD_PID" 2>/dev/null
		# Mounts dockerd may leave behind after a kill (overlay, shm, netns).
		grep -o " $RUN/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
	fi
	rm -rf "$RUN"
	phase "done (exit $rc)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_pkgs() { # apt-get install the packages whose command is missing: cmd:pkg ...
	local want=() p
	for p in "$@"; do command -v "${p%%:*}" >/dev/null 2>&1 || want+=("${p#*:}"); done
	[ ${#want[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
	say "installing ${want[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${want[@]}" >"$RUN/apt.log" 2>&1 ||
		{ apt-get update -q >>"$RUN/apt.log" 2>&1 && apt-get install -y -q "${want[@]}" >>"$RUN/apt.log" 2>&1; } ||
		{ tail -n 20 "$RUN/apt.log" >&2; return 1; }
}

# debian_tarball sets $tarball to a Debian bookworm minbase tree with gcc,
# libc6-dev and make, as a tar file cached per day under $CACHE, making it
# first when needed.
debian_tarball() {
	mkdir -p "$CACHE"
	tarball="$CACHE/bookworm-minbase-gcc-$(date -u +%Y%m%d).tar"
	if [ -s "$tarball" ]; then
		phase "debian base: cached $tarball"
	else
		# mmdebstrap (apt's parallel downloads, writes the tarball itself) takes
		# about half the time of debootstrap; debootstrap is the fallback.
		if need_pkgs mmdebstrap:mmdebstrap; then
			phase "mmdebstrap --variant=minbase bookworm (+gcc, libc6-dev, make) from $MIRROR"
			mmdebstrap --format=tar --variant=minbase --include=gcc,libc6-dev,make bookworm "$tarball.tmp$$" "$MIRROR" \
				>"$RUN/debootstrap.log" 2>&1 || { tail -n 30 "$RUN/debootstrap.log" >&2; rm -f "$tarball.tmp$$"; die "mmdebstrap failed"; }
		else
			need_pkgs debootstrap:debootstrap || die "apt-get install mmdebstrap or debootstrap failed"
			phase "debootstrap --variant=minbase bookworm (+gcc, libc6-dev, make) from $MIRROR"
			debootstrap --variant=minbase --include=gcc,libc6-dev,make bookworm "$RUN/rootfs" "$MIRROR" \
				>"$RUN/debootstrap.log" 2>&1 || { tail -n 30 "$RUN/debootstrap.log" >&2; die "debootstrap failed"; }
			rm -rf "$RUN/rootfs/var/cache/apt/archives/"*.deb "$RUN/rootfs/var/lib/apt/lists/"*
			tar -C "$RUN/rootfs" -cf "$tarball.tmp$$" .
			rm -rf "$RUN/rootfs"
		fi
		mv "$tarball.tmp$$" "$tarball"
		find "$CACHE" -name 'bookworm-minbase-gcc-*' ! -path "$tarball" -delete
	fi
}

# --prefetch: only make the Debian tarball (no engine), e.g. in the background
# while something else runs; make docker-test then finds it in the cache.
if [ "${1:-}" = --prefetch ]; then
	[ "$(id -u)" = 0 ] || { say "prefetch: not root, nothing to do"; exit 0; }
	debian_tarball
	exit 0
fi

# ---- engine ----------------------------------------------------------------
DOCKER=docker
if [ -z "${POSIXIPC_OWN_DOCKERD:-}" ] && command -v docker >/dev/null 2>&1 &&
	timeout 20 docker info >/dev/null 2>&1; then
	phase "using the running Docker engine (server $(docker info -f '{{.ServerVersion}}'))"
else
	[ "$(id -u)" = 0 ] || no_engine "no running engine reachable with 'docker info', and not root to start one"
	need_pkgs dockerd:docker.io || no_engine "apt-get install docker.io failed"
	# The client packaged with dockerd speaks its API version.
	DOCKER=docker
	for c in "$(dirname "$(command -v dockerd)")/docker" /usr/bin/docker; do
		[ -x "$c" ] && { DOCKER=$c; break; }
	done
	export DOCKER_HOST="unix://$RUN/docker.sock"
	started=
	for driver in ${POSIXIPC_DOCKER_STORAGE:-overlay2 vfs}; do
		phase "starting dockerd (storage driver $driver) in $RUN"
		rm -rf "$RUN/data" "$RUN/exec"
		dockerd --data-root "$RUN/data" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
			-H "$DOCKER_HOST" --iptables=false --ip-masq=false --bridge=none \
			--storage-driver="$driver" >"$RUN/dockerd.log" 2>&1 &
		DOCKERD_PID=$!
		for _ in $(seq 150); do
			"$DOCKER" info >/dev/null 2>&1 && { started=$driver; break; }
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.2
		done
		[ -n "$started" ] && break
		say "dockerd with $driver did not come up:"; tail -n 15 "$RUN/dockerd.log" >&2
		kill -TERM "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null || true
		DOCKERD_PID=
	done
	[ -n "$started" ] || no_engine "dockerd did not start (see the log above)"
	phase "dockerd $("$DOCKER" info -f '{{.ServerVersion}}') up, storage driver $started"
fi

# ---- base image --------------------------------------------------------------
BASE_ARG=()
if "$DOCKER" image inspect "$PINNED" >/dev/null 2>&1; then
	phase "base image: $PINNED (present)"
elif phase "pulling $PINNED" && timeout 120 "$DOCKER" pull -q "$PINNED" >"$RUN/pull.log" 2>&1; then
	phase "base image: $PINNED (pulled)"
else
	sed 's/^/docker-test:   /' "$RUN/pull.log" >&2
	banner "THE PINNED BASE IMAGE CANNOT BE PULLED: $PINNED" \
		"Building a STAND-IN tagged $BASE_TAG: Debian bookworm (mmdebstrap)" \
		"+ gcc + make + the host's Go $GO_VERSION toolchain. NOT the official image."
	# Go: the host toolchain, which must be the pinned release.
	GOROOT_HOST=$(go env GOROOT)
	gv=$("$GOROOT_HOST/bin/go" version)
	case "$gv" in *" go$GO_VERSION "*) ;; *) die "the stand-in needs Go $GO_VERSION; the host has: $gv" ;; esac
	debian_tarball
	# One layer: the Debian tree plus GOROOT as /usr/local/go and an empty
	# GOPATH /go, with the official image's environment.
	phase "docker import -> $BASE_TAG (stand-in)"
	cp "$tarball" "$RUN/base.tar"
	mkdir -p "$RUN/gopath/go/bin" "$RUN/gopath/go/src"
	chmod -R 1777 "$RUN/gopath/go"
	tar -rf "$RUN/base.tar" -C "$RUN/gopath" ./go
	tar -rf "$RUN/base.tar" -C "$(dirname "$GOROOT_HOST")" \
		--transform "s,^$(basename "$GOROOT_HOST"),./usr/local/go," "$(basename "$GOROOT_HOST")"
	"$DOCKER" import \
		--message "stand-in for $BASE_TAG: debootstrap bookworm + gcc + make + host Go $GO_VERSION" \
		--change "ENV GOLANG_VERSION=$GO_VERSION" \
		--change "ENV GOTOOLCHAIN=local" \
		--change "ENV GOPATH=/go" \
		--change "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
		--change "WORKDIR /go" \
		--change "LABEL org.posixipc.standin=\"NOT the official image: debootstrap bookworm + gcc + make + the host's Go $GO_VERSION\"" \
		"$RUN/base.tar" "$BASE_TAG" >/dev/null
	rm -rf "$RUN/base.tar" "$RUN/gopath"
	"$DOCKER" run --rm --network=none "$BASE_TAG" \
		sh -c 'go version && gcc --version | head -n1 && ldd --version | head -n1' 2>&1 |
		sed 's/^/docker-test:   stand-in: /' >&2
	[ "${PIPESTATUS[0]}" = 0 ] || die "the stand-in base image does not run"
	BASE_ARG=(--build-arg "GO_IMAGE=$BASE_TAG")
	phase "base image: $BASE_TAG (STAND-IN)"
fi

# ---- build context: the working tree + vendor/ -------------------------------
CTX="$RUN/ctx"
mkdir -p "$CTX"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
	# Tracked and untracked files, minus .gitignore'd ones (crt/bin, *.test ...).
	git -C "$ROOT" ls-files -z -c -o --exclude-standard |
		tar -C "$ROOT" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$CTX" -xf -
else
	tar -C "$ROOT" --exclude=./.git --exclude=./crt/bin --exclude=./vendor -cf - . | tar -C "$CTX" -xf -
fi
rm -rf "$CTX/vendor"
phase "go mod vendor (offline, from the module cache)"
if ! (cd "$CTX" && GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local go mod vendor) 2>"$RUN/vendor.log"; then
	sed 's/^/docker-test:   /' "$RUN/vendor.log" >&2
	say "the module cache lacks something; retrying go mod vendor with GOPROXY=$(go env GOPROXY)"
	(cd "$CTX" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod vendor) || die "go mod vendor failed"
fi

# ---- image and suite -----------------------------------------------------------
phase "docker build --network=none -t $IMAGE"
# The step lines, with the time they started, go to the output; the rest to
# build.log, shown when the build fails.
set +e
"$DOCKER" build --network=none "${BASE_ARG[@]}" -t "$IMAGE" "$CTX" 2>&1 |
	while IFS= read -r l; do
		printf '%s\n' "$l" >>"$RUN/build.log"
		case "$l" in Step*|modules:*) printf 'docker-test:   [%ss] %.110s\n' $((SECONDS - T0)) "$l" >&2 ;; esac
	done
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 40 "$RUN/build.log" >&2; die "docker build failed"; }
rm -rf "$CTX"

# A private IPC namespace (the default), /dev/shm larger than Docker's 64 MiB,
# an init that reaps orphans as on a real machine.
run=(run --rm --init --network=none --shm-size=256m --name "pdk-suite-$$")
# The host's Go build cache, when the suite runs as root: Go's cache is keyed
# by the toolchain, the C compiler's version and every input, so only what
# the container would build identically is reused (with the stand-in base,
# nearly everything); a different toolchain simply misses. It saves CI the
# cold race build of the whole module.
hostcache=$(go env GOCACHE 2>/dev/null || true)
if [ -z "${POSIXIPC_DOCKER_USER:-}" ] && [ -n "$hostcache" ] && [ -d "$hostcache" ]; then
	run+=(-v "$hostcache:/root/.cache/go-build")
fi
CONTAINERS+=("pdk-suite-$$")
[ -n "${POSIXIPC_DOCKER_USER:-}" ] && run+=(--user "$POSIXIPC_DOCKER_USER")
if [ -n "${POSIXIPC_DOCKER_CMD:-}" ]; then
	phase "running in the container: $POSIXIPC_DOCKER_CMD"
	"$DOCKER" "${run[@]}" "$IMAGE" sh -c "$POSIXIPC_DOCKER_CMD" || die "the command failed in the container"
else
	phase "running the suite in the container: make test"
	"$DOCKER" "${run[@]}" "$IMAGE" || die "make test failed in the container"
fi
phase "suite passed in the container"

# ---- host <-> container interop ----------------------------------------------
DOCKER="$DOCKER" IMAGE="$IMAGE" "$ROOT/testdata/docker/interop.sh" || die "interop check failed"
phase "all passed"
