//go:build linux && cgo

package shm_test

import (
	"testing"

	"github.com/posixipc/posixipc/internal/bench/benchtest"
)

// BenchmarkCopy copies a 1 MiB segment to private memory with the lab's own
// set-ups (internal/bench's "shm" streams, as `posixipc bench` runs them):
// C's memcpy in the C peer over its own mapping (c-c), Go's copy from Bytes
// (go-c) and the fault-safe ReadAt (go-readat); the metrics are each one's
// MB/s and its ratio to C.
func BenchmarkCopy(b *testing.B) { benchtest.Streams(b, "shm") }
