//go:build linux && cgo

package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
)

// deadBenchObjects lists the /dev/shm entries of bench runs whose process
// has exited: what a finished run left behind. (Entries of live processes,
// e.g. another bench running beside the tests, are not counted.)
func deadBenchObjects(t *testing.T) []string {
	t.Helper()
	all, _ := filepath.Glob("/dev/shm/*posixipc-bench-*")
	var dead []string
	for _, p := range all {
		rest := p[strings.Index(p, "posixipc-bench-")+len("posixipc-bench-"):]
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || syscall.Kill(pid, 0) == syscall.ESRCH {
			dead = append(dead, p)
		}
	}
	return dead
}

// benchSync runs the bench for prim (tiny sizes) and checks its round trips
// and that it left no shared-memory object or semaphore behind.
func benchSync(t *testing.T, prim string) {
	before := deadBenchObjects(t)
	rep := benchJSON(t, prim)
	assert.Empty(t, rep.Skipped)
	checkRoundTrips(t, rep, prim)
	assert.Empty(t, rep.Throughput)
	for _, r := range rep.RoundTrips {
		assert.NotEmpty(t, r.What)
	}
	assert.ElementsMatch(t, before, deadBenchObjects(t), "bench left objects in /dev/shm")
}

// Unnamed semaphores in a segment: C↔C (sem_init by C), Go↔C (one
// semaphore initialised by each language), Go↔Go and the cgo baseline.
func TestCLIBenchSemUnnamed(t *testing.T) { benchSync(t, "sem-unnamed") }

// The rwlock handoff ring: C↔C, Go↔C (C initialises, Go attaches), Go↔Go
// (Go initialises) and the plain blocking cgo baseline.
func TestCLIBenchRWLock(t *testing.T) { benchSync(t, "rwlock") }
