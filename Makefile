# posixipc: share POSIX IPC objects between Go and C, byte for byte.
GO      ?= go
CC      ?= cc
CFLAGS  ?= -O2 -Wall -D_GNU_SOURCE
PEERS   := $(patsubst crt/%.c,crt/bin/%,$(wildcard crt/*.c))

.PHONY: all demo test race vet lint bench bench-anchors bench-go peers docker-test clean test-all fuzz

all: test

## demo: Go and C peers share each facility; prints what happened
demo:
	$(GO) run ./cmd/posixipc demo

## test: vet, formatting, then the whole suite under the race detector
test: vet
	@fmt=$$(gofmt -l . | grep -v '^testdata/'); if [ -n "$$fmt" ]; then echo "gofmt needed: $$fmt"; exit 1; fi
	$(GO) test -race -count=1 -timeout 12m ./...

race: test

## test-all: the hardening run, after `make test` (testdata/hardening/test-all.sh):
## every fuzz target (FUZZTIME each), -asan, GOEXPERIMENT=cgocheck2, the
## fault matrix, soak (SOAK) and signal tests, then the POSIX object leak check
FUZZTIME ?= 5s
SOAK     ?= 60s
test-all: lint
	GO=$(GO) FUZZTIME=$(FUZZTIME) SOAK=$(SOAK) testdata/hardening/test-all.sh

## fuzz: every fuzz target of the module for FUZZTIME (5s) each
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) testdata/hardening/fuzz.sh

vet:
	$(GO) vet ./...

## lint: go vet and staticcheck, at a pinned version run through go run
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	$(GO) run $(STATICCHECK) ./...

## bench: the Go-vs-C report of every primitive (docs/bench.json, docs/bench.svg)
bench:
	@mkdir -p docs
	$(GO) build -o /tmp/posixipc-bench ./cmd/posixipc
	/tmp/posixipc-bench bench --json > docs/bench.json
	/tmp/posixipc-bench bench-chart < docs/bench.json > docs/bench.svg
	/tmp/posixipc-bench bench-chart --markdown < docs/bench.json > docs/bench.md
	@cat docs/bench.md

## bench-anchors: install what the benchmark's outside anchors need (Debian's
## iceoryx 2.0.3 C binding and RouDi, for the ring's iceoryx row); as root
bench-anchors:
	apt-get install -y --no-install-recommends libiceoryx-binding-c-dev iceoryx

## bench-go: the testing.B benchmarks of every package (ns/op, allocs/op, ratios to C)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## peers: build the C peers of crt/ into crt/bin (tests build them on demand)
peers: $(PEERS)

crt/bin/%: crt/%.c $(wildcard crt/*.h)
	@mkdir -p crt/bin
	$(CC) $(CFLAGS) -I crt -o $@ $< -lrt -lpthread

## docker-test: build the Dockerfile's image offline (vendored modules) and run
## `make test` in it, then the host <-> container interop check (--ipc=host).
## Starts its own dockerd when none is running (as root); see testdata/docker/.
docker-test:
	testdata/docker/docker-test.sh

clean:
	rm -rf crt/bin
	$(GO) clean -testcache
