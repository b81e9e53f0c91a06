# posixipc test image: the pinned glibc toolchain (Debian bookworm: glibc 2.36,
# gcc 12) and Go 1.26.8, running the whole suite (`make test`) by default.
#
#   make docker-test       builds this image offline and runs the suite in it,
#                          then the host/container interop check (see
#                          testdata/docker/docker-test.sh)
#
# Base image: the official golang image, pinned by tag AND digest. The digest is
# the one of golang:1.26.8-bookworm (the multi-arch index) as pinned in several
# public repositories; it could not be checked against Docker Hub from the
# machine this was written on (no registry reachable). The official images are
# rebuilt when Debian publishes a point release, so the tag moves; the digest
# does not. To re-pin: docker pull golang:<version>-bookworm, then
# docker inspect --format '{{index .RepoDigests 0}}' golang:<version>-bookworm.
#
# GO_IMAGE is a build arg only so that `make docker-test` can substitute its
# stand-in (Debian bookworm + gcc + make + the same Go release, tagged
# golang:1.26.8-bookworm, never given the digest) where no registry is
# reachable; it says so loudly when it does. Do not override it otherwise.
ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d
FROM ${GO_IMAGE}

# The toolchain this image promises; the build fails if the base breaks it.
# GOTOOLCHAIN=local: the go directive of go.mod never triggers a download.
ENV GOTOOLCHAIN=local CGO_ENABLED=1
RUN set -eu; \
    go version | grep -q ' go1\.26\.8 ' || { go version; echo 'want go1.26.8' >&2; exit 1; }; \
    ldd --version | head -n1 | grep -q ' 2\.36$' || { ldd --version | head -n1; echo 'want glibc 2.36' >&2; exit 1; }; \
    gcc -dumpversion | grep -q '^12' || { gcc --version; echo 'want gcc 12' >&2; exit 1; }; \
    make --version | head -n1

# An unprivileged user (see "Users" below); created before the sources are copied
# so that this layer is cached.
RUN useradd --create-home --uid 1000 --user-group tester

WORKDIR /src
COPY . .

# Modules: make docker-test puts a vendor/ directory (go mod vendor) in the
# build context, so nothing is downloaded: the go command uses vendor/ whenever
# vendor/modules.txt exists (as -mod=vendor), and GOFLAGS says so explicitly.
# A plain `docker build .` of a checkout without vendor/ downloads the modules
# here instead (it needs the module proxy).
RUN set -eu; \
    if [ -f vendor/modules.txt ]; then \
        echo 'modules: vendor/ (offline build)'; \
        GOFLAGS=-mod=vendor GOPROXY=off go list -deps -test ./... >/dev/null; \
    else \
        echo 'modules: no vendor/, downloading'; go mod download; \
    fi

# The C peers of crt/ (the tests also build them on demand, into a cache).
RUN make peers

# The interop check's Go side: run by testdata/docker/interop.sh with --ipc=host
# against a C peer on the host.
RUN go build -o /usr/local/bin/posixipc-interop ./testdata/docker/interop

# Users: the suite runs as root in the container. Its EACCES tests open objects
# from a second, unprivileged uid (SysProcAttr.Credential: setuid/setgid), which
# only root may do; as a non-root user they could not run (checked with
# POSIXIPC_DOCKER_USER=tester make docker-test: binding/mq's EACCES test fails
# with EPERM from fork/exec, binding/sem's and binding/shm's skip themselves;
# everything else passes as uid 1000). Container root has only Docker's default
# capabilities (no CAP_SYS_ADMIN, CAP_SYS_RESOURCE, CAP_IPC_OWNER, CAP_IPC_LOCK);
# like CI's root, it cannot raise the mqueue rlimits, so the limit tests see the
# same limits. The unprivileged user "tester" (uid 1000) is the one the interop
# check runs the Go side as (docker run --user tester), against objects that
# root created on the host.
CMD ["make", "test"]
