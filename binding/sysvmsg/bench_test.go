//go:build linux && cgo

package sysvmsg_test

import (
	"context"
	"testing"

	"github.com/posixipc/posixipc/internal/bench/benchtest"
	"github.com/stretchr/testify/assert"
)

// Send and Receive allocate nothing, on the fast path and on the path that
// waits in C.
func TestZeroAllocs(t *testing.T) {
	q := private(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg, buf := make([]byte, 64), make([]byte, 64)
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		q.Send(ctx, 1, msg)
		q.Receive(ctx, buf, 1, 0)
	}))
}

// BenchmarkPingPong: a 64-byte message out (type 1) and back (type 2), between two processes, with the lab's own
// set-ups (internal/bench, as `posixipc bench` runs them): ns/op is Go
// against a C peer; the metrics are every set-up's ns per round trip (C↔C,
// Go↔C, Go↔Go, the plain blocking cgo baseline) and the ratios to that
// baseline.
func BenchmarkPingPong(b *testing.B) { benchtest.RoundTrips(b, "msg") }
