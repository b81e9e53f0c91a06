//go:build linux && cgo

package mq_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/posixipc/posixipc"
	"github.com/posixipc/posixipc/binding/mq"
	"github.com/posixipc/posixipc/internal/testutil"
)

// pair is a request queue and a response queue served by an echo process.
type pair struct {
	req, resp string
	server    *exec.Cmd
}

func newPair(b *testing.B, server func(req, resp string) *exec.Cmd) *pair {
	b.Helper()
	p := &pair{req: testutil.Name("req"), resp: testutil.Name("resp")}
	for _, n := range []string{p.req, p.resp} {
		q, err := mq.Create(n, 0o600, &mq.Attr{MaxMsg: 10, MsgSize: 64})
		if err != nil {
			b.Fatal(err)
		}
		q.Close()
	}
	p.server = server(p.req, p.resp)
	p.server.Stderr = os.Stderr
	if err := p.server.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		// an empty message stops the echo server
		if q, err := mq.Open(p.req, mq.O_WRONLY, 0, nil); err == nil {
			q.Send(context.Background(), nil, 0)
			q.Close()
		}
		p.server.Wait()
		mq.Unlink(p.req)
		mq.Unlink(p.resp)
	})
	return p
}

// BenchmarkRoundTrip measures the round trip of a 64-byte message between two
// processes, interleaving four set-ups block by block (A B C D A B C D ...)
// so machine drift falls on all alike:
//
//	c-c    crt/mqpeer client against crt/mqpeer echo (both C)
//	go-c   this package against crt/mqpeer echo
//	go-go  this package on both sides
//	cgo    plain blocking cgo mq_send/mq_receive on both sides (the baseline:
//	       what a binding without thread bounds or cancellation costs)
//
// Each set-up's mean round trip is reported as ns/rt-NAME, and the ratios the
// project's goals are stated in: go-go/cgo (<= 1.15), go-go/c-c and go-c/c-c
// (<= 1).
func BenchmarkRoundTrip(b *testing.B) {
	cc := newPair(b, func(req, resp string) *exec.Cmd { return cPeer(b, "echo", req, resp) })
	gc := newPair(b, func(req, resp string) *exec.Cmd { return cPeer(b, "echo", req, resp) })
	gg := newPair(b, func(req, resp string) *exec.Cmd { return helperCmd(b, "echo", req, resp) })
	raw := newPair(b, func(req, resp string) *exec.Cmd { return helperCmd(b, "echo-raw", req, resp) })

	ctx := context.Background()
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	open := func(p *pair) (*mq.Queue, *mq.Queue) {
		w, err := mq.Open(p.req, mq.O_WRONLY, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, err := mq.Open(p.resp, mq.O_RDONLY, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { w.Close(); r.Close() })
		return w, r
	}
	gcw, gcr := open(gc)
	ggw, ggr := open(gg)
	rw, _ := posixipc.MqOpen(raw.req, os.O_WRONLY, 0, nil)
	rr, _ := posixipc.MqOpen(raw.resp, os.O_RDONLY, 0, nil)
	defer posixipc.MqClose(rw)
	defer posixipc.MqClose(rr)

	goBlock := func(w, r *mq.Queue, k int) time.Duration {
		t0 := time.Now()
		for i := 0; i < k; i++ {
			if err := w.Send(ctx, msg, 0); err != nil {
				b.Fatal(err)
			}
			if _, _, err := r.Receive(ctx, buf); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	rawBlock := func(k int) time.Duration {
		t0 := time.Now()
		for i := 0; i < k; i++ {
			if err := posixipc.MqSend(rw, msg, 0); err != nil {
				b.Fatal(err)
			}
			if _, _, err := posixipc.MqReceive(rr, buf); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	cBlock := func(k int) time.Duration {
		out, err := cPeer(b, "client", cc.req, cc.resp, strconv.Itoa(k), "64").Output()
		if err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(string(out))
		ns, _ := strconv.ParseInt(f[1], 10, 64)
		return time.Duration(ns)
	}

	// warm up every path
	goBlock(gcw, gcr, 50)
	goBlock(ggw, ggr, 50)
	rawBlock(50)
	cBlock(50)

	const rounds = 10
	k := b.N/rounds + 1
	var tc, tgc, tgg, traw time.Duration
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		tc += cBlock(k)
		tgc += goBlock(gcw, gcr, k)
		tgg += goBlock(ggw, ggr, k)
		traw += rawBlock(k)
	}
	b.StopTimer()
	n := float64(rounds * k)
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / n }
	b.ReportMetric(per(tc), "ns/rt-c-c")
	b.ReportMetric(per(tgc), "ns/rt-go-c")
	b.ReportMetric(per(tgg), "ns/rt-go-go")
	b.ReportMetric(per(traw), "ns/rt-cgo")
	b.ReportMetric(per(tgg)/per(traw), "go-go/cgo")
	b.ReportMetric(per(tgg)/per(tc), "go-go/c-c")
	b.ReportMetric(per(tgc)/per(tc), "go-c/c-c")
}

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
