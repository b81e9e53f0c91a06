//go:build linux && cgo

package sem_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench/benchtest"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/sem"
	"github.com/posixipc/posixipc/internal/testutil"
	"github.com/stretchr/testify/require"
)

// BenchmarkPingPong: one round trip between two processes, post then wait
// for the answer, with the lab's own set-ups (internal/bench, as `posixipc
// bench` runs them): ns/op is Go against a C peer; the metrics are every
// set-up's ns per round trip (C↔C, Go↔C, Go↔Go, the plain blocking cgo
// baseline) and the ratios to that baseline.
func BenchmarkPingPong(b *testing.B) { benchtest.RoundTrips(b, "sem") }

func benchSem(b *testing.B) *sem.Sem {
	n := testutil.Name("bench")
	s, err := sem.Open(n, os.O_CREATE|os.O_EXCL, 0o600, 0)
	require.NoError(b, err)
	b.Cleanup(func() { s.Close(); sem.Unlink(n) })
	return s
}

// noopNs measures posixipc.Noop (an empty cgo call) over n calls.
func noopNs(n int) float64 {
	t0 := time.Now()
	for i := 0; i < n; i++ {
		posixipc.Noop()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// BenchmarkPostWait is one uncontended Post and Wait (Background context),
// reported next to an empty cgo call (noop-ns) and a raw sem_post+sem_trywait
// through cgo (raw-ns).
func BenchmarkPostWait(b *testing.B) {
	s := benchSem(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Post()
		s.Wait(ctx)
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	raw, err := posixipc.SemOpen(s.Name(), 0, 0, 0)
	require.NoError(b, err)
	defer posixipc.SemClose(raw)
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		posixipc.SemPost(raw)
		posixipc.SemTryWait(raw)
	}
	rawNs := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	noop := noopNs(b.N)
	b.ReportMetric(noop, "noop-ns")
	b.ReportMetric(rawNs, "raw-ns")
	b.ReportMetric(ns/noop, "x-noop")
	b.ReportMetric(ns/rawNs, "x-raw")
}

// BenchmarkTryWait is one sem_trywait that fails with EAGAIN (allocation
// free), next to an empty cgo call.
func BenchmarkTryWait(b *testing.B) {
	s := benchSem(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.TryWait()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/noopNs(b.N), "x-noop")
}

// BenchmarkCancelLatency measures how long a Wait blocked inside C takes to
// return after its context is cancelled (µs/cancel; max-µs is the worst).
func BenchmarkCancelLatency(b *testing.B) {
	s := benchSem(b)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan time.Time, 1)
		go func() { s.Wait(ctx); done <- time.Now() }()
		time.Sleep(2 * time.Millisecond) // blocked in sem_clockwait by now
		t0 := time.Now()
		cancel()
		d := (<-done).Sub(t0)
		total += d
		worst = max(worst, d)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/cancel")
	b.ReportMetric(float64(worst.Microseconds()), "max-µs")
}
