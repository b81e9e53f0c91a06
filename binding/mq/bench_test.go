//go:build linux && cgo

package mq_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posixipc/posixipc/internal/bench/benchtest"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/testutil"
)

// BenchmarkRoundTrip: a 64-byte message out and back between two
// processes, with the lab's own set-ups (internal/bench, as `posixipc
// bench` runs them): ns/op is Go against a C echo peer; the metrics are
// every set-up's ns per round trip (C↔C, Go↔C, Go↔Go, the plain blocking
// cgo baseline) and the ratios to that baseline.
func BenchmarkRoundTrip(b *testing.B) { benchtest.RoundTrips(b, "mq") }

// BenchmarkStream measures the throughput of 4 KiB messages from one process
// to another, C to C against Go to C and C to Go, interleaved.
func BenchmarkStream(b *testing.B) {
	const size = 4096
	name := testutil.Name("stream")
	q, err := mq.Create(name, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: size})
	if err != nil {
		b.Fatal(err)
	}
	defer mq.Unlink(name)
	defer q.Close()
	ctx := context.Background()
	msg := make([]byte, size)
	buf := make([]byte, size)

	recvC := func(k int, send func()) time.Duration {
		cmd := cPeer(b, "stream-recv", name, strconv.Itoa(k), strconv.Itoa(size))
		outp, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		send()
		var n, ns int64
		fmt.Fscan(outp, &n, &ns)
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ns)
	}
	cc := func(k int) time.Duration {
		return recvC(k, func() {
			if out, err := cPeer(b, "stream-send", name, strconv.Itoa(k), strconv.Itoa(size)).CombinedOutput(); err != nil {
				b.Fatal(err, string(out))
			}
		})
	}
	gc := func(k int) time.Duration {
		return recvC(k, func() {
			for i := 0; i < k; i++ {
				if err := q.Send(ctx, msg, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	cg := func(k int) time.Duration {
		cmd := cPeer(b, "stream-send", name, strconv.Itoa(k), strconv.Itoa(size))
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var t0 time.Time
		for i := 0; i < k; i++ {
			if _, _, err := q.Receive(ctx, buf); err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				t0 = time.Now()
			}
		}
		d := time.Since(t0)
		cmd.Wait()
		return d
	}
	const rounds = 5
	k := b.N/rounds + 2
	var tcc, tgc, tcg time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		tcc += cc(k)
		tgc += gc(k)
		tcg += cg(k)
	}
	b.StopTimer()
	mbs := func(d time.Duration) float64 { return float64(rounds*(k-1)*size) / d.Seconds() / 1e6 }
	b.ReportMetric(mbs(tcc), "MB/s-c-c")
	b.ReportMetric(mbs(tgc), "MB/s-go-c")
	b.ReportMetric(mbs(tcg), "MB/s-c-go")
	b.ReportMetric(mbs(tgc)/mbs(tcc), "go-c/c-c")
	b.ReportMetric(mbs(tcg)/mbs(tcc), "c-go/c-c")
}

// BenchmarkSendReceive is one Send and one Receive in one process: the
// per-call cost of the binding, with allocs/op (0).
func BenchmarkSendReceive(b *testing.B) {
	q, _ := newQueue(b, 10, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := q.Send(ctx, msg, 0); err != nil {
			b.Fatal(err)
		}
		if _, _, err := q.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoopCgo is the floor: one empty cgo call.
func BenchmarkNoopCgo(b *testing.B) {
	for i := 0; i < b.N; i++ {
		posixipc.Noop()
	}
}

// BenchmarkReceiveStorm: 50 goroutines receive with deadlines of 0 to
// 300 µs while a sender keeps the queue full (the reliability issue's
// starvation case). "go" receives with Queue.Receive, "raw" with bare
// mq_timedreceive calls (CLOCK_REALTIME deadlines) on the same kind of
// queue, in one run; ns/op is per message received, recv/s its inverse.
func BenchmarkReceiveStorm(b *testing.B) {
	for _, v := range []string{"go", "raw"} {
		b.Run(v, func(b *testing.B) {
			n := testutil.Name("storm")
			q, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: 64})
			if err != nil {
				b.Fatal(err)
			}
			defer mq.Unlink(n)
			defer q.Close()
			raw, err := posixipc.MqOpen(n, os.O_RDWR, 0, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer posixipc.MqClose(raw)
			var got atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // keep it full
				defer wg.Done()
				msg := []byte("m")
				for {
					select {
					case <-stop:
						return
					default:
					}
					d := time.Now().Add(10 * time.Millisecond)
					posixipc.MqTimedsend(raw, msg, 0, d.Unix(), int64(d.Nanosecond()))
				}
			}()
			b.ResetTimer()
			t0 := time.Now()
			stormReceivers(&wg, 50, func() bool { return got.Load() < int64(b.N) }, &got, func(buf []byte, tmo time.Duration) error {
				if v == "go" {
					ctx, cancel := context.WithTimeout(context.Background(), tmo)
					defer cancel()
					_, _, err := q.Receive(ctx, buf)
					return err
				}
				d := time.Now().Add(tmo)
				_, _, err := posixipc.MqTimedreceive(raw, buf, d.Unix(), int64(d.Nanosecond()))
				return err
			})
			for got.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			el := time.Since(t0)
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(got.Load())/el.Seconds(), "recv/s")
		})
	}
}
