//go:build linux && cgo

package pthread_test

import (
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench/benchtest"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/pthread"
)

// BenchmarkNoop is the floor: one empty cgo call.
func BenchmarkNoop(b *testing.B) {
	for b.Loop() {
		posixipc.Noop()
	}
}

// BenchmarkLockUnlock: an uncontended Lock+Unlock, reported next to the
// no-op cgo call measured in the same run: the loop runs in chunks, with a
// chunk of no-op calls between them, and the ratio is of the medians
// (x-noop), so load on the machine hits both alike.
func BenchmarkLockUnlock(b *testing.B) {
	s := newSync(b)
	b.ReportAllocs()
	const chunks = 10
	per := max(b.N/chunks, 1)
	var lock, noop []float64
	b.ResetTimer()
	for c := 0; c < chunks; c++ {
		t0 := time.Now()
		for i := 0; i < per; i++ {
			s.m.Lock(bg)
			s.m.Unlock()
		}
		lock = append(lock, float64(time.Since(t0).Nanoseconds())/float64(per))
		b.StopTimer()
		t0 = time.Now()
		for i := 0; i < per; i++ {
			posixipc.Noop()
		}
		noop = append(noop, float64(time.Since(t0).Nanoseconds())/float64(per))
		b.StartTimer()
	}
	b.StopTimer()
	sort.Float64s(lock)
	sort.Float64s(noop)
	b.ReportMetric(lock[chunks/2], "ns/op")
	b.ReportMetric(noop[chunks/2], "noop-ns")
	b.ReportMetric(lock[chunks/2]/noop[chunks/2], "x-noop")
}

// BenchmarkCondPingPong: one round trip between two processes over a
// process-shared mutex and condvar, and BenchmarkRWLock one over a
// process-shared rwlock, with the lab's own set-ups (internal/bench, as
// `posixipc bench` runs them): ns/op is Go against a C peer; the metrics
// are every set-up's ns per round trip and the ratios to the plain
// blocking cgo baseline.
func BenchmarkCondPingPong(b *testing.B) { benchtest.RoundTrips(b, "pthread") }

// BenchmarkRWLock: see BenchmarkCondPingPong.
func BenchmarkRWLock(b *testing.B) { benchtest.RoundTrips(b, "rwlock") }

// BenchmarkContendedCounter: a Go goroutine and a C peer increment one
// counter under the mutex (Go+C), against two C peers (C+C), in one run.
// ns/op is per increment of Go+C.
func BenchmarkContendedCounter(b *testing.B) {
	n := max(b.N, 1000)
	s := newSync(b)
	counter := s.u64(pthread.LayoutCounter)
	p := startC(b, s, "count", strconv.Itoa(n))
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			s.m.Lock(bg)
			*counter++
			s.m.Unlock()
		}
	}()
	wg.Wait()
	goNs := time.Since(t0).Nanoseconds()
	cNs := nsLine(b, p)
	p.WaitOK(b)
	b.StopTimer()
	if *counter != uint64(2*n) {
		b.Fatalf("counter %d, want %d", *counter, 2*n)
	}
	goC := float64(max(goNs, cNs)) / float64(2*n)

	s = newSync(b)
	p0 := startC(b, s, "count", strconv.Itoa(n))
	p1 := startC(b, s, "count", strconv.Itoa(n))
	cc := float64(max(nsLine(b, p0), nsLine(b, p1))) / float64(2*n)
	p0.WaitOK(b)
	p1.WaitOK(b)

	b.ReportMetric(goC, "go+c-ns/inc")
	b.ReportMetric(cc, "c+c-ns/inc")
	b.ReportMetric(goC/cc, "go+c/c+c")
}
