//go:build linux && cgo

package pthread_test

import (
	"context"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

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

// pingPongGo plays side 0 of n rounds with the binding and returns the time.
func pingPongGo(b *testing.B, ctx context.Context, s *syncSeg, n int) time.Duration {
	turn := s.u64(pthread.LayoutTurn)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := s.m.Lock(ctx); err != nil {
			b.Fatal(err)
		}
		for *turn%2 != 0 {
			if err := s.c.Wait(ctx, s.m); err != nil {
				b.Fatal(err)
			}
		}
		*turn++
		s.c.Signal()
		s.m.Unlock()
	}
	return time.Since(t0)
}

// pingPongCgo plays side 0 with plain blocking cgo calls: the baseline.
func pingPongCgo(s *syncSeg, n int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := unsafe.Pointer(&s.seg.Bytes()[0])
	m := unsafe.Add(base, pthread.LayoutMutex)
	c := unsafe.Add(base, pthread.LayoutCond)
	turn := s.u64(pthread.LayoutTurn)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		posixipc.PthreadMutexLockPlain(m)
		for *turn%2 != 0 {
			posixipc.PthreadCondWaitPlain(c, m)
		}
		*turn++
		posixipc.PthreadCondSignal(c)
		posixipc.PthreadMutexUnlockPlain(m)
	}
	return time.Since(t0)
}

// BenchmarkCondPingPong: one round trip between two processes over a
// process-shared mutex and condvar, for C<->C, Go<->C with the binding (with
// and without a cancellable context), Go<->C with plain blocking cgo calls
// (the baseline) and Go<->Go (this process and a Go helper process), all
// measured in one run: the variants take turns in chunks and each reports
// its median chunk, so load on the machine hits them alike. ns/op is the
// binding's Go<->C round trip.
func BenchmarkCondPingPong(b *testing.B) {
	const chunks = 5
	n := max(b.N/chunks, 200)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	variants := []struct {
		name string
		run  func() time.Duration
	}{
		{"c-c", func() time.Duration {
			s := newSync(b)
			p0 := startC(b, s, "pingpong", strconv.Itoa(n), "0")
			p1 := startC(b, s, "pingpong", strconv.Itoa(n), "1")
			d := time.Duration(max(nsLine(b, p0), nsLine(b, p1)))
			p0.WaitOK(b)
			p1.WaitOK(b)
			return d
		}},
		{"go-c", func() time.Duration {
			s := newSync(b)
			p := startC(b, s, "pingpong", strconv.Itoa(n), "1")
			p.Expect(b, "ready")
			defer p.WaitOK(b)
			return pingPongGo(b, bg, s, n)
		}},
		{"go-c-ctx", func() time.Duration {
			s := newSync(b)
			p := startC(b, s, "pingpong", strconv.Itoa(n), "1")
			p.Expect(b, "ready")
			defer p.WaitOK(b)
			return pingPongGo(b, ctx, s, n)
		}},
		{"cgo-c", func() time.Duration {
			s := newSync(b)
			p := startC(b, s, "pingpong", strconv.Itoa(n), "1")
			p.Expect(b, "ready")
			defer p.WaitOK(b)
			return pingPongCgo(s, n)
		}},
		{"go-go", func() time.Duration {
			s := newSync(b)
			g := startGo(b, s, "pingpong", strconv.Itoa(n), "1")
			g.Expect(b, "ready")
			defer g.WaitOK(b)
			return pingPongGo(b, bg, s, n)
		}},
	}
	res := map[string][]float64{}
	b.ResetTimer()
	for c := 0; c < chunks; c++ {
		for _, v := range variants {
			d := v.run()
			res[v.name] = append(res[v.name], float64(d.Nanoseconds())/float64(n))
		}
	}
	b.StopTimer()
	med := map[string]float64{}
	for k, v := range res {
		sort.Float64s(v)
		med[k] = v[len(v)/2]
		b.ReportMetric(med[k], k+"-ns/rt")
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(med["go-c"], "ns/op")
	b.ReportMetric(med["go-c"]/med["c-c"], "go-c/c-c")
	b.ReportMetric(med["go-c"]/med["cgo-c"], "go-c/cgo")
	b.ReportMetric(med["go-c-ctx"]/med["cgo-c"], "go-c-ctx/cgo")
	b.ReportMetric(med["go-go"]/med["c-c"], "go-go/c-c")
}

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
