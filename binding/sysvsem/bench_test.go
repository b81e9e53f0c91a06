//go:build linux && cgo

package sysvsem_test

import (
	"context"
	"testing"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sysvsem"
	"github.com/posixipc/posixipc/internal/bench/benchtest"
	"github.com/stretchr/testify/assert"
)

// Do allocates nothing, on the give path and on the path that waits in C.
func TestZeroAllocs(t *testing.T) {
	s := private(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	assert.Zero(t, testing.AllocsPerRun(200, func() {
		s.Do(ctx, sysvsem.Op{Num: 0, Delta: 1})
		s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1})
	}))
}

// BenchmarkPingPong: a semaphore given to the far side and one taken back, between two processes, with the lab's own
// set-ups (internal/bench, as `posixipc bench` runs them): ns/op is Go
// against a C peer; the metrics are every set-up's ns per round trip (C↔C,
// Go↔C, Go↔Go, the plain blocking cgo baseline) and the ratios to that
// baseline.
func BenchmarkPingPong(b *testing.B) { benchtest.RoundTrips(b, "semset") }

// BenchmarkUncontended: a take that can proceed at once and its give, in
// one goroutine: the kit's own cost per call next to the raw semop.
func BenchmarkUncontended(b *testing.B) {
	s := private(b, 30000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("binding", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Do(ctx, sysvsem.Op{Num: 0, Delta: -1})
			s.Do(ctx, sysvsem.Op{Num: 0, Delta: 1})
		}
	})
	b.Run("cgo", func(b *testing.B) {
		b.ReportAllocs()
		t, g := []posixipc.SemBuf{{Num: 0, Op: -1}}, []posixipc.SemBuf{{Num: 0, Op: 1}}
		for b.Loop() {
			posixipc.Semop(s.ID(), t)
			posixipc.Semop(s.ID(), g)
		}
	})
}
